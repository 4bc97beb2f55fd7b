"""Two-membrane fusion analyses: separation, stalk / lipid mixing, hemifusion diaphragm, fusion pore,
content mixing, and the fusion timeline (docked, stalk, hemifused, pore: the stalk-pore pathway, Chernomordik &
Kozlov, Nat. Struct. Mol. Biol. 15, 675, 2008; docs/fusion.md).

Contact frame
-------------
Every two-membrane measurement is made in a *contact frame*: an origin on the contact axis, a unit
normal ``n`` pointing from membrane A (``membranes[0]``) to membrane B, and lateral axes ``(u, v)``.

* planar-planar: ``n = +-z``, the axis through ``contact_xy`` (default the box centre in x, y), the origin
  half-way between the mid-planes; the lateral grid is the whole periodic box.
* vesicle-planar: ``n = +-z`` through the vesicle centre; origin half-way between the plane's mid-plane
  and the vesicle's near mid-shell.
* vesicle-vesicle: ``n`` along the line joining the centres; origin half-way between the mid-shells.

Each membrane's beads are unwrapped about that membrane's own centre before projection, so membranes
split by the periodic boundary are handled. Of a vesicle only the hemisphere facing the other membrane
is used (the far cap would otherwise block pores and add head layers); the lateral grid for vesicles is
a disc of ``zone_radius`` (default 0.7 x the smallest vesicle mid-radius) around the axis.

Definitions
-----------
* gap: ``s`` of the proximal (facing) head surface of B minus that of A, per lateral column; proximal heads
  are those of lipids pointing towards the other membrane (for a vesicle, outer-leaflet lipids of the near
  hemisphere). Min and mean over columns within ``contact_radius`` of the axis; ``axis_gap_nm`` from the
  heads within ``axis_radius`` of the axis (for vesicles the surface-to-surface distance along the
  line joining the centres).
* stalk / lipid mixing: tail beads of A within ``contact_cutoff`` of tail beads of B, with every lipid
  counted in the membrane whose core holds its tails (stalk); lipids whose tails have more neighbours from
  the other membrane than from their own; lipids whose leaflet neighbours
  (same orientation) are mostly of the other membrane. Hub's ``MEMFUSIONP`` (PLUMED) is a published
  alternative reaction coordinate, not implemented here.
* diaphragm and pore: see :mod:`snarefuse.analysis.zone`.
* content mixing: marker beads (residue ``GAS``, the lumen's gas) inside a vesicle on the first analysed frame that are
  later inside the other vesicle, or beyond the mid-plane of the planar membrane.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import kernels as K
from .base import AnalysisError, Frame, Table
# the contact frame (contact.py) and the zone analyses (zone.py) are part of this module's API: the pipeline,
# snarefuse.render and snarefuse.events import them from here
from .contact import (CONTACT_CUTOFF, CONTACT_RADIUS, ContactAnalysis, ContactFrame,  # noqa: F401
                      compute_contact_frame, contact_beads, default_zone_radius, zone_grid)
from .membrane import frame_geometry, lipid_axes
from .zone import (BLOCK_RADIUS, HOLD_RIM_SEAL, MIN_PORE_RADIUS, MIN_RIM_SEAL, DiaphragmAnalysis,  # noqa: F401
                   PoreAnalysis, detect_pore)

F = NDArray[np.float64]

#: Name of the rupture event in ``first_passage`` (not a fusion state: see :class:`FusionAnalysis`).
RUPTURE = "rupture"


class SeparationAnalysis(ContactAnalysis):
    """Gap between the facing head-group surfaces of two membranes.

    Parameters (besides those of the base class)
    ----------
    contact_radius : float
        Disc radius (nm) around the axis for ``min_gap_nm`` / ``mean_gap_nm``.
    grid_spacing : float
        Lateral cell size of the gap map, nm.
    axis_radius : float
        Lateral radius (nm) of the heads used for ``axis_gap_nm``.

    Results
    -------
    table : ``frame, time_ps, min_gap_nm, mean_gap_nm, axis_gap_nm, gap_coverage, center_distance_nm``
        (coverage: fraction of disc columns where both surfaces are present).
    gap_map_mean, gap_map_last : ndarray, shape grid
        Time-averaged (over frames where defined) and last-frame gap maps; ``map_extent`` (u0, u1, v0, v1).
    """

    def __init__(self, trajectory: Any, top: Any = None, *, contact_radius: float | None = None,
                 grid_spacing: float | None = None, axis_radius: float | None = None, **kw: Any):
        super().__init__(trajectory, top, **kw)
        self.contact_radius = self._length("contact_radius", contact_radius)
        self.grid_spacing = self._length("separation_spacing", grid_spacing)
        self.axis_radius = self._length("axis_radius", axis_radius)

    def _prepare(self) -> None:
        super()._prepare()
        self._sum: F | None = None
        self._cnt: F | None = None
        self._last: F | None = None

    def _single_frame(self, frame: Frame) -> None:
        geoms, cf, b = self._contact(frame)
        grid = zone_grid(cf, frame.box, self.grid_spacing, None if cf.periodic else self.contact_radius, self._shape)
        self._shape, self._grid = grid.shape, grid
        h = np.flatnonzero(b.is_head & b.in_zone)
        pa = h[b.proximal[b.lipid[h]] & ~b.is_b[h]]
        pb = h[b.proximal[b.lipid[h]] & b.is_b[h]]
        gap = K.compute_gap_map(grid, b.u[pa], b.v[pa], b.s[pa], b.u[pb], b.v[pb], b.s[pb])
        U, V = grid.centers()
        disc = (np.hypot(U, V) <= self.contact_radius) & grid.inside()
        vals = gap[disc & np.isfinite(gap)]
        ra, rb = np.hypot(b.u[pa], b.v[pa]), np.hypot(b.u[pb], b.v[pb])
        near_a, near_b = ra <= self.axis_radius, rb <= self.axis_radius
        axis_gap = (b.s[pb][near_b].mean() - b.s[pa][near_a].mean()) if near_a.any() and near_b.any() else np.nan
        row = self._row(frame)
        row.update(min_gap_nm=float(vals.min()) if len(vals) else np.nan,
                   mean_gap_nm=float(vals.mean()) if len(vals) else np.nan,
                   axis_gap_nm=float(axis_gap), gap_coverage=len(vals) / max(1, int(disc.sum())),
                   center_distance_nm=cf.center_distance)
        self._rows.append(row)
        ok = np.isfinite(gap)
        if self._sum is None or self._sum.shape != gap.shape:
            self._sum, self._cnt = np.zeros(gap.shape), np.zeros(gap.shape)
        assert self._cnt is not None
        self._sum[ok] += gap[ok]
        self._cnt[ok] += 1
        self._last = gap

    def _conclude(self) -> None:
        super()._conclude()
        if self._sum is not None:
            assert self._cnt is not None
            with np.errstate(invalid="ignore"):
                self.results.gap_map_mean = self._sum / self._cnt
            self.results.gap_map_last = self._last
            lo = self._grid.lo
            self.results.map_extent = (lo[0], -lo[0], lo[1], -lo[1])
            self.results.contact_radius = self.contact_radius

    def plot(self, ax: Any = None) -> Any:
        """Minimum and mean gap vs time."""
        from .. import plot as P

        return P.plot_separation(self.table, ax=ax)


class LipidMixingAnalysis(ContactAnalysis):
    """Stalk and lipid-mixing indicators.

    Results
    -------
    table : ``frame, time_ps, tail_contacts, contact_lipids, stalk_lipids, lipids_in_other_core,
        lipids_in_other_leaflet``
        ``tail_contacts``: tail-bead pairs (A, B) closer than ``contact_cutoff``; ``contact_lipids``: lipids
        of A or B with such a contact; ``stalk_lipids``: the same with every lipid counted in the membrane
        whose hydrophobic core holds its tails (a lipid that crossed the cleft into the other bilayer touches
        that bilayer's tails all around but joins nothing), the stalk indicator;
        ``lipids_in_other_core``: lipids whose tail beads have more tail
        neighbours from the other membrane than from their own; ``lipids_in_other_leaflet``: lipids of A or
        B whose leaflet neighbours (heads within ``leaflet_cutoff``, lipid axes less than 60 degrees apart)
        are mostly of the other membrane (:func:`~snarefuse.analysis.kernels.compute_neighbour_mixing`).
    """

    def __init__(self, trajectory: Any, top: Any = None, *, contact_cutoff: float | None = None,
                 leaflet_cutoff: float | None = None, min_leaflet_size: int = 20, **kw: Any):
        super().__init__(trajectory, top, **kw)
        self.contact_cutoff = self._length("contact_cutoff", contact_cutoff)
        self.leaflet_cutoff = self._length("leaflet_cutoff", leaflet_cutoff)
        self.min_leaflet_size = min_leaflet_size

    def _single_frame(self, frame: Frame) -> None:
        lip = frame.lipids
        sel = np.flatnonzero(np.isin(lip.membrane, self.membranes))
        tails = lip.tails[sel]
        tmask = tails >= 0
        t_lipid = np.nonzero(tmask)[0]
        side = lip.membrane[sel] == self.membranes[1]
        tc = K.compute_tail_contacts(frame.xyz[tails[tmask]], t_lipid, side[t_lipid], len(sel), frame.box,
                                     self.contact_cutoff)
        # a lipid whose tails sit in the other membrane's core (one that crossed the cleft) belongs to that core:
        # its contacts there join nothing; a stalk is contact between the two cores
        core_side = side ^ tc.lipid_in_other_core
        stalk = K.compute_tail_contacts(frame.xyz[tails[tmask]], t_lipid, core_side[t_lipid], len(sel), frame.box,
                                        self.contact_cutoff)
        mixed = K.compute_neighbour_mixing(frame.xyz[lip.head], lipid_axes(frame.xyz, frame.box, lip), lip.membrane,
                                           frame.box, self.leaflet_cutoff)
        row = self._row(frame)
        row.update(tail_contacts=tc.n_pairs, contact_lipids=int(tc.lipid_has_contact.sum()),
                   stalk_lipids=int(stalk.lipid_has_contact.sum()),
                   lipids_in_other_core=int(tc.lipid_in_other_core.sum()),
                   lipids_in_other_leaflet=int(np.count_nonzero(mixed[sel])))
        self._rows.append(row)

    def plot(self, ax: Any = None) -> Any:
        """Lipids with inter-membrane tail contacts vs time."""
        from .. import plot as P

        return P.plot_columns(self.table, ["stalk_lipids", "contact_lipids", "lipids_in_other_core"], ylabel="lipids",
                              ax=ax)


class ContentMixingAnalysis(ContactAnalysis):
    """Content markers (``GAS`` beads, the lumen's gas) released from a vesicle across the other membrane.

    A marker's home is the vesicle it is inside (closer to the centre than the mid-shell radius) on the
    first analysed frame; markers outside every vesicle then are ignored. It has crossed when it is inside
    the other vesicle, or out of its home and beyond the mid-plane of the other (planar) membrane, on the
    side away from its home (minimum image along z: a marker that diffuses more than half a box height
    from the plane can wrap back).

    Results
    -------
    table : ``frame, time_ps, markers_home, markers_crossed, markers_crossed_fraction``
    """

    def _prepare(self) -> None:
        super()._prepare()
        self._home: NDArray[np.int64] | None = None

    def _single_frame(self, frame: Frame) -> None:
        geoms = frame_geometry(frame, self._kinds)
        self._kinds = tuple(g.kind for g in geoms)
        x = frame.xyz[frame.lipids.markers]
        a, bm = self.membranes
        if self._home is None:
            home = np.full(len(x), -1, dtype=np.int64)
            for m in (a, bm):
                g = geoms[m]
                if g.kind == "vesicle":
                    inside = np.linalg.norm(K.minimum_image(x - g.center, frame.box), axis=1) < g.radius
                    home[inside & (home < 0)] = m
            self._home = home
        crossed = np.zeros(len(x), dtype=bool)
        for m, o in ((a, bm), (bm, a)):
            mine = self._home == m
            go = geoms[o]
            if go.kind == "vesicle":
                crossed[mine] = np.linalg.norm(K.minimum_image(x[mine] - go.center, frame.box), axis=1) < go.radius
            else:
                gh = geoms[m]
                side_home = np.sign(K.minimum_image(gh.center[2] - go.center[2], frame.box[2]))
                dz = K.minimum_image(x[mine, 2] - go.center[2], frame.box[2])
                at_home = np.linalg.norm(K.minimum_image(x[mine] - gh.center, frame.box), axis=1) < gh.radius
                crossed[mine] = (dz * side_home < 0) & ~at_home
        n_home = int(np.count_nonzero(self._home >= 0))
        row = self._row(frame)
        row.update(markers_home=n_home, markers_crossed=int(crossed.sum()),
                   markers_crossed_fraction=crossed.sum() / n_home if n_home else np.nan)
        self._rows.append(row)

    def plot(self, ax: Any = None) -> Any:
        """Fraction of the content markers that crossed into the other compartment vs time."""
        from .. import plot as P

        ax = P.plot_columns(self.table, ["markers_crossed_fraction"], ylabel="content markers crossed (fraction)",
                            ax=ax)
        ax.set_ylim(-0.02, 1.02)
        return ax


# ---------------------------------------------------------------------------------------------
# the timeline
# ---------------------------------------------------------------------------------------------
class FusionAnalysis(ContactAnalysis):
    """Everything above in one pass, plus the per-frame fusion state and first-passage times.

    States (:data:`~snarefuse.analysis.kernels.STATES`): ``docked < stalk < hemifused < pore <
    expanded_pore``; a frame gets the most advanced state whose test passes:
    ``expanded_pore`` if a pore's inscribed radius >= ``expanded_pore_radius``; ``pore`` if a pore;
    ``hemifused`` if a diaphragm of radius >= ``diaphragm_min_radius``; ``stalk`` if at least
    ``stalk_min_lipids`` lipids have tail contacts between the two hydrophobic cores (``stalk_lipids``, see
    :class:`LipidMixingAnalysis`); else ``docked``.

    Rupture is not a fusion state: a hole through one membrane, or holes through both whose rims do not
    join the membranes (lysis), sets ``has_rupture`` on that frame whatever the fusion state, and never
    counts as a pore. Its first passage (``first_passage["rupture"]``) follows the same flicker rule.

    Flicker rule: a state counts as reached when it, or a more advanced one, holds for ``persist``
    consecutive analysed frames (default 3); its first-passage time is the time of the first frame of the
    first such run. Runs shorter than ``persist`` frames at the end of the trajectory do not count. With
    ``step > 1`` the rule applies to the analysed frames. ``state_filtered`` is the per-frame state with
    every run shorter than ``persist`` replaced by the state before it (short runs at the start by the
    earlier of their own state and the first lasting one: a frame is never given a later state than it has
    unless a later state holds on both sides of it).

    Parameters
    ----------
    trajectory, top, chunk, dt_ps, membranes, contact_xy, geometry
        See :class:`SeparationAnalysis` and :class:`~snarefuse.analysis.base.AnalysisBase`.
    contact_radius, separation_spacing : float
        Separation disc radius and grid cell (nm).
    zone_radius : float, optional
        Contact-zone disc radius for pores and diaphragms (default: whole box if planar-planar,
        0.7 x smallest vesicle radius otherwise).
    pore_spacing, diaphragm_spacing, block_radius, min_pore_radius, min_rim_seal, hold_rim_seal,
    max_diaphragm_thickness, contact_cutoff
        See the individual analyses (``hold_rim_seal``: the hold rule of :class:`PoreAnalysis`, a fusion pore
        stays one while its seal stays at least this).
    persist : int
        Flicker rule, frames.
    stalk_min_lipids, diaphragm_min_radius, expanded_pore_radius
        State thresholds (lipids, nm, nm).
    sigma_nm : float, optional
        The model's sigma (nm; default 0.88 nm): every length left unset is its default of
        :data:`~snarefuse.analysis.lengths.LENGTHS_NM` scaled to it (``analyze_run`` passes the run's).

    Results
    -------
    table : Table
        ``frame, time_ps``, the columns of :class:`SeparationAnalysis`, :class:`LipidMixingAnalysis`,
        :class:`DiaphragmAnalysis`, :class:`PoreAnalysis` (and :class:`ContentMixingAnalysis` when there
        are markers), then ``state`` (int), ``state_name``, ``state_filtered``.
    first_passage : dict
        ``{state: {"frame": int | None, "time_ps": float}}`` (NaN / None when not reached) for every state of
        :data:`~snarefuse.analysis.kernels.STATES`, and for ``"rupture"``.
    maps : dict
        ``gap_mean``, ``gap_last``, ``pore_last``, ``diaphragm_last`` and their ``*_extent``.
    """

    def __init__(self, trajectory: Any, top: Any = None, *, membranes: tuple[int, int] = (0, 1),
                 contact_xy: tuple[float, float] | None = None, geometry: tuple[str | None, ...] | None = None,
                 contact_radius: float | None = None, separation_spacing: float | None = None,
                 zone_radius: float | None = None, pore_spacing: float | None = None,
                 diaphragm_spacing: float | None = None, block_radius: float | None = None,
                 min_pore_radius: float | None = None, min_rim_seal: float = MIN_RIM_SEAL,
                 hold_rim_seal: float | None = HOLD_RIM_SEAL, max_diaphragm_thickness: float | None = None,
                 contact_cutoff: float | None = None,
                 leaflet_cutoff: float | None = None, min_leaflet_size: int = 20, persist: int = 3,
                 stalk_min_lipids: int = 10, diaphragm_min_radius: float | None = None,
                 expanded_pore_radius: float | None = None, sigma_nm: float | None = None, chunk: int = 100,
                 dt_ps: float | None = None):
        super().__init__(trajectory, top, membranes=membranes, contact_xy=contact_xy, geometry=geometry,
                         sigma_nm=sigma_nm, chunk=chunk, dt_ps=dt_ps)
        if persist < 1:
            raise AnalysisError(f"persist: {persist}; accepted an integer >= 1 (frames)")
        src = self.source
        common: dict[str, Any] = dict(membranes=membranes, contact_xy=contact_xy, geometry=geometry,
                                      sigma_nm=sigma_nm, chunk=chunk)
        self.separation = SeparationAnalysis(src, contact_radius=contact_radius, grid_spacing=separation_spacing, **common)
        self.mixing = LipidMixingAnalysis(src, contact_cutoff=contact_cutoff, leaflet_cutoff=leaflet_cutoff,
                                          min_leaflet_size=min_leaflet_size, **common)
        self.diaphragm = DiaphragmAnalysis(src, zone_radius=zone_radius, grid_spacing=diaphragm_spacing,
                                           max_thickness=max_diaphragm_thickness, contact_cutoff=contact_cutoff,
                                           **common)
        self.pore = PoreAnalysis(src, zone_radius=zone_radius, grid_spacing=pore_spacing, block_radius=block_radius,
                                 min_pore_radius=min_pore_radius, min_rim_seal=min_rim_seal,
                                 hold_rim_seal=hold_rim_seal, contact_cutoff=contact_cutoff, **common)
        self.parts: list[ContactAnalysis] = [self.separation, self.mixing, self.diaphragm, self.pore]
        if len(self.lipids.markers):
            self.content = ContentMixingAnalysis(src, **common)
            self.parts.append(self.content)
        self.persist = persist
        self.thresholds: dict[str, Any] = dict(
            stalk_min_lipids=stalk_min_lipids,
            diaphragm_min_radius=self._length("diaphragm_min_radius", diaphragm_min_radius),
            expanded_pore_radius=self._length("expanded_pore_radius", expanded_pore_radius))

    def _prepare(self) -> None:
        super()._prepare()
        for p in self.parts:
            p._prepare()

    def _single_frame(self, frame: Frame) -> None:
        for p in self.parts:
            p._single_frame(frame)

    def _conclude(self) -> None:
        for p in self.parts:
            p._conclude()
        t = Table()
        for p in self.parts:
            for k, v in p.table.items():
                if k not in t:
                    t[k] = v
        if t.n_rows:
            st = K.classify_states(t["stalk_lipids"], t["diaphragm_radius_nm"], t["has_pore"],
                                   t["pore_inscribed_radius_nm"], **self.thresholds)
        else:
            st = np.zeros(0, dtype=np.int64)
        t["state"] = st
        t["state_name"] = np.array([K.STATES[i] for i in st], dtype=str)
        t["state_filtered"] = K.filter_flicker(st, self.persist)
        self.results.table = t
        fp = K.first_passage_indices(st, self.persist)
        rupture = (K.first_passage_indices(np.asarray(t["has_rupture"], dtype=np.int64), self.persist, 2)[1]
                   if t.n_rows else -1)
        self.results.first_passage = {
            name: {"frame": int(t["frame"][i]) if i >= 0 else None,
                   "time_ps": float(t["time_ps"][i]) if i >= 0 else float("nan")}
            for name, i in zip(K.STATES + (RUPTURE,), list(fp) + [rupture])}
        self.results.persist = self.persist
        sep, dia, pore = self.separation.results, self.diaphragm.results, self.pore.results
        self.results.maps = {
            "gap_mean": sep.get("gap_map_mean"), "gap_last": sep.get("gap_map_last"),
            "gap_extent": sep.get("map_extent"), "contact_radius": self.separation.contact_radius,
            "pore_last": pore.get("mask_last"), "pore_extent": pore.get("map_extent"),
            "diaphragm_last": dia.get("mask_last"), "diaphragm_extent": dia.get("map_extent")}

    def plot(self, ax: Any = None) -> Any:
        """The fusion timeline."""
        from .. import plot as P

        return P.plot_timeline(self.table, ax=ax, first_passage=self.results.first_passage)
