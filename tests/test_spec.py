"""Spec parsing: units, strict validation with clear messages, canonical key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from snarefuse.errors import SpecError
from snarefuse.spec import Spec, example_spec_path, load_spec, parse_quantity

EXAMPLE = example_spec_path("bilayer_small")


def base_dict() -> dict:
    return load_spec(EXAMPLE).to_dict()


@pytest.mark.parametrize("text,dim,expected", [
    ("0.88 nm", "length", 0.88),
    ("8.8 angstrom", "length", 0.88),
    (0.88, "length", 0.88),
    ("310 K", "temperature", 310.0),
    ("250 amu", "mass", 250.0),
    ("1 kcal/mol", "energy", 4.184),
    ("2 ns", "time", 2000.0),
    ("1.5 h", "wallclock", 5400.0),
    ("1 mN/m", "tension", 10.0),
])
def test_parse_quantity_md_units(text, dim, expected):
    np.testing.assert_allclose(parse_quantity(text, dim, "f"), expected)


def test_reduced_units_resolved_through_model():
    spec = load_spec(EXAMPLE)
    u = spec.model.units
    np.testing.assert_allclose(spec.run.timestep_ps, 0.01 * u.tau_ps)
    np.testing.assert_allclose(spec.system.bilayer.area_per_lipid_nm2, 1.2 * 0.88**2)
    np.testing.assert_allclose(spec.model.wc_nm, 1.6 * 0.88)


def test_resolved_spec_round_trips_to_same_key(tmp_path: Path):
    spec = load_spec(EXAMPLE)
    spec.dump(tmp_path / "spec.yaml")
    again = load_spec(tmp_path / "spec.yaml")
    assert again.key() == spec.key()
    assert again.to_dict() == spec.to_dict()


def test_key_ignores_execution_fields_but_not_physics():
    spec = load_spec(EXAMPLE)
    assert spec.with_overrides({"run.platform": "CPU", "name": "other"}).key() == spec.key()
    assert spec.with_overrides({"seed": 7}).key() != spec.key()
    assert spec.with_overrides({"model.kT_over_epsilon": 1.0}).key() != spec.key()


def test_equivalent_units_share_key():
    d = base_dict()
    d["model"]["sigma"] = "8.8 angstrom"
    assert Spec.from_dict(d).key() == load_spec(EXAMPLE).key()


def _mutate(path: str, value):
    d = base_dict()
    node = d
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    if value is _DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return d


_DELETE = object()

BAD = [
    # (dotted path to change, new value, field named in the error, words in the message)
    ("colour", "red", "colour", "unknown key"),
    ("model.sigmaa", 1.0, "model.sigmaa", "unknown key"),
    ("model.temperature", "310 nm", "model.temperature", "not a temperature unit"),
    ("model.sigma", "0.88 parsec", "model.sigma", "accepted"),
    ("model.sigma", [1], "model.sigma", "expected a number"),
    ("model.lipid_model", "martini", "model.lipid_model", "cooke3"),
    ("system.bilayer.n_lipids", 0, "system.bilayer.n_lipids", "at least 2"),
    ("system.bilayer.n_lipids", -5, "system.bilayer.n_lipids", ">= 0"),
    ("system.bilayer.n_lipids", 12, "system.bilayer.n_lipids", "twice the interaction cutoff"),
    ("system.bilayer.n_lipids", "many", "system.bilayer.n_lipids", "expected an integer"),
    ("system.box_z", "3 nm", "system.box_z", "too small"),
    ("system.geometry", "torus", "system.geometry", "bilayer"),
    ("system.bilayer.upper", {"XYZ": 1.0}, "system.bilayer.upper.XYZ", "unknown lipid species"),
    ("run.timestep", "0.2 tau", "run.timestep", "unstable"),
    ("run.checkpoint_interval", 750, "run.checkpoint_interval", "multiple"),
    ("run.platform", "TPU", "run.platform", "CUDA"),
    ("run.steps", -1, "run.steps", ">= 0"),
    ("run.barostat.enabled", "yes", "run.barostat.enabled", "true or false"),
    ("lipids", {"ckl": {}}, "lipids.ckl", "upper-case"),
]


@pytest.mark.parametrize("path,value,field,words", BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_spec_names_field(path, value, field, words):
    with pytest.raises(SpecError) as err:
        Spec.from_dict(_mutate(path, value))
    assert err.value.field == field
    assert words in str(err.value)


def test_box_given_both_ways_is_refused():
    d = _mutate("system.bilayer.box_xy", "20 nm")
    with pytest.raises(SpecError, match="exactly one of n_lipids"):
        Spec.from_dict(d)


def test_error_names_the_file(tmp_path: Path):
    p = tmp_path / "bad.yaml"
    d = _mutate("model.wc", "30 sigma")
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(SpecError) as err:
        load_spec(p)
    assert str(p) in str(err.value) and "model.wc" in str(err.value)


def test_invalid_yaml_and_missing_file(tmp_path: Path):
    p = tmp_path / "broken.yaml"
    p.write_text("model: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(p)
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_override_of_unknown_path():
    with pytest.raises(SpecError, match="unknown key") as err:
        load_spec(EXAMPLE).with_overrides({"system.bilayer.nlipids": 3})
    assert err.value.field == "system.bilayer.nlipids"
    with pytest.raises(SpecError, match="no such spec field"):
        load_spec(EXAMPLE).with_overrides({"sytem.bilayer.n_lipids": 3})


def test_every_shipped_example_is_valid():
    for p in sorted(EXAMPLE.parent.glob("*.yaml")):
        try:
            load_spec(p)
        except SpecError as e:  # sweep specs have their own schema
            if "sweep" not in p.name:
                raise AssertionError(f"{p.name}: {e}") from e


def test_formulation_names_match_the_formulations_module_and_stay_out_of_the_key():
    from snarefuse.formulations import FORMULATIONS, NATIVE_FORMULATION
    from snarefuse.spec import FORMULATIONS as SPEC_FORMULATIONS

    assert SPEC_FORMULATIONS == ["auto", *FORMULATIONS, NATIVE_FORMULATION]
    base = load_spec(example_spec_path("bilayer_small"))
    split = base.with_overrides({"run.formulation": "split"})
    assert split.run.formulation == "split" and base.run.formulation == "auto"
    assert split.key() == base.key()
    with pytest.raises(SpecError) as e:
        base.with_overrides({"run.formulation": "fast"})
    assert e.value.field == "run.formulation" and "poly" in str(e.value)


@pytest.mark.parametrize("field,value", [("system.bilayer.n_lipids", 10**300), ("system.bilayer.n_lipids", 1e300),
                                         ("system.bilayer.n_lipids", 20_000_000)])
def test_absurd_sizes_are_refused_not_built(field, value):
    with pytest.raises(SpecError) as e:
        load_spec(example_spec_path("bilayer_small")).with_overrides({field: value})
    assert e.value.field == field and "accepted <=" in str(e.value)


def test_absurd_box_is_refused():
    d = load_spec(example_spec_path("bilayer_small")).to_dict()
    del d["system"]["bilayer"]["n_lipids"]
    d["system"]["bilayer"]["box_xy"] = "1e9 nm"
    with pytest.raises(SpecError) as e:
        Spec.from_dict(d)
    assert e.value.field == "system.bilayer.box_xy"


def test_unstable_tmd_tail_attraction_is_refused():
    """1.0 epsilon blew the quickstart system up within 500 steps; 0.5 ran stably (measured)."""
    base = load_spec(example_spec_path("snare_two_bilayers"))
    assert base.with_overrides({"system.snares.tmd_tail_attraction": 0.5}).system.snares.tmd_tail_attraction == 0.5
    with pytest.raises(SpecError) as e:
        base.with_overrides({"system.snares.tmd_tail_attraction": 1.0})
    assert e.value.field == "system.snares.tmd_tail_attraction" and "accepted 0 <= value <= 0.5" in str(e.value)


def test_contact_strength_default_is_the_forces_default_everywhere():
    """The default contact depth is written in spec.py (no OpenMM import there) and in forces.py, where it is
    justified; the spec reference and the quickstart must say the same."""
    import yaml

    from snarefuse import forces
    from snarefuse.spec import DEFAULT_CONTACT_STRENGTH_KT, FIELD_DOCS

    assert DEFAULT_CONTACT_STRENGTH_KT == forces.DEFAULT_CONTACT_EPSILON_KT
    assert FIELD_DOCS["system.snares.contact_strength"][1] == f"{forces.DEFAULT_CONTACT_EPSILON_KT} kT"
    d = yaml.safe_load(example_spec_path("snare_two_bilayers").read_text())
    explicit = Spec.from_dict(d).system.snares.contact_strength_kt
    del d["system"]["snares"]["contact_strength"]
    implied = Spec.from_dict(d).system.snares.contact_strength_kt
    assert implied == pytest.approx(forces.DEFAULT_CONTACT_EPSILON_KT, rel=1e-12)
    assert explicit == pytest.approx(implied, rel=1e-12)


def test_anchor_strength_default_and_bounds():
    from snarefuse import forces
    from snarefuse.spec import DEFAULT_ANCHOR_STRENGTH, FIELD_DOCS

    assert DEFAULT_ANCHOR_STRENGTH == forces.DEFAULT_ANCHOR_STRENGTH
    assert float(FIELD_DOCS["system.snares.anchor_strength"][1]) == forces.DEFAULT_ANCHOR_STRENGTH
    base = load_spec(example_spec_path("snare_two_bilayers"))
    assert base.system.snares.anchor_strength == forces.DEFAULT_ANCHOR_STRENGTH
    assert base.with_overrides({"system.snares.anchor_strength": 0}).system.snares.anchor_strength == 0.0
    for bad in (-1, 11, "strong"):
        with pytest.raises(SpecError) as e:
            base.with_overrides({"system.snares.anchor_strength": bad})
        assert e.value.field == "system.snares.anchor_strength"
