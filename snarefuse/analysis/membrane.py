"""Per-membrane analyses: membrane geometry, per-frame leaflets, area per lipid, thickness, tail order.

Leaflets are reassigned on every frame from the head-bead connectivity graph
(:func:`~snarefuse.analysis.kernels.compute_leaflets`), never fixed at the start, because Cooke lipids flip
between leaflets on the 10^3 tau scale and between membranes once they fuse (docs/model.md, docs/fusion.md). Graph
edges join heads closer than 1.5 sigma whose lipids point less than 90 degrees apart: in a simulated
400-lipid bilayer, lipids caught mid flip-flop put their heads in the core and, without the orientation
test, bridged the two leaflets into one in 3 of 40 frames.
Which side of its membrane a leaflet is on (lower/upper for a planar membrane, inner/outer for a
vesicle) is the majority orientation (head above or below its last tail bead, or outward/inward) of that
membrane's lipids in the leaflet; in a leaflet that holds both orientations in comparable numbers (the
rim of a pore joins the two leaflets), each lipid goes by its own orientation.

Targets of the 3-bead model at kT = 1.1 epsilon, w_c = 1.6 sigma (Cooke, Kremer & Deserno, Phys Rev E
72, 011506, 2005): area per lipid 1.20 +- 0.05 sigma^2, head-head thickness 4.4 +- 0.2 sigma, tail order
``S = <P2(cos theta)>`` 0.76 +- 0.05, with theta the angle between the head -> last-tail vector and the local
membrane normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import kernels as K
from .base import AnalysisBase, AnalysisError, Frame, LipidIndex

#: mean |cos| of lipid axes against z above which a membrane is planar (planar ~0.9, vesicle ~0.45).
PLANAR_COS_THRESHOLD = 0.7
#: A leaflet whose lipids point one way at least this often is one-sided.
ONE_SIDED_FRACTION = 0.8
#: Membrane kinds.
KINDS = ("planar", "vesicle")


@dataclass(frozen=True)
class MembraneGeometry:
    """Shape and position of one membrane on one frame.

    Attributes
    ----------
    membrane : int
    kind : {'planar', 'vesicle'}
    center : ndarray, shape (3,)
        Vesicle centre; for a planar membrane ``(nan, nan, z_mid)``.
    radius : float
        Vesicle midplane radius (mean distance of the last tail beads from the centre); NaN if planar.
    """

    membrane: int
    kind: str
    center: NDArray[np.float64]
    radius: float


def lipid_axes(xyz: NDArray[np.float64], box: NDArray[np.float64], lipids: LipidIndex,
               sel: NDArray[np.int64] | slice = slice(None)) -> NDArray[np.float64]:
    """Last-tail -> head vectors (minimum image), shape (n, 3)."""
    return K.minimum_image(xyz[lipids.head[sel]] - xyz[lipids.last_tail[sel]], box)


def compute_membrane_geometry(xyz: NDArray[np.float64], box: NDArray[np.float64], lipids: LipidIndex,
                              membrane: int, kind: str | None = None) -> MembraneGeometry:
    """Detect (unless ``kind`` is given) and locate one membrane.

    A membrane is planar when its lipid axes are mostly along z (mean ``|cos|`` above
    :data:`PLANAR_COS_THRESHOLD`), else a vesicle. Centres are periodic-safe (circular mean, then the mean
    of the cloud unwrapped about it), so a membrane split by the box boundary is located correctly.
    """
    sel = np.flatnonzero(lipids.membrane == membrane)
    if len(sel) == 0:
        raise AnalysisError(f"membrane {membrane}: no lipid of that chain; the topology has "
                            f"{lipids.n_membranes} membrane(s)")
    if kind is None:
        ax = lipid_axes(xyz, box, lipids, sel)
        cosz = np.abs(ax[:, 2]) / np.maximum(np.linalg.norm(ax, axis=1), 1e-12)
        kind = "planar" if cosz.mean() > PLANAR_COS_THRESHOLD else "vesicle"
    elif kind not in KINDS:
        raise AnalysisError(f"geometry: {kind!r} for membrane {membrane}; accepted {KINDS}")
    pts = xyz[lipids.atoms_of(membrane)]
    if kind == "planar":
        return MembraneGeometry(membrane, kind, K.periodic_center(pts, box, dims=(2,)), float("nan"))
    c = K.periodic_center(pts, box)
    r = np.linalg.norm(K.minimum_image(xyz[lipids.last_tail[sel]] - c, box), axis=1)
    return MembraneGeometry(membrane, kind, c, float(r.mean()))


# ---------------------------------------------------------------------------------------------
# per-frame cached quantities (shared by analyses run together)
# ---------------------------------------------------------------------------------------------
def frame_geometry(frame: Frame, kinds: tuple[str | None, ...] | None = None) -> list[MembraneGeometry]:
    """Geometry of every membrane of the frame; ``kinds`` pins the kind of each (None: detect).

    Cached on the frame per membrane and kind, so analyses that pinned the detected kinds reuse the
    detection of the same frame.
    """
    out = []
    for m in range(frame.lipids.n_membranes):
        kind = kinds[m] if kinds is not None and m < len(kinds) else None
        key = ("geometry", m, kind)
        if key not in frame.cache:
            g = compute_membrane_geometry(frame.xyz, frame.box, frame.lipids, m, kind)
            frame.cache[key] = frame.cache[("geometry", m, g.kind)] = g
        out.append(frame.cache[key])
    return out


def frame_leaflets(frame: Frame, cutoff: float = K.LEAFLET_CUTOFF_NM, min_size: int = 20,
                   orientation: bool = True) -> K.LeafletResult:
    """Leaflets of all lipids of the frame (cached on the frame); ``orientation``: edges only between
    lipids less than 90 degrees apart (see :func:`~snarefuse.analysis.kernels.compute_leaflets`)."""
    key = ("leaflets", float(cutoff), int(min_size), bool(orientation))
    if key not in frame.cache:
        axes = lipid_axes(frame.xyz, frame.box, frame.lipids) if orientation else None
        frame.cache[key] = K.compute_leaflets(frame.xyz[frame.lipids.head], frame.box, cutoff, min_size, axes)
    return frame.cache[key]  # type: ignore[no-any-return]


def outward_sign(frame: Frame, geom: MembraneGeometry, sel: NDArray[np.int64]) -> NDArray[np.bool_]:
    """True where a lipid points up (planar) or outward (vesicle)."""
    ax = lipid_axes(frame.xyz, frame.box, frame.lipids, sel)
    if geom.kind == "planar":
        return ax[:, 2] > 0
    rad = K.minimum_image(frame.xyz[frame.lipids.head[sel]] - geom.center, frame.box)
    return np.einsum("ij,ij->i", ax, rad) > 0


def leaflet_sides(frame: Frame, geom: MembraneGeometry, labels: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Side of each lipid of ``geom.membrane`` (True: upper/outer) from its per-frame leaflet.

    A leaflet's side is the majority orientation of this membrane's lipids in it; in a leaflet with
    fewer than :data:`ONE_SIDED_FRACTION` of them agreeing, each lipid keeps its own orientation.
    """
    sel = np.flatnonzero(frame.lipids.membrane == geom.membrane)
    up = outward_sign(frame, geom, sel)
    lab = labels[sel]
    n = int(lab.max()) + 1 if len(lab) else 0
    tot = np.bincount(lab, minlength=n).astype(float)
    frac = np.bincount(lab, weights=up.astype(float), minlength=n) / np.maximum(tot, 1)
    side = frac[lab] >= 0.5
    mixed = (frac[lab] > 1 - ONE_SIDED_FRACTION) & (frac[lab] < ONE_SIDED_FRACTION)
    side[mixed] = up[mixed]
    return side


