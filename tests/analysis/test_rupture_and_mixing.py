"""Ruptures are not fusion pores, a hole beside an intact bilayer is not hemifusion, facing head layers are
not a diaphragm, lipid mixing is local, and the flicker filter never promotes the first frames.

Known-answer systems built from the pieces of :mod:`snarefuse.analysis.testsystems`; the same calls on real
trajectories are checked in ``test_real_events.py``.
"""

from __future__ import annotations

import mdtraj
import numpy as np
import pytest

from snarefuse.analysis import FusionAnalysis, LipidIndex, LipidMixingAnalysis, PoreAnalysis, detect_pore
from snarefuse.analysis import kernels as K
from snarefuse.analysis import testsystems as ts

#: Hole radius of the synthetic ruptures (nm): well above the 1 nm smallest pore.
HOLE = 3.0
#: Gap between the facing head surfaces (nm): closely apposed, as in the tension-driven runs.
GAP = 0.4


def _holed_bilayer(b: ts._Builder, m: int, z_mid: float, c: np.ndarray, radius: float) -> None:
    """Bilayer ``m`` with a hole of bead-free radius ``radius`` on ``c``, its own rim in each leaflet."""
    def keep(h: np.ndarray) -> np.ndarray:
        return np.hypot(h[:, 0] - c[0], h[:, 1] - c[1]) >= radius + 0.5 * ts.SPACING

    b.bilayer(m, z_mid, keep, keep)
    b.ring(m, c, z_mid + ts.THICKNESS / 2, radius, inward=False)
    b.chain(m).dirs[-1][:] = (0, 0, -1)
    b.ring(m, c, z_mid - ts.THICKNESS / 2, radius, inward=False, phase=0.5)
    b.chain(m).dirs[-1][:] = (0, 0, 1)


