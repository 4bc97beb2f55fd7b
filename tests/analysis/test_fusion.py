"""Fusion analyses on known-answer systems, including across the periodic boundary."""

from __future__ import annotations

import numpy as np
import pytest

from snarefuse.analysis import (DiaphragmAnalysis, FusionAnalysis, LipidIndex, LipidMixingAnalysis, PoreAnalysis,
                                SeparationAnalysis, detect_pore, testsystems as ts)
from snarefuse.analysis.base import AnalysisError
from snarefuse.analysis.fusion import ContentMixingAnalysis

#: Mean / on-axis gap of flat bilayers with 0.05 nm jitter (nm).
GAP_TOL = 0.05
#: Minimum over 2 nm columns of a jittered gap is biased low by a few jitter widths (nm).
MIN_GAP_TOL = 0.15
#: Vesicle gaps: curvature within the 1.5 nm axis disc and Fibonacci sampling (nm).
VESICLE_GAP_TOL = 0.2
#: Pore radii against the bead-free radius of the construction (nm).
PORE_TOL = 0.2
#: Diaphragm radius against the construction (nm); the 0.5 nm grid and 1 nm pooling bias it slightly up.
DIAPHRAGM_TOL = 0.3

PLANAR_SHIFTS = [(0.0, 0.0, 0.0), (4.0, 7.0, 8.0), (0.0, 0.0, 8.75)]  # the last: the gap on the z boundary


def _axis_at_feature(t, shift):  # type: ignore[no-untyped-def]
    """contact_xy of a feature built on the box-centre axis, after ``shift``."""
    L = t.unitcell_lengths[0]
    return ((L[0] / 2 + shift[0]) % L[0], (L[1] / 2 + shift[1]) % L[1])


@pytest.mark.parametrize("shift", PLANAR_SHIFTS)
@pytest.mark.parametrize("gap", [1.0, 2.5])
def test_separation_planar(gap: float, shift: tuple[float, float, float]) -> None:
    tb = SeparationAnalysis(ts.two_bilayers(gap, shift=shift)).run().table
    np.testing.assert_allclose(tb["mean_gap_nm"], gap, atol=GAP_TOL)
    np.testing.assert_allclose(tb["axis_gap_nm"], gap, atol=GAP_TOL)
    np.testing.assert_allclose(tb["min_gap_nm"], gap, atol=MIN_GAP_TOL)
    assert tb["min_gap_nm"][0] <= tb["mean_gap_nm"][0]
    np.testing.assert_allclose(tb["gap_coverage"], 1.0)


def test_separation_map_is_uniform_for_flat_bilayers() -> None:
    sa = SeparationAnalysis(ts.two_bilayers(2.0, n_frames=3, jitter=0.05)).run()
    m = sa.results.gap_map_mean
    assert np.isfinite(m).all()
    np.testing.assert_allclose(m, 2.0, atol=MIN_GAP_TOL)


@pytest.mark.parametrize("shift", [(0.0, 0.0, 0.0), (13.0, 2.0, 16.0)])
def test_separation_vesicle_on_bilayer(shift: tuple[float, float, float]) -> None:
    sa = SeparationAnalysis(ts.vesicle_on_bilayer(8.0, 2.0, shift=shift)).run()
    tb = sa.table
    np.testing.assert_allclose(tb["axis_gap_nm"], 2.0, atol=VESICLE_GAP_TOL)
    np.testing.assert_allclose(tb["min_gap_nm"], 2.0, atol=VESICLE_GAP_TOL)
    assert tb["mean_gap_nm"][0] > tb["min_gap_nm"][0] + 0.3  # the vesicle curves away from the plane
    np.testing.assert_allclose(tb["center_distance_nm"], 8.0 + 2.0 + ts.THICKNESS, atol=0.1)


@pytest.mark.parametrize("shift", [(0.0, 0.0, 0.0), (17.0, 0.0, 17.0)])
def test_separation_two_vesicles_along_oblique_axis(shift: tuple[float, float, float]) -> None:
    tb = SeparationAnalysis(ts.two_vesicles(6.0, 2.0, direction=(1, 1, 0), shift=shift)).run().table
    np.testing.assert_allclose(tb["axis_gap_nm"], 2.0, atol=VESICLE_GAP_TOL)
    np.testing.assert_allclose(tb["min_gap_nm"], 2.0, atol=VESICLE_GAP_TOL)
    np.testing.assert_allclose(tb["center_distance_nm"], 2 * 6.0 + 2.0 + ts.THICKNESS, atol=0.1)


@pytest.mark.parametrize("shift", [(0.0, 0.0, 0.0), (9.0, 9.0, 5.0), (9.6, 0.0, 0.0)])
@pytest.mark.parametrize("radius", [2.0, 3.5])
def test_detect_pore_hole_in_bilayer(radius: float, shift: tuple[float, float, float]) -> None:
    t = ts.bilayer_with_hole(radius, shift=shift)
    info = LipidIndex.from_topology(t.topology)
    has, r = detect_pore(t.xyz[0], t.unitcell_lengths[0], info)
    assert has
    np.testing.assert_allclose(r, radius, atol=PORE_TOL)