# ---------------------------------------------------------------------------------------------
# analyses
# ---------------------------------------------------------------------------------------------
class LeafletAnalysis(AnalysisBase):
    """Per-frame leaflets from the head-bead connectivity graph.

    Parameters
    ----------
    trajectory, top, chunk, dt_ps
        See :class:`~snarefuse.analysis.base.AnalysisBase`.
    cutoff : float
        Head-head neighbour distance, nm (default 1.5 sigma = 1.32 nm).
    min_size : int
        Smallest connected component counted as a leaflet; smaller clusters join their nearest leaflet.
    orientation : bool
        Join only heads of lipids less than 90 degrees apart (cuts flip-flop bridges; see the module).
    store_labels : bool
        Keep the per-frame leaflet of every lipid in ``results.labels`` (n_frames x n_lipids int16).

    Results
    -------
    table : Table
        ``frame, time_ps, n_leaflets, n_small_clusters, n_reassigned, leaflet{i}_size,
        leaflet{i}_membrane`` (i = 0..3, largest leaflet first; the membrane that holds most of its lipids,
        -1 when absent), ``n_in_other_leaflet`` (lipids in a leaflet dominated by another membrane).
    labels : ndarray of int16, shape (n_frames, n_lipids)
        Leaflet of each lipid per frame (if ``store_labels``).
    membrane : ndarray of int, shape (n_lipids,)
        Membrane (chain) each lipid was built in.
    """

    N_REPORTED = 4

    def __init__(self, trajectory: Any, top: Any = None, *, cutoff: float = K.LEAFLET_CUTOFF_NM,
                 min_size: int = 20, orientation: bool = True, store_labels: bool = True, chunk: int = 100,
                 dt_ps: float | None = None):
        super().__init__(trajectory, top, chunk=chunk, dt_ps=dt_ps)
        self.cutoff, self.min_size, self.store_labels = cutoff, min_size, store_labels
        self.orientation = orientation

    def _prepare(self) -> None:
        super()._prepare()
        if self.lipids.n_lipids == 0:
            raise AnalysisError("topology: no lipid residues (atoms named H, T1, T2[, T3]) found")
        self._labels: list[NDArray[np.int16]] = []

    def _single_frame(self, frame: Frame) -> None:
        lf = frame_leaflets(frame, self.cutoff, self.min_size, self.orientation)
        mem = frame.lipids.membrane
        n_m = frame.lipids.n_membranes
        counts = np.zeros((lf.n_leaflets, n_m), dtype=np.int64)
        np.add.at(counts, (lf.labels, mem), 1)
        dominant = counts.argmax(axis=1)
        row: dict[str, Any] = {"frame": frame.index, "time_ps": frame.time_ps, "n_leaflets": lf.n_leaflets,
                               "n_small_clusters": lf.n_small_clusters, "n_reassigned": lf.n_reassigned}
        for i in range(self.N_REPORTED):
            row[f"leaflet{i}_size"] = int(lf.sizes[i]) if i < lf.n_leaflets else 0
            row[f"leaflet{i}_membrane"] = int(dominant[i]) if i < lf.n_leaflets else -1
        row["n_in_other_leaflet"] = int(np.count_nonzero(dominant[lf.labels] != mem))
        self._rows.append(row)
        if self.store_labels:
            self._labels.append(lf.labels.astype(np.int16))

    def _conclude(self) -> None:
        super()._conclude()
        self.results.membrane = self.lipids.membrane.copy()
        if self.store_labels:
            self.results.labels = (np.array(self._labels) if self._labels
                                   else np.zeros((0, self.lipids.n_lipids), np.int16))

    def plot(self, ax: Any = None) -> Any:
        """Leaflet sizes vs time."""
        from .. import plot as P

        cols = [f"leaflet{i}_size" for i in range(self.N_REPORTED)]
        return P.plot_columns(self.table, cols, ylabel="lipids per leaflet", ax=ax)


