"""The contact frame of two membranes: the origin, axes and lateral periodicity of the zone where they meet
(:func:`compute_contact_frame`), the lipid beads near it in that frame (:func:`contact_beads`), the tails
joining the two membranes (:func:`joining_tails`) and the lateral grid the zone analyses work on
(:func:`zone_grid`). The analyses of :mod:`snarefuse.analysis.fusion` and the pictures of
:mod:`snarefuse.render` are built on it; :mod:`snarefuse.analysis.fusion` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from . import kernels as K
from .base import AnalysisBase, AnalysisError, Frame, LipidIndex
from .lengths import LENGTHS_NM, lengths_nm
from .membrane import MembraneGeometry, frame_geometry

F = NDArray[np.float64]
B = NDArray[np.bool_]

#: Default disc radius (nm, at the default sigma: :mod:`.lengths`) around the contact axis for the separation
#: statistics.
CONTACT_RADIUS = LENGTHS_NM["contact_radius"][0]
#: Default vesicle contact-zone radius as a fraction of the smallest vesicle mid-radius.
ZONE_FRACTION = 0.7
#: Default tail-tail contact distance (nm, at the default sigma).
CONTACT_CUTOFF = LENGTHS_NM["contact_cutoff"][0]


# ---------------------------------------------------------------------------------------------
# contact frame
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContactFrame:
    """Origin, axes and lateral periodicity of the contact zone (see the module docstring)."""

    origin: F
    e1: F
    e2: F
    n: F
    periodic: bool
    membranes: tuple[int, ...]
    kinds: tuple[str, ...]
    center_distance: float


def compute_contact_frame(geoms: list[MembraneGeometry], box: F, membranes: tuple[int, ...],
                          contact_xy: tuple[float, float] | None = None) -> ContactFrame:
    """Contact frame of membranes ``(A, B)``, or of a single planar membrane ``(A,)`` (axis z)."""
    ex, ey, ez = np.eye(3)
    xy = np.asarray(contact_xy if contact_xy is not None else box[:2] / 2, dtype=float)
    ga = geoms[membranes[0]]
    if len(membranes) == 1:
        if ga.kind != "planar":
            raise AnalysisError(f"membranes: ({membranes[0]},) is a vesicle; pores through a single membrane "
                                "are detected on planar membranes only")
        return ContactFrame(np.array([xy[0], xy[1], ga.center[2]]), ex, ey, ez, True, membranes, ("planar",), 0.0)
    gb = geoms[membranes[1]]
    kinds = (ga.kind, gb.kind)
    if kinds == ("planar", "planar"):
        dz = float(K.minimum_image(gb.center[2] - ga.center[2], box[2]))
        sgn = 1.0 if dz >= 0 else -1.0
        return ContactFrame(np.array([xy[0], xy[1], ga.center[2] + dz / 2]), ex, ey, sgn * ez, True,
                            membranes, kinds, abs(dz))
    if "planar" in kinds:
        gp, gv = (ga, gb) if ga.kind == "planar" else (gb, ga)
        dz = float(K.minimum_image(gv.center[2] - gp.center[2], box[2]))
        sgn = 1.0 if dz >= 0 else -1.0
        nz = sgn if ga is gp else -sgn
        z0 = gp.center[2] + sgn * (abs(dz) - gv.radius) / 2
        return ContactFrame(np.array([gv.center[0], gv.center[1], z0]), ex, ey, nz * ez, False,
                            membranes, kinds, abs(dz))
    d = K.minimum_image(gb.center - ga.center, box)
    dist = float(np.linalg.norm(d))
    n = d / dist
    a = ex if abs(n[0]) < 0.9 else ey
    e1 = a - (a @ n) * n
    e1 /= np.linalg.norm(e1)
    origin = ga.center + n * (ga.radius + (dist - ga.radius - gb.radius) / 2)
    return ContactFrame(origin, e1, np.cross(n, e1), n, False, membranes, kinds, dist)


@dataclass(frozen=True)
class ContactBeads:
    """Lipid beads of the two membranes in contact-frame coordinates (one frame).

    Per bead (heads then tails of the selected lipids): ``u, v, s``, ``is_b`` (bead of membrane B),
    ``is_head``, ``in_zone`` (not on a vesicle's far hemisphere), ``lipid`` (row in the per-lipid arrays).
    Per lipid: ``lipids`` (global lipid index), ``proximal`` (points towards the other membrane; outer
    leaflet of a vesicle's near hemisphere), ``up`` (the lipid's axis, last tail -> head, points along ``+n``).
    ``atom``: the atom index of each bead.
    """

    u: F
    v: F
    s: F
    is_b: B
    is_head: B
    in_zone: B
    lipid: NDArray[np.int64]
    lipids: NDArray[np.int64]
    proximal: B
    up: B
    atom: NDArray[np.int64]


def contact_beads(xyz: F, box: F, lipids: LipidIndex, geoms: list[MembraneGeometry], cf: ContactFrame) -> ContactBeads:
    """Project the lipid beads of ``cf.membranes`` into the contact frame."""
    mem_sel = np.flatnonzero(np.isin(lipids.membrane, cf.membranes))
    tails = lipids.tails[mem_sel]
    tmask = tails >= 0
    atoms = np.concatenate([lipids.head[mem_sel], tails[tmask]])
    row = np.concatenate([np.arange(len(mem_sel)), np.nonzero(tmask)[0]])
    mem = lipids.membrane[mem_sel][row]
    d = K.minimum_image(xyz[atoms] - cf.origin, box)
    toward = np.ones(len(atoms), dtype=bool)
    for k, m in enumerate(cf.membranes):
        g = geoms[m]
        sel = mem == m
        if g.kind == "planar":
            d[sel, 2] = K.minimum_image(g.center[2] - cf.origin[2], box[2]) + K.minimum_image(
                xyz[atoms[sel], 2] - g.center[2], box[2])
        else:
            coff = K.minimum_image(g.center - cf.origin, box)
            rel = K.minimum_image(xyz[atoms[sel]] - g.center, box)
            d[sel] = coff + rel
            toward[sel] = (rel @ cf.n) * (1 if k == 0 else -1) > 0
    u, v, s = d @ cf.e1, d @ cf.e2, d @ cf.n
    n_l = len(mem_sel)
    is_b = mem == (cf.membranes[1] if len(cf.membranes) > 1 else -1)
    # per-lipid orientation towards the other membrane
    last = n_l + np.cumsum(tmask.sum(axis=1)) - 1  # tails are stored lipid by lipid
    axis = d[:n_l] - d[last]
    if len(cf.membranes) > 1:
        sign = np.where(is_b[:n_l], -1.0, 1.0)
        proximal = (axis @ cf.n) * sign > 0
        for k, m in enumerate(cf.membranes):
            g = geoms[m]
            if g.kind == "vesicle":
                sel = mem[:n_l] == m
                rad = d[:n_l][sel] - K.minimum_image(g.center - cf.origin, box)
                proximal[sel] = (np.einsum("ij,ij->i", axis[sel], rad) > 0) & toward[:n_l][sel]
    else:
        proximal = np.zeros(n_l, dtype=bool)
    return ContactBeads(u, v, s, is_b, np.arange(len(atoms)) < n_l, toward, row, mem_sel, proximal,
                        axis @ cf.n > 0, atoms)


def joining_tails(xyz: F, box: F, b: ContactBeads, cutoff: float = CONTACT_CUTOFF) -> B:
    """Tail beads (in the contact zone) of either membrane within ``cutoff`` of a tail bead of the other:
    where the two membranes' hydrophobic cores meet (stalk, diaphragm rim, fusion-pore wall)."""
    out = np.zeros(len(b.u), dtype=bool)
    tail = ~b.is_head & b.in_zone
    ia, ib = np.flatnonzero(tail & ~b.is_b), np.flatnonzero(tail & b.is_b)
    if len(ia) == 0 or len(ib) == 0:
        return out
    pa, pb = K.wrap(xyz[b.atom[ia]], box), K.wrap(xyz[b.atom[ib]], box)
    pairs = cKDTree(pa, boxsize=box).sparse_distance_matrix(cKDTree(pb, boxsize=box), cutoff, output_type="ndarray")
    out[ia[pairs["i"]]] = True
    out[ib[pairs["j"]]] = True
    return out


def default_zone_radius(geoms: list[MembraneGeometry], membranes: tuple[int, ...]) -> float | None:
    """None (whole periodic box) for planar membranes, else :data:`ZONE_FRACTION` x smallest vesicle radius."""
    radii = [geoms[m].radius for m in membranes if geoms[m].kind == "vesicle"]
    return ZONE_FRACTION * min(radii) if radii else None


def zone_grid(cf: ContactFrame, box: F, spacing: float, radius: float | None,
              shape: tuple[int, int] | None) -> K.LateralGrid:
    """The lateral grid of an analysis: the whole periodic box (planar contact, no ``radius``) or a disc of
    ``radius`` (default :data:`CONTACT_RADIUS`) on the contact axis."""
    if cf.periodic and radius is None:
        if shape is None:
            shape = (max(1, int(round(box[0] / spacing))), max(1, int(round(box[1] / spacing))))
        return K.LateralGrid.periodic_box(box[:2], shape)
    return K.LateralGrid.disc(radius if radius is not None else CONTACT_RADIUS, spacing)


# ---------------------------------------------------------------------------------------------
# the analyses' base
# ---------------------------------------------------------------------------------------------
class ContactAnalysis(AnalysisBase):
    """Base of the two-membrane analyses: the contact frame of each frame (cached on it), the tails joining
    the membranes, and the options they share.

    Parameters
    ----------
    membranes : tuple of int
        Membranes (chains) A and B; A is the one ``n`` points away from.
    contact_xy : tuple of float, optional
        x, y (nm) of the contact axis of planar-planar systems (default the box centre).
    geometry : tuple of {'planar', 'vesicle', None}, optional
        Force membrane kinds instead of detecting them on the first frame.
    sigma_nm : float, optional
        The model's sigma (nm; default 0.88 nm): every length left unset defaults to its value in
        :data:`~snarefuse.analysis.lengths.LENGTHS_NM` scaled to it.
    """

    def __init__(self, trajectory: Any, top: Any = None, *, membranes: tuple[int, int] = (0, 1),
                 contact_xy: tuple[float, float] | None = None, geometry: tuple[str | None, ...] | None = None,
                 sigma_nm: float | None = None, chunk: int = 100, dt_ps: float | None = None):
        super().__init__(trajectory, top, chunk=chunk, dt_ps=dt_ps)
        self.membranes = tuple(int(m) for m in membranes)
        self.contact_xy = contact_xy
        self.geometry = tuple(geometry) if geometry is not None else None
        try:
            self.lengths = lengths_nm(sigma_nm)
        except ValueError as e:
            raise AnalysisError(str(e)) from None
        self.sigma_nm = sigma_nm

    def _length(self, name: str, given: float | None) -> float:
        """``given`` (nm), or the default length ``name`` at this analysis' sigma."""
        return float(given) if given is not None else self.lengths[name]

    def _prepare(self) -> None:
        super()._prepare()
        n = self.lipids.n_membranes
        if len(self.membranes) != 2 or len(set(self.membranes)) != 2 or max(self.membranes) >= n:
            raise AnalysisError(f"membranes: {self.membranes}; accepted two distinct membrane ids below {n} "
                                f"(the topology has {n} lipid chain(s))")
        self._kinds: tuple[str, ...] | None = self.geometry  # type: ignore[assignment]
        self._shape: tuple[int, int] | None = None

    def _contact(self, frame: Frame) -> tuple[list[MembraneGeometry], ContactFrame, ContactBeads]:
        geoms = frame_geometry(frame, self._kinds)
        if self._kinds is None or None in self._kinds:
            self._kinds = tuple(g.kind for g in geoms)
        key = ("contact", self.membranes, self.contact_xy, tuple(g.kind for g in geoms))
        if key not in frame.cache:
            cf = compute_contact_frame(geoms, frame.box, self.membranes, self.contact_xy)
            frame.cache[key] = (cf, contact_beads(frame.xyz, frame.box, frame.lipids, geoms, cf))
        cf, beads = frame.cache[key]
        return geoms, cf, beads

    def _joining(self, frame: Frame, b: ContactBeads, cutoff: float) -> B:
        """:func:`joining_tails` of this frame's contact beads (cached on the frame)."""
        key = ("joining", self.membranes, self.contact_xy, float(cutoff), id(b))
        if key not in frame.cache:
            frame.cache[key] = joining_tails(frame.xyz, frame.box, b, cutoff)
        return frame.cache[key]  # type: ignore[no-any-return]

    def _row(self, frame: Frame) -> dict[str, Any]:
        return {"frame": frame.index, "time_ps": frame.time_ps}
