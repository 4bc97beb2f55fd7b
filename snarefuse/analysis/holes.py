"""Holes through membranes on a lateral grid: bead-free regions (:func:`compute_pore`), the holes of each
membrane and the rims that seal them (:func:`compute_holes`), and the column profiles that find a hemifusion
diaphragm (:func:`compute_diaphragm`). Radii are measured to bead centres (see :mod:`snarefuse.analysis.kernels`).
Re-exported by :mod:`snarefuse.analysis.kernels`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from .grid import SIGMA_NM, FloatArray, IntArray, LateralGrid, circular_mean, minimum_image, wrap


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


def region_centre(grid: LateralGrid, cells: NDArray[np.bool_]) -> tuple[float, float]:
    """Centre (u, v) of a set of grid cells, relative to the contact axis: the circular mean on a periodic
    grid (a region may wrap across the box edge), the plain mean otherwise."""
    U, V = grid.centers()
    if grid.periodic:
        box = grid.lateral_box()
        assert box is not None
        cu, cv = minimum_image(np.array([circular_mean(U[cells], float(box[0])),
                                         circular_mean(V[cells], float(box[1]))]), box)
        return float(cu), float(cv)
    return float(U[cells].mean()), float(V[cells].mean())


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
    cu, cv = region_centre(grid, sel)
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
    pore_kept : bool
        The pore picked is a fusion pore only by the hold rule (its seal below ``min_seal``, at least
        ``keep_seal``, on a fusion pore of the frames before).
    fusion_cells : ndarray, shape (m, 3)
        ``(u, v, frames)`` of every cell of this frame's fusion pores: the lateral cell centre (nm) and for how
        many consecutive frames, this one included, its pore has been a fusion pore. What :func:`compute_holes`
        is given as ``held`` on the next frame ((0, 3) without a fusion pore).
    """

    pore: RegionResult
    rupture: RegionResult
    pore_seal: float
    pore_kept: bool
    fusion_cells: FloatArray


def region_cells(grid: LateralGrid, frames: IntArray) -> FloatArray:
    """``(u, v, frames)`` of the cells where ``frames`` (shape ``grid.shape``) is positive, shape (m, 3).

    A region carried from one frame to the next is passed as positions, not as a mask: the in-run check builds
    its grid from each frame's box, whose number of cells can change under a barostat."""
    U, V = grid.centers()
    on = frames > 0
    return np.column_stack([U[on], V[on], frames[on]]).astype(float)


def cells_frames(grid: LateralGrid, cells: FloatArray) -> IntArray:
    """Per cell of ``grid``, the largest ``frames`` of the ``(u, v, frames)`` rows of ``cells`` that fall in it
    (0 where none does)."""
    out = np.zeros(grid.shape, dtype=np.int64)
    cells = np.asarray(cells, dtype=float).reshape(-1, 3)
    if len(cells):
        flat, ok = grid.cell_index(cells[:, 0], cells[:, 1])
        np.maximum.at(out.ravel(), flat[ok], cells[ok, 2].astype(np.int64))
    return out


def compute_holes(grid: LateralGrid, u: FloatArray, v: FloatArray, is_b: NDArray[np.bool_], seal_u: FloatArray,
                  seal_v: FloatArray, block_radius: float = 0.5 * SIGMA_NM, min_radius: float = 1.0,
                  min_seal: float = 0.5, rim_band: float = 2.0, seal_probe: float = 1.0,
                  keep_seal: float | None = None, held: FloatArray | None = None,
                  hold_after: int = 2) -> HoleResult:
    """Fusion pores and ruptures from the lateral projection of the lipid beads of two membranes.

    1. *Holes through both membranes*: open columns of the projection of all beads (:func:`compute_pore`).
       Each hole whose largest inscribed circle reaches ``min_radius`` is a **fusion pore** when its rim
       joins the two membranes (:func:`rim_seal_fraction` >= ``min_seal``), else a **rupture** (two holes
       torn separately, one above the other). *Hold rule* (hysteresis): a hole that overlaps a fusion pore
       of the frame before (``held``, that frame's :attr:`HoleResult.fusion_cells`) which had then been one
       for at least ``hold_after`` consecutive frames stays a fusion pore while its seal is at least
       ``keep_seal``: the rim of an open pore whose wall is partly pulled apart flickers about ``min_seal``
       from frame to frame, while two holes torn separately never had a sealed rim to begin with. A single
       frame above ``min_seal`` does not start the hold (the seal of one frame moves by a few hundredths with
       the grid's alignment), and a hole not held is judged by ``min_seal`` alone.
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
    keep_seal : float, optional
        Smallest seal of a held pore (``0 <= keep_seal <= min_seal``); None: no hold rule.
    held : ndarray, shape (m, 3), optional
        ``fusion_cells`` of the frame before (None or empty: none).
    hold_after : int
        Consecutive frames a fusion pore must have been one before the hold rule keeps it.

    Raises
    ------
    ValueError
        ``keep_seal`` outside ``[0, min_seal]``, or ``hold_after`` < 1.
    """
    if keep_seal is not None and not 0.0 <= keep_seal <= min_seal:
        raise ValueError(f"keep_seal: {keep_seal!r}; accepted a rim-seal fraction between 0 and min_seal "
                         f"({min_seal})")
    if int(hold_after) < 1:
        raise ValueError(f"hold_after: {hold_after!r}; accepted an integer >= 1 (frames)")
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
    before = cells_frames(grid, held) if held is not None else np.zeros(grid.shape, np.int64)
    age = {k: int(before[lab == k].max()) for k in cands}  # frames the overlapped fusion pore had been one
    kept = [k for k in cands if keep_seal is not None and keep_seal <= seal[k] < min_seal and age[k] >= hold_after]
    fusion = [k for k in cands if seal[k] >= min_seal] + kept
    pore_mask = np.isin(lab, fusion) if fusion else np.zeros(grid.shape, bool)
    frames = np.zeros(grid.shape, np.int64)
    for k in fusion:
        frames[lab == k] = age[k] + 1
    pore_kept = False
    if fusion:
        pore = compute_pore(grid, u, v, block_radius, min_radius, allowed=pore_mask)
        k_pore = int(lab[pore.mask][0])
        pore_seal, pore_kept = seal[k_pore], k_pore in kept
    else:
        pore = empty
        pore_seal = seal[max(cands, key=lambda k: int(np.count_nonzero(lab == k)))] if cands else np.nan
    fusion_cells = region_cells(grid, frames)
    rupture_cells = [lab == k for k in cands if k not in fusion]
    for side in (False, True):
        lab1, c1, _ = holes(u[is_b == side], v[is_b == side])
        rupture_cells += [m for m in (lab1 == k for k in c1) if not (m & pore_mask).any()
                          and rim_seal_fraction(grid, m, seal_u, seal_v, rim_band, seal_probe) < min_seal]
    if not rupture_cells:
        return HoleResult(pore, empty, float(pore_seal), pore_kept, fusion_cells)
    areas = [int(np.count_nonzero(m)) for m in rupture_cells]
    j = int(np.argmax(areas))
    big = rupture_cells[j]
    area = areas[j] * grid.cell_area
    cu, cv = region_centre(grid, big)
    rupture = RegionResult(True, area, float(np.sqrt(area / np.pi) + block_radius), float(np.max(dist[big])),
                           float(np.hypot(cu, cv)), len(rupture_cells), big)
    return HoleResult(pore, rupture, float(pore_seal), pore_kept, fusion_cells)


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
