"""Beads of a run in the analysis's contact frame: what each bead is, where it is, and what the analysis
sees on a frame (pore, holes, diaphragm, stalk), for :mod:`snarefuse.render`.

Coordinates are those of :func:`~snarefuse.analysis.contact.compute_contact_frame`: ``u, v`` lateral, ``s``
along the normal that points from membrane A to membrane B, the origin on the contact axis. Each membrane
is unwrapped about its own centre, as :func:`~snarefuse.analysis.contact.contact_beads` does; lumen gas
about the centre of its vesicle; protein beads by the minimum image about the origin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..analysis import kernels as K
from ..analysis.base import LipidIndex
from ..analysis.fusion import ContactFrame, compute_contact_frame, contact_beads, default_zone_radius
from ..analysis.lengths import lengths_nm
from ..analysis.zone import diaphragm_profile
from ..analysis.membrane import MembraneGeometry, compute_membrane_geometry
from ..errors import SnarefuseError

F = NDArray[np.float64]
B = NDArray[np.bool_]

#: Bead classes (:attr:`BeadClasses.kind`).
OTHER, HEAD, TAIL, PROTEIN, TMD, GAS, MARKER = range(7)
#: Residue name of lumen gas beads (snarefuse.lumen.GAS_RESNAME; not imported, lumen pulls in the builder).
GAS_RESNAME = "GAS"
#: Default thickness of the cross-section slab, nm.
SLAB_NM = 2.0
#: Default depth of the top view around the contact plane (|s| <= depth / 2), nm: thin enough that
#: a docked pair shows its facing heads and a stalk or diaphragm shows as a patch of tails.
TOP_DEPTH_NM = 2.0
#: Distance from a vesicle's contact axis beyond which the cross-section turns to pass through an event, nm.
OFF_AXIS_NM = 1.0
#: Lateral radius of a cluster of inter-membrane tail contacts taken as one stalk, nm.
STALK_CLUSTER_NM = 3.0


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


# ---------------------------------------------------------------------------------------------
# geometry on arrays
# ---------------------------------------------------------------------------------------------
def contact_coordinates(xyz: F, box: F, classes: BeadClasses, geoms: Sequence[MembraneGeometry],
                        cf: ContactFrame) -> F:
    """Contact-frame coordinates ``(u, v, s)`` of every bead, shape (n_atoms, 3), nm.

    Lipid beads are unwrapped about their membrane's centre exactly as
    :func:`~snarefuse.analysis.contact.contact_beads` does (planar: lateral minimum image about the origin,
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

    def time_text(self, short: bool = False) -> str:
        if self.tau_ps:
            tau = self.time_ps / self.tau_ps
            text = f"t = {tau:.4g} τ"
            if self.tau_diffusion_ns:
                text += f" ≈ {_ns(tau * self.tau_diffusion_ns)}" + ("" if short else " (diffusion-calibrated)")
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
    """One frame in the contact frame: coordinates, classes, the contact frame, and (with masks) what the
    analysis's kernels find on its lateral grid: ``pore``, the columns open through both membranes
    (:func:`~snarefuse.analysis.kernels.compute_pore`; a fusion pore, or two holes torn one above the
    other); ``holes``, the columns open through each membrane alone; ``diaphragm``, the single-bilayer
    columns (:func:`~snarefuse.analysis.kernels.compute_diaphragm`)."""

    coords: F
    classes: BeadClasses
    cf: ContactFrame
    box: F
    label: FrameLabel
    zone_radius: float | None = None
    grid: K.LateralGrid | None = None
    pore: NDArray[np.bool_] | None = None
    diaphragm: NDArray[np.bool_] | None = None
    holes: tuple[NDArray[np.bool_] | None, ...] = ()
    #: Lateral centre (u, v), nm, of each event seen on this frame: 'opening through both membranes',
    #: 'hole in membrane M', 'diaphragm', 'stalk' (the densest cluster of inter-membrane tail contacts).
    events: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    #: The event the pictures of this frame are about (:func:`pick_event`) and its centre.
    event: str = ""
    event_uv: tuple[float, float] | None = None
    #: Lateral point (u, v) the pictures are centred on (the contact axis unless recentred).
    center: tuple[float, float] = (0.0, 0.0)
    center_on: str = ""
    #: Azimuth of the cross-section plane about the axis, degrees (0: the (u, s) plane).
    section_angle_deg: float = 0.0


@dataclass(frozen=True)
class ContactSettings:
    """How the contact frame and the zone masks are set up (the analysis's options, from ``summary.json``);
    ``lengths``: the analysis' other lengths at the run's sigma (:func:`~snarefuse.analysis.lengths.lengths_nm`),
    which the fields left unset default to."""

    membranes: tuple[int, ...] = (0, 1)
    kinds: tuple[str | None, ...] | None = None
    contact_xy: tuple[float, float] | None = None
    zone_radius: float | None = None
    block_radius: float | None = None
    min_pore_radius: float | None = None
    diaphragm_min_radius: float | None = None
    stalk_min_lipids: int = 10
    lengths: dict[str, float] = field(default_factory=lengths_nm)

    def length(self, name: str) -> float:
        """The field ``name`` when set, else the length ``name`` of :attr:`lengths`."""
        given = getattr(self, name, None)
        return float(given) if given is not None else self.lengths[name]


def make_snapshot(xyz: F, box: F, classes: BeadClasses, label: FrameLabel,
                  settings: ContactSettings | None = None, masks: bool = True) -> Snapshot:
    """Project one frame into the contact frame; with ``masks``, find what the analysis's kernels find
    there (see :class:`Snapshot`) and pick the event the pictures are about (:func:`pick_event`)."""
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
        radius = settings.lengths["contact_radius"]
    if not masks:
        return Snapshot(coords, classes, cf, box, label, radius)
    if cf.periodic and radius is None:
        spacing = settings.lengths["zone_spacing"]
        shape = (max(1, int(round(box[0] / spacing))), max(1, int(round(box[1] / spacing))))
        grid = K.LateralGrid.periodic_box(box[:2], shape)
    else:
        grid = K.LateralGrid.disc(float(radius), settings.lengths["zone_spacing"])  # type: ignore[arg-type]
    b = contact_beads(xyz, box, lip, geoms, cf)
    z = b.in_zone
    events: dict[str, tuple[float, float]] = {}
    block, min_pore = settings.length("block_radius"), settings.length("min_pore_radius")
    pore = K.compute_pore(grid, b.u[z], b.v[z], block, min_pore)
    if pore.found:
        name = OPENING if len(settings.membranes) > 1 else f"hole in membrane {settings.membranes[0]}"
        events[name] = _mask_center(grid, pore.mask)
    dia, holes = None, []
    if len(settings.membranes) > 1:
        for k, m in enumerate(settings.membranes[:2]):
            sel = z & (b.is_b == bool(k))
            hole = K.compute_pore(grid, b.u[sel], b.v[sel], block, min_pore)
            holes.append(hole.mask)
            if hole.found and not (hole.mask & pore.mask).any():
                events.setdefault(f"hole in membrane {m}", _mask_center(grid, hole.mask))
        h = np.flatnonzero(b.is_head & b.in_zone)
        dres = K.compute_diaphragm(grid, b.u[h], b.v[h], b.s[h], ~b.is_b[h],
                                   settings.lengths["max_diaphragm_thickness"], settings.lengths["pool_radius"],
                                   **diaphragm_profile(settings.lengths))
        dia = dres.mask
        if dres.found and dres.radius_nm >= settings.length("diaphragm_min_radius"):
            events["diaphragm"] = _mask_center(grid, dres.mask)
        where = _stalk_center(xyz, box, lip, settings, coords, cf.periodic)
        if where is not None:
            events["stalk"] = where
    event = pick_event(events, label.state)
    return Snapshot(coords, classes, cf, box, label, radius, grid, pore.mask, dia, tuple(holes), events, event,
                    events.get(event))


#: Name of the event of columns open through both membranes (a fusion pore, or a tear through both).
OPENING = "opening through both membranes"
#: Events that show each state best, most telling first (:func:`pick_event`).
STATE_EVENTS = {"pore": (OPENING,), "expanded_pore": (OPENING,), "hemifused": ("diaphragm", "stalk"),
                "stalk": ("stalk",), "rupture": ("hole in membrane", OPENING), "lysis": ("hole in membrane", OPENING)}
#: Otherwise, the most advanced event.
EVENT_ORDER = (OPENING, "hole in membrane", "diaphragm", "stalk")


def pick_event(events: Mapping[str, Any], state: str = "") -> str:
    """The event a picture of a frame in ``state`` is about: the first of :data:`STATE_EVENTS` [state]
    present (an event name matches by prefix), else the first of :data:`EVENT_ORDER`; '' without events.

    Examples
    --------
    >>> pick_event({"stalk": (0, 0), "hole in membrane 1": (3, 1)}, "rupture")
    'hole in membrane 1'
    >>> pick_event({"stalk": (0, 0), "hole in membrane 1": (3, 1)}, "stalk")
    'stalk'
    """
    for prefix in STATE_EVENTS.get(state, ()) + EVENT_ORDER:
        for name in events:
            if name.startswith(prefix):
                return name
    return ""


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
                                 len(sel), box, settings.lengths["contact_cutoff"])
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
    """Point the pictures at ``center`` (u, v). Periodic contact frames (planar-planar: an event can happen
    anywhere in the box): the lateral origin moves there, rounded to whole cells of the mask grid so that
    beads and masks move together. Non-periodic frames (vesicles, whose axis is fixed by their centre): the
    cross-section turns about the axis to pass through ``center`` when it lies more than
    :data:`OFF_AXIS_NM` off the axis."""
    if center is None:
        return snapshot
    if not snapshot.cf.periodic:
        if math.hypot(*center) <= OFF_AXIS_NM:
            return snapshot
        return replace(snapshot, center=(float(center[0]), float(center[1])), center_on=on,
                       section_angle_deg=math.degrees(math.atan2(center[1], center[0])))
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

    def move(uv: tuple[float, float]) -> tuple[float, float]:
        m = K.minimum_image(np.array(uv, dtype=float) - shift, L)
        return float(m[0]), float(m[1])

    return replace(snapshot, coords=c, pore=roll(snapshot.pore), diaphragm=roll(snapshot.diaphragm),
                   holes=tuple(roll(h) for h in snapshot.holes),
                   events={k: move(v) for k, v in snapshot.events.items()},
                   event_uv=None if snapshot.event_uv is None else move(snapshot.event_uv),
                   center=(float(shift[0]), float(shift[1])), center_on=on)
