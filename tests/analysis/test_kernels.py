"""Kernels against slow, obvious reference implementations (pattern of mdtraj tests/test_distance.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from snarefuse.analysis import kernels as K

#: Floating-point agreement of fast and reference paths.
EXACT = 1e-9


# ------------------------------------------------------------------------------ references
def ref_min_image_dist(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> float:
    d = a - b
    d -= box * np.round(d / box)
    return float(np.sqrt((d * d).sum()))


def ref_components(x: np.ndarray, box: np.ndarray, cutoff: float) -> list[set[int]]:
    """Breadth-first search over the all-pairs minimum-image graph."""
    n = len(x)
    seen = np.zeros(n, bool)
    comps = []
    for i in range(n):
        if seen[i]:
            continue
        comp, stack = {i}, [i]
        seen[i] = True
        while stack:
            j = stack.pop()
            for k in range(n):
                if not seen[k] and ref_min_image_dist(x[j], x[k], box) < cutoff:
                    seen[k] = True
                    comp.add(k)
                    stack.append(k)
        comps.append(comp)
    return comps


def ref_label_periodic(mask: np.ndarray, periodic: bool) -> list[set[tuple[int, int]]]:
    nx, ny = mask.shape
    seen: set[tuple[int, int]] = set()
    out = []
    for start in zip(*np.nonzero(mask)):
        if start in seen:
            continue
        comp, stack = {start}, [start]
        seen.add(start)
        while stack:
            i, j = stack.pop()
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = i + di, j + dj
                if periodic:
                    a, b = a % nx, b % ny
                elif not (0 <= a < nx and 0 <= b < ny):
                    continue
                if mask[a, b] and (a, b) not in seen:
                    seen.add((a, b))
                    comp.add((a, b))
                    stack.append((a, b))
        out.append(comp)
    return out


def _partition(labels: np.ndarray) -> set[frozenset[int]]:
    return {frozenset(np.flatnonzero(labels == k).tolist()) for k in np.unique(labels)}


# ------------------------------------------------------------------------------ periodic helpers
@pytest.mark.parametrize("center", [0.3, 5.0, 9.8])
def test_circular_mean_of_slab_split_by_boundary(center: float) -> None:
    rng = np.random.default_rng(1)
    x = np.mod(center + rng.uniform(-2, 2, 500), 10.0)
    got = K.circular_mean(x, 10.0)
    np.testing.assert_allclose(K.minimum_image(np.array(got - center), 10.0), 0.0, atol=0.2)


def test_wrap_never_returns_box_length() -> None:
    box = np.array([3.0, 3.0, 3.0])
    x = np.array([[-1e-17, 3.0, 6.0]])
    y = K.wrap(x, box)
    assert np.all(y >= 0) and np.all(y < box)


# ------------------------------------------------------------------------------ leaflets
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leaflets_match_bfs_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    box = np.array([6.0, 5.0, 7.0])
    # three blobs, one across the periodic boundary, plus scattered points
    blobs = [np.array([0.2, 2.5, 3.0]), np.array([3.0, 0.1, 6.9]), np.array([4.0, 4.0, 1.0])]
    x = np.concatenate([c + rng.normal(0, 0.6, (40, 3)) for c in blobs] + [rng.uniform(0, 1, (15, 3)) * box])
    x = np.mod(x, box)
    cutoff = 0.9
    res = K.compute_leaflets(x, box, cutoff, min_size=1, min_neighbors=0)
    ref = ref_components(x, box, cutoff)
    assert _partition(res.labels) == {frozenset(c) for c in ref}
    sizes = sorted((len(c) for c in ref), reverse=True)
    np.testing.assert_array_equal(res.sizes, sizes)


def test_leaflets_reassign_small_clusters_to_nearest() -> None:
    box = np.array([10.0, 10.0, 10.0])
    g = np.stack(np.meshgrid(np.arange(10), np.arange(10), indexing="ij"), -1).reshape(-1, 2) * 1.0
    lower = np.column_stack([g, np.full(100, 3.0)])
    upper = np.column_stack([g, np.full(100, 7.0)])
    stray = np.array([[4.5, 4.5, 5.6]])  # isolated, but closer to the upper leaflet
    res = K.compute_leaflets(np.concatenate([lower, upper, stray]), box, cutoff=1.32, min_size=5)
    assert res.n_leaflets == 2
    assert res.n_small_clusters == 1 and res.n_reassigned == 1
    assert res.labels[-1] == res.labels[150]


# ------------------------------------------------------------------------------ grids and regions
@pytest.mark.parametrize("periodic", [True, False])
def test_column_mean_matches_loop(periodic: bool) -> None:
    rng = np.random.default_rng(3)
    grid = K.LateralGrid.periodic_box(np.array([8.0, 6.0]), (4, 3)) if periodic else K.LateralGrid.disc(3.0, 1.0)
    u, v = rng.uniform(-4, 4, 300), rng.uniform(-3, 3, 300)
    val = rng.normal(size=300)
    got = K.column_mean(grid, u, v, val)
    flat, ok = grid.cell_index(u, v)
    for c in range(grid.shape[0] * grid.shape[1]):
        sel = ok & (flat == c)
        want = val[sel].mean() if sel.any() else np.nan
        np.testing.assert_allclose(got.ravel()[c], want, atol=EXACT)


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_label_regions_match_reference(periodic: bool, seed: int) -> None:
    mask = np.random.default_rng(seed).random((9, 7)) < 0.45
    lab, n = K.label_regions(mask, periodic)
    ref = ref_label_periodic(mask, periodic)
    assert n == len(ref)
    got = {frozenset(zip(*np.nonzero(lab == k))) for k in range(1, n + 1)}
    assert got == {frozenset(c) for c in ref}


@pytest.mark.parametrize("periodic", [True, False])
def test_nearest_bead_distance_matches_brute_force(periodic: bool) -> None:
    rng = np.random.default_rng(4)
    grid = K.LateralGrid.periodic_box(np.array([7.0, 5.0]), (14, 10)) if periodic else K.LateralGrid.disc(3.0, 0.5)
    u, v = rng.uniform(-3.5, 3.5, 40), rng.uniform(-2.5, 2.5, 40)
    got = K.nearest_bead_distance(grid, u, v)
    U, V = grid.centers()
    box = grid.lateral_box()
    for i, j in itertools.product(range(grid.shape[0]), range(grid.shape[1])):
        d = np.column_stack([u - U[i, j], v - V[i, j]])
        if box is not None:
            d -= box * np.round(d / box)
        np.testing.assert_allclose(got[i, j], np.sqrt((d * d).sum(1)).min(), atol=EXACT)


#: Grid-free inscribed radius agrees with a distance transform of the open mask within one cell.
EDT_TOL_CELLS = 1.0


@pytest.mark.parametrize("center", [(0.0, 0.0), (3.7, -3.9)])
def test_pore_inscribed_circle_against_reference(center: tuple[float, float]) -> None:
    """A ring of points of radius R (centre across the periodic edge for the second case)."""
    L, R = 10.0, 2.2
    phi = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    ring = np.column_stack([center[0] + R * np.cos(phi), center[1] + R * np.sin(phi)])
    g = np.stack(np.meshgrid(np.arange(-5, 5, 0.6), np.arange(-5, 5, 0.6), indexing="ij"), -1).reshape(-1, 2)
    dc = g - np.array(center)
    dc -= L * np.round(dc / L)
    fill = g[np.hypot(*dc.T) > R + 0.5]
    pts = np.concatenate([ring, fill])
    pts = K.minimum_image(pts, np.array([L, L]))
    grid = K.LateralGrid.periodic_box(np.array([L, L]), (40, 40))
    res = K.compute_pore(grid, pts[:, 0], pts[:, 1], block_radius=0.3, min_radius=1.0)
    assert res.found and res.n_regions == 1
    # reference: brute-force maximum of the nearest-point distance on a fine grid around the centre
    fu, fv = np.meshgrid(np.linspace(-0.5, 0.5, 41) + center[0], np.linspace(-0.5, 0.5, 41) + center[1])
    q = np.column_stack([fu.ravel(), fv.ravel()])
    d = q[:, None, :] - pts[None]
    d -= L * np.round(d / L)
    ref = np.sqrt((d * d).sum(-1)).min(1).max()
    np.testing.assert_allclose(res.inscribed_nm, ref, atol=0.01)
    np.testing.assert_allclose(res.offset_nm, np.hypot(*center), atol=0.3)
    # cross-check with a periodic Euclidean distance transform of the open mask
    dist = K.nearest_bead_distance(grid, pts[:, 0], pts[:, 1])
    open_ = np.pad(dist > 0.3, 40, mode="wrap")
    edt = ndimage.distance_transform_edt(open_)[40:-40, 40:-40] * grid.spacing[0]
    assert abs(edt.max() + 0.3 - res.inscribed_nm) <= EDT_TOL_CELLS * grid.spacing[0]


def test_pick_region_prefers_axis_component() -> None:
    grid = K.LateralGrid.disc(5.0, 1.0)
    mask = np.zeros(grid.shape, bool)
    a = grid.axis_cell()
    mask[a[0] - 1:a[0] + 2, a[1] - 1:a[1] + 2] = True  # 9 cells on the axis
    mask[0:3, :] = True  # a larger region elsewhere (17 cells inside the disc)
    res = K.pick_region(grid, mask)
    assert res.area_nm2 == pytest.approx(9.0)
    assert res.offset_nm == pytest.approx(0.0)
    assert res.n_regions == 2


# ------------------------------------------------------------------------------ head profiles
@pytest.mark.parametrize("layers,expected", [((-1.9, 1.9), 2), ((-4.9, -1.0, 1.0, 4.9), 4), ((-4.9, -1.9, 1.9, 4.9), 4)])
def test_column_profiles_count_head_layers(layers: tuple[float, ...], expected: int) -> None:
    rng = np.random.default_rng(5)
    grid = K.LateralGrid.periodic_box(np.array([6.0, 6.0]), (6, 6))
    n = 60
    u = np.concatenate([rng.uniform(-3, 3, n) for _ in layers])
    v = np.concatenate([rng.uniform(-3, 3, n) for _ in layers])
    s = np.concatenate([np.full(n, z) + rng.normal(0, 0.1, n) for z in layers])
    is_a = s < 0
    prof = K.compute_column_profiles(grid, u, v, s, is_a)
    np.testing.assert_array_equal(prof.n_peaks, expected)
    np.testing.assert_allclose(prof.span_nm, layers[-1] - layers[0], atol=0.3)
    assert K.diaphragm_mask(prof, 6.0).all() == (expected == 2)


# ------------------------------------------------------------------------------ tail contacts
def ref_tail_contacts(x: np.ndarray, lipid: np.ndarray, side: np.ndarray, n_lipids: int, box: np.ndarray,
                      cutoff: float) -> tuple[int, np.ndarray, np.ndarray]:
    n = len(x)
    pairs = 0
    other = np.zeros(n)
    same = np.zeros(n)
    for i in range(n):
        for j in range(n):
            if i == j or lipid[i] == lipid[j]:
                continue
            if ref_min_image_dist(x[i], x[j], box) < cutoff:
                if side[i] != side[j]:
                    other[i] += 1
                    pairs += int(i < j)
                else:
                    same[i] += 1
    has = np.zeros(n_lipids, bool)
    has[lipid[other > 0]] = True
    o = np.bincount(lipid, other, n_lipids)
    s = np.bincount(lipid, same * has[lipid], n_lipids)
    return pairs, has, (o > s) & (o > 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tail_contacts_match_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    box = np.array([4.0, 4.0, 4.0])
    n_lipids = 40
    lipid = np.repeat(np.arange(n_lipids), 2)
    side = np.repeat(np.arange(n_lipids) >= 20, 2)
    # membrane A around z=1, B around z=3, with some B lipids pushed into A (and across the boundary)
    z = np.where(side, 3.0, 1.0) + rng.normal(0, 0.5, len(lipid))
    x = np.column_stack([rng.uniform(0, 4, len(lipid)), rng.uniform(0, 4, len(lipid)), z])
    x[lipid >= 35, 2] = 1.0 + rng.normal(0, 0.2, int((lipid >= 35).sum()))
    x = np.mod(x, box)
    got = K.compute_tail_contacts(x, lipid, side, n_lipids, box, cutoff=1.0)
    pairs, has, core = ref_tail_contacts(x, lipid, side, n_lipids, box, 1.0)
    assert got.n_pairs == pairs
    np.testing.assert_array_equal(got.lipid_has_contact, has)
    np.testing.assert_array_equal(got.lipid_in_other_core, core)


# ------------------------------------------------------------------------------ order
def test_order_matches_loop() -> None:
    rng = np.random.default_rng(6)
    vec, nrm = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    ref = [1.5 * (a @ b / np.linalg.norm(a) / np.linalg.norm(b)) ** 2 - 0.5 for a, b in zip(vec, nrm)]
    np.testing.assert_allclose(K.compute_order(vec, nrm), ref, atol=EXACT)
    np.testing.assert_allclose(K.compute_order(np.array([[0, 0, 2.0], [1, 0, 0]]), np.array([0, 0, 1.0])), [1.0, -0.5])


# ------------------------------------------------------------------------------ states and first passage
def ref_first_passage(states: list[int], k: int, n_states: int) -> list[int]:
    out = []
    for s in range(n_states):
        hit = -1
        for i in range(len(states) - k + 1):
            if all(x >= s for x in states[i:i + k]):
                hit = i
                break
        out.append(hit)
    return out


@pytest.mark.parametrize("persist", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_passage_matches_reference(persist: int, seed: int) -> None:
    states = np.random.default_rng(seed).integers(0, 5, 40)
    states = np.maximum.accumulate(states) * (np.random.default_rng(seed + 9).random(40) < 0.8)
    np.testing.assert_array_equal(K.first_passage_indices(states, persist),
                                  ref_first_passage(states.tolist(), persist, len(K.STATES)))


def test_first_passage_ignores_flicker() -> None:
    s = np.array([0, 0, 3, 0, 0, 1, 1, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    fp = K.first_passage_indices(s, persist=3)
    assert fp.tolist() == [0, 5, 11, 14, -1]
    assert K.first_passage_indices(s, persist=1).tolist()[:4] == [0, 2, 2, 2]


def test_first_passage_needs_full_run_at_end() -> None:
    assert K.first_passage_indices(np.array([0, 0, 0, 4, 4]), persist=3).tolist() == [0, -1, -1, -1, -1]


def test_filter_flicker() -> None:
    s = np.array([0, 0, 0, 3, 0, 0, 1, 1, 1, 2, 1, 1, 1])
    np.testing.assert_array_equal(K.filter_flicker(s, 3), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])


def test_classify_states_priorities() -> None:
    st = K.classify_states(np.array([0, 12, 12, 12, 12]), np.array([0, 0, 2.0, 2.0, 0]),
                           np.array([False, False, False, True, True]), np.array([0, 0, 0, 1.2, 3.5]))
    assert [K.STATES[i] for i in st] == ["docked", "stalk", "hemifused", "pore", "expanded_pore"]
