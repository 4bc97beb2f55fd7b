"""Solvent-free vesicle geometry: lipid counts, shells, spacing, overlap helpers, interior gas."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.spatial import cKDTree

from snarefuse.build.vesicle import (
    DEFAULT_HEAD_OFFSET_NM,
    cut_hole,
    interior_gas_positions,
    remove_overlapping,
    vesicle_lipid_positions,
)
from snarefuse.errors import BuildError
from snarefuse.units import DEFAULT_SIGMA_NM as SIGMA_NM

#: Cooke tension-free area per lipid, 1.2 sigma^2, nm^2.
AREA_PER_LIPID_NM2 = 1.2 * SIGMA_NM**2
#: radii are exact by construction up to round-off, nm.
RADIUS_ATOL_NM = 1e-9
#: smallest accepted initial bead-bead distance, in sigma.
MIN_DISTANCE_SIGMA = 0.8
#: generous wall-clock bound for building two 25 nm vesicles and removing overlaps, s.
TWO_VESICLE_BUDGET_S = 10.0


@pytest.fixture(scope="module")
def vesicle25():
    return vesicle_lipid_positions(25.0, AREA_PER_LIPID_NM2, seed=7)


def _radial(v):
    return np.linalg.norm(v.positions - v.center_nm, axis=-1)


@pytest.mark.parametrize("leaflet,sign", [("outer", 1.0), ("inner", -1.0)])
def test_lipid_count_matches_leaflet_area(vesicle25, leaflet, sign):
    r_head = 25.0 + sign * DEFAULT_HEAD_OFFSET_NM
    expected = 4.0 * math.pi * r_head**2 / AREA_PER_LIPID_NM2
    assert abs(int((vesicle25.leaflet == leaflet).sum()) - expected) <= 0.5


@pytest.mark.parametrize("leaflet,sign", [("outer", 1.0), ("inner", -1.0)])
def test_head_shell_radii(vesicle25, leaflet, sign):
    r = _radial(vesicle25)[vesicle25.leaflet == leaflet, 0]
    np.testing.assert_allclose(r, 25.0 + sign * DEFAULT_HEAD_OFFSET_NM, atol=RADIUS_ATOL_NM)


@pytest.mark.parametrize("leaflet,sign", [("outer", -1.0), ("inner", 1.0)])
def test_tails_point_into_the_bilayer(vesicle25, leaflet, sign):
    r = _radial(vesicle25)[vesicle25.leaflet == leaflet]
    steps = np.diff(r, axis=1)
    bond = 2.0 * DEFAULT_HEAD_OFFSET_NM / 5.0
    np.testing.assert_allclose(steps, sign * bond, atol=RADIUS_ATOL_NM)


@pytest.mark.parametrize("radius", [10.0, 25.0])
def test_no_overlapping_beads(radius):
    v = vesicle_lipid_positions(radius, AREA_PER_LIPID_NM2, seed=3)
    d, _ = cKDTree(v.flat_positions()).query(v.flat_positions(), k=2)
    assert d[:, 1].min() > MIN_DISTANCE_SIGMA * SIGMA_NM


def test_four_bead_lipids_span_the_same_bilayer():
    v = vesicle_lipid_positions(20.0, AREA_PER_LIPID_NM2, n_beads=4, seed=1)
    r = _radial(v)
    outer = v.leaflet == "outer"
    np.testing.assert_allclose(r[outer, 0], 20.0 + DEFAULT_HEAD_OFFSET_NM, atol=RADIUS_ATOL_NM)
    assert r[outer, -1].min() > 20.0 and r[~outer, -1].max() < 20.0


def test_reproducible_from_seed():
    a = vesicle_lipid_positions(12.0, AREA_PER_LIPID_NM2, seed=42)
    b = vesicle_lipid_positions(12.0, AREA_PER_LIPID_NM2, seed=42)
    c = vesicle_lipid_positions(12.0, AREA_PER_LIPID_NM2, seed=43)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)


@pytest.mark.parametrize("kwargs", [{"radius_nm": 2.0}, {"n_beads": 1}, {"bond_nm": 1.5}])
def test_impossible_vesicles_raise(kwargs):
    args = {"radius_nm": 10.0, "area_per_lipid_nm2": AREA_PER_LIPID_NM2} | kwargs
    with pytest.raises(BuildError):
        vesicle_lipid_positions(**args)


def test_remove_overlapping_drops_only_lipids_near_other_beads(vesicle25):
    probe = np.array([[0.0, 0.0, 25.0 + DEFAULT_HEAD_OFFSET_NM]])
    keep = remove_overlapping(vesicle25.positions, probe, 1.5)
    d = np.linalg.norm(vesicle25.positions - probe[0], axis=-1).min(axis=1)
    np.testing.assert_array_equal(keep, d >= 1.5)
    assert 0 < (~keep).sum() < 20


def test_remove_overlapping_uses_the_periodic_image():
    lipids = np.array([[[0.2, 5.0, 5.0], [1.0, 5.0, 5.0]], [[5.0, 5.0, 5.0], [5.8, 5.0, 5.0]]])
    keep = remove_overlapping(lipids, np.array([[9.9, 5.0, 5.0]]), 0.5, box=(10.0, 10.0, 10.0))
    np.testing.assert_array_equal(keep, [False, True])


def test_cut_hole_removes_lipids_in_the_cylinder(vesicle25):
    keep = cut_hole(vesicle25.positions, vesicle25.center_nm, (0.0, 0.0, 1.0), 3.0)
    radial_xy = np.linalg.norm(vesicle25.positions[..., :2], axis=-1)
    np.testing.assert_array_equal(keep, (radial_xy >= 3.0).all(axis=1))
    assert (~keep).sum() > 0


def test_interior_gas_lies_inside_the_lumen(vesicle25):
    gas = interior_gas_positions(50, vesicle25, seed=1, min_separation_nm=1.0)
    r = np.linalg.norm(gas - vesicle25.center_nm, axis=1)
    assert gas.shape == (50, 3) and r.max() <= vesicle25.inner_head_radius_nm - SIGMA_NM
    assert cKDTree(gas).query(gas, k=2)[0][:, 1].min() >= 1.0


def test_two_50nm_vesicles_build_fast():
    start = time.perf_counter()
    a = vesicle_lipid_positions(25.0, AREA_PER_LIPID_NM2, seed=1, center_nm=(0.0, 0.0, 0.0))
    b = vesicle_lipid_positions(25.0, AREA_PER_LIPID_NM2, seed=2, center_nm=(0.0, 0.0, 58.0))
    keep = remove_overlapping(b.positions, a.flat_positions(), MIN_DISTANCE_SIGMA * SIGMA_NM)
    elapsed = time.perf_counter() - start
    assert keep.all() and elapsed < TWO_VESICLE_BUDGET_S
