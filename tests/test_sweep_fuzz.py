"""Property-based fuzzing of the sweep parser: whatever the input, the result is a valid Sweep or a
SpecError naming the sweep key (or dotted grid/zip path) at fault, never an exception from deep
inside pathlib, numpy or yaml, and parsing writes no file."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snarefuse.errors import SpecError
from snarefuse.spec import example_spec_path, load_spec
from snarefuse.sweep import SWEEP_KEYS, Sweep, load_sweep

from .conftest import dotted_paths

BASE_SPEC = load_spec(example_spec_path("bilayer_small")).to_dict()
#: A valid sweep every test mutates; relative paths resolve against the test's root directory.
VALID = {"name": "fuzz", "base": "bilayer_small", "grid": {"system.bilayer.n_lipids": [200, 400]},
         "zip": {"model.kT_over_epsilon": [1.0, 1.1], "run.friction": ["0.1 /ps", "0.2 /ps"]},
         "replicas": 2, "workspace": "ws", "steps": 1000, "analysis": {"enabled": False},
         "stop_after_fusion": {"event": "pore", "check_every": 500}}
#: Sweep keys whose values are checked against each other: an error may name the other one (a
#: path in both grid and zip, run.steps varied and steps given, a base without the varied fields).
ALSO_NAMED = {"base": ("grid", "zip"), "grid": ("zip", "steps"), "zip": ("grid", "steps"), "steps": ("grid", "zip")}


SPEC_PATHS = sorted(dotted_paths(BASE_SPEC))

path_like = st.sampled_from(["", ".", "..", "/", "~", "~no_such_user_snarefuse/x", "a\x00b", "base.yaml",
                             "bad.yaml", "bilayer_small", "quickstart", "sweep_nlipids", "no_such_example",
                             "sub/dir.yaml", "ws", "../ws", "x" * 300])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), path_like,
    st.sampled_from(["1 nm", "-3 K", "nan nm", "1e400 nm", "2 tau", "1 furlong", "310", "pore", "hemifusion"]),
)
values = st.recursive(scalars, lambda children: st.one_of(st.lists(children, max_size=3),
                                                          st.dictionaries(st.text(max_size=8), children, max_size=3)),
                      max_leaves=6)
#: Dotted paths for grid and zip: real spec fields, their prefixes and extensions, and noise.
varied_paths = st.one_of(st.sampled_from(SPEC_PATHS), st.sampled_from([p + ".x" for p in SPEC_PATHS]),
                         st.text(alphabet="abcdefghijklmnopqrstuvwxyz._", max_size=30), st.integers(), st.none())

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory sweeps are parsed relative to: a valid and an invalid base spec file."""
    d = tmp_path_factory.mktemp("sweep-fuzz")
    load_spec(example_spec_path("bilayer_small")).dump(d / "base.yaml")
    (d / "bad.yaml").write_text(yaml.safe_dump({**BASE_SPEC, "seed": "twelve"}))
    return d


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def parse(data, root: Path, keys: tuple[str, ...]) -> Sweep | None:
    """Parse ``data``; a SpecError must name one of ``keys`` or a field under one, or lie in the base
    spec file it names. Nothing may be written."""
    before = _listing(root)
    try:
        sweep = Sweep.from_dict(data, root=root, source=str(root / "sweep.yaml"))
    except SpecError as e:
        assert str(e) and e.message
        if e.source == str(root / "bad.yaml"):  # an error inside the base file names that file
            assert e.field == "seed"
        else:
            assert e.source == str(root / "sweep.yaml")
            assert any(e.field == k or e.field.startswith(f"{k}.") for k in keys), f"{e.field!r} not in {keys}: {e}"
        sweep = None
    else:
        assert len(sweep.points) >= 1 and all(p.directory.parent == sweep.workspace / "points" for p in sweep.points)
    assert _listing(root) == before
    return sweep


def test_the_valid_sweep_parses(root: Path):
    sweep = parse(VALID, root, ())
    assert sweep is not None and len(sweep.points) == 2 * 2 * 2


@SETTINGS
@given(key=st.sampled_from(SWEEP_KEYS), value=values)
def test_any_value_of_a_sweep_key(root: Path, key: str, value):
    d = copy.deepcopy(VALID)
    d[key] = value
    parse(d, root, (key, *ALSO_NAMED.get(key, ())))


@SETTINGS
@given(section=st.sampled_from(["grid", "zip"]),
       varied=st.dictionaries(varied_paths, st.one_of(st.lists(values, max_size=3), values), max_size=3))
def test_any_grid_or_zip_paths_and_values(root: Path, section: str, varied):
    d = {**copy.deepcopy(VALID), section: varied}
    parse(d, root, (section, *ALSO_NAMED[section]))


@SETTINGS
@given(path=st.sampled_from(SPEC_PATHS), value=values)
def test_any_value_of_any_spec_field_in_a_grid(root: Path, path: str, value):
    d = {"base": "bilayer_small", "workspace": "ws", "grid": {path: [value]}}
    sweep = parse(d, root, ("grid",))
    if sweep is not None:
        assert len(sweep.points) == 1


@SETTINGS
@given(top=st.one_of(values, st.dictionaries(st.sampled_from([*SWEEP_KEYS, "extra"]), values, max_size=9)))
def test_arbitrary_top_level_data(root: Path, top):
    unknown = [str(k) for k in top if k not in SWEEP_KEYS] if isinstance(top, dict) else []
    parse(top, root, (*SWEEP_KEYS, *unknown, "<top level>"))


@SETTINGS
@given(doc=st.text(max_size=200))
def test_arbitrary_yaml_text(doc: str, tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("sweep-yaml")
    (d / "sweep.yaml").write_text(doc)
    try:
        load_sweep(d / "sweep.yaml")
    except SpecError as e:
        assert e.source == str(d / "sweep.yaml")
    assert _listing(d) == ["sweep.yaml"]
