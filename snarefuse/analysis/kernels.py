"""NumPy/SciPy kernels of the membrane and fusion analyses.

Every function here works on plain arrays (positions in nm, orthorhombic box lengths in nm) and knows
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
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..units import DEFAULT_SIGMA_NM

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Default lipid-bead length unit in nm (:data:`snarefuse.units.DEFAULT_SIGMA_NM`). Thresholds below are in nm
#: at this sigma; analyses of a model with another sigma take them scaled (``block_radius``, ``leaflet_cutoff``).
SIGMA_NM = DEFAULT_SIGMA_NM
#: Default head-bead neighbour cutoff of the leaflet graph: 1.5 sigma.
LEAFLET_CUTOFF_NM = 1.5 * SIGMA_NM


# ---------------------------------------------------------------------------------------------
# periodic geometry
# ---------------------------------------------------------------------------------------------
def minimum_image(d: FloatArray, box: FloatArray) -> FloatArray:
    """Minimum-image displacement(s) ``d`` (..., D) in an orthorhombic box of lengths ``box`` (D,)."""
    box = np.asarray(box, dtype=float)
    return d - box * np.round(d / box)


def wrap(x: FloatArray, box: FloatArray) -> FloatArray:
    """Positions wrapped into ``[0, box)`` (safe for ``cKDTree(boxsize=box)``: never exactly ``box``)."""
    box = np.asarray(box, dtype=float)
    y = np.mod(x, box)
    return np.where(y >= box, 0.0, y)


def circular_mean(x: FloatArray, length: float) -> float:
    """Mean of periodic coordinates ``x`` (n,) in a period ``length``, in ``[0, length)``.

    Exact for any distribution symmetric about its centre (a slab or a sphere split by the boundary).
    Falls back to the plain mean when the coordinates are spread uniformly over the period.
    """
    ang = 2.0 * np.pi * np.asarray(x, dtype=float) / length
    c, s = np.cos(ang).mean(), np.sin(ang).mean()
    if np.hypot(c, s) < 1e-9:
        return float(np.mod(np.mean(x), length))
    return float(np.mod(np.arctan2(s, c) / (2.0 * np.pi) * length, length))


def periodic_center(x: FloatArray, box: FloatArray, dims: tuple[int, ...] = (0, 1, 2)) -> FloatArray:
    """Centre of a compact periodic object ``x`` (n, 3): circular mean, then the mean of the unwrapped cloud.

    Only the dimensions in ``dims`` are computed; the others are returned as NaN.
    """
    c = np.full(3, np.nan)
    for d in dims:
        c0 = circular_mean(x[:, d], float(box[d]))
        c[d] = c0 + float(np.mean(minimum_image(x[:, d] - c0, box[d])))
    return c


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
# lateral grids
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LateralGrid:
    """A square-celled lateral grid in the contact frame's ``(u, v)`` coordinates.

    ``periodic=True``: the whole periodic box, ``u`` in ``[-Lu/2, Lu/2)``, cells wrap around.
    ``periodic=False``: a ``(2m+1) x (2m+1)`` patch whose centre cell is centred on the axis ``u = v = 0``;
    only cells whose centre lies within ``radius`` of the axis are ``inside``.
    """

    shape: tuple[int, int]
    spacing: tuple[float, float]
    periodic: bool
    radius: float = np.inf

    @classmethod
    def periodic_box(cls, lengths: FloatArray, shape: tuple[int, int]) -> "LateralGrid":
        return cls(shape, (float(lengths[0]) / shape[0], float(lengths[1]) / shape[1]), True)

    @classmethod
    def disc(cls, radius: float, spacing: float) -> "LateralGrid":
        m = int(np.ceil(radius / spacing - 0.5))
        return cls((2 * m + 1, 2 * m + 1), (spacing, spacing), False, float(radius))

    @property
    def lo(self) -> tuple[float, float]:
        return (-0.5 * self.shape[0] * self.spacing[0], -0.5 * self.shape[1] * self.spacing[1])

    @property
    def cell_area(self) -> float:
        return self.spacing[0] * self.spacing[1]

    def centers(self) -> tuple[FloatArray, FloatArray]:
        """Cell-centre coordinates ``(U, V)``, each of shape ``shape``."""
        cu = self.lo[0] + (np.arange(self.shape[0]) + 0.5) * self.spacing[0]
        cv = self.lo[1] + (np.arange(self.shape[1]) + 0.5) * self.spacing[1]
        return np.meshgrid(cu, cv, indexing="ij")

    def inside(self) -> NDArray[np.bool_]:
        """Cells analysed: all of them (periodic) or those with centre within ``radius``."""
        if self.periodic:
            return np.ones(self.shape, dtype=bool)
        U, V = self.centers()
        return np.hypot(U, V) <= self.radius

    def axis_cell(self) -> tuple[int, int]:
        """Cell containing the contact axis ``u = v = 0``."""
        return (int(np.floor(-self.lo[0] / self.spacing[0])) % self.shape[0],
                int(np.floor(-self.lo[1] / self.spacing[1])) % self.shape[1])

    def cell_index(self, u: FloatArray, v: FloatArray) -> tuple[IntArray, NDArray[np.bool_]]:
        """Flat cell index of each point and whether it falls on the grid."""
        iu = np.floor((np.asarray(u) - self.lo[0]) / self.spacing[0]).astype(np.int64)
        iv = np.floor((np.asarray(v) - self.lo[1]) / self.spacing[1]).astype(np.int64)
        if self.periodic:
            iu %= self.shape[0]
            iv %= self.shape[1]
            ok = np.ones(iu.shape, dtype=bool)
        else:
            ok = (iu >= 0) & (iu < self.shape[0]) & (iv >= 0) & (iv < self.shape[1])
        flat = np.where(ok, iu * self.shape[1] + iv, 0)
        return flat, ok

    def lateral_box(self) -> FloatArray | None:
        """Periodic lengths of the grid (for KD-trees), or None for a patch."""
        if not self.periodic:
            return None
        return np.array([self.shape[0] * self.spacing[0], self.shape[1] * self.spacing[1]])


def column_mean(grid: LateralGrid, u: FloatArray, v: FloatArray, values: FloatArray) -> FloatArray:
    """Mean of ``values`` per grid column (NaN where a column holds no point), shape ``grid.shape``."""
    flat, ok = grid.cell_index(u, v)
    n = grid.shape[0] * grid.shape[1]
    cnt = np.bincount(flat[ok], minlength=n).astype(float)
    tot = np.bincount(flat[ok], weights=np.asarray(values, dtype=float)[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = tot / cnt
    return out.reshape(grid.shape)


def compute_gap_map(grid: LateralGrid, u_a: FloatArray, v_a: FloatArray, s_a: FloatArray,
                    u_b: FloatArray, v_b: FloatArray, s_b: FloatArray) -> FloatArray:
    """Gap between two facing head surfaces, per column.

    ``(u_a, v_a, s_a)`` are the proximal heads of the lower membrane (normal coordinate ``s`` grows
    towards the upper one), ``(u_b, v_b, s_b)`` those of the upper membrane. The gap of a column is
    ``mean(s_b) - mean(s_a)`` over the heads in that column; NaN where either surface is missing.
    """
    return column_mean(grid, u_b, v_b, s_b) - column_mean(grid, u_a, v_a, s_a)


# ---------------------------------------------------------------------------------------------
# connected regions on (periodic) grids
# ---------------------------------------------------------------------------------------------
def label_regions(mask: NDArray[np.bool_], periodic: bool) -> tuple[IntArray, int]:
    """4-connected regions of ``mask``; with ``periodic`` the grid wraps in both directions.

    Returns ``(labels, n)`` with ``labels`` 0 outside the mask and ``1..n`` inside (``scipy.ndimage.label``
    followed by a union of the labels that touch across the periodic edges).
    """
    lab, n = ndimage.label(mask)
    if not periodic or n == 0:
        return lab.astype(np.int64), int(n)
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in ((lab[0, :], lab[-1, :]), (lab[:, 0], lab[:, -1])):
        for x, y in zip(a[(a > 0) & (b > 0)], b[(a > 0) & (b > 0)]):
            rx, ry = find(int(x)), find(int(y))
            if rx != ry:
                parent[max(rx, ry)] = min(rx, ry)
    roots = np.array([find(i) for i in range(n + 1)])
    uniq, new = np.unique(roots, return_inverse=True)
    return new[lab].astype(np.int64), int(len(uniq) - 1)


def lateral_distance_function(grid: LateralGrid, u: FloatArray, v: FloatArray):  # type: ignore[no-untyped-def]
    """A function ``f(qu, qv) -> distances`` from lateral query points to the nearest projected bead
    (periodic on periodic grids; ``inf`` without beads)."""
    box = grid.lateral_box()
    lo = np.array(grid.lo)
    if len(u) == 0:
        return lambda qu, qv: np.full(np.shape(qu), np.inf)
    p = np.column_stack([u, v]).astype(float)
    tree = cKDTree(wrap(p - lo, box), boxsize=box) if box is not None else cKDTree(p)

    def dist(qu: FloatArray, qv: FloatArray) -> FloatArray:
        q = np.column_stack([np.ravel(qu), np.ravel(qv)]).astype(float)
        d, _ = tree.query(wrap(q - lo, box) if box is not None else q)
        return d.reshape(np.shape(qu))

    return dist


def nearest_bead_distance(grid: LateralGrid, u: FloatArray, v: FloatArray) -> FloatArray:
    """Lateral distance (nm) from every cell centre to the nearest projected bead, shape ``grid.shape``.

    This is the exact Euclidean distance transform of the projected bead set sampled at the cell centres
    (periodic with ``grid.periodic``); ``inf`` when there is no bead.
    """
    U, V = grid.centers()
    return lateral_distance_function(grid, u, v)(U, V)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RegionResult:
    """The region picked out of a mask (a pore or a diaphragm) on one frame.

    Attributes
    ----------
    found : bool
        A qualifying region exists.
    area_nm2 : float
        Its area (number of cells times the cell area).
    radius_nm : float
        ``sqrt(area / pi)`` plus ``radius_offset`` (see :func:`pick_region`).
    inscribed_nm : float
        Largest value of ``distance`` inside the region (the largest inscribed circle for a pore).
    offset_nm : float
        Lateral distance of the region's centroid from the contact axis.
    n_regions : int
        Number of qualifying regions.
    mask : ndarray of bool, shape grid.shape
        The region picked.
    """

    found: bool
    area_nm2: float
    radius_nm: float
    inscribed_nm: float
    offset_nm: float
    n_regions: int
    mask: NDArray[np.bool_]


def pick_region(grid: LateralGrid, mask: NDArray[np.bool_], distance: FloatArray | None = None,
                min_inscribed: float = 0.0, min_cells: int = 1, radius_offset: float = 0.0) -> RegionResult:
    """The region of ``mask`` that counts: the one containing the axis cell if it qualifies, else the largest.

    A connected region (periodic wrap on periodic grids) qualifies when it has at least ``min_cells``
    cells and, if ``distance`` is given, its largest ``distance`` is at least ``min_inscribed``.
    """
    mask = mask & grid.inside()
    lab, n = label_regions(mask, grid.periodic)
    empty = RegionResult(False, 0.0, 0.0, 0.0, np.nan, 0, np.zeros(grid.shape, bool))
    if n == 0:
        return empty
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    if distance is not None:
        dmax = ndimage.maximum(distance, lab, index=np.arange(n + 1))
        dmax = np.asarray(dmax, dtype=float)
    else:
        dmax = np.zeros(n + 1)
    ok = (counts >= min_cells) & (dmax >= min_inscribed)
    ok[0] = False
    if not ok.any():
        return empty
    ax = lab[grid.axis_cell()]
    pick = ax if (ax > 0 and ok[ax]) else int(np.argmax(np.where(ok, counts, -1)))
    sel = lab == pick
    area = float(counts[pick]) * grid.cell_area
    U, V = grid.centers()
    if grid.periodic:
        box = grid.lateral_box()
        assert box is not None
        cu, cv = minimum_image(np.array([circular_mean(U[sel], float(box[0])),
                                         circular_mean(V[sel], float(box[1]))]), box)
    else:
        cu, cv = U[sel].mean(), V[sel].mean()
    return RegionResult(True, area, float(np.sqrt(area / np.pi) + radius_offset), float(dmax[pick]),
                        float(np.hypot(cu, cv)), int(np.count_nonzero(ok)), sel)


def compute_pore(grid: LateralGrid, u: FloatArray, v: FloatArray, block_radius: float = 0.5 * SIGMA_NM,
                 min_radius: float = 1.0, allowed: NDArray[np.bool_] | None = None) -> RegionResult:
    """Fusion pore from the lateral projection of lipid beads (solvent-free definition).

    A column is open when no projected lipid bead lies within ``block_radius`` of its centre; open
    columns are connected (periodic wrap on periodic grids); a region is a pore when its largest
    inscribed circle, measured to bead centres, is at least ``min_radius``. ``radius_nm`` is
    ``sqrt(A/pi) + block_radius`` (the open area grown back by the bead radius, so it too measures to bead
    centres), ``inscribed_nm`` the largest inscribed circle.

    Parameters
    ----------
    grid : LateralGrid
    u, v : ndarray, shape (n,)
        Lateral coordinates (nm) of the lipid beads through the contact zone.
    block_radius : float
        Bead radius used to decide that a column is blocked (default sigma/2).
    min_radius : float
        Smallest inscribed radius of a pore, nm (default 1.0, far above the empty circles of a fluid bilayer).
    allowed : ndarray of bool, shape grid.shape, optional
        Only open columns inside this mask count (:func:`compute_holes` passes the fusion pores).
    """
    f = lateral_distance_function(grid, u, v)
    U, V = grid.centers()
    dist = f(U, V)
    open_ = dist > block_radius
    if allowed is not None:
        open_ &= allowed
    res = pick_region(grid, open_, distance=dist, min_inscribed=min_radius, radius_offset=block_radius)
    if not res.found or not np.isfinite(res.inscribed_nm):
        return res
    # refine the largest inscribed circle off the grid: local searches of shrinking size around the best cell
    i = int(np.argmax(np.where(res.mask, dist, -np.inf)))
    cu, cv, best = U.ravel()[i], V.ravel()[i], float(dist.ravel()[i])
    half = max(grid.spacing)
    offs = np.linspace(-1.0, 1.0, 11)
    for _ in range(3):
        qu, qv = np.meshgrid(cu + half * offs, cv + half * offs, indexing="ij")
        d = f(qu, qv)
        j = int(np.argmax(d))
        if d.ravel()[j] > best:
            cu, cv, best = qu.ravel()[j], qv.ravel()[j], float(d.ravel()[j])
        half /= 5.0
    return RegionResult(res.found, res.area_nm2, res.radius_nm, best, res.offset_nm, res.n_regions, res.mask)


def _region_dilation(grid: LateralGrid, mask: NDArray[np.bool_], radius: float) -> NDArray[np.bool_]:
    """Cells within ``radius`` (nm, cell centre to cell centre) of ``mask`` (periodic on periodic grids)."""
    pu, pv = int(np.ceil(radius / grid.spacing[0])), int(np.ceil(radius / grid.spacing[1]))
    du, dv = np.meshgrid(np.arange(-pu, pu + 1) * grid.spacing[0], np.arange(-pv, pv + 1) * grid.spacing[1],
                         indexing="ij")
    foot = np.hypot(du, dv) <= radius + 1e-9
    return ndimage.maximum_filter(mask.astype(np.uint8), footprint=foot,  # type: ignore[no-any-return]
                                  mode="wrap" if grid.periodic else "constant").astype(bool)


def rim_seal_fraction(grid: LateralGrid, region: NDArray[np.bool_], seal_u: FloatArray, seal_v: FloatArray,
                      band: float = 2.0, probe: float = 1.0) -> float:
    """Fraction of the rim of a hole through two membranes that is sealed by lipid joining them.

    The rim is the cells outside ``region`` within ``band`` nm of it (inside the grid); a rim cell is
    sealed when a *joining bead* (``seal_u, seal_v``: the lateral positions of the tail beads of one
    membrane in contact with tail beads of the other) lies within ``probe`` nm of its centre. The wall of
    a fusion pore is a bilayer made of both membranes, whose tails meet all around the hole (fraction
    near 1); two holes torn separately through apposed bilayers each have their own rim, with the two
    proximal head layers (and no tail contact) between them (fraction near 0).
    """
    rim = _region_dilation(grid, region, band) & ~region & grid.inside()
    if not rim.any():
        return 0.0
    U, V = grid.centers()
    d = lateral_distance_function(grid, seal_u, seal_v)(U[rim], V[rim])
    return float(np.mean(d <= probe))


@dataclass(frozen=True)
class HoleResult:
    """Holes through the contact zone of one frame, sorted into fusion pores and ruptures.

    Attributes
    ----------
    pore : RegionResult
        The fusion pore (see :func:`compute_holes`); ``found`` False without one.
    rupture : RegionResult
        The largest rupture hole (``radius_nm`` = ``sqrt(A/pi) + block_radius``); ``n_regions`` counts them.
    pore_seal : float
        Rim-seal fraction of the hole picked as the pore, or of the largest hole through both membranes
        when none is a fusion pore (NaN without such a hole).
    """

    pore: RegionResult
    rupture: RegionResult
    pore_seal: float


def compute_holes(grid: LateralGrid, u: FloatArray, v: FloatArray, is_b: NDArray[np.bool_], seal_u: FloatArray,
                  seal_v: FloatArray, block_radius: float = 0.5 * SIGMA_NM, min_radius: float = 1.0,
                  min_seal: float = 0.5, rim_band: float = 2.0, seal_probe: float = 1.0) -> HoleResult:
    """Fusion pores and ruptures from the lateral projection of the lipid beads of two membranes.

    1. *Holes through both membranes*: open columns of the projection of all beads (:func:`compute_pore`).
       Each hole whose largest inscribed circle reaches ``min_radius`` is a **fusion pore** when its rim
       joins the two membranes (:func:`rim_seal_fraction` >= ``min_seal``), else a **rupture** (two holes
       torn separately, one above the other).
    2. *Holes through one membrane*: the same on the projection of each membrane's beads alone. Such a
       hole is a rupture unless it overlaps a fusion pore (each membrane's projection is open over the
       pore) or its rim is sealed to the other membrane: inside a hemifusion diaphragm each membrane
       contributes one stretched monolayer, whose projection can show voids, and a hole in one bilayer
       encircled by a stalk (a hemifusion intermediate; Mueller, Katsov & Schick, J Chem Phys 116, 2342,
       2002) is joined all around; a bilayer torn on its own has its own free rim.

    The pore picked is the fusion pore on the axis, else the largest; its ``inscribed_nm`` is refined off
    the grid as in :func:`compute_pore`.

    Parameters
    ----------
    grid : LateralGrid
    u, v : ndarray, shape (n,)
        Lateral coordinates (nm) of all lipid beads of both membranes through the contact zone.
    is_b : ndarray of bool, shape (n,)
        Bead of membrane B.
    seal_u, seal_v : ndarray, shape (m,)
        Lateral coordinates of the joining beads (tail beads in contact with the other membrane's tails).
    block_radius, min_radius : float
        As in :func:`compute_pore`.
    min_seal, rim_band, seal_probe : float
        Fusion-pore test (:func:`rim_seal_fraction`).
    """
    is_b = np.asarray(is_b, dtype=bool)
    U, V = grid.centers()
    inside = grid.inside()
    empty = RegionResult(False, 0.0, 0.0, 0.0, np.nan, 0, np.zeros(grid.shape, bool))

    def holes(uu: FloatArray, vv: FloatArray) -> tuple[IntArray, list[int], FloatArray]:
        dist = lateral_distance_function(grid, uu, vv)(U, V)
        lab, n = label_regions((dist > block_radius) & inside, grid.periodic)
        if n == 0:
            return lab, [], dist
        dmax = np.asarray(ndimage.maximum(dist, lab, index=np.arange(n + 1)), dtype=float)
        return lab, [k for k in range(1, n + 1) if dmax[k] >= min_radius], dist

    lab, cands, dist = holes(u, v)
    seal = {k: rim_seal_fraction(grid, lab == k, seal_u, seal_v, rim_band, seal_probe) for k in cands}
    fusion = [k for k in cands if seal[k] >= min_seal]
    pore_mask = np.isin(lab, fusion) if fusion else np.zeros(grid.shape, bool)
    if fusion:
        pore = compute_pore(grid, u, v, block_radius, min_radius, allowed=pore_mask)
        k_pore = int(lab[pore.mask][0])
        pore_seal = seal[k_pore]
    else:
        pore = empty
        pore_seal = seal[max(cands, key=lambda k: int(np.count_nonzero(lab == k)))] if cands else np.nan
    rupture_cells = [lab == k for k in cands if k not in fusion]
    for side in (False, True):
        lab1, c1, _ = holes(u[is_b == side], v[is_b == side])
        rupture_cells += [m for m in (lab1 == k for k in c1) if not (m & pore_mask).any()
                          and rim_seal_fraction(grid, m, seal_u, seal_v, rim_band, seal_probe) < min_seal]
    if not rupture_cells:
        return HoleResult(pore, empty, float(pore_seal))
    areas = [int(np.count_nonzero(m)) for m in rupture_cells]
    j = int(np.argmax(areas))
    big = rupture_cells[j]
    area = areas[j] * grid.cell_area
    if grid.periodic:
        box = grid.lateral_box()
        assert box is not None
        cu, cv = minimum_image(np.array([circular_mean(U[big], float(box[0])),
                                         circular_mean(V[big], float(box[1]))]), box)
    else:
        cu, cv = U[big].mean(), V[big].mean()
    rupture = RegionResult(True, area, float(np.sqrt(area / np.pi) + block_radius), float(np.max(dist[big])),
                           float(np.hypot(cu, cv)), len(rupture_cells), big)
    return HoleResult(pore, rupture, float(pore_seal))


# ---------------------------------------------------------------------------------------------
# head-density profiles along the normal (hemifusion diaphragm)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnProfiles:
    """Head-density peaks per lateral column.

    Attributes
    ----------
    n_peaks : ndarray of int, shape grid.shape
        Number of peaks of the pooled, smoothed head-density profile along the normal.
    peak_lo, peak_hi : ndarray of float, shape grid.shape
        ``s`` of the lowest and highest peak (NaN without peaks).
    has_a, has_b : ndarray of bool, shape grid.shape
        The pooled column holds heads of the lower / upper membrane.
    lo_frac_a, hi_frac_a : ndarray of float, shape grid.shape
        Fraction of the (pooled, smoothed) head density at the lowest / highest peak that belongs to the
        lower membrane A (NaN without peaks).
    lo_frac_up, hi_frac_up : ndarray of float, shape grid.shape
        Fraction of it from lipids pointing up (tail -> head along ``+s``); NaN without peaks or when no
        orientations were given.
    """

    n_peaks: IntArray
    peak_lo: FloatArray
    peak_hi: FloatArray
    has_a: NDArray[np.bool_]
    has_b: NDArray[np.bool_]
    lo_frac_a: FloatArray
    hi_frac_a: FloatArray
    lo_frac_up: FloatArray
    hi_frac_up: FloatArray

    @property
    def span_nm(self) -> FloatArray:
        """Distance between the outermost peaks (NaN with fewer than two)."""
        return np.where(self.n_peaks >= 2, self.peak_hi - self.peak_lo, np.nan)


def _pool_size(grid: LateralGrid, pool_radius: float) -> tuple[int, int]:
    p = (int(round(pool_radius / grid.spacing[0])), int(round(pool_radius / grid.spacing[1])))
    return (2 * p[0] + 1, 2 * p[1] + 1)


def compute_column_profiles(grid: LateralGrid, u: FloatArray, v: FloatArray, s: FloatArray,
                            is_a: NDArray[np.bool_], bin_width: float = 0.25, smooth: float = 0.4,
                            pool_radius: float = 1.0, peak_fraction: float = 0.3,
                            up: NDArray[np.bool_] | None = None) -> ColumnProfiles:
    """Peaks of the head-bead density along the normal ``s`` in every lateral column.

    Heads are histogrammed per column in bins of ``bin_width`` nm, pooled over the
    ``(2p+1)^2`` neighbouring columns with ``p = round(pool_radius / spacing)`` (periodic on periodic
    grids), smoothed along ``s`` with a Gaussian of ``smooth`` nm, and the local maxima reaching
    ``peak_fraction`` of the column maximum are counted. One bilayer gives two peaks, two apposed bilayers
    four (three when the proximal head layers touch). The same pooling and smoothing applied to the heads
    of membrane A only (``is_a``) and to the heads of lipids pointing up (``up``, optional) give the
    make-up of the outermost peaks.
    """
    shape = grid.shape
    n_cells = shape[0] * shape[1]
    flat, ok = grid.cell_index(u, v)
    s = np.asarray(s, dtype=float)
    if not ok.any():
        z = np.zeros(shape)
        return ColumnProfiles(z.astype(np.int64), z + np.nan, z + np.nan, z.astype(bool), z.astype(bool),
                              z + np.nan, z + np.nan, z + np.nan, z + np.nan)
    flat, s_ok, a_ok = flat[ok], s[ok], np.asarray(is_a)[ok]
    pad = 4.0 * smooth
    lo, hi = s_ok.min() - pad, s_ok.max() + pad
    n_s = int(np.ceil((hi - lo) / bin_width)) + 1
    ks = np.clip(((s_ok - lo) / bin_width).astype(np.int64), 0, n_s - 1)
    size = _pool_size(grid, pool_radius)
    mode = "wrap" if grid.periodic else "constant"

    def profile(sel: NDArray[np.bool_] | None) -> FloatArray:
        idx = flat * n_s + ks
        w = None if sel is None else sel.astype(float)
        h = np.bincount(idx, weights=w, minlength=n_cells * n_s).astype(float).reshape(shape + (n_s,))
        if size != (1, 1):
            h = ndimage.uniform_filter(h, size=size + (1,), mode=mode)
        if smooth > 0:
            h = ndimage.gaussian_filter1d(h, smooth / bin_width, axis=-1, mode="constant")
        return h  # type: ignore[no-any-return]

    hist = profile(None)
    hist_a = profile(a_ok)
    hist_up = profile(np.asarray(up, dtype=bool)[ok]) if up is not None else None
    cnt_a = np.bincount(flat[a_ok], minlength=n_cells).reshape(shape).astype(float)
    cnt_b = np.bincount(flat[~a_ok], minlength=n_cells).reshape(shape).astype(float)
    if size != (1, 1):
        cnt_a = ndimage.uniform_filter(cnt_a, size=size, mode=mode)
        cnt_b = ndimage.uniform_filter(cnt_b, size=size, mode=mode)
    hmax = hist.max(axis=-1, keepdims=True)
    mid = hist[..., 1:-1]
    is_peak = (mid > hist[..., :-2]) & (mid >= hist[..., 2:]) & (mid >= peak_fraction * hmax) & (mid > 1e-12)
    n_peaks = is_peak.sum(axis=-1).astype(np.int64)
    first = np.argmax(is_peak, axis=-1) + 1
    last = is_peak.shape[-1] - np.argmax(is_peak[..., ::-1], axis=-1)
    s_of = lo + (np.arange(n_s) + 0.5) * bin_width
    has = n_peaks > 0
    peak_lo = np.where(has, s_of[first], np.nan)
    peak_hi = np.where(has, s_of[last], np.nan)

    def frac(part: FloatArray | None, at: IntArray) -> FloatArray:
        if part is None:
            return np.full(shape, np.nan)
        tot = np.take_along_axis(hist, at[..., None], axis=-1)[..., 0]
        num = np.take_along_axis(part, at[..., None], axis=-1)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(has & (tot > 1e-12), num / tot, np.nan)

    return ColumnProfiles(n_peaks, peak_lo, peak_hi, cnt_a > 1e-9, cnt_b > 1e-9, frac(hist_a, first),
                          frac(hist_a, last), frac(hist_up, first), frac(hist_up, last))


def diaphragm_mask(profiles: ColumnProfiles, max_thickness: float) -> NDArray[np.bool_]:
    """Columns that hold a single bilayer made of the distal leaflets of both membranes.

    Two head peaks at most ``max_thickness`` apart, heads of both membranes present, the lower peak made
    mostly of membrane A's heads and the upper one mostly of B's (a hole in one bilayer beside the intact
    other shows two peaks of one membrane), and, when orientations were given, the lipids of the lower
    peak pointing down and those of the upper peak pointing up: the head layers face away from each
    other as in a bilayer, not towards each other as the two proximal head layers of apposed bilayers
    do (whose distal peaks can fall below the peak threshold in thin, stretched membranes).
    """
    ok = ((profiles.n_peaks == 2) & (profiles.span_nm <= max_thickness) & profiles.has_a & profiles.has_b
          & (profiles.lo_frac_a > 0.5) & (profiles.hi_frac_a < 0.5))
    oriented = np.isfinite(profiles.lo_frac_up) & np.isfinite(profiles.hi_frac_up)
    return ok & (~oriented | ((profiles.lo_frac_up < 0.5) & (profiles.hi_frac_up > 0.5)))


def compute_diaphragm(grid: LateralGrid, u: FloatArray, v: FloatArray, s: FloatArray, is_a: NDArray[np.bool_],
                      max_thickness: float = 6.0, pool_radius: float = 1.0, layer_tolerance: float = 1.0,
                      up: NDArray[np.bool_] | None = None, seal_u: FloatArray | None = None,
                      seal_v: FloatArray | None = None, min_seal: float = 0.5, seal_probe: float = 1.0,
                      **profile_options: float) -> RegionResult:
    """Hemifusion diaphragm: the single-bilayer region of the contact zone.

    1. Columns whose pooled head profile passes :func:`diaphragm_mask` (with the lipid orientations ``up``,
       tail -> head along ``+s``, when given) are diaphragm columns. When joining beads are given
       (``seal_u, seal_v``: tail beads in contact with the other membrane's tails), a connected set of them
       counts only if at least ``min_seal`` of its columns have one within ``seal_probe`` nm: the core of a
       diaphragm is where the two distal leaflets' tails meet, while the rims of two holes torn separately
       can line up into a two-peak column with no tail of one membrane touching the other's. The connected
       set on the axis (else the largest) is the core.
    2. Pooling erodes the core's edge by up to the pooling radius, so the columns within that distance of the
       core are added back when each of their own heads lies within the core's two head layers (the median
       lowest and highest peak, +- ``layer_tolerance`` nm): a column of two apposed bilayers has heads
       outside them.

    ``radius_nm`` is ``sqrt(A / pi)``.
    """
    prof = compute_column_profiles(grid, u, v, s, is_a, pool_radius=pool_radius, up=up,
                                   **profile_options)  # type: ignore[arg-type]
    cand = diaphragm_mask(prof, max_thickness) & grid.inside()
    if seal_u is not None and seal_v is not None and cand.any():
        U, V = grid.centers()
        near = np.zeros(grid.shape, bool)
        near[cand] = lateral_distance_function(grid, seal_u, seal_v)(U[cand], V[cand]) <= seal_probe
        lab, n = label_regions(cand, grid.periodic)
        frac = (np.bincount(lab.ravel(), weights=near.ravel().astype(float), minlength=n + 1)
                / np.maximum(np.bincount(lab.ravel(), minlength=n + 1), 1))
        cand &= frac[lab] >= min_seal
    core = pick_region(grid, cand)
    if not core.found:
        return core
    size = _pool_size(grid, pool_radius)
    ring = ndimage.maximum_filter(core.mask.astype(np.uint8), size=size,
                                  mode="wrap" if grid.periodic else "constant").astype(bool)
    ring &= ~core.mask & grid.inside()
    lo = float(np.nanmedian(prof.peak_lo[core.mask])) - layer_tolerance
    hi = float(np.nanmedian(prof.peak_hi[core.mask])) + layer_tolerance
    flat, ok = grid.cell_index(u, v)
    s = np.asarray(s, dtype=float)
    outside = ok & ((s < lo) | (s > hi))
    n_out = np.bincount(flat[outside], minlength=grid.shape[0] * grid.shape[1]).reshape(grid.shape)
    mask = core.mask | (ring & (n_out == 0))
    area = float(mask.sum()) * grid.cell_area
    return RegionResult(True, area, float(np.sqrt(area / np.pi)), core.inscribed_nm, core.offset_nm,
                        core.n_regions, mask)


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