def test_detect_pore_accepts_quantities_and_mappings() -> None:
    import openmm.unit as u

    t = ts.bilayer_with_hole(3.0)
    info = LipidIndex.from_topology(t.topology)
    mapping = {"head": info.head, "tails": [list(x) for x in info.tails], "membrane": info.membrane}
    box = np.diag(t.unitcell_lengths[0]) * u.nanometer
    has, r = detect_pore(t.xyz[0] * u.nanometer, box, mapping)
    assert has
    np.testing.assert_allclose(r, 3.0, atol=PORE_TOL)


@pytest.mark.parametrize("shift", [(0.0, 0.0, 0.0), (11.0, 3.0, 8.0)])
def test_pore_between_two_bilayers(shift: tuple[float, float, float]) -> None:
    t = ts.fusion_pore(3.0, shift=shift)
    tb = PoreAnalysis(t).run().table
    assert tb["has_pore"][0] and tb["n_pores"][0] == 1
    np.testing.assert_allclose(tb["pore_radius_nm"], 3.0, atol=PORE_TOL)
    np.testing.assert_allclose(tb["pore_inscribed_radius_nm"], 3.0, atol=PORE_TOL)
    want = np.hypot(shift[0], shift[1])
    np.testing.assert_allclose(tb["pore_offset_nm"], want, atol=0.2)
    has, r = detect_pore(t.xyz[0], t.unitcell_lengths[0], LipidIndex.from_topology(t.topology))
    assert has and abs(r - 3.0) < PORE_TOL


@pytest.mark.parametrize("shift", [(0.0, 0.0, 0.0), (11.0, 11.0, 8.0)])
@pytest.mark.parametrize("radius", [2.5, 4.0, 6.0])
def test_diaphragm_radius(radius: float, shift: tuple[float, float, float]) -> None:
    t = ts.hemifusion_diaphragm(radius, n_side=28, shift=shift, jitter=0.1)
    da = DiaphragmAnalysis(t, contact_xy=_axis_at_feature(t, shift)).run()
    np.testing.assert_allclose(da.table["diaphragm_radius_nm"], radius, atol=DIAPHRAGM_TOL)
    np.testing.assert_allclose(da.table["diaphragm_offset_nm"], 0.0, atol=0.3)


def test_stalk_contacts_and_merged_leaflets() -> None:
    tb = LipidMixingAnalysis(ts.stalk(2.0, 2.5)).run().table
    assert tb["tail_contacts"][0] > 50
    assert tb["contact_lipids"][0] >= 20
    # the stalk joins the proximal leaflets but has moved no lipid into the other membrane's leaflet: lipid
    # mixing counts lipids surrounded by the other membrane, not the whole leaflet the neck connects to
    assert tb["lipids_in_other_leaflet"][0] < (16 * 16) // 10


def test_lipid_whose_tails_sit_in_other_core() -> None:
    """Move one lipid of membrane 0 into the lower leaflet of membrane 1."""
    t = ts.two_bilayers(2.0, n_side=12, jitter=0.02)
    xyz = t.xyz[0].copy()
    b_lower = 3 * (2 * 144 + 144)  # first lipid of membrane 1's lower leaflet
    xyz[0:3] = xyz[b_lower:b_lower + 3] + np.array([0.48, 0.0, 0.0], dtype=np.float32)
    t.xyz[0] = xyz
    tb = LipidMixingAnalysis(t).run().table
    assert tb["lipids_in_other_core"][0] == 1
    assert tb["lipids_in_other_leaflet"][0] == 1


#: A plain (no-contact) system with thermal-like jitter must show none of the fusion features.
THERMAL_JITTER = 0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_docked_bilayers_with_thermal_jitter_show_no_fusion(seed: int) -> None:
    t = ts.two_bilayers(1.5, n_side=20, jitter=THERMAL_JITTER, n_frames=3, seed=seed)
    tb = FusionAnalysis(t).run().table
    np.testing.assert_array_equal(tb["contact_lipids"], 0)
    np.testing.assert_array_equal(tb["has_pore"], False)
    np.testing.assert_array_equal(tb["diaphragm_radius_nm"], 0.0)
    assert set(tb["state_name"]) == {"docked"}


def test_single_bilayer_with_thermal_jitter_has_no_pore() -> None:
    t = ts.bilayer(20, jitter=THERMAL_JITTER, n_frames=3, seed=2)
    info = LipidIndex.from_topology(t.topology)
    for f in range(3):
        assert detect_pore(t.xyz[f], t.unitcell_lengths[f], info) == (False, 0.0)


CASES = {
    "docked": lambda: ts.two_bilayers(2.0),
    "stalk": lambda: ts.stalk(2.0, 2.5),
    "hemifused": lambda: ts.hemifusion_diaphragm(4.0),
    "pore": lambda: ts.fusion_pore(2.0),
    "expanded_pore": lambda: ts.fusion_pore(4.0),
}


