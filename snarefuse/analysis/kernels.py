"""NumPy/SciPy kernels of the membrane and fusion analyses.

Every function here (and in :mod:`.grid` and :mod:`.holes`, re-exported here) works on plain arrays (positions in nm, orthorhombic box lengths in nm) and knows
nothing about mdtraj, topologies or frames; the ``*Analysis`` classes in :mod:`.membrane` and
:mod:`.fusion` are thin wrappers around them. Each kernel has a slow, obvious reference
implementation in ``tests/analysis/test_kernels.py`` that it is tested against (pattern of mdtraj
``geometry/distance.py``).

Conventions
-----------
* Periodic boundaries are orthorhombic: ``box`` is a length-3 (or length-2 for lateral maps) array.
* Lateral maps live on a :class:`LateralGrid`: either the whole periodic box (planar membranes) or a
  square patch centred on the contact axis (vesicles), in the contact frame's ``(u, v)`` coordinates.
* Radii of holes are measured to bead *centres* (the radius of the bead-free region), so a bilayer with
  all lipids removed within lateral distance ``R`` of an axis has a pore radius ``R``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

# periodic geometry and lateral grids (grid.py) and holes and diaphragms (holes.py) are kernels too; this module
# is the one namespace the analyses use (``K.compute_pore``)
from .grid import (SIGMA_NM, FloatArray, IntArray, LateralGrid, circular_mean, column_mean,  # noqa: F401
                   compute_gap_map, minimum_image, periodic_center, wrap)
from .holes import (ColumnProfiles, HoleResult, RegionResult, cells_frames, compute_column_profiles,  # noqa: F401
                    compute_diaphragm, compute_holes, compute_pore, diaphragm_mask, label_regions,
                    lateral_distance_function, nearest_bead_distance, pick_region, region_cells,
                    rim_seal_fraction)
from .lengths import LENGTHS_NM

#: Default head-bead neighbour cutoff of the leaflet graph: 1.5 sigma (:mod:`.lengths`).
LEAFLET_CUTOFF_NM = LENGTHS_NM["leaflet_cutoff"][0]


# ---------------------------------------------------------------------------------------------
# leaflets
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LeafletResult:
    """Connected components of the head-bead graph of one frame.

    Attributes
    ----------
    labels : ndarray of int64, shape (n_heads,)
        Leaflet of each head, ``0 .. n_leaflets-1``, largest leaflet first.
    sizes : ndarray of int64, shape (n_leaflets,)
        Number of heads in each leaflet after reassignment.
    n_small_clusters : int
        Components smaller than ``min_size`` that were dissolved (a non-core head counts as one).
    n_reassigned : int
        Heads of those components, each given the leaflet of its nearest leaflet head.
    """

    labels: IntArray
    sizes: IntArray
    n_small_clusters: int
    n_reassigned: int

    @property
    def n_leaflets(self) -> int:
        return int(len(self.sizes))


def compute_leaflets(head_xyz: FloatArray, box: FloatArray, cutoff: float = LEAFLET_CUTOFF_NM,
                     min_size: int = 20, axes: FloatArray | None = None, min_cos: float = 0.0,
                     min_neighbors: int = 3) -> LeafletResult:
    """Leaflets as connected components of the periodic head-bead neighbour graph.

    Two heads are neighbours when their minimum-image distance is below ``cutoff`` and, if lipid
    ``axes`` are given, the angle between their lipids' axes has a cosine above ``min_cos`` (default 0:
    less than 90 degrees). As in DBSCAN, only heads with at least ``min_neighbors`` such neighbours (a
    head inside a leaflet has 4-6) are core heads that carry connectivity. The orientation and core tests
    cut the bridges that lipids caught mid flip-flop, with their heads in the hydrophobic core, would
    otherwise make between the two leaflets of a fluid bilayer, while a monolayer bending smoothly
    (vesicle, stalk neck, pore rim) stays connected. Components of core heads with at least ``min_size``
    heads are leaflets (the largest component is always one, however small); all other heads (non-core,
    small components) take the leaflet of their nearest head in a leaflet. Works on planar and curved
    membranes and on membranes split across the periodic boundary, because only neighbour distances and
    orientations enter.

    Parameters
    ----------
    head_xyz : ndarray, shape (n, 3)
        Head-bead positions in nm (wrapped or not).
    box : ndarray, shape (3,)
        Orthorhombic box lengths in nm.
    cutoff : float
        Neighbour distance in nm (default 1.5 sigma = 1.32 nm).
    min_size : int
        Smallest component kept as a leaflet.
    axes : ndarray, shape (n, 3), optional
        Lipid axes (last tail bead -> head); None: distance only.
    min_cos : float
        Orientation test of an edge.
    min_neighbors : int
        Neighbours a head needs to carry connectivity (0: plain connected components).
    """
    box = np.asarray(box, dtype=float)
    n = len(head_xyz)
    if n == 0:
        return LeafletResult(np.zeros(0, np.int64), np.zeros(0, np.int64), 0, 0)
    pts = wrap(np.asarray(head_xyz, dtype=float), box)
    tree = cKDTree(pts, boxsize=box)
    pairs = tree.query_pairs(cutoff, output_type="ndarray")
    if axes is not None and len(pairs):
        a = np.asarray(axes, dtype=float)
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        pairs = pairs[np.einsum("ij,ij->i", a[pairs[:, 0]], a[pairs[:, 1]]) > min_cos]
    degree = np.bincount(pairs.ravel(), minlength=n)
    core = degree >= min_neighbors
    if not core.any():
        core[:] = True
    pairs = pairs[core[pairs[:, 0]] & core[pairs[:, 1]]]
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    # non-core heads are singleton components here; make them sort last and never count as leaflets
    sizes = np.bincount(comp, weights=core.astype(float), minlength=n_comp).astype(np.int64)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty(n_comp, dtype=np.int64)
    rank[order] = np.arange(n_comp)
    labels = rank[comp]
    n_leaf = max(1, int(np.count_nonzero(sizes >= min_size)))
    small = labels >= n_leaf
    n_reassigned = int(np.count_nonzero(small))
    if n_reassigned:
        big = ~small
        _, j = cKDTree(pts[big], boxsize=box).query(pts[small])
        labels[small] = labels[big][j]
    return LeafletResult(labels, np.bincount(labels, minlength=n_leaf), n_comp - n_leaf, n_reassigned)


# ---------------------------------------------------------------------------------------------
# inter-membrane tail contacts (stalk, lipid mixing)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TailContacts:
    """Inter-membrane tail-tail contacts of one frame.

    Attributes
    ----------
    n_pairs : int
        Pairs (tail bead of A, tail bead of B) closer than the cutoff.
    lipid_has_contact : ndarray of bool, shape (n_lipids,)
        Lipid has a tail bead in contact with a tail bead of the other membrane.
    lipid_in_other_core : ndarray of bool, shape (n_lipids,)
        Lipid's tail beads have more tail neighbours from the other membrane than from their own
        (own lipid excluded): its tails sit in the other membrane's hydrophobic core.
    """

    n_pairs: int
    lipid_has_contact: NDArray[np.bool_]
    lipid_in_other_core: NDArray[np.bool_]


def compute_tail_contacts(tail_xyz: FloatArray, tail_lipid: IntArray, tail_side: NDArray[np.bool_],
                          n_lipids: int, box: FloatArray, cutoff: float = 1.1) -> TailContacts:
    """Contacts between the tail beads of two membranes (periodic).

    Parameters
    ----------
    tail_xyz : ndarray, shape (m, 3)
        Tail-bead positions (nm) of the lipids of both membranes.
    tail_lipid : ndarray of int, shape (m,)
        Lipid (0..n_lipids-1) each tail bead belongs to.
    tail_side : ndarray of bool, shape (m,)
        True for beads of membrane B (the lipid's build-time membrane), False for A.
    n_lipids : int
    box : ndarray, shape (3,)
    cutoff : float
        Contact distance in nm (default 1.1 nm = 1.25 sigma, the range of the WCA core).
    """
    box = np.asarray(box, dtype=float)
    pts = wrap(np.asarray(tail_xyz, dtype=float), box)
    tail_lipid = np.asarray(tail_lipid)
    side = np.asarray(tail_side, dtype=bool)
    ia, ib = np.flatnonzero(~side), np.flatnonzero(side)
    none = np.zeros(n_lipids, dtype=bool)
    if len(ia) == 0 or len(ib) == 0:
        return TailContacts(0, none, none.copy())
    ta, tb = cKDTree(pts[ia], boxsize=box), cKDTree(pts[ib], boxsize=box)
    pairs = ta.sparse_distance_matrix(tb, cutoff, output_type="ndarray")
    if len(pairs) == 0:
        return TailContacts(0, none, none.copy())
    ga, gb = ia[pairs["i"]], ib[pairs["j"]]
    n_other = np.bincount(np.concatenate([ga, gb]), minlength=len(pts))
    has = np.zeros(n_lipids, dtype=bool)
    has[tail_lipid[ga]] = True
    has[tail_lipid[gb]] = True
    # own-membrane tail neighbours, for every tail bead of the lipids that touch the other membrane
    touch = np.flatnonzero(has[tail_lipid])
    n_same = np.zeros(len(pts), dtype=np.int64)
    for sel, tree in ((touch[~side[touch]], ta), (touch[side[touch]], tb)):
        if len(sel):
            n_same[sel] = tree.query_ball_point(pts[sel], cutoff, return_length=True)
    # remove the bead itself and the other tail beads of its own lipid
    lip_t = tail_lipid[touch]
    own = np.zeros(len(touch), dtype=np.int64)
    order = np.argsort(tail_lipid, kind="stable")
    starts = np.searchsorted(tail_lipid[order], lip_t)
    ends = np.searchsorted(tail_lipid[order], lip_t, side="right")
    for k in range(int((ends - starts).max(initial=0))):
        idx = np.where(starts + k < ends, order[np.minimum(starts + k, len(order) - 1)], -1)
        valid = idx >= 0
        d = np.linalg.norm(minimum_image(pts[touch] - pts[np.where(valid, idx, 0)], box), axis=1)
        own += (valid & (d < cutoff)).astype(np.int64)
    n_same[touch] -= own
    other_l = np.bincount(tail_lipid, weights=n_other, minlength=n_lipids)
    same_l = np.bincount(tail_lipid, weights=n_same, minlength=n_lipids)
    return TailContacts(int(len(pairs)), has, (other_l > same_l) & (other_l > 0))


def compute_neighbour_mixing(head_xyz: FloatArray, axes: FloatArray, membrane: IntArray, box: FloatArray,
                             cutoff: float = LEAFLET_CUTOFF_NM, min_cos: float = 0.5) -> NDArray[np.bool_]:
    """Lipids surrounded in their own leaflet by another membrane's lipids (lipid mixing).

    A lipid's leaflet neighbours are the heads within ``cutoff`` of its head whose lipid axes are less
    than ``arccos(min_cos)`` from its own (default 60 degrees); it is *mixed* when more of them belong to
    another membrane than to its own. Unlike the majority membrane of a whole connected leaflet, this
    stays local: two apposed proximal leaflets, whose lipids point towards each other, are not
    neighbours however small the gap, and the few tilted lipids that bridge them cannot carry a whole
    leaflet into the other membrane.

    Parameters
    ----------
    head_xyz : ndarray, shape (n, 3)
        Head positions (nm).
    axes : ndarray, shape (n, 3)
        Lipid axes (last tail -> head).
    membrane : ndarray of int, shape (n,)
        Membrane each lipid was built in.
    box : ndarray, shape (3,)
    cutoff, min_cos : float

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    box = np.asarray(box, dtype=float)
    n = len(head_xyz)
    if n == 0:
        return np.zeros(0, dtype=bool)
    pairs = cKDTree(wrap(np.asarray(head_xyz, dtype=float), box), boxsize=box).query_pairs(cutoff, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros(n, dtype=bool)
    a = np.asarray(axes, dtype=float)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    pairs = pairs[np.einsum("ij,ij->i", a[pairs[:, 0]], a[pairs[:, 1]]) > min_cos]
    mem = np.asarray(membrane)
    other = (mem[pairs[:, 0]] != mem[pairs[:, 1]]).astype(np.int64)
    ends = np.concatenate([pairs[:, 0], pairs[:, 1]])
    n_other = np.bincount(ends, weights=np.concatenate([other, other]), minlength=n)
    n_own = np.bincount(ends, weights=np.concatenate([1 - other, 1 - other]), minlength=n)
    return n_other > n_own  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# order parameter
# ---------------------------------------------------------------------------------------------
def compute_order(vectors: FloatArray, normals: FloatArray) -> FloatArray:
    """``P2(cos theta) = (3 cos^2 theta - 1) / 2`` of each vector (n, 3) against its normal (n, 3) or (3,)."""
    vectors = np.asarray(vectors, dtype=float)
    normals = np.broadcast_to(np.asarray(normals, dtype=float), vectors.shape)
    c = np.einsum("ij,ij->i", vectors, normals) / (
        np.linalg.norm(vectors, axis=1) * np.linalg.norm(normals, axis=1))
    return 1.5 * c * c - 0.5


def height_field_normals(grid: LateralGrid, height: FloatArray, query_u: FloatArray,
                         query_v: FloatArray) -> FloatArray:
    """Unit normals (n, 3) of the surface ``z = height(u, v)`` given per column (``grid.shape``, NaN for
    empty columns, filled with the mean), by central differences (periodic on periodic grids), at the
    query points."""
    hm = np.asarray(height, dtype=float)
    fill = np.nanmean(hm) if np.isfinite(hm).any() else 0.0
    hm = np.where(np.isfinite(hm), hm, fill)
    if grid.periodic:
        gu = (np.roll(hm, -1, 0) - np.roll(hm, 1, 0)) / (2 * grid.spacing[0])
        gv = (np.roll(hm, -1, 1) - np.roll(hm, 1, 1)) / (2 * grid.spacing[1])
    elif min(hm.shape) >= 2:
        gu, gv = np.gradient(hm, grid.spacing[0], grid.spacing[1])
    else:
        gu = gv = np.zeros_like(hm)
    flat, ok = grid.cell_index(query_u, query_v)
    nu = np.where(ok, -gu.ravel()[flat], 0.0)
    nv = np.where(ok, -gv.ravel()[flat], 0.0)
    n = np.column_stack([nu, nv, np.ones_like(nu)])
    return n / np.linalg.norm(n, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# fusion states and first passage
# ---------------------------------------------------------------------------------------------
#: Fusion states in the order they are reached.
STATES: tuple[str, ...] = ("docked", "stalk", "hemifused", "pore", "expanded_pore")


def classify_states(stalk_lipids: FloatArray, diaphragm_radius: FloatArray, has_pore: NDArray[np.bool_],
                    pore_radius: FloatArray, *, stalk_min_lipids: int = 10, diaphragm_min_radius: float = 1.5,
                    expanded_pore_radius: float = 3.0) -> IntArray:
    """Per-frame fusion state (index into :data:`STATES`), the most advanced one whose test passes.

    * ``expanded_pore``: a pore with radius (``pore_radius``) >= ``expanded_pore_radius`` nm;
    * ``pore``: ``has_pore``;
    * ``hemifused``: a hemifusion diaphragm of radius >= ``diaphragm_min_radius`` nm;
    * ``stalk``: at least ``stalk_min_lipids`` lipids with tail-tail contacts between the two membranes' cores;
    * ``docked``: otherwise.
    """
    state = np.zeros(len(stalk_lipids), dtype=np.int64)
    state[np.asarray(stalk_lipids) >= stalk_min_lipids] = 1
    state[np.asarray(diaphragm_radius) >= diaphragm_min_radius] = 2
    pore = np.asarray(has_pore, dtype=bool)
    state[pore] = 3
    state[pore & (np.asarray(pore_radius) >= expanded_pore_radius)] = 4
    return state


def first_passage_indices(states: IntArray, persist: int = 3, n_states: int = len(STATES)) -> IntArray:
    """Flicker-robust first passage: for each state ``k``, the first frame ``i`` such that
    ``states[i:i+persist] >= k`` for all ``persist`` frames (the state, or a later one, reached and held),
    or -1 if that never happens (a run cut short by the trajectory's end does not count)."""
    states = np.asarray(states)
    out = np.full(n_states, -1, dtype=np.int64)
    n = len(states)
    if persist < 1:
        raise ValueError(f"persist must be >= 1 frame, got {persist}")
    if n < persist:
        return out
    for k in range(n_states):
        reached = (states >= k).astype(np.int64)
        run = np.convolve(reached, np.ones(persist, dtype=np.int64), mode="valid")
        hit = np.flatnonzero(run == persist)
        if len(hit):
            out[k] = hit[0]
    return out


def filter_flicker(states: IntArray, persist: int = 3) -> IntArray:
    """States with every run shorter than ``persist`` frames replaced by the state before it; a short run
    at the very start takes the earlier of its own state and that of the first run that lasts (it has no
    state before it, and must not be given a later state than it has)."""
    states = np.asarray(states)
    n = len(states)
    out = states.copy()
    if n == 0:
        return out
    starts = np.flatnonzero(np.r_[True, states[1:] != states[:-1]])
    ends = np.r_[starts[1:], n]
    keep = (ends - starts) >= persist
    if not keep.any():
        return out
    first_lasting = int(states[starts[int(np.argmax(keep))]])
    prev: int | None = None
    for a, b, k in zip(starts, ends, keep):
        if k:
            prev = int(states[a])
        elif prev is None:
            out[a:b] = min(int(states[a]), first_lasting)
        else:
            out[a:b] = prev
    return out
