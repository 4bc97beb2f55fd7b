"""Property-based fuzzing of the spec parser: whatever the input, the result is a valid Spec or a
SpecError naming a field, never an exception from deep inside numpy, yaml or OpenMM."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snarefuse.errors import SpecError
from snarefuse.spec import Spec, example_spec_path, load_spec

from .conftest import dotted_paths

BASE = load_spec(example_spec_path("bilayer_small")).to_dict()
TOP_FIELDS = ["name", "seed", "model", "lipids", "system", "run"]


PATHS = sorted(dotted_paths(BASE))

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["1 nm", "-3 K", "nan nm", "1e400 nm", "0 sigma", "2 tau", "1 furlong", "310", "", "  ",
                     "1.2 sigma^2", "inf K", "0.0", "-0"]),
)
values = st.recursive(scalars, lambda children: st.one_of(st.lists(children, max_size=3),
                                                          st.dictionaries(st.text(max_size=8), children, max_size=3)),
                      max_leaves=6)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _set(d, path, value):
    node = d
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value


def _check(d):
    try:
        spec = Spec.from_dict(d)
    except SpecError as e:
        assert e.field is not None
        assert str(e)
        return
    # a valid spec must round-trip to the same key
    assert Spec.from_dict(spec.to_dict()).key() == spec.key()


@SETTINGS
@given(path=st.sampled_from(PATHS), value=values)
def test_any_field_value_gives_spec_or_spec_error(path, value):
    d = copy.deepcopy(BASE)
    _set(d, path, value)
    _check(d)


@SETTINGS
@given(path=st.sampled_from(PATHS), key=st.text(min_size=1, max_size=10), value=scalars)
def test_unknown_keys_anywhere_are_refused(path, key, value):
    d = copy.deepcopy(BASE)
    node = d
    for p in path.split("."):
        if not isinstance(node.get(p), dict):
            break
        node = node[p]
    if key in node or node is d.get("lipids"):
        return
    node[key] = value
    try:
        Spec.from_dict(d)
    except SpecError as e:
        assert key in (e.field or "") or "unknown" in str(e) or "species" in str(e)
        return
    raise AssertionError(f"unknown key {key!r} under {path!r} was accepted")


@SETTINGS
@given(doc=st.text(max_size=200))
def test_arbitrary_yaml_text(doc, tmp_path_factory):
    p = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    p.write_text(doc)
    try:
        load_spec(p)
    except SpecError:
        pass


@SETTINGS
@given(top=st.dictionaries(st.sampled_from(TOP_FIELDS + ["extra"]), values, max_size=6))
def test_arbitrary_top_level_mappings(top):
    _check(top)


def test_yaml_of_a_valid_spec_round_trips():
    assert Spec.from_dict(yaml.safe_load(yaml.safe_dump(BASE))).key() == Spec.from_dict(BASE).key()
