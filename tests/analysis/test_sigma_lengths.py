"""The analyses' lengths scale with the model's sigma (snarefuse.analysis.lengths): a known-answer system written
with another sigma (every coordinate and the box times sigma / 0.88 nm) gets the calls it gets at 0.88 nm, and its
measured lengths scale with it; without the run's sigma a small-sigma system's pore is missed."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj
import numpy as np
import pytest

from snarefuse.analysis import FusionAnalysis, analyze_run, testsystems as ts
from snarefuse.analysis.base import AnalysisError
from snarefuse.analysis.fusion import BLOCK_RADIUS, CONTACT_CUTOFF, CONTACT_RADIUS, MIN_PORE_RADIUS
from snarefuse.analysis.kernels import LEAFLET_CUTOFF_NM
from snarefuse.analysis.lengths import LENGTHS_NM, lengths_nm
from snarefuse.units import DEFAULT_SIGMA_NM

TAU_PS = 9.09


def _scaled(t: mdtraj.Trajectory, sigma_nm: float) -> mdtraj.Trajectory:
    """``t`` (a system at the default sigma) written with sigma ``sigma_nm``: every length times sigma / 0.88 nm."""
    s = sigma_nm / DEFAULT_SIGMA_NM
    return mdtraj.Trajectory(t.xyz * s, t.topology, time=t.time, unitcell_lengths=t.unitcell_lengths * s,
                             unitcell_angles=t.unitcell_angles)


def _run_dir(path: Path, t: mdtraj.Trajectory, sigma_nm: float) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    t[0].save_pdb(str(path / "system.pdb"))
    t.save_dcd(str(path / "trajectory.dcd"))
    (path / "manifest.json").write_text(json.dumps({"units": {"tau_ps": TAU_PS, "sigma_nm": sigma_nm}}))
    return path


def test_the_table_gives_the_module_defaults_and_scales():
    at_default = lengths_nm()
    assert at_default == lengths_nm(DEFAULT_SIGMA_NM)
    assert (at_default["block_radius"], at_default["min_pore_radius"], at_default["contact_cutoff"],
            at_default["contact_radius"], at_default["leaflet_cutoff"]) == \
        (BLOCK_RADIUS, MIN_PORE_RADIUS, CONTACT_CUTOFF, CONTACT_RADIUS, LEAFLET_CUTOFF_NM)
    one = lengths_nm(1.0)
    assert set(one) == set(LENGTHS_NM)
    for name, v in one.items():
        assert v == pytest.approx(at_default[name] / DEFAULT_SIGMA_NM)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sigma_nm"):
            lengths_nm(bad)
    with pytest.raises(AnalysisError, match="sigma_nm"):
        FusionAnalysis(ts.two_bilayers(), sigma_nm=0.0)


def test_a_fusion_path_written_with_sigma_1_nm_gets_the_same_calls():
    t = ts.fusion_path()
    s = 1.0 / DEFAULT_SIGMA_NM
    ref = FusionAnalysis(t).run()
    big = FusionAnalysis(_scaled(t, 1.0), sigma_nm=1.0).run()
    assert list(big.table["state_name"]) == list(ref.table["state_name"])
    assert {k: v["frame"] for k, v in big.results.first_passage.items()} == \
        {k: v["frame"] for k, v in ref.results.first_passage.items()}
    assert list(big.table["stalk_lipids"]) == list(ref.table["stalk_lipids"])
    for col in ("pore_radius_nm", "pore_inscribed_radius_nm", "diaphragm_radius_nm", "min_gap_nm"):
        np.testing.assert_allclose(big.table[col], s * np.asarray(ref.table[col]), rtol=1e-3, atol=1e-4,
                                   err_msg=col)
    # the expanded pore is reached: the scaled threshold (3 nm x s) is what the scaled pore passes
    assert big.thresholds["expanded_pore_radius"] == pytest.approx(3.0 * s)


def test_without_the_run_s_sigma_a_small_sigma_system_s_pore_is_missed():
    t = ts.fusion_pore(1.8, n_frames=1)
    s = 0.6 / DEFAULT_SIGMA_NM
    ref = FusionAnalysis(t, persist=1).run().table
    small = _scaled(t, 0.6)
    scaled = FusionAnalysis(small, sigma_nm=0.6, persist=1).run().table
    unscaled = FusionAnalysis(small, persist=1).run().table
    assert str(ref["state_name"][0]) == str(scaled["state_name"][0]) == "pore"
    assert float(scaled["pore_inscribed_radius_nm"][0]) == pytest.approx(s * float(ref["pore_inscribed_radius_nm"][0]),
                                                                         rel=1e-3)
    assert not unscaled["has_pore"][0]  # the default 0.44 nm beads and 1 nm pores are too large for it


def test_analyze_run_takes_sigma_from_the_manifest(tmp_path: Path):
    t = ts.fusion_path()
    ref = analyze_run(_run_dir(tmp_path / "ref", t, DEFAULT_SIGMA_NM), figures=False)
    big = analyze_run(_run_dir(tmp_path / "big", _scaled(t, 1.0), 1.0), figures=False)
    assert {k: v["frame"] for k, v in big["fusion"]["first_passage"].items()} == \
        {k: v["frame"] for k, v in ref["fusion"]["first_passage"].items()}
    th = big["fusion"]["thresholds"]
    assert th["sigma_nm"] == 1.0
    assert th["min_pore_radius_nm"] == pytest.approx(MIN_PORE_RADIUS / DEFAULT_SIGMA_NM)
    assert th["block_radius_nm"] == pytest.approx(0.5)
    assert th["diaphragm_min_radius"] == pytest.approx(ref["fusion"]["thresholds"]["diaphragm_min_radius"]
                                                       / DEFAULT_SIGMA_NM)
    for k in ("apl_sigma2", "thickness_sigma"):
        assert big["membrane_properties"]["m0"][k]["mean"] == pytest.approx(
            ref["membrane_properties"]["m0"][k]["mean"], rel=0.01)


def test_a_bilayer_built_with_sigma_1_nm_is_measured_in_its_own_sigma(tmp_path: Path):
    """The builder writes a system in sigma; analysed with the manifest's sigma, the bilayer built at 1.0 nm has the
    leaflets, thickness and area per lipid (in sigma) of the one built at 0.88 nm."""
    import yaml

    from snarefuse.build import build_system
    from snarefuse.rundir import RunDirectory
    from snarefuse.spec import Spec, example_spec_path

    out = {}
    for sigma in (0.88, 1.0):
        # from the file's text, so that its lengths in sigma (box_z: 20 sigma, 1.2 sigma^2) are read at this sigma
        d = yaml.safe_load(example_spec_path("bilayer_small").read_text())
        d["model"]["sigma"], d["system"]["bilayer"]["n_lipids"] = f"{sigma} nm", 200
        built = build_system(Spec.from_dict(d))
        assert built.box[2] == pytest.approx(20 * sigma)
        rd = RunDirectory(tmp_path / f"s{sigma}")
        built.save(rd.path)
        top = mdtraj.load_topology(str(rd.system_pdb))
        xyz = np.repeat(np.asarray(built.positions, dtype=np.float32)[None], 2, axis=0)
        mdtraj.Trajectory(xyz, top, unitcell_lengths=np.tile(np.asarray(built.box, np.float32), (2, 1)),
                          unitcell_angles=np.full((2, 3), 90.0, np.float32)).save_dcd(str(rd.trajectory_file("dcd")))
        out[sigma] = analyze_run(rd.path, figures=False), rd
    (ref, _), (big, rd_big) = out[0.88], out[1.0]
    assert big["sigma_nm_used"] == 1.0 and ref["sigma_nm_used"] == 0.88
    for key in ("thickness_sigma", "apl_sigma2"):
        assert big["membrane_properties"]["m0"][key]["mean"] == pytest.approx(
            ref["membrane_properties"]["m0"][key]["mean"], rel=0.01)
    t_ref = np.genfromtxt(out[0.88][1].analysis().table("leaflets"), delimiter=",", names=True)
    t_big = np.genfromtxt(rd_big.analysis().table("leaflets"), delimiter=",", names=True)
    assert t_ref.dtype.names == t_big.dtype.names
    for col in t_ref.dtype.names:
        if col != "time_ps":
            np.testing.assert_array_equal(t_big[col], t_ref[col], err_msg=col)
