"""Per-frame leaflets and per-membrane properties on known-answer systems."""

from __future__ import annotations

import numpy as np
import pytest

from snarefuse.analysis import LeafletAnalysis, MembraneAnalysis, testsystems as ts
from snarefuse.analysis.testsystems import AREA_PER_LIPID, THICKNESS

#: Tolerances (nm, nm^2, order units) for the lattice systems with 0.05 nm jitter.
APL_TOL = 0.01
THICKNESS_TOL = 0.05
ORDER_MIN_STRAIGHT = 0.97
#: Looser tolerances for thermal-like 0.2 nm jitter.
THICKNESS_TOL_THERMAL = 0.1

SHIFTS = [(0.0, 0.0, 0.0), (5.0, 3.0, 6.0), (7.7, 0.0, 0.2)]  # the last two split the membrane across z


@pytest.mark.parametrize("shift", SHIFTS)
def test_bilayer_leaflets_and_properties(shift: tuple[float, float, float]) -> None:
    t = ts.bilayer(16, shift=shift)
    la = LeafletAnalysis(t).run()
    assert la.table["n_leaflets"][0] == 2
    assert la.table["leaflet0_size"][0] == la.table["leaflet1_size"][0] == 256
    ma = MembraneAnalysis(t).run()
    tb = ma.table
    assert ma.results.kinds == ["planar"]
    assert tb["m0_n_lower"][0] == tb["m0_n_upper"][0] == 256
    np.testing.assert_allclose(tb["m0_apl_nm2"], AREA_PER_LIPID, atol=APL_TOL)
    np.testing.assert_allclose(tb["m0_thickness_nm"], THICKNESS, atol=THICKNESS_TOL)
    assert tb["m0_tail_order"][0] > ORDER_MIN_STRAIGHT


def test_leaflet_labels_follow_lipids_across_boundary() -> None:
    """Upper-leaflet lipids (by construction) share one label, lower ones the other."""
    t = ts.bilayer(12, shift=(0.0, 0.0, 6.0))  # midplane exactly on the z boundary
    la = LeafletAnalysis(t).run()
    labels = la.results.labels[0]
    n = 144
    assert len(set(labels[:n])) == 1 and len(set(labels[n:])) == 1 and labels[0] != labels[n]


@pytest.mark.parametrize("shift", [(0.0, 0.0, 0.0), (9.0, 4.0, 13.0)])
def test_vesicle_inner_outer(shift: tuple[float, float, float]) -> None:
    t = ts.vesicle(7.0, shift=shift)
    n_out = int(round(4 * np.pi * (7.0 + THICKNESS / 2) ** 2 / AREA_PER_LIPID))
    n_in = int(round(4 * np.pi * (7.0 - THICKNESS / 2) ** 2 / AREA_PER_LIPID))
    la = LeafletAnalysis(t).run()
    assert la.table["n_leaflets"][0] == 2
    assert (la.table["leaflet0_size"][0], la.table["leaflet1_size"][0]) == (n_out, n_in)
    ma = MembraneAnalysis(t).run()
    tb = ma.table
    assert ma.results.kinds == ["vesicle"]
    assert (tb["m0_n_outer"][0], tb["m0_n_inner"][0]) == (n_out, n_in)
    np.testing.assert_allclose(tb["m0_radius_nm"], 7.0, atol=0.1)
    np.testing.assert_allclose(tb["m0_thickness_nm"], THICKNESS, atol=THICKNESS_TOL)
    np.testing.assert_allclose(tb["m0_apl_outer_nm2"], AREA_PER_LIPID, atol=APL_TOL)
    np.testing.assert_allclose(tb["m0_apl_inner_nm2"], AREA_PER_LIPID, atol=2 * APL_TOL)
    assert tb["m0_tail_order"][0] > ORDER_MIN_STRAIGHT


def test_thermal_jitter_bilayer() -> None:
    t = ts.bilayer(16, jitter=0.2, n_frames=4, seed=7)
    la = LeafletAnalysis(t).run()
    np.testing.assert_array_equal(la.table["n_leaflets"], 2)
    tb = MembraneAnalysis(t).run().table
    np.testing.assert_allclose(tb["m0_thickness_nm"], THICKNESS, atol=THICKNESS_TOL_THERMAL)
    np.testing.assert_array_equal(tb["m0_n_lower"], 256)


def test_flip_flopping_lipids_do_not_bridge_leaflets() -> None:
    """Three lipids caught mid flip-flop form a chain of heads through the core (as seen in a simulated
    Cooke bilayer): plain connectivity merges the leaflets, the per-frame assignment must not."""
    from snarefuse.analysis import kernels as K
    from snarefuse.analysis.base import LipidIndex
    from snarefuse.analysis.membrane import lipid_axes

    t = ts.bilayer(12, jitter=0.0)
    a = ts.SPACING
    xyz = t.xyz[0].copy()
    x0 = y0 = 5.5 * a  # under an upper-leaflet head
    zc = 6.0
    for lipid, z, tilt in ((100, zc + 0.9, 0.3), (110, zc, 0.0), (200, zc - 0.9, -0.3)):
        d = np.array([1.0, 0.0, tilt]) / np.hypot(1.0, tilt)  # lipid axis, tail -> head
        h = np.array([x0, y0, z])
        xyz[3 * lipid:3 * lipid + 3] = [h, h - 0.88 * d, h - 1.76 * d]
    t.xyz[0] = xyz
    lip = LipidIndex.from_topology(t.topology)
    plain = K.compute_leaflets(xyz[lip.head].astype(float), t.unitcell_lengths[0].astype(float), min_neighbors=0)
    assert plain.n_leaflets == 1  # the bridge is real
    axes = lipid_axes(xyz.astype(float), t.unitcell_lengths[0].astype(float), lip)
    robust = K.compute_leaflets(xyz[lip.head].astype(float), t.unitcell_lengths[0].astype(float), axes=axes)
    assert robust.n_leaflets == 2
    la = LeafletAnalysis(t).run()
    assert la.table["n_leaflets"][0] == 2
    assert la.table["n_reassigned"][0] >= 2  # the two heads deepest in the core
    assert la.table["leaflet0_size"][0] + la.table["leaflet1_size"][0] == 288


def test_two_membranes_have_four_leaflets_each_owned() -> None:
    t = ts.two_bilayers(2.0, n_side=12, shift=(0, 0, 7.0))
    tb = LeafletAnalysis(t).run().table
    assert tb["n_leaflets"][0] == 4
    assert sorted(tb[f"leaflet{i}_membrane"][0] for i in range(4)) == [0, 0, 1, 1]
    assert tb["n_in_other_leaflet"][0] == 0
    mt = MembraneAnalysis(t).run().table
    np.testing.assert_allclose([mt["m0_thickness_nm"][0], mt["m1_thickness_nm"][0]], THICKNESS, atol=THICKNESS_TOL)


def test_geometry_override() -> None:
    ma = MembraneAnalysis(ts.bilayer(8), geometry=("planar",)).run()
    assert ma.results.kinds == ["planar"]
