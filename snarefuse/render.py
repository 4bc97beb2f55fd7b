"""Pictures of a run: cross-sections through the contact axis, top views of the contact zone, an overview
of the fusion stages and an animation, all drawn with matplotlib (Agg).

Every picture is drawn in the analysis's own contact frame
(:func:`~snarefuse.analysis.fusion.compute_contact_frame`): ``u, v`` lateral, ``s`` along the normal that
points from membrane A to membrane B, the origin on the contact axis (planar-planar: through the
manifest's contact point, vesicle-planar: through the vesicle centre). Each membrane is unwrapped about
its own centre, as :func:`~snarefuse.analysis.fusion.contact_beads` does, so a membrane split by the
periodic boundary is drawn whole; lumen gas is unwrapped about the centre of its vesicle, protein beads
by the minimum image about the origin.

* cross-section: the beads of a slab ``|v| <= slab / 2`` (by default 2 nm thick) containing the axis,
  projected on the ``(u, s)`` plane, nearer beads drawn over farther ones;
* top view: the beads within ``depth / 2`` of the contact plane (``|s|``, default +-3 nm) and inside the
  contact zone, seen along the normal, with the analysis's pore and diaphragm outlined; lumen gas is left
  out so that a pore shows as an empty region.

:func:`render_run` does it for a run directory (``snarefuse render``): one cross-section and one top view
per first-passage frame of every state the analysis's ``summary.json`` lists, the stages side by side
(``stages.png``) and the animation of the cross-section (``movie.gif``, and ``movie.mp4`` where ffmpeg is
installed), into ``analysis/render/``.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .analysis import kernels as K
from .analysis.base import LipidIndex, Table, TrajectorySource
from .analysis.fusion import (BLOCK_RADIUS, CONTACT_CUTOFF, MAX_DIAPHRAGM_THICKNESS, MIN_PORE_RADIUS, ContactFrame,
                              compute_contact_frame, contact_beads, default_zone_radius)
from .analysis.membrane import MembraneGeometry, compute_membrane_geometry
from .errors import SnarefuseError
from .io import atomic_write_bytes, atomic_write_json, load_run_topology

F = NDArray[np.float64]
B = NDArray[np.bool_]
#: Axis limits ((x0, x1), (y0, y1)) of a cross-section, nm.
Limits = tuple[tuple[float, float], tuple[float, float]]

#: Bead classes (:attr:`BeadClasses.kind`).
OTHER, HEAD, TAIL, PROTEIN, TMD, GAS, MARKER = range(7)
#: Residue name of lumen gas beads (snarefuse.lumen.GAS_RESNAME; not imported, lumen pulls in the builder).
GAS_RESNAME = "GAS"
#: Default thickness of the cross-section slab, nm.
SLAB_NM = 2.0
#: Default depth of the top view around the contact plane (|s| <= depth / 2), nm: thin enough that
#: a docked pair shows its facing heads and a stalk or diaphragm shows as a patch of tails.
TOP_DEPTH_NM = 2.0
#: Drawn bead diameter in units of the bead size sigma (a little less than 1 so neighbours stay apart).
BEAD_SCALE = 0.9
#: Lateral radius of a cluster of inter-membrane tail contacts taken as one stalk, nm.
STALK_CLUSTER_NM = 3.0
#: Largest number of frames of an animation when --every is not given.
MOVIE_FRAMES = 120
#: Frames per second of the animation.
MOVIE_FPS = 8
#: Name of the file that marks a directory as written by render_run, and lists what it wrote.
RENDER_INDEX = "render.json"

#: Colours: heads dark, tails light, membrane A blue, membrane B red/orange (colour-blind safe pair).
HEAD_COLORS = ("#1d3f8f", "#a3172a")
TAIL_COLORS = ("#9fc8ee", "#f9bd7d")
OTHER_HEAD_COLOR, OTHER_TAIL_COLOR = "#4d4d4d", "#c8c8c8"
PROTEIN_COLOR, TMD_COLOR = "#34a853", "#0b5a27"
GAS_COLOR, MARKER_COLOR = "#9b9b9b", "#7b3f9e"
PORE_COLOR, DIAPHRAGM_COLOR = "black", "#7b3f9e"


class RenderError(SnarefuseError, ValueError):
    """A run cannot be rendered (no trajectory, no analysis, a bad option); the message says which."""


# ---------------------------------------------------------------------------------------------
# bead classes
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BeadClasses:
    """What each bead is, for colouring.

    Attributes
    ----------
    lipids : LipidIndex
    kind : ndarray of int8, shape (n_atoms,)
        :data:`HEAD`, :data:`TAIL`, :data:`PROTEIN`, :data:`TMD`, :data:`GAS`, :data:`MARKER` or :data:`OTHER`.
    membrane : ndarray of int64, shape (n_atoms,)
        Membrane of a lipid bead; vesicle whose lumen holds a gas bead (-1: the nearest vesicle on each
        frame); -1 for every other bead.
    """

    lipids: LipidIndex
    kind: NDArray[np.int8]
    membrane: NDArray[np.int64]

    @classmethod
    def from_lipids(cls, lipids: LipidIndex, protein: Sequence[int] | NDArray[np.int64] = (),
                    tmd: Sequence[int] | NDArray[np.int64] = (), gas: Sequence[int] | NDArray[np.int64] = (),
                    gas_membrane: Sequence[int] | NDArray[np.int64] | None = None) -> "BeadClasses":
        """From a lipid index and the atom indices of protein, TMD (a subset of protein) and gas beads."""
        n = lipids.n_atoms
        kind = np.full(n, OTHER, dtype=np.int8)
        membrane = np.full(n, -1, dtype=np.int64)
        kind[lipids.markers] = MARKER
        kind[np.asarray(protein, dtype=np.int64)] = PROTEIN
        kind[np.asarray(tmd, dtype=np.int64)] = TMD
        gas = np.asarray(gas, dtype=np.int64)
        kind[gas] = GAS
        if gas_membrane is not None:
            membrane[gas] = np.asarray(gas_membrane, dtype=np.int64)
        kind[lipids.head] = HEAD
        kind[lipids.tail_atoms] = TAIL
        membrane[lipids.head] = lipids.membrane
        membrane[lipids.tail_atoms] = lipids.membrane[lipids.tail_lipid]
        return cls(lipids, kind, membrane)


def classify_beads(topology: Any, manifest: Mapping[str, Any] | None = None) -> BeadClasses:
    """Bead classes of a built system: lipids from the topology (:class:`LipidIndex`), SNARE beads and their
    TMDs from ``manifest["snares"]`` (``first_atom``, ``segment``), lumen gas from
    ``manifest["membranes"][m]["lumen"]`` (``first_atom``, ``n_gas``) or, without it, residues named ``GAS``."""
    lipids = LipidIndex.from_topology(topology)
    manifest = manifest or {}
    protein: list[int] = []
    tmd: list[int] = []
    for k, cx in enumerate(manifest.get("snares") or []):
        try:
            first, seg = int(cx["first_atom"]), list(cx["segment"])
        except (KeyError, TypeError, ValueError):
            raise RenderError(f"manifest.json: snares[{k}] needs 'first_atom' and 'segment' (one per bead)") from None
        protein += range(first, first + len(seg))
        tmd += [first + i for i, s in enumerate(seg) if s == "tmd"]
    gas: list[int] = []
    gas_mem: list[int] = []
    for m, rec in enumerate(manifest.get("membranes") or []):
        lumen = rec.get("lumen") if isinstance(rec, Mapping) else None
        if isinstance(lumen, Mapping) and "first_atom" in lumen and "n_gas" in lumen:
            ids = range(int(lumen["first_atom"]), int(lumen["first_atom"]) + int(lumen["n_gas"]))
            gas += ids
            gas_mem += [int(rec.get("id", m))] * len(ids)
    if not gas:
        gas = [a.index for a in topology.atoms if a.residue.name == GAS_RESNAME]
        gas_mem = [-1] * len(gas)
    if any(i >= lipids.n_atoms for i in protein + gas):
        raise RenderError(f"manifest.json: SNARE or gas atom indices beyond the topology's {lipids.n_atoms} atoms; "
                          "the manifest belongs to another build")
    return BeadClasses.from_lipids(lipids, protein, tmd, gas, gas_mem)


def bead_colors(classes: BeadClasses, membranes: tuple[int, ...] = (0, 1)) -> NDArray[np.float64]:
    """RGBA colour of every bead, shape (n_atoms, 4): heads and tails of ``membranes[0]`` in
    :data:`HEAD_COLORS`/:data:`TAIL_COLORS` ``[0]``, of ``membranes[1]`` in ``[1]``, other membranes grey."""
    from matplotlib.colors import to_rgba

    out = np.tile(to_rgba(OTHER_TAIL_COLOR), (len(classes.kind), 1))
    for code, color in ((HEAD, OTHER_HEAD_COLOR), (PROTEIN, PROTEIN_COLOR), (TMD, TMD_COLOR), (GAS, GAS_COLOR),
                        (MARKER, MARKER_COLOR)):
        out[classes.kind == code] = to_rgba(color)
    for k, m in enumerate(membranes[:2]):
        on = classes.membrane == m
        out[on & (classes.kind == HEAD)] = to_rgba(HEAD_COLORS[k])
        out[on & (classes.kind == TAIL)] = to_rgba(TAIL_COLORS[k])
    return out


def legend_entries(classes: BeadClasses, membranes: tuple[int, ...] = (0, 1),
                   gas: bool = True) -> list[tuple[str, str]]:
    """``(label, colour)`` of the bead classes present, in drawing-legend order."""
    out = []
    for k, m in enumerate(membranes[:2]):
        out += [(f"membrane {m} heads", HEAD_COLORS[k]), (f"membrane {m} tails", TAIL_COLORS[k])]
    present = set(np.unique(classes.kind).tolist())
    if PROTEIN in present:
        out.append(("SNARE", PROTEIN_COLOR))
    if TMD in present:
        out.append(("SNARE TMD", TMD_COLOR))
    if gas and GAS in present:
        out.append(("lumen gas", GAS_COLOR))
    if MARKER in present:
        out.append(("content marker", MARKER_COLOR))
    return out


# ---------------------------------------------------------------------------------------------
# geometry on arrays
# ---------------------------------------------------------------------------------------------
def contact_coordinates(xyz: F, box: F, classes: BeadClasses, geoms: Sequence[MembraneGeometry],
                        cf: ContactFrame) -> F:
    """Contact-frame coordinates ``(u, v, s)`` of every bead, shape (n_atoms, 3), nm.

    Lipid beads are unwrapped about their membrane's centre exactly as
    :func:`~snarefuse.analysis.fusion.contact_beads` does (planar: lateral minimum image about the origin,
    normal through the membrane's mid-plane; vesicle: about the vesicle centre); gas beads about their
    vesicle's centre (the nearest vesicle when :attr:`BeadClasses.membrane` is -1); every other bead by
    the minimum image about the origin.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    d = K.minimum_image(xyz - cf.origin, box)
    mem = classes.membrane.copy()
    vesicles = [g for g in geoms if g.kind == "vesicle"]
    loose = np.flatnonzero((classes.kind == GAS) & (mem < 0))
    if len(loose) and vesicles:
        dist = np.stack([np.linalg.norm(K.minimum_image(xyz[loose] - g.center, box), axis=1) for g in vesicles])
        mem[loose] = np.array([g.membrane for g in vesicles])[dist.argmin(axis=0)]
    for g in geoms:
        sel = np.flatnonzero(mem == g.membrane)
        if not len(sel):
            continue
        if g.kind == "planar":
            d[sel, 2] = K.minimum_image(g.center[2] - cf.origin[2], box[2]) + K.minimum_image(
                xyz[sel, 2] - g.center[2], box[2])
        else:
            d[sel] = K.minimum_image(g.center - cf.origin, box) + K.minimum_image(xyz[sel] - g.center, box)
    return np.column_stack([d @ cf.e1, d @ cf.e2, d @ cf.n])


def section_plane(coords: F, slab_nm: float = SLAB_NM, angle_deg: float = 0.0) -> tuple[F, F, F, B]:
    """The cross-section through the contact axis at azimuth ``angle_deg`` (0: the ``(u, s)`` plane).

    Parameters
    ----------
    coords : ndarray, shape (n, 3)
        Contact-frame coordinates ``(u, v, s)``, nm.
    slab_nm : float
        Slab thickness; beads with ``|depth| <= slab_nm / 2`` are in the section.

    Returns
    -------
    x : ndarray, shape (n,)
        Lateral coordinate in the plane (``cos a u + sin a v``).
    y : ndarray, shape (n,)
        Coordinate along the normal, ``s``.
    depth : ndarray, shape (n,)
        Distance from the plane (``-sin a u + cos a v``).
    in_slab : ndarray of bool, shape (n,)

    Examples
    --------
    >>> x, y, depth, sel = section_plane(np.array([[3.0, 0.5, 1.0], [0.0, 2.0, -1.0]]), 2.0)
    >>> sel.tolist(), x.tolist()
    ([True, False], [3.0, 0.0])
    """
    if not (math.isfinite(slab_nm) and slab_nm > 0):
        raise RenderError(f"slab: {slab_nm}; accepted a finite thickness > 0 nm")
    coords = np.asarray(coords, dtype=np.float64)
    a = math.radians(angle_deg)
    x = math.cos(a) * coords[:, 0] + math.sin(a) * coords[:, 1]
    depth = -math.sin(a) * coords[:, 0] + math.cos(a) * coords[:, 1]
    return x, coords[:, 2], depth, np.abs(depth) <= slab_nm / 2


def zone_selection(coords: F, depth_nm: float = TOP_DEPTH_NM, radius_nm: float | None = None) -> B:
    """Beads of the top view: within ``depth_nm / 2`` of the contact plane (``|s|``) and, if ``radius_nm``
    is given, within that lateral distance of the contact axis."""
    if not (math.isfinite(depth_nm) and depth_nm > 0):
        raise RenderError(f"depth: {depth_nm}; accepted a finite thickness > 0 nm")
    coords = np.asarray(coords, dtype=np.float64)
    sel = np.abs(coords[:, 2]) <= depth_nm / 2
    if radius_nm is not None:
        sel &= np.hypot(coords[:, 0], coords[:, 1]) <= radius_nm
    return sel


# ---------------------------------------------------------------------------------------------
# one frame
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameLabel:
    """What a picture's title says: the state, the frame, and its time (ps; tau and diffusion-calibrated ns
    when the run's units are known)."""

    frame: int
    time_ps: float
    state: str = ""
    tau_ps: float | None = None
    tau_diffusion_ns: float | None = None

    def time_text(self) -> str:
        if self.tau_ps:
            tau = self.time_ps / self.tau_ps
            text = f"t = {tau:.4g} τ"
            if self.tau_diffusion_ns:
                text += f" ≈ {_ns(tau * self.tau_diffusion_ns)} (diffusion-calibrated)"
            return text
        return f"t = {self.time_ps:.4g} ps"

    def title(self, what: str = "") -> str:
        head = f"{what}: " if what else ""
        state = f"{self.state.replace('_', ' ')}, " if self.state else ""
        return f"{head}{state}frame {self.frame}\n{self.time_text()}"


def _ns(t_ns: float) -> str:
    return f"{t_ns / 1000:.3g} µs" if abs(t_ns) >= 1000 else f"{t_ns:.3g} ns"


@dataclass(frozen=True)
class Snapshot:
    """One frame in the contact frame: coordinates, classes, the contact frame, and (optionally) the
    analysis's pore and diaphragm on the lateral grid."""

    coords: F
    classes: BeadClasses
    cf: ContactFrame
    box: F
    label: FrameLabel
    zone_radius: float | None = None
    grid: K.LateralGrid | None = None
    pore: NDArray[np.bool_] | None = None
    diaphragm: NDArray[np.bool_] | None = None
    #: The most advanced event the analysis sees on this frame ('pore', 'diaphragm', 'stalk' or '') and
    #: the lateral position (u, v) of its centre, nm.
    event: str = ""
    event_uv: tuple[float, float] | None = None
    #: Lateral point (u, v) the pictures are centred on (the contact axis unless recentred).
    center: tuple[float, float] = (0.0, 0.0)
    center_on: str = ""


@dataclass(frozen=True)
class ContactSettings:
    """How the contact frame and the zone masks are set up (the analysis's options, from ``summary.json``)."""

    membranes: tuple[int, ...] = (0, 1)
    kinds: tuple[str | None, ...] | None = None
    contact_xy: tuple[float, float] | None = None
    zone_radius: float | None = None
    block_radius: float = BLOCK_RADIUS
    min_pore_radius: float = MIN_PORE_RADIUS
    diaphragm_min_radius: float = 1.5
    stalk_min_lipids: int = 10
    max_diaphragm_thickness: float = MAX_DIAPHRAGM_THICKNESS
    grid_spacing: float = 0.5


def make_snapshot(xyz: F, box: F, classes: BeadClasses, label: FrameLabel,
                  settings: ContactSettings | None = None, masks: bool = True) -> Snapshot:
    """Project one frame into the contact frame; with ``masks``, find the pore and the diaphragm as the
    analysis does (:func:`~snarefuse.analysis.kernels.compute_pore`, ``compute_diaphragm``)."""
    settings = settings or ContactSettings()
    box = np.asarray(box, dtype=np.float64)[:3]
    lip = classes.lipids
    kinds = settings.kinds or (None,) * lip.n_membranes
    geoms = [compute_membrane_geometry(xyz, box, lip, m, kinds[m] if m < len(kinds) else None)
             for m in range(lip.n_membranes)]
    cf = compute_contact_frame(geoms, box, settings.membranes, settings.contact_xy)
    coords = contact_coordinates(xyz, box, classes, geoms, cf)
    radius = settings.zone_radius
    if radius is None:
        radius = default_zone_radius(geoms, settings.membranes)
    if radius is None and not cf.periodic:
        radius = 5.0
    if not masks:
        return Snapshot(coords, classes, cf, box, label, radius)
    if cf.periodic and radius is None:
        shape = (max(1, int(round(box[0] / settings.grid_spacing))), max(1, int(round(box[1] / settings.grid_spacing))))
        grid = K.LateralGrid.periodic_box(box[:2], shape)
    else:
        grid = K.LateralGrid.disc(float(radius), settings.grid_spacing)  # type: ignore[arg-type]
    b = contact_beads(xyz, box, lip, geoms, cf)
    z = b.in_zone
    pore = K.compute_pore(grid, b.u[z], b.v[z], settings.block_radius, settings.min_pore_radius)
    dia = None
    event, where = ("pore", _mask_center(grid, pore.mask)) if pore.found else ("", None)
    if len(settings.membranes) > 1:
        h = np.flatnonzero(b.is_head & b.in_zone)
        dres = K.compute_diaphragm(grid, b.u[h], b.v[h], b.s[h], ~b.is_b[h], settings.max_diaphragm_thickness, 1.0)
        dia = dres.mask
        if not event and dres.found and dres.radius_nm >= settings.diaphragm_min_radius:
            event, where = "diaphragm", _mask_center(grid, dres.mask)
        if not event:
            where = _stalk_center(xyz, box, lip, settings, coords, cf.periodic)
            event = "stalk" if where is not None else ""
    return Snapshot(coords, classes, cf, box, label, radius, grid, pore.mask, dia, event, where)


def _periodic_mean(x: F, length: float) -> float:
    """Mean of coordinates ``x`` in ``[-length/2, length/2)`` on a circle of circumference ``length``."""
    return float(K.minimum_image(np.array(K.circular_mean(np.asarray(x) + length / 2, length) - length / 2), length))


def _mask_center(grid: K.LateralGrid, mask: NDArray[np.bool_]) -> tuple[float, float]:
    U, V = grid.centers()
    box = grid.lateral_box()
    if box is None:
        return float(U[mask].mean()), float(V[mask].mean())
    return _periodic_mean(U[mask], float(box[0])), _periodic_mean(V[mask], float(box[1]))


def _stalk_center(xyz: F, box: F, lip: LipidIndex, settings: ContactSettings, coords: F,
                  periodic: bool) -> tuple[float, float] | None:
    """Lateral centre of the densest cluster of lipids with inter-membrane tail contacts (the lipids within
    :data:`STALK_CLUSTER_NM` of the one with most such neighbours), if there are at least
    ``settings.stalk_min_lipids`` contact lipids in all (the analysis's stalk test); a run can hold several
    stalks, and their common mean would lie between them."""
    sel = np.flatnonzero(np.isin(lip.membrane, settings.membranes[:2]))
    tails = lip.tails[sel]
    tmask = tails >= 0
    t_lipid = np.nonzero(tmask)[0]
    tc = K.compute_tail_contacts(xyz[tails[tmask]], t_lipid, lip.membrane[sel][t_lipid] == settings.membranes[1],
                                 len(sel), box, CONTACT_CUTOFF)
    hit = sel[tc.lipid_has_contact]
    if len(hit) < settings.stalk_min_lipids:
        return None
    uv = coords[lip.head[hit], :2]
    d = uv[:, None, :] - uv[None, :, :]
    if periodic:
        d = K.minimum_image(d, box[:2])
    near = np.hypot(d[..., 0], d[..., 1]) <= STALK_CLUSTER_NM
    core = near[int(np.argmax(near.sum(axis=1)))]
    if periodic:
        return _periodic_mean(uv[core, 0], float(box[0])), _periodic_mean(uv[core, 1], float(box[1]))
    return float(uv[core, 0].mean()), float(uv[core, 1].mean())


def recenter(snapshot: Snapshot, center: tuple[float, float] | None, on: str = "") -> Snapshot:
    """The snapshot with its lateral origin moved to ``center`` (u, v), periodic contact frames only
    (planar-planar: an event can happen anywhere in the box); rounded to whole cells of the mask grid so
    that beads and masks move together. Non-periodic frames (vesicles) are returned unchanged."""
    if center is None or not snapshot.cf.periodic:
        return snapshot
    L = snapshot.box[:2]
    shift = np.array(center, dtype=float)
    rolls = (0, 0)
    if snapshot.grid is not None:
        sp = np.array(snapshot.grid.spacing)
        rolls = tuple(int(r) for r in np.round(shift / sp))
        shift = np.array(rolls) * sp
    c = snapshot.coords.copy()
    c[:, :2] = K.minimum_image(c[:, :2] - shift, L)

    def roll(m: NDArray[np.bool_] | None) -> NDArray[np.bool_] | None:
        return None if m is None else np.roll(m, (-rolls[0], -rolls[1]), axis=(0, 1))

    ev = None if snapshot.event_uv is None else tuple(K.minimum_image(np.array(snapshot.event_uv) - shift, L))
    return replace(snapshot, coords=c, pore=roll(snapshot.pore), diaphragm=roll(snapshot.diaphragm),
                   event_uv=ev, center=(float(shift[0]), float(shift[1])), center_on=on)


# ---------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------
def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _bead_area(ax: Any, diameter_nm: float) -> float:
    """Scatter marker area (points^2) of a disc ``diameter_nm`` across in the Axes' data units."""
    ax.apply_aspect()
    p = ax.transData.transform([[0.0, 0.0], [diameter_nm, 0.0]])
    d_pt = abs(p[1, 0] - p[0, 0]) * 72.0 / ax.figure.dpi
    return float(max(d_pt, 0.5) ** 2)


def section_limits(snapshots: Sequence[Snapshot], slab_nm: float = SLAB_NM, margin_nm: float = 1.0) -> Limits:
    """Common axis limits ``((x0, x1), (y0, y1))`` of cross-sections: lipid and protein beads of the slabs,
    plus ``margin_nm``; laterally at most the box (periodic contact frames)."""
    xs, ys = [], []
    for sn in snapshots:
        x, y, _, sel = section_plane(sn.coords, slab_nm)
        sel &= np.isin(sn.classes.kind, (HEAD, TAIL, PROTEIN, TMD))
        xs.append(x[sel])
        ys.append(y[sel])
    x, y = np.concatenate(xs), np.concatenate(ys)
    if not len(x):
        raise RenderError("no lipid or protein bead in the cross-section slab; widen it (--slab)")
    x0, x1 = float(x.min()) - margin_nm, float(x.max()) + margin_nm
    if snapshots[0].cf.periodic:
        half = 0.5 * float(snapshots[0].box[0])
        x0, x1 = max(x0, -half), min(x1, half)
    return (x0, x1), (float(y.min()) - margin_nm, float(y.max()) + margin_nm)


def _handles(entries: list[tuple[str, str]]) -> list[Any]:
    from matplotlib.lines import Line2D

    return [Line2D([], [], ls="", marker="o", ms=8, mfc=c, mec="0.3", mew=0.5, label=lab) for lab, c in entries]


def _center_text(snapshot: Snapshot) -> str:
    if not snapshot.center_on:
        return ""
    u, v = snapshot.center
    return f"\ncentred on the {snapshot.center_on} at (u, v) = ({u:.1f}, {v:.1f}) nm"


def plot_cross_section(snapshot: Snapshot, ax: Any = None, slab_nm: float = SLAB_NM, angle_deg: float = 0.0,
                       limits: Limits | None = None, legend: bool = True,
                       title: bool = True, sigma_nm: float = K.SIGMA_NM) -> Any:
    """Cross-section through the contact axis: the beads of a slab ``slab_nm`` thick containing the axis,
    on the (lateral, normal) plane, equal aspect, axes in nm; nearer beads drawn over (and a little
    brighter than) farther ones. Returns the Axes."""
    ax = _axes(ax)
    x, y, depth, sel = section_plane(snapshot.coords, slab_nm, angle_deg)
    (x0, x1), (y0, y1) = limits if limits is not None else section_limits([snapshot], slab_nm)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    idx = np.flatnonzero(sel & (snapshot.classes.kind != OTHER))
    idx = idx[np.argsort(-depth[idx], kind="stable")]  # viewer on the -depth side: far beads first
    col = bead_colors(snapshot.classes, snapshot.cf.membranes)[idx]
    shade = 0.8 + 0.2 * (0.5 - depth[idx] / slab_nm)  # 1.0 at the near face, 0.8 at the far one
    col[:, :3] *= np.clip(shade, 0.0, 1.0)[:, None]
    ax.scatter(x[idx], y[idx], s=_bead_area(ax, BEAD_SCALE * sigma_nm), c=col, linewidths=0, rasterized=True)
    ax.axvline(0.0, color="0.5", lw=0.6, ls=":", zorder=0)
    ax.set_xlabel("lateral position u (nm)")
    ax.set_ylabel("position along the normal s (nm)")
    if title:
        ax.set_title(snapshot.label.title(f"cross-section ({slab_nm:g} nm slab)") + _center_text(snapshot),
                     fontsize="medium")
    if legend:
        ax.legend(handles=_handles(legend_entries(snapshot.classes, snapshot.cf.membranes)), fontsize="small",
                  loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    return ax


def plot_top_view(snapshot: Snapshot, ax: Any = None, depth_nm: float = TOP_DEPTH_NM, legend: bool = True,
                  title: bool = True, masks: bool = True, sigma_nm: float = K.SIGMA_NM, seed: int = 0) -> Any:
    """Top view of the contact zone: lipid and protein beads within ``depth_nm / 2`` of the contact plane
    and inside the contact zone, seen along the normal, both membranes interleaved (random drawing order);
    a pore shows as an empty region. With ``masks``, the pore (solid) and diaphragm (dashed) that the
    analysis finds on this frame are outlined. Returns the Axes."""
    ax = _axes(ax)
    c = snapshot.coords
    sel = zone_selection(c, depth_nm, snapshot.zone_radius) & np.isin(snapshot.classes.kind, (HEAD, TAIL, PROTEIN, TMD))
    if snapshot.zone_radius is not None:
        r = snapshot.zone_radius
        lim = (-r - 0.5, r + 0.5), (-r - 0.5, r + 0.5)
    else:
        lim = (-0.5 * snapshot.box[0], 0.5 * snapshot.box[0]), (-0.5 * snapshot.box[1], 0.5 * snapshot.box[1])
    ax.set_xlim(*lim[0])
    ax.set_ylim(*lim[1])
    ax.set_aspect("equal")
    rng = np.random.default_rng(seed)
    colors = bead_colors(snapshot.classes, snapshot.cf.membranes)
    kind = snapshot.classes.kind
    for classes, scale in (((HEAD,), 0.7), ((TAIL,), 1.0), ((PROTEIN, TMD), 1.0)):
        # heads (smaller) under tails, so that tails in the contact plane (a stalk, a diaphragm) stand out;
        # random order within a class interleaves the two membranes
        idx = rng.permutation(np.flatnonzero(sel & np.isin(kind, classes)))
        if len(idx):
            ax.scatter(c[idx, 0], c[idx, 1], s=_bead_area(ax, scale * BEAD_SCALE * sigma_nm), c=colors[idx],
                       linewidths=0, rasterized=True)
    handles = _handles(legend_entries(snapshot.classes, snapshot.cf.membranes, gas=False))
    if masks and snapshot.grid is not None:
        from matplotlib.lines import Line2D

        U, V = snapshot.grid.centers()
        for mask, color, ls, name in ((snapshot.diaphragm, DIAPHRAGM_COLOR, "--", "diaphragm (analysis)"),
                                      (snapshot.pore, PORE_COLOR, "-", "pore (analysis)")):
            if mask is not None and mask.any() and U.shape[0] > 1 and U.shape[1] > 1:
                ax.contour(U, V, mask.astype(float), levels=[0.5], colors=[color], linestyles=[ls], linewidths=1.5)
                handles.append(Line2D([], [], color=color, ls=ls, lw=1.5, label=name))
    if snapshot.zone_radius is not None:
        phi = np.linspace(0, 2 * np.pi, 200)
        ax.plot(snapshot.zone_radius * np.cos(phi), snapshot.zone_radius * np.sin(phi), color="0.4", lw=0.8, ls=":")
    ax.plot([0], [0], marker="+", color="k", ms=10, mew=1.2)
    ax.set_xlabel("u (nm)")
    ax.set_ylabel("v (nm)")
    if title:
        ax.set_title(snapshot.label.title(f"top view (|s| ≤ {depth_nm / 2:g} nm)") + _center_text(snapshot),
                     fontsize="medium")
    if legend:
        ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  borderaxespad=0.0, frameon=False)
    return ax


def plot_stages(snapshots: Sequence[Snapshot], fig: Any = None, slab_nm: float = SLAB_NM,
                titles: Sequence[str] | None = None) -> Any:
    """One row of cross-sections (one per snapshot) with common limits and one legend; returns the Figure."""
    if not snapshots:
        raise RenderError("plot_stages: no frames to draw")
    lim = section_limits(snapshots, slab_nm)
    n = len(snapshots)
    if fig is None:
        from matplotlib.figure import Figure

        w = (lim[0][1] - lim[0][0]) / (lim[1][1] - lim[1][0])
        fig = Figure(figsize=(min(3.2 * n * max(w, 0.6), 22.0), 4.4))
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    for k, (ax, sn) in enumerate(zip(axes, snapshots)):
        plot_cross_section(sn, ax=ax, slab_nm=slab_nm, limits=lim, legend=False, title=False)
        ax.set_title(titles[k] if titles else f"{sn.label.state.replace('_', ' ')}\n{sn.label.time_text()}",
                     fontsize="small")
        if k:
            ax.set_ylabel("")
    entries = legend_entries(snapshots[0].classes, snapshots[0].cf.membranes)
    fig.legend(handles=_handles(entries), loc="lower center", ncol=min(len(entries), 8), fontsize="small",
               frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _figure(size: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path, fmt: str, dpi: int = 150) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def write_movie(frames: Iterator[Snapshot], paths: Sequence[Path], slab_nm: float = SLAB_NM,
                limits: Limits | None = None, fps: int = MOVIE_FPS,
                dpi: int = 90) -> int:
    """Animate the cross-section of ``frames`` into each of ``paths`` (``.gif`` through Pillow, ``.mp4``
    through ffmpeg), written to a temporary name and renamed when complete. Returns the number of frames."""
    from matplotlib.animation import FFMpegWriter, PillowWriter

    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise RenderError("animation: no frames")
    lim = limits if limits is not None else section_limits([first], slab_nm, margin_nm=2.0)
    fig = _figure((7.5, 7.5 * (lim[1][1] - lim[1][0]) / (lim[0][1] - lim[0][0]) + 1.0))
    ax = fig.add_subplot(1, 1, 1)
    tmps = [p.with_name(f".{p.stem}.tmp{p.suffix}") for p in paths]
    n = 0
    try:
        with ExitStack() as stack:
            writers = []
            for p, tmp in zip(paths, tmps):
                w = PillowWriter(fps=fps) if p.suffix == ".gif" else FFMpegWriter(fps=fps)
                stack.enter_context(w.saving(fig, str(tmp), dpi))
                writers.append(w)
            for sn in itertools.chain([first], it):
                ax.clear()
                plot_cross_section(sn, ax=ax, slab_nm=slab_nm, limits=lim)
                if n == 0:
                    fig.tight_layout()
                for w in writers:
                    w.grab_frame()
                n += 1
        for p, tmp in zip(paths, tmps):
            os.replace(tmp, p)
    finally:
        for tmp in tmps:
            if tmp.exists():
                tmp.unlink()
    return n


# ---------------------------------------------------------------------------------------------
# a run directory
# ---------------------------------------------------------------------------------------------
@dataclass
class RenderResult:
    """What :func:`render_run` wrote (``files``) and what the user should know (``notes``)."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RenderError(f"{path}: cannot read ({e})") from None
    if not isinstance(data, dict):
        raise RenderError(f"{path}: expected a JSON object")
    return data


def _settings(summary: Mapping[str, Any], manifest: Mapping[str, Any], n_membranes: int) -> ContactSettings:
    from .analysis.pipeline import manifest_contact_xy

    fus = summary.get("fusion") or {}
    opts = summary.get("options") or {}
    th = fus.get("thresholds") or {}
    xy = opts.get("contact_xy") or manifest_contact_xy(dict(manifest))
    if "skipped" in fus or n_membranes < 2:
        membranes: tuple[int, ...] = (0,)
    else:
        membranes = tuple(int(m) for m in fus.get("membranes", (0, 1)))
    kinds = fus.get("geometry") or None
    return ContactSettings(
        membranes=membranes, kinds=tuple(kinds) if kinds else None,
        contact_xy=(float(xy[0]), float(xy[1])) if xy else None, zone_radius=opts.get("zone_radius"),
        block_radius=float(th.get("block_radius_nm", BLOCK_RADIUS)),
        diaphragm_min_radius=float(th.get("diaphragm_min_radius", 1.5)),
        stalk_min_lipids=int(th.get("stalk_min_lipids", 10)),
        min_pore_radius=float(th.get("min_pore_radius_nm", MIN_PORE_RADIUS)))


def stage_frames(summary: Mapping[str, Any]) -> list[tuple[str, int]]:
    """``(state, frame)`` of every state with a first passage in ``summary["fusion"]["first_passage"]``,
    in order of frame (ties in the order of :data:`~snarefuse.analysis.kernels.STATES`, unknown states last)."""
    fp = (summary.get("fusion") or {}).get("first_passage") or {}
    order = {s: i for i, s in enumerate(K.STATES)}
    got = [(name, int(v["frame"])) for name, v in fp.items() if isinstance(v, Mapping) and v.get("frame") is not None]
    return sorted(got, key=lambda sf: (sf[1], order.get(sf[0], len(order)), sf[0]))


def parse_frames(text: str) -> list[int]:
    """``'0,12,40'`` -> ``[0, 12, 40]`` (frame indices >= 0)."""
    try:
        out = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise RenderError(f"frames: {text!r}; accepted comma-separated frame indices, e.g. '0,12,40'") from None
    if not out or min(out) < 0:
        raise RenderError(f"frames: {text!r}; accepted comma-separated frame indices >= 0, e.g. '0,12,40'")
    return out


def _frames_at(src: TrajectorySource, frames: Sequence[int]) -> dict[int, tuple[F, F, float]]:
    """``{frame: (xyz, box, time_ps)}`` of the given frames, streamed once."""
    want = set(frames)
    out: dict[int, tuple[F, F, float]] = {}
    if not want:
        return out
    for fr in src.iter_frames(min(want), max(want) + 1, 1, chunk=50):
        if fr.index in want:
            out[fr.index] = (fr.xyz, fr.box, fr.time_ps)
    return out


def _output_dir(out: Path) -> dict[str, Any]:
    """Check ``out`` is ours to write (absent, empty, or holding :data:`RENDER_INDEX`); the previous index."""
    index = out / RENDER_INDEX
    if index.exists():
        return _json(index)
    if out.exists() and any(out.iterdir()):
        raise RenderError(f"{out}: exists, is not empty and has no {RENDER_INDEX}, so it was not written by "
                          "'snarefuse render'; choose another output directory (-o)")
    return {}


def render_run(run_dir: str | Path, out_dir: str | Path | None = None, *, frames: Sequence[int] | None = None,
               slab_nm: float = SLAB_NM, top_depth_nm: float = TOP_DEPTH_NM, every: int | None = None,
               movie: bool = True, fmt: str = "png", analyze: bool = True) -> RenderResult:
    """Draw the pictures of a run directory (see the module docstring) and return what was written.

    Parameters
    ----------
    run_dir : path
        A run directory (``system.pdb``, ``trajectory.dcd``/``.xtc``, ``manifest.json``).
    out_dir : path, optional
        Default ``run_dir/analysis/render``; it must be new, empty, or an earlier render's (it holds
        :data:`RENDER_INDEX`); files an earlier render wrote and this one does not are removed.
    frames : sequence of int, optional
        Draw these frames instead of the first-passage frames.
    slab_nm, top_depth_nm : float
        Cross-section slab thickness and top-view depth, nm.
    every : int, optional
        Animate every ``every``-th frame (default: at most :data:`MOVIE_FRAMES` frames).
    movie : bool
        Write ``movie.gif`` (and ``movie.mp4`` when ffmpeg is on PATH).
    fmt : {'png', 'svg'}
        Format of the still pictures.
    analyze : bool
        Run ``analyze_run`` first when ``analysis/summary.json`` is missing (else raise).
    """
    from .analysis.base import AnalysisError
    from .analysis.pipeline import analyze_run, find_trajectory

    if fmt not in ("png", "svg"):
        raise RenderError(f"format: {fmt!r}; accepted 'png' or 'svg'")
    if every is not None and every < 1:
        raise RenderError(f"every: {every}; accepted an integer >= 1")
    run_dir = Path(run_dir)
    if not (run_dir / "system.pdb").exists():
        raise RenderError(f"{run_dir / 'system.pdb'}: not found; render needs a run directory made by "
                          "'snarefuse build'")
    try:
        traj = find_trajectory(run_dir)
    except AnalysisError as e:
        raise RenderError(f"{e}; run the system first ('snarefuse run {run_dir}')") from None
    out = Path(out_dir) if out_dir is not None else run_dir / "analysis" / "render"
    previous = _output_dir(out)
    result = RenderResult(out)
    summary_path = run_dir / "analysis" / "summary.json"
    if not summary_path.exists():
        if not analyze:
            raise RenderError(f"{summary_path}: not found; run 'snarefuse analyze {run_dir}' first")
        result.notes.append(f"{summary_path} not found: ran 'snarefuse analyze {run_dir}' first")
        analyze_run(run_dir)
    elif traj.stat().st_mtime > summary_path.stat().st_mtime:
        result.notes.append(f"{traj.name} is newer than {summary_path}: the states drawn are those of the last "
                            f"analysis; run 'snarefuse analyze {run_dir}' to refresh them")
    summary = _json(summary_path)
    manifest = _json(run_dir / "manifest.json") if (run_dir / "manifest.json").exists() else {}
    top = load_run_topology(run_dir, manifest)
    classes = classify_beads(top, manifest)
    settings = _settings(summary, manifest, classes.lipids.n_membranes)
    units = summary.get("units") or manifest.get("units") or {}
    tau_ps, tau_d = units.get("tau_ps"), units.get("tau_diffusion_ns")
    fus_csv = run_dir / "analysis" / "fusion.csv"
    frame_state: dict[int, str] = {}
    if fus_csv.exists():
        t = Table.from_csv(fus_csv)
        frame_state = {int(f): str(s) for f, s in zip(t["frame"], t["state_name"])}
    src = TrajectorySource(traj, top, dt_ps=(summary.get("options") or {}).get("dt_ps"))

    if frames is not None:
        wanted = [(frame_state.get(f, ""), f) for f in frames]
        names = [f"frame{f:05d}" for f in frames]
    else:
        wanted = stage_frames(summary)
        if not wanted:
            n = int(summary.get("n_frames") or 1)
            wanted = [("first frame", 0), ("last frame", n - 1)]
            names = ["first", "last"]
            result.notes.append("no fusion states in summary.json (a single membrane?): drew the first and last frames")
        else:
            names = [s for s, _ in wanted]
    data = _frames_at(src, [f for _, f in wanted])
    missing = sorted({f for _, f in wanted} - set(data))
    if missing:
        raise RenderError(f"frames {missing}: not in {traj} ({src.path}); it has fewer frames")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    snaps: list[Snapshot] = []
    for (state, f), name in zip(wanted, names):
        xyz, box, t_ps = data[f]
        label = FrameLabel(f, t_ps, state, tau_ps, tau_d)
        snaps.append(make_snapshot(xyz, box, classes, label, settings))
    with_event = [sn for sn in snaps if sn.event_uv is not None]
    center_on = with_event[-1] if with_event else None
    if center_on is not None and center_on.cf.periodic:
        on = f"{center_on.event} of frame {center_on.label.frame}"
        snaps = [recenter(sn, center_on.event_uv, on) for sn in snaps]
        u, v = snaps[0].center
        result.notes.append(f"planar membranes: pictures centred on the {on} at (u, v) = ({u:.1f}, {v:.1f}) nm "
                            "from the contact axis")
    lim = section_limits(snaps, slab_nm)
    for sn, name in zip(snaps, names):
        fig = _figure((8.0, 8.0 * (lim[1][1] - lim[1][0]) / (lim[0][1] - lim[0][0]) + 1.2))
        plot_cross_section(sn, ax=fig.add_subplot(1, 1, 1), slab_nm=slab_nm, limits=lim)
        written.append(out / f"section_{name}.{fmt}")
        _save(fig, written[-1], fmt)
        fig = _figure((7.5, 6.0))
        plot_top_view(sn, ax=fig.add_subplot(1, 1, 1), depth_nm=top_depth_nm)
        written.append(out / f"top_{name}.{fmt}")
        _save(fig, written[-1], fmt)
    fig = plot_stages(snaps, fig=None, slab_nm=slab_nm)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    written.append(out / f"stages.{fmt}")
    _save(fig, written[-1], fmt)

    if movie:
        from matplotlib.animation import FFMpegWriter

        n_frames = int(summary.get("n_frames") or 0) or len(frame_state) or 1
        k = every or max(1, math.ceil(n_frames / MOVIE_FRAMES))
        paths = [out / "movie.gif"]
        if FFMpegWriter.isAvailable() and shutil.which("ffmpeg"):
            paths.append(out / "movie.mp4")
        else:
            result.notes.append("movie.mp4 skipped: ffmpeg is not on PATH (movie.gif written)")

        def movie_frames() -> Iterator[Snapshot]:
            for fr in src.iter_frames(0, None, k, chunk=50):
                label = FrameLabel(fr.index, fr.time_ps, frame_state.get(fr.index, ""), tau_ps, tau_d)
                sn = make_snapshot(fr.xyz, fr.box, classes, label, settings, masks=False)
                yield recenter(sn, snaps[0].center, snaps[0].center_on) if snaps[0].center_on else sn

        (ax0, ax1), (ay0, ay1) = lim
        n = write_movie(movie_frames(), paths, slab_nm, ((ax0, ax1), (ay0 - 1.0, ay1 + 1.0)))
        result.notes.append(f"animation: {n} frames (every {k}-th frame of the trajectory)")
        written += paths
    for old in previous.get("files", []):
        p = out / str(old)
        if p not in written and p.parent == out and p.exists():
            p.unlink()
    atomic_write_json(out / RENDER_INDEX, {"run_dir": str(run_dir), "files": [p.name for p in written],
                                           "frames": {name: f for (_, f), name in zip(wanted, names)},
                                           "slab_nm": slab_nm, "top_depth_nm": top_depth_nm})
    result.files = written
    return result