class MembraneAnalysis(AnalysisBase):
    """Area per lipid, head-head thickness and tail order of every membrane, with per-frame leaflets.

    Planar membrane: area per lipid ``Lx Ly / (N/2)`` (and per side ``Lx Ly / n_side``); thickness = mean
    over lateral columns of (mean upper-leaflet head height - mean lower-leaflet head height), which
    removes undulations; order against the normal of the membrane's midplane height field.
    Vesicle: per side ``4 pi R_side^2 / n_side`` with ``R_side`` the mean head radius; thickness
    ``R_outer - R_inner``; order against the radial direction.

    Parameters
    ----------
    trajectory, top, chunk, dt_ps
        See :class:`~snarefuse.analysis.base.AnalysisBase`.
    grid_spacing : float
        Lateral cell size for thickness and local normals, nm.
    leaflet_cutoff, min_leaflet_size : float, int
        Leaflet assignment (see :class:`LeafletAnalysis`).
    geometry : tuple of {'planar', 'vesicle', None}, optional
        Force the kind of each membrane instead of detecting it.

    Results
    -------
    table : Table
        ``frame, time_ps`` and per membrane k: ``m{k}_apl_nm2, m{k}_apl_{side}_nm2, m{k}_thickness_nm,
        m{k}_tail_order, m{k}_n_{side}`` with sides ``lower, upper`` (planar) or ``inner, outer``
        (vesicle), plus ``m{k}_radius_nm`` for vesicles.
    kinds : list of str
        Kind of each membrane (from the first frame).
    """

    def __init__(self, trajectory: Any, top: Any = None, *, grid_spacing: float = 2.0,
                 leaflet_cutoff: float = K.LEAFLET_CUTOFF_NM, min_leaflet_size: int = 20,
                 geometry: tuple[str | None, ...] | None = None, chunk: int = 100, dt_ps: float | None = None):
        super().__init__(trajectory, top, chunk=chunk, dt_ps=dt_ps)
        self.grid_spacing = grid_spacing
        self.leaflet_cutoff, self.min_leaflet_size = leaflet_cutoff, min_leaflet_size
        self.geometry = tuple(geometry) if geometry is not None else None

    def _prepare(self) -> None:
        super()._prepare()
        if self.lipids.n_lipids == 0:
            raise AnalysisError("topology: no lipid residues (atoms named H, T1, T2[, T3]) found")
        self._kinds: tuple[str, ...] | None = None
        self._shape: tuple[int, int] | None = None

    def _single_frame(self, frame: Frame) -> None:
        geoms = frame_geometry(frame, self._kinds or self.geometry)
        if self._kinds is None:
            self._kinds = tuple(g.kind for g in geoms)
            L = frame.box[:2]
            self._shape = (max(1, int(round(L[0] / self.grid_spacing))), max(1, int(round(L[1] / self.grid_spacing))))
        lf = frame_leaflets(frame, self.leaflet_cutoff, self.min_leaflet_size)
        row: dict[str, Any] = {"frame": frame.index, "time_ps": frame.time_ps}
        for g in geoms:
            row.update(self._membrane_row(frame, g, lf.labels))
        self._rows.append(row)

    def _membrane_row(self, frame: Frame, g: MembraneGeometry, labels: NDArray[np.int64]) -> dict[str, float]:
        lip = frame.lipids
        sel = np.flatnonzero(lip.membrane == g.membrane)
        side = leaflet_sides(frame, g, labels)
        heads = frame.xyz[lip.head[sel]]
        ax = lipid_axes(frame.xyz, frame.box, lip, sel)
        p = f"m{g.membrane}_"
        n_lo, n_hi = int(np.count_nonzero(~side)), int(np.count_nonzero(side))
        if g.kind == "planar":
            assert self._shape is not None
            grid = K.LateralGrid.periodic_box(frame.box[:2], self._shape)
            u = K.minimum_image(heads[:, 0] - 0.5 * frame.box[0], frame.box[0])
            v = K.minimum_image(heads[:, 1] - 0.5 * frame.box[1], frame.box[1])
            z = K.minimum_image(heads[:, 2] - g.center[2], frame.box[2])
            upper = K.column_mean(grid, u[side], v[side], z[side])
            lower = K.column_mean(grid, u[~side], v[~side], z[~side])
            thick = upper - lower
            # local normal of the mid-surface (upper + lower) / 2: insensitive to leaflet head counts per column
            normals = K.height_field_normals(grid, 0.5 * (upper + lower), u, v)
            area = float(frame.box[0] * frame.box[1])
            out = {p + "apl_nm2": 2 * area / len(sel),
                   p + "apl_lower_nm2": area / n_lo if n_lo else np.nan,
                   p + "apl_upper_nm2": area / n_hi if n_hi else np.nan,
                   p + "thickness_nm": float(np.nanmean(thick)) if np.isfinite(thick).any() else np.nan,
                   p + "tail_order": float(K.compute_order(ax, normals).mean()),
                   p + "n_lower": n_lo, p + "n_upper": n_hi}
            return out
        rad = K.minimum_image(heads - g.center, frame.box)
        r = np.linalg.norm(rad, axis=1)
        r_in = float(r[~side].mean()) if n_lo else np.nan
        r_out = float(r[side].mean()) if n_hi else np.nan
        a_in, a_out = 4 * np.pi * r_in**2, 4 * np.pi * r_out**2
        return {p + "apl_nm2": (a_in + a_out) / len(sel),
                p + "apl_inner_nm2": a_in / n_lo if n_lo else np.nan,
                p + "apl_outer_nm2": a_out / n_hi if n_hi else np.nan,
                p + "thickness_nm": r_out - r_in,
                p + "tail_order": float(K.compute_order(ax, rad).mean()),
                p + "n_inner": n_lo, p + "n_outer": n_hi, p + "radius_nm": g.radius}

    def _conclude(self) -> None:
        super()._conclude()
        self.results.kinds = list(self._kinds or ())

    def plot(self, ax: Any = None) -> Any:
        """Head-head thickness of each membrane vs time."""
        from .. import plot as P

        cols = [c for c in self.table.columns if c.endswith("_thickness_nm")]
        return P.plot_columns(self.table, cols, ylabel="head-head thickness (nm)", ax=ax)
