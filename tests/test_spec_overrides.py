"""An override (``--set``, a sweep's grid, zip or condition) means what the same line in the spec file means.

Lengths, times and energies written in reduced units ("20 sigma", "0.01 tau", "2 kT") and the defaults derived from
the model are converted with the overridden model, not with the one the base spec was first resolved with.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from snarefuse.cli import main
from snarefuse.errors import SpecError
from snarefuse.run_options import load_spec_with_sets
from snarefuse.spec import Spec, example_spec_path, load_spec
from snarefuse.sweep import Sweep

SMALL = example_spec_path("bilayer_small")
TWO = example_spec_path("snare_two_bilayers")


def written(example: Path, tmp_path: Path, section: str, key: str, value: str, name: str = "written.yaml") -> Path:
    """A copy of ``example`` with ``section.key: value`` written in the file (the reference for an override)."""
    data = yaml.safe_load(example.read_text())
    data.setdefault(section, {})[key] = value
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def assert_same_system(a: Spec, b: Spec) -> None:
    assert a.to_dict() == b.to_dict()
    assert a.key() == b.key()


def test_set_sigma_is_the_sigma_written_in_the_file(tmp_path):
    by_set = load_spec_with_sets("bilayer_small", ["model.sigma=1.0nm"])
    by_file = load_spec(written(SMALL, tmp_path, "model", "sigma", "1.0 nm"))
    assert_same_system(by_set, by_file)
    # the file's 'box_z: 20 sigma', 'area_per_lipid: 1.2 sigma^2', 'wc: 1.6 sigma' at sigma = 1 nm
    assert by_set.system.box_z_nm == pytest.approx(20.0)
    assert by_set.system.bilayer.area_per_lipid_nm2 == pytest.approx(1.2)
    assert by_set.model.wc_nm == pytest.approx(1.6)
    base = load_spec(SMALL)
    assert base.system.box_z_nm == pytest.approx(17.6)
    # 'timestep: 0.01 tau' follows tau = sigma sqrt(m / epsilon), which grows with sigma
    assert by_set.run.timestep_ps == pytest.approx(base.run.timestep_ps / 0.88)
    assert by_set.run.timestep_ps == pytest.approx(0.01 * by_set.model.units.tau_ps)


@pytest.mark.parametrize("field,value", [
    ("sigma", "1.0 nm"), ("temperature", "330 K"), ("kT_over_epsilon", 1.0), ("bead_mass", "300 amu"),
    ("wc", "1.5 sigma"),
])
def test_every_model_field_set_equals_written(tmp_path, field, value):
    by_set = load_spec(SMALL).with_overrides({f"model.{field}": value})
    by_file = load_spec(written(SMALL, tmp_path, "model", field, value))
    assert_same_system(by_set, by_file)
    assert by_set.key() != load_spec(SMALL).key()


def test_unit_conversions_follow_the_units(tmp_path):
    """tau and epsilon (kT / kT_over_epsilon) change with temperature, mass and kT/epsilon: a time in tau and an
    energy in kT or epsilon written in the base spec are converted with the overridden model."""
    base = load_spec(TWO)
    hot = base.with_overrides({"model.temperature": "340 K"})
    heavy = base.with_overrides({"model.bead_mass": "500 amu"})
    u0, uh, um = base.model.units, hot.model.units, heavy.model.units
    assert uh.tau_ps == pytest.approx(u0.tau_ps * np.sqrt(base.model.temperature_k / 340.0))
    assert hot.run.timestep_ps == pytest.approx(base.run.timestep_ps * uh.tau_ps / u0.tau_ps)
    assert heavy.run.timestep_ps == pytest.approx(base.run.timestep_ps * np.sqrt(2.0))
    assert um.tau_ps == pytest.approx(u0.tau_ps * np.sqrt(2.0))
    # the contact strength is stored in kT; the friction '1 /tau' follows tau
    assert hot.run.friction_per_ps == pytest.approx(1.0 / uh.tau_ps)
    assert_same_system(hot, load_spec(written(TWO, tmp_path, "model", "temperature", "340 K")))


def test_a_value_with_units_under_another_sigma(tmp_path):
    """'cleft: 1.5 nm' stays 1.5 nm; '3 sigma' is 3 nm at sigma = 1 nm, whichever override comes first."""
    sets = ["model.sigma=1.0 nm", "system.cleft=3 sigma"]
    a = load_spec_with_sets(str(TWO), sets)
    b = load_spec_with_sets(str(TWO), sets[::-1])
    assert a.system.cleft_nm == pytest.approx(3.0)
    assert_same_system(a, b)
    data = yaml.safe_load(TWO.read_text())
    data["model"]["sigma"] = "1.0 nm"
    data["system"]["cleft"] = "3 sigma"
    (tmp_path / "both.yaml").write_text(yaml.safe_dump(data))
    assert_same_system(a, load_spec(tmp_path / "both.yaml"))
    nm = load_spec_with_sets(str(TWO), ["model.sigma=1.0 nm", "system.cleft=1.5 nm"])
    assert nm.system.cleft_nm == pytest.approx(1.5)
    # a SNARE ring radius written in nm stays in nm; the default cleft '2 sigma' would follow sigma
    assert nm.system.snares.ring_radius_nm == pytest.approx(load_spec(TWO).system.snares.ring_radius_nm)


def test_sweep_points_over_sigma_are_the_written_specs(tmp_path):
    values = ["0.88 nm", "1.0 nm", "1.1 nm"]
    sw = Sweep(str(SMALL), grid={"model.sigma": values}, workspace=tmp_path / "ws")
    assert len(sw.points) == 3
    for p, v in zip(sw.points, values):
        ref = load_spec(written(SMALL, tmp_path, "model", "sigma", v))
        assert_same_system(p.spec, ref)
        assert p.key == ref.key()
        assert p.spec.system.box_z_nm == pytest.approx(20 * float(v.split()[0]))
    # zip and conditions take the same road
    zipped = Sweep(str(SMALL), zip={"model.sigma": values[1:], "run.steps": [100, 200]}, workspace=tmp_path / "z")
    assert zipped.points[0].spec.system.box_z_nm == pytest.approx(20.0)
    cond = Sweep(str(SMALL), conditions={"wide": {"model.sigma": "1.0 nm"}}, replicas=2, workspace=tmp_path / "c")
    assert [p.spec.system.box_z_nm for p in cond.points] == pytest.approx([20.0, 20.0])
    assert cond.points[0].key == load_spec(written(SMALL, tmp_path, "model", "sigma", "1.0 nm")).key()


def test_file_with_its_own_sigma_keeps_it_under_set(tmp_path):
    own = written(SMALL, tmp_path, "model", "sigma", "1.0 nm")
    s = load_spec_with_sets(str(own), ["system.bilayer.n_lipids=200", "run.steps=100"])
    assert s.model.sigma_nm == 1.0
    assert s.system.box_z_nm == pytest.approx(20.0)
    assert s.system.bilayer.n_lipids == 200
    back = load_spec_with_sets(str(own), ["model.sigma=0.88 nm"])
    assert back.key() == load_spec(SMALL).key()


def test_cli_build_with_set_on_a_file_with_sigma(tmp_path):
    own = written(SMALL, tmp_path, "model", "sigma", "1.0 nm")
    r = CliRunner().invoke(main, ["build", str(own), "-o", str(tmp_path / "a"), "--set", "system.bilayer.n_lipids=50"])
    assert r.exit_code == 0, r.output
    built = load_spec(tmp_path / "a" / "spec.yaml")
    assert built.model.sigma_nm == 1.0 and built.system.box_z_nm == pytest.approx(20.0)
    assert built.system.bilayer.n_lipids == 50
    r = CliRunner().invoke(main, ["build", "bilayer_small", "-o", str(tmp_path / "b"), "--set", "model.sigma=1.0nm",
                                  "--set", "system.bilayer.n_lipids=50"])
    assert r.exit_code == 0, r.output
    assert load_spec(tmp_path / "b" / "spec.yaml").key() == built.key()


def test_refusals_name_the_field():
    with pytest.raises(SpecError) as e:
        load_spec_with_sets("bilayer_small", ["model.sigma=-1 nm"])
    assert e.value.field == "model.sigma" and e.value.source == "--set model.sigma=-1 nm"
    with pytest.raises(SpecError, match="unknown key") as e:
        load_spec_with_sets("bilayer_small", ["model.sigmaa=1 nm"])
    assert e.value.field == "model.sigmaa"
    with pytest.raises(SpecError, match="no such spec field") as e:
        load_spec_with_sets("bilayer_small", ["modle.sigma=1 nm"])
    assert e.value.field == "modle.sigma"
    with pytest.raises(SpecError, match="not a section") as e:
        load_spec(SMALL).with_overrides({"model.sigma.value": 1.0})
    assert e.value.field == "model.sigma.value"
    # a sigma that makes the written box too small: refused, naming the field that does not fit
    with pytest.raises(SpecError) as e:
        load_spec(TWO).with_overrides({"model.sigma": "0.88 nm", "system.box_z": "10 sigma"})
    assert e.value.field == "system.box_z"
    with pytest.raises(SpecError) as e:
        Sweep(str(SMALL), grid={"model.sigma": ["1 nm", "one nm"]}, workspace="/tmp/unused")
    assert e.value.field == "grid.model.sigma" and "'one nm'" in e.value.message


def test_aliases_are_overridden_one_place_at_a_time(tmp_path):
    text = SMALL.read_text()
    text = text.replace("lipids:\n  CKL: {head_size: 0.95, tail_attraction: 1.0}",
                        "lipids:\n  CKL: {head_size: 0.95, tail_attraction: 1.0}\n  CKB: {head_size: 0.95}")
    text = re.sub(r"upper: \{CKL: 1\.0\}\n(\s+)lower: \{CKL: 1\.0\}", r"upper: &leaflet {CKL: 1.0}\n\1lower: *leaflet",
                  text)
    assert "*leaflet" in text
    (tmp_path / "alias.yaml").write_text(text)
    s = load_spec(tmp_path / "alias.yaml").with_overrides({"system.bilayer.upper.CKB": 1.0})
    assert s.system.bilayer.upper == {"CKL": 0.5, "CKB": 0.5}
    assert s.system.bilayer.lower == {"CKL": 1.0}


def test_derived_values_follow_other_overrides():
    """Not only the model: a trigger written in tau keeps its time when the timestep is overridden, and a default
    box follows an overridden cleft, as they do when the file says so."""
    base = load_spec(example_spec_path("regulated"))
    fine = base.with_overrides({"run.timestep": "0.005 tau"})
    assert fine.to_dict()["run"]["trigger"]["at"] == 2 * base.to_dict()["run"]["trigger"]["at"]
    quick = load_spec(example_spec_path("quickstart"))
    wider = quick.with_overrides({"system.cleft": f"{quick.system.cleft_nm + 1.0} nm"})
    assert wider.system.box_z_nm == pytest.approx(quick.system.box_z_nm + 1.0)


def test_overrides_leave_their_arguments_and_survive_pickling():
    overrides = {"system.snares.clamp": {}, "system.snares.clamp.factor": 0.5}
    s = load_spec(TWO).with_overrides(overrides)
    assert s.system.snares.clamp.factor == 0.5
    assert overrides["system.snares.clamp"] == {}
    again = pickle.loads(pickle.dumps(load_spec(SMALL)))  # as a sweep's task carries it to a worker
    assert again.with_overrides({"model.sigma": "1 nm"}).system.box_z_nm == pytest.approx(20.0)


def test_a_resolved_spec_keeps_its_lengths_in_nm():
    """A build's spec.yaml is written resolved (every length in nm): overriding sigma there changes sigma only,
    as editing that file would."""
    resolved = Spec.from_dict(load_spec(SMALL).to_dict())
    s = resolved.with_overrides({"model.sigma": "1 nm"})
    assert s.system.box_z_nm == pytest.approx(17.6)
    assert s.model.sigma_nm == 1.0