@pytest.mark.parametrize("state", sorted(CASES))
def test_fusion_state_of_each_stage(state: str) -> None:
    fa = FusionAnalysis(CASES[state](), persist=1).run()
    assert fa.table["state_name"][0] == state
    fp = fa.results.first_passage
    assert fp[state]["frame"] == 0
    assert fp["docked"]["time_ps"] == 0.0


def test_fusion_table_columns_and_maps() -> None:
    fa = FusionAnalysis(ts.hemifusion_diaphragm(4.0, n_frames=3)).run()
    cols = fa.table.columns
    for c in ("frame", "time_ps", "min_gap_nm", "mean_gap_nm", "axis_gap_nm", "tail_contacts", "contact_lipids",
              "lipids_in_other_core", "lipids_in_other_leaflet", "diaphragm_radius_nm", "has_pore", "pore_radius_nm",
              "pore_inscribed_radius_nm", "state", "state_name", "state_filtered"):
        assert c in cols
    assert fa.results.first_passage["hemifused"] == {"frame": 0, "time_ps": 0.0}
    assert fa.results.first_passage["pore"]["frame"] is None
    assert fa.results.maps["diaphragm_last"].any()


def test_content_mixing_vesicle_to_plane() -> None:
    t = ts.vesicle_on_bilayer(6.0, 2.0, n_side=24, n_markers=20, crossed_markers=7, n_frames=2)
    tb = ContentMixingAnalysis(t).run().table
    np.testing.assert_array_equal(tb["markers_home"], 20)
    np.testing.assert_array_equal(tb["markers_crossed"], [0, 7])
    assert "markers_crossed" in FusionAnalysis(t).run().table


def test_every_analysis_class_plots() -> None:
    """Each analysis class defines plot(ax=None) and returns the Axes with its lines drawn."""
    import matplotlib

    matplotlib.use("Agg")
    t = ts.vesicle_on_bilayer(6.0, 2.0, n_side=24, n_markers=20, crossed_markers=7, n_frames=2)
    for cls in (SeparationAnalysis, LipidMixingAnalysis, DiaphragmAnalysis, PoreAnalysis, ContentMixingAnalysis,
                FusionAnalysis):
        ax = cls(t).run().plot()
        assert ax.lines, cls.__name__


def test_two_membrane_analysis_needs_two_membranes() -> None:
    with pytest.raises(AnalysisError, match="membranes"):
        SeparationAnalysis(ts.bilayer(8)).run()


def test_detect_pore_from_openmm_topology_and_positions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What an OpenMM reporter has: an openmm.app.Topology, positions and box vectors as Quantities."""
    from openmm import app

    t = ts.fusion_pore(3.0)
    t[0].save_pdb(str(tmp_path / "system.pdb"))
    pdb = app.PDBFile(str(tmp_path / "system.pdb"))
    info = LipidIndex.from_topology(pdb.topology)
    ref = LipidIndex.from_topology(t.topology)
    np.testing.assert_array_equal(info.head, ref.head)
    np.testing.assert_array_equal(info.membrane, ref.membrane)
    has, r = detect_pore(pdb.getPositions(asNumpy=True), pdb.topology.getPeriodicBoxVectors(), info)
    assert has and abs(r - 3.0) < PORE_TOL


@pytest.fixture(scope="module")
def fusion_path_analysis() -> FusionAnalysis:
    return FusionAnalysis(ts.fusion_path(seed=4)).run()


def test_fusion_path_states_and_first_passage(fusion_path_analysis: FusionAnalysis) -> None:
    """The synthetic docked -> stalk -> hemifused -> pore path: every frame's state, and first passages by
    the flicker rule (the one-frame stalk at frame 6 does not count)."""
    want = ts.fusion_path_answers()
    tb = fusion_path_analysis.table
    np.testing.assert_array_equal(tb["state_name"], want["state_name"])
    got = {k: v["time_ps"] for k, v in fusion_path_analysis.results.first_passage.items()}
    np.testing.assert_allclose([got[k] for k in want["first_passage_ps"]], list(want["first_passage_ps"].values()))


def test_fusion_path_radii_and_gaps(fusion_path_analysis: FusionAnalysis) -> None:
    want = ts.fusion_path_answers()
    tb = fusion_path_analysis.table
    docked = want["state_name"] == "docked"
    np.testing.assert_allclose(tb["mean_gap_nm"][docked], want["gap_nm"][docked], atol=GAP_TOL)
    hemi = want["diaphragm_radius_nm"] > 0
    np.testing.assert_allclose(tb["diaphragm_radius_nm"][hemi], want["diaphragm_radius_nm"][hemi], atol=DIAPHRAGM_TOL)
    np.testing.assert_array_equal(tb["diaphragm_radius_nm"][~hemi & (want["pore_radius_nm"] == 0)], 0.0)
    pore = want["pore_radius_nm"] > 0
    np.testing.assert_allclose(tb["pore_radius_nm"], want["pore_radius_nm"], atol=PORE_TOL)
    np.testing.assert_array_equal(tb["has_pore"], pore)
