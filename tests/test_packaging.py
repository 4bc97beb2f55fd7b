"""What `pip install .` ships: every subpackage of the source tree is listed in setup.cfg."""

from __future__ import annotations

import configparser
from pathlib import Path

import snarefuse

ROOT = Path(snarefuse.__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "snarefuse").rglob("__init__.py")
               if "__pycache__" not in p.parts}
    assert on_disk - listed == set(), "subpackages a plain `pip install .` would leave out"
