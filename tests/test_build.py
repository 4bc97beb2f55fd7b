"""The planar bilayer builder: counts, composition, reproducibility, files, refusal to overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj
import numpy as np
import pytest

from snarefuse.build import build_system
from snarefuse.build.bilayer import split_counts
from snarefuse.errors import BuildError
from snarefuse.spec import Spec

from .conftest import small_spec


def test_counts_box_and_area():
    built = build_system(small_spec())
    assert built.positions.shape == (600, 3)
    np.testing.assert_allclose(built.box[0] * built.box[1] / 100, 1.2 * 0.88**2)
    assert built.manifest["n_lipids"] == 200
    assert built.manifest["membranes"][0]["n_upper"] == 100


def test_leaflets_point_away_from_midplane():
    built = build_system(small_spec())
    pos = built.positions.reshape(-1, 3, 3)
    mid = built.box[2] / 2
    up = pos[:100]
    lo = pos[100:]
    assert np.all(up[:, 0, 2] > up[:, 2, 2]) and np.all(up[:, 2, 2] > mid)
    assert np.all(lo[:, 0, 2] < lo[:, 2, 2]) and np.all(lo[:, 2, 2] < mid)


def test_no_overlaps_in_start():
    from scipy.spatial import cKDTree

    built = build_system(small_spec())
    tree = cKDTree(built.positions % built.box, boxsize=built.box)
    d, _ = tree.query(built.positions % built.box, k=2)
    assert d[:, 1].min() > 0.8 * 0.88 * 0.95


def test_reproducible_from_seed():
    a = build_system(small_spec())
    b = build_system(small_spec())
    c = build_system(small_spec(seed=99))
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.array_equal(a.positions, c.positions)


def test_asymmetric_composition():
    d = small_spec().to_dict()
    d["lipids"] = {"CKL": {}, "CKB": {"head_size": 1.05}}
    d["system"]["bilayer"]["upper"] = {"CKL": 0.7, "CKB": 0.3}
    d["system"]["bilayer"]["lower"] = {"CKL": 1.0}
    built = build_system(Spec.from_dict(d))
    names = [r.name for r in built.topology.residues()]
    assert names[:100].count("CKB") == 30 and names[100:].count("CKB") == 0


def test_split_counts_sums():
    assert sum(split_counts(101, {"A": 1 / 3, "B": 1 / 3, "C": 1 / 3}).values()) == 101


def test_two_bilayers_cleft():
    spec = small_spec(system__geometry="two_bilayers", system__cleft="3 nm")
    built = build_system(spec)
    heads = built.positions.reshape(-1, 3, 3)[:, 0, 2]
    lower_up = heads[:100].max()   # membrane 0 upper leaflet heads
    upper_lo = heads[300:].min()   # membrane 1 lower leaflet heads
    np.testing.assert_allclose(upper_lo - lower_up, 3.0, atol=0.05)
    assert [m["chain"] for m in built.manifest["membranes"]] == ["A", "B"]


def test_save_writes_files_read_back_by_mdtraj(tmp_path: Path):
    built = build_system(small_spec())
    d = built.save(tmp_path / "run")
    for name in ("system.pdb", "system.xml", "spec.yaml", "manifest.json", "forcefield.xml"):
        assert (d / name).stat().st_size > 0
    t = mdtraj.load(str(d / "system.pdb"))
    assert t.n_atoms == 600 and t.n_residues == 200
    assert t.topology.n_bonds == 400
    np.testing.assert_allclose(t.unitcell_lengths[0], built.box, atol=1e-3)
    m = json.loads((d / "manifest.json").read_text())
    assert m["units"]["sigma_nm"] == 0.88 and m["spec_key"] == built.spec.key()


def test_save_refuses_foreign_or_other_build(tmp_path: Path):
    build_system(small_spec()).save(tmp_path / "run")
    build_system(small_spec()).save(tmp_path / "run")  # same spec: no-op
    with pytest.raises(BuildError, match="another spec"):
        build_system(small_spec(seed=5)).save(tmp_path / "run")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(BuildError, match="not empty"):
        build_system(small_spec()).save(tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def _vesicle_planar(**o):
    return small_spec(system__geometry="vesicle_planar", system__vesicle={"radius": "6 nm"},
                      system__bilayer__n_lipids=1200, system__cleft="1 nm", system__box_z=None, **o)


def test_vesicle_planar_geometry():
    from scipy.spatial import cKDTree

    built = build_system(_vesicle_planar())
    m0, m1 = built.manifest["membranes"]
    assert (m0["kind"], m1["kind"]) == ("planar", "vesicle")
    lip = built.positions.reshape(-1, 3, 3)
    heads = lip[:, 0]
    planar_top = heads[: m0["n_upper"], 2].max()
    ves = heads[m0["n_lipids"]:]
    centre = np.array(m1["center_nm"])
    # the gap between the planar upper head plane and the vesicle's lowest head is the cleft
    np.testing.assert_allclose(ves[:, 2].min() - planar_top, 1.0, atol=0.1)
    r = np.linalg.norm(ves - centre, axis=1)
    np.testing.assert_allclose(r[: m1["n_outer"]], m1["outer_head_radius_nm"], atol=1e-6)
    np.testing.assert_allclose(r[m1["n_outer"]:], m1["inner_head_radius_nm"], atol=1e-6)
    tree = cKDTree(built.positions % built.box, boxsize=built.box)
    d, _ = tree.query(built.positions % built.box, k=2)
    assert d[:, 1].min() > 0.75 * 0.88


def test_vesicle_vesicle_geometry_and_no_barostat():
    spec = small_spec(system__geometry="vesicle_vesicle", system__vesicle={"radius": "6 nm"}, system__bilayer=None,
                      system__cleft="1.5 nm", run__barostat={"enabled": False}, system__box_z=None)
    built = build_system(spec)
    c0, c1 = (np.array(m["center_nm"]) for m in built.manifest["membranes"])
    outer = built.manifest["membranes"][0]["outer_head_radius_nm"]
    np.testing.assert_allclose(np.linalg.norm(c1 - c0) - 2 * outer, 1.5, atol=1e-6)
    assert built.box[0] > 2 * outer + 2 * built.spec.model.cutoff_nm


VESICLE_ERRORS = [
    (dict(system__vesicle={"radius": "2 nm"}), "system.vesicle.radius", "too small"),
    (dict(system__vesicle={"radius": "30 nm"}), "system.bilayer.n_lipids", "vesicle's outer diameter"),
    (dict(system__vesicle={"radius": "6 nm", "colour": 1}), "system.vesicle.colour", "unknown key"),
]


@pytest.mark.parametrize("overrides,field,words", VESICLE_ERRORS, ids=[e[1] + ":" + e[2] for e in VESICLE_ERRORS])
def test_vesicle_spec_errors(overrides, field, words):
    from snarefuse.errors import SpecError

    with pytest.raises(SpecError) as err:
        small_spec(system__geometry="vesicle_planar", system__bilayer__n_lipids=1200, system__box_z=None, **overrides)
    assert err.value.field == field and words in str(err.value)


def test_barostat_refused_without_planar_membrane():
    from snarefuse.errors import SpecError

    with pytest.raises(SpecError) as err:
        small_spec(system__geometry="vesicle_vesicle", system__vesicle={"radius": "6 nm"}, system__bilayer=None,
                   run__barostat={"enabled": True}, system__box_z=None)
    assert err.value.field == "run.barostat.enabled"
