"""The command line, through click's CliRunner and one real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from snarefuse import __version__
from snarefuse.cli import main
from snarefuse.spec import example_spec_path, load_spec

COMMANDS = ["build", "run", "platforms", "quickstart"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command):
    r = CliRunner().invoke(main, [command, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output


def test_version():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_platforms_lists_reference():
    r = CliRunner().invoke(main, ["platforms"])
    assert r.exit_code == 0 and "Reference" in r.output


def _small_spec_file(tmp_path: Path, **run) -> Path:
    d = load_spec(example_spec_path("bilayer_small")).to_dict()
    d["system"]["bilayer"]["n_lipids"] = 200
    d["run"].update(run)
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_build_then_run(tmp_path: Path):
    spec = _small_spec_file(tmp_path, steps=100, report_interval=50, trajectory_interval=50, checkpoint_interval=100)
    r = CliRunner().invoke(main, ["build", str(spec), "-o", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert "600 beads" in r.output
    r = CliRunner().invoke(main, ["run", str(tmp_path / "run"), "--platform", "CPU", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "complete at step 100/100 on CPU" in r.output
    r = CliRunner().invoke(main, ["run", str(tmp_path / "run"), "--no-progress"])
    assert "nothing to do" in r.output


def test_build_shipped_example_by_name(tmp_path: Path):
    r = CliRunner().invoke(main, ["build", "bilayer_small", "-o", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output


def test_bad_spec_exits_with_field_message(tmp_path: Path):
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  sigma: 0.88 furlong\nsystem:\n  bilayer: {n_lipids: 100}\n")
    r = CliRunner().invoke(main, ["build", str(p), "-o", str(tmp_path / "run")])
    assert r.exit_code == 2
    assert "model.sigma" in r.output and "furlong" in r.output and str(p) in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "run").exists()


def test_bad_max_time(tmp_path: Path):
    r = CliRunner().invoke(main, ["run", str(tmp_path), "--max-time", "3 parsecs"])
    assert r.exit_code == 2 and "--max-time" in r.output


#: Most seconds ``import snarefuse.cli`` may take in a fresh interpreter: the commands import OpenMM, mdtraj,
#: matplotlib and Dask inside themselves, so the module itself loads only click (~0.1 s; OpenMM alone is ~0.5 s,
#: the analysis stack several seconds). Generous for a loaded machine, far below what an eager import costs.
MAX_CLI_IMPORT_S = 3.0
#: Modules ``--help`` must not import.
HEAVY_MODULES = ("openmm", "mdtraj", "matplotlib", "distributed", "scipy")


def test_console_script_help_is_fast():
    """``--help`` answers without importing the heavy stack, and the CLI module imports in little time (timed
    inside the subprocess, so interpreter start-up and machine load outside the import do not count)."""
    code = ("import sys, time; t = time.perf_counter(); import snarefuse.cli; dt = time.perf_counter() - t; "
            f"print(dt); print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, heavy = out.stdout.splitlines()
    assert float(seconds) < MAX_CLI_IMPORT_S
    assert heavy == ""
    help_out = subprocess.run([sys.executable, "-c", "import sys; from snarefuse.cli import main\ntry:\n    main(['--help'])"
                               f"\nexcept SystemExit:\n    pass\nprint(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"],
                              capture_output=True, text=True, check=True)
    assert "build" in help_out.stdout and "run" in help_out.stdout
    assert help_out.stdout.splitlines()[-1] == ""