def lysis(holes: tuple[bool, bool], radius: float = HOLE, n_side: int = 24, seed: int = 0,
          shift: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> mdtraj.Trajectory:
    """Two apposed bilayers ``GAP`` apart; membrane ``k`` torn on the axis when ``holes[k]``."""
    b, c, _, za, zb = ts._connected_pair(GAP, n_side, 2)
    for m, z in ((0, za), (1, zb)):
        if holes[m]:
            _holed_bilayer(b, m, z, c, radius)
        else:
            b.bilayer(m, z)
    return b.build(n_frames=1, jitter=0.05, seed=seed, shift=np.asarray(shift, float), dt_ps=10.0)


@pytest.mark.parametrize("shift", [(0.0, 0.0, 0.0), (9.0, 4.0, 6.0)])
def test_holes_torn_separately_are_a_rupture_not_a_pore(shift: tuple[float, float, float]) -> None:
    t = lysis((True, True), shift=shift)
    tb = PoreAnalysis(t).run().table
    assert not tb["has_pore"][0]
    assert tb["has_rupture"][0]
    np.testing.assert_allclose(tb["rupture_radius_nm"][0], HOLE, atol=0.3)
    assert tb["pore_rim_seal"][0] < 0.2
    has, r = detect_pore(t.xyz[0], t.unitcell_lengths[0], LipidIndex.from_topology(t.topology))
    assert (has, r) == (False, 0.0)


@pytest.mark.parametrize("torn", [(True, False), (False, True)])
def test_hole_in_one_bilayer_beside_an_intact_one_is_a_rupture_not_hemifusion(torn: tuple[bool, bool]) -> None:
    fa = FusionAnalysis(lysis(torn), persist=1).run()
    tb = fa.table
    assert tb["has_rupture"][0] and not tb["has_pore"][0]
    np.testing.assert_allclose(tb["diaphragm_radius_nm"][0], 0.0)
    assert tb["state_name"][0] == "docked"
    assert fa.results.first_passage["rupture"]["frame"] == 0
    assert fa.results.first_passage["hemifused"]["frame"] is None


@pytest.mark.parametrize("radius", [2.0, 4.0])
def test_fusion_pore_has_a_sealed_rim_and_no_rupture(radius: float) -> None:
    tb = PoreAnalysis(ts.fusion_pore(radius)).run().table
    assert tb["has_pore"][0] and not tb["has_rupture"][0]
    assert tb["pore_rim_seal"][0] > 0.7


def test_hemifusion_diaphragm_is_not_a_rupture() -> None:
    tb = FusionAnalysis(ts.hemifusion_diaphragm(4.0), persist=1).run().table
    assert tb["state_name"][0] == "hemifused"
    assert not tb["has_rupture"][0]


def test_rim_seal_fraction_counts_rim_cells_near_joining_beads() -> None:
    grid = K.LateralGrid.periodic_box(np.array([20.0, 20.0]), (40, 40))
    U, V = grid.centers()
    hole = np.hypot(U, V) < 2.0
    phi = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    ring_u, ring_v = 3.0 * np.cos(phi), 3.0 * np.sin(phi)
    assert K.rim_seal_fraction(grid, hole, ring_u, ring_v) == pytest.approx(1.0)
    half = ring_u > 0
    assert K.rim_seal_fraction(grid, hole, ring_u[half], ring_v[half]) == pytest.approx(0.5, abs=0.1)
    assert K.rim_seal_fraction(grid, hole, np.zeros(0), np.zeros(0)) == 0.0


# ------------------------------------------------------------------------------ diaphragm columns
def _layers(spec: list[tuple[float, bool, bool]], seed: int = 3) -> tuple[np.ndarray, ...]:
    """Head layers ``(s, of_membrane_a, pointing_up)`` spread over a 6 nm periodic patch."""
    rng = np.random.default_rng(seed)
    n = 60
    u = np.concatenate([rng.uniform(-3, 3, n) for _ in spec])
    v = np.concatenate([rng.uniform(-3, 3, n) for _ in spec])
    s = np.concatenate([np.full(n, z) + rng.normal(0, 0.1, n) for z, _, _ in spec])
    a = np.concatenate([np.full(n, m) for _, m, _ in spec])
    up = np.concatenate([np.full(n, o) for _, _, o in spec])
    return u, v, s, a, up


@pytest.mark.parametrize("spec,is_diaphragm", [
    ([(-1.9, True, False), (1.9, False, True)], True),     # A's distal over B's distal: a diaphragm
    ([(-1.1, True, True), (1.1, False, False)], False),    # the two proximal layers facing each other
    ([(-1.9, False, False), (1.9, False, True)], False),   # B's own bilayer across a hole in A
    ([(-1.9, True, False), (1.9, True, True)], False),     # A's own bilayer across a hole in B
])
def test_diaphragm_columns_need_distal_layers_of_both_membranes(spec, is_diaphragm: bool) -> None:  # type: ignore[no-untyped-def]
    u, v, s, a, up = _layers(spec)
    grid = K.LateralGrid.periodic_box(np.array([6.0, 6.0]), (6, 6))
    # one stray head of each membrane far from the layers (below the peak threshold): has_a and has_b hold
    # near the first column whatever the layers are made of
    u, v, s = np.r_[u, 0.0, 0.0], np.r_[v, 0.0, 0.0], np.r_[s, -3.5, 3.5]
    a, up = np.r_[a, True, False], np.r_[up, True, False]
    prof = K.compute_column_profiles(grid, u, v, s, a, up=up)
    np.testing.assert_array_equal(prof.n_peaks, 2)
    assert K.diaphragm_mask(prof, 6.0).all() == is_diaphragm
    assert not K.diaphragm_mask(prof, 6.0).any() or is_diaphragm


# ------------------------------------------------------------------------------ lipid mixing
def ref_neighbour_mixing(x: np.ndarray, axes: np.ndarray, mem: np.ndarray, box: np.ndarray, cutoff: float,
                         min_cos: float) -> np.ndarray:
    out = np.zeros(len(x), bool)
    a = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    for i in range(len(x)):
        own = other = 0
        for j in range(len(x)):
            d = x[j] - x[i]
            d -= box * np.round(d / box)
            if i != j and np.linalg.norm(d) < cutoff and a[i] @ a[j] > min_cos:
                own += mem[i] == mem[j]
                other += mem[i] != mem[j]
        out[i] = other > own
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_neighbour_mixing_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    box = np.array([5.0, 5.0, 5.0])
    x = rng.uniform(0, 5, (150, 3))
    axes = rng.normal(size=(150, 3))
    mem = rng.integers(0, 2, 150)
    np.testing.assert_array_equal(K.compute_neighbour_mixing(x, axes, mem, box, 1.32, 0.5),
                                  ref_neighbour_mixing(x, axes, mem, box, 1.32, 0.5))


def test_lipid_mixing_is_not_a_whole_leaflet_bridged_at_a_small_gap() -> None:
    """Two tilted lipids join the facing leaflets of bilayers 0.3 nm apart in the head-connectivity graph;
    no lipid has moved into the other membrane, so none is mixed (the connected-leaflet majority counted
    every lipid of one proximal leaflet)."""
    n_side = 16
    t = ts.two_bilayers(0.3, n_side=n_side, jitter=0.02, seed=2)
    lip = LipidIndex.from_topology(t.topology)
    xyz = t.xyz[0].astype(float)
    per = n_side * n_side
    a_up = lip.head[lip.membrane == 0][:per]        # membrane 0, upper (proximal) leaflet
    b_lo = lip.head[lip.membrane == 1][per:2 * per]  # membrane 1, lower (proximal) leaflet
    ha, hb = xyz[a_up], xyz[b_lo]
    d = np.linalg.norm(K.minimum_image(ha[:, None, :2] - hb[None, :, :2], t.unitcell_lengths[0][:2]), axis=2)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    bond = np.linalg.norm(xyz[a_up[i] + 1] - xyz[a_up[i]])
    for h, axis in ((a_up[i], (np.sin(1.0), 0.0, np.cos(1.0))), (b_lo[j], (np.sin(1.0), 0.0, -np.cos(1.0)))):
        for k in (1, 2):  # tails follow the tilted axis (tail -> head)
            xyz[h + k] = xyz[h] - k * bond * np.asarray(axis)
    t.xyz[0] = xyz
    tb = LipidMixingAnalysis(t).run().table
    assert tb["lipids_in_other_leaflet"][0] <= 2


def test_lipids_diffused_into_the_other_leaflet_are_counted() -> None:
    """Five lipids of membrane 0 placed in membrane 1's facing leaflet, each among membrane 1's lipids."""
    n_side = 12
    t = ts.two_bilayers(2.0, n_side=n_side, jitter=0.02)
    lip = LipidIndex.from_topology(t.topology)
    xyz = t.xyz[0].copy()
    per = n_side * n_side
    b_lo = lip.head[lip.membrane == 1][per:2 * per]
    a_heads = lip.head[lip.membrane == 0]
    for k, target in enumerate(b_lo[[0, 30, 60, 90, 120]]):  # far apart, each surrounded by membrane 1
        src = a_heads[k]
        xyz[src:src + 3] = xyz[target:target + 3] + np.array([0.3, 0.0, 0.0], dtype=np.float32)
    t.xyz[0] = xyz
    tb = LipidMixingAnalysis(t).run().table
    assert tb["lipids_in_other_leaflet"][0] == 5


# ------------------------------------------------------------------------------ flicker filter
@pytest.mark.parametrize("states,want", [
    ([0, 2, 2, 2, 2], [0, 2, 2, 2, 2]),        # frame 0, docked, keeps docked
    ([1, 0, 2, 2, 2, 2], [1, 0, 2, 2, 2, 2]),  # leading short runs: never later than the state they have
    ([3, 1, 1, 1], [1, 1, 1, 1]),              # a leading flicker to a later state is removed
    ([2, 2, 2, 0, 2, 2, 2], [2, 2, 2, 2, 2, 2, 2]),
])
def test_filter_flicker_never_promotes_the_first_frames(states: list[int], want: list[int]) -> None:
    np.testing.assert_array_equal(K.filter_flicker(np.array(states), 3), want)


# ------------------------------------------------------------------------------ stalk indicator
def test_lipids_crossed_into_the_other_bilayer_are_not_a_stalk() -> None:
    """Three lipids of membrane 1 moved into membrane 0's facing leaflet (head in its head layer, tails in its
    core), far apart: their tails touch membrane 0's tails all around, but the cleft is intact."""
    n_side = 16
    t = ts.two_bilayers(GAP, n_side=n_side, jitter=0.02, seed=4)
    lip = LipidIndex.from_topology(t.topology)
    xyz = t.xyz[0].copy()
    per = n_side * n_side
    a_up = lip.head[lip.membrane == 0][:per]
    b_heads = lip.head[lip.membrane == 1]
    for k, target in enumerate(a_up[[0, 85, 170]]):
        src = b_heads[2 * per - 1 - k]  # lipids of membrane 1's facing leaflet
        xyz[src:src + 3] = xyz[target:target + 3] + np.array([0.45, 0.0, 0.0], dtype=np.float32)
    t.xyz[0] = xyz
    fa = FusionAnalysis(t, persist=1).run()
    tb = fa.table
    assert tb["contact_lipids"][0] >= 10  # counted by build-time membrane, these contacts look like a stalk
    assert tb["lipids_in_other_core"][0] == 3
    assert tb["stalk_lipids"][0] == 0
    assert tb["state_name"][0] == "docked"


def test_stalk_lipids_count_the_neck() -> None:
    tb = LipidMixingAnalysis(ts.stalk(2.0, 2.5)).run().table
    assert tb["stalk_lipids"][0] >= 20
