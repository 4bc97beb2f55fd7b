"""What crosses the contact zone of two membranes, on a lateral grid over it: the hemifusion diaphragm
(:class:`DiaphragmAnalysis`), the fusion pore and ruptures (:class:`PoreAnalysis`, :func:`find_holes`), and the
pure in-run test :func:`detect_pore` that the event reporter calls. The contact frame and the grid come from
:mod:`snarefuse.analysis.contact`, the kernels on the grid from :mod:`snarefuse.analysis.kernels`.

Definitions
-----------
* diaphragm: columns whose smoothed head-density profile has two peaks at most ``max_diaphragm_thickness``
  apart, the lower one of A's heads and the upper one of B's, their lipids pointing away from each other
  (one bilayer made of the two distal leaflets, instead of four or three head layers), in a connected set
  whose columns mostly have tails of A and B meeting within ``SEAL_PROBE``; the set on the axis (else the
  largest); radius ``sqrt(A / pi)``.
* pore: columns with no lipid bead within ``block_radius`` of their centre anywhere through the
  contact zone, connected (periodic wrap on periodic grids), whose largest inscribed circle (exact
  distance to bead centres) reaches ``min_pore_radius``: a *fusion pore* when its rim joins the two
  membranes (tails of A meeting tails of B around at least ``min_rim_seal`` of the rim), else a
  *rupture*, as is a hole through one membrane alone. A fusion pore stays one, frame after frame, while the
  hole that overlaps it stays open and its seal stays at least ``hold_rim_seal`` (hysteresis: the seal of an
  open pore's rim flickers about ``min_rim_seal``), once it has been a fusion pore on ``HOLD_AFTER_FRAMES``
  consecutive frames. Radii are measured to bead centres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import kernels as K
from .base import AnalysisError, Frame, LipidIndex, as_lipid_index
from .contact import (CONTACT_CUTOFF, ContactAnalysis, ContactBeads, ContactFrame,
                      compute_contact_frame, contact_beads, default_zone_radius, joining_tails, zone_grid)
from .lengths import LENGTHS_NM, lengths_nm
from .membrane import MembraneGeometry, compute_membrane_geometry

F = NDArray[np.float64]
B = NDArray[np.bool_]

# the lengths at the default sigma (nm); an analysis given the run's sigma scales them (:mod:`.lengths`)
#: Default bead radius (nm) blocking a column in pore detection (sigma / 2).
BLOCK_RADIUS = LENGTHS_NM["block_radius"][0]
#: Default smallest inscribed radius (nm) of a pore.
MIN_PORE_RADIUS = LENGTHS_NM["min_pore_radius"][0]
#: Default largest head-peak span (nm) of a diaphragm column (~1.5 bilayer thicknesses).
MAX_DIAPHRAGM_THICKNESS = LENGTHS_NM["max_diaphragm_thickness"][0]
#: Rim of a hole for the seal test: the columns within this lateral distance (nm) of the hole.
RIM_BAND = LENGTHS_NM["rim_band"][0]
#: A rim column is sealed when a joining tail bead lies within this lateral distance (nm).
SEAL_PROBE = LENGTHS_NM["seal_probe"][0]
#: Default smallest fraction of a hole's rim sealed by lipid joining both membranes for a fusion pore.
MIN_RIM_SEAL = 0.5
#: Default smallest rim seal of a fusion pore held from the frame before (the hold rule of
#: :func:`~snarefuse.analysis.kernels.compute_holes`). Measured on the planar runs of docs/fusion.md: two bilayers
#: torn separately (lysis) have seals of 0.0-0.22 on every frame; open pores whose wall is partly pulled apart
#: (off-axis pores of the planar control) dip to 0.43-0.50 between sealed frames; 0.3 lies between the two.
HOLD_RIM_SEAL = 0.3
#: Consecutive analysed frames (in-run: checks) a fusion pore must have been one before it is held. The seal
#: of one frame moves by 0.03-0.07 with the grid's sub-cell alignment, and a tear beside a hemifusion diaphragm
#: (seals 0.2-0.49) crosses 0.5 on single frames of some alignments; held from such a frame it would read as a
#: pore, while the off-axis pores of the planar control open with two or more sealed frames.
HOLD_AFTER_FRAMES = 2


def diaphragm_profile(lengths: dict[str, float]) -> dict[str, float]:
    """The lengths of :func:`~snarefuse.analysis.kernels.compute_diaphragm`'s head profiles in ``lengths``."""
    return {"layer_tolerance": lengths["layer_tolerance"], "bin_width": lengths["profile_bin"],
            "smooth": lengths["profile_smooth"]}


class _ZoneAnalysis(ContactAnalysis):
    """Analyses on a lateral grid over the contact zone (pore, diaphragm)."""

    def __init__(self, trajectory: Any, top: Any = None, *, zone_radius: float | None = None,
                 grid_spacing: float | None = None, **kw: Any):
        super().__init__(trajectory, top, **kw)
        self.zone_radius, self.grid_spacing = zone_radius, self._length("zone_spacing", grid_spacing)

    def _zone_grid(self, frame: Frame, geoms: list[MembraneGeometry], cf: ContactFrame) -> K.LateralGrid:
        radius = self.zone_radius if self.zone_radius is not None else default_zone_radius(geoms, self.membranes)
        if not cf.periodic and radius is None:
            radius = self.lengths["contact_radius"]
        grid = zone_grid(cf, frame.box, self.grid_spacing, radius, self._shape)
        if self._shape is None and not grid.periodic:
            self.zone_radius = radius  # pin the disc for the whole run
        self._shape = grid.shape
        self._grid = grid
        return grid

    def _store_last(self, mask: B) -> None:
        self.results.mask_last = mask
        lo = self._grid.lo
        self.results.map_extent = (lo[0], -lo[0], lo[1], -lo[1])


class DiaphragmAnalysis(_ZoneAnalysis):
    """Hemifusion diaphragm: the single-bilayer region inside the contact zone.

    Parameters (besides those of the base classes)
    ----------
    grid_spacing : float
        Lateral cell size, nm (default 0.5).
    max_thickness : float
        Largest head-peak span of a single bilayer, nm.
    pool_radius : float
        Lateral pooling of head profiles, nm.

    Results
    -------
    table : ``frame, time_ps, diaphragm_area_nm2, diaphragm_radius_nm, diaphragm_offset_nm``
        radius ``sqrt(A / pi)``; offset: distance of its centroid from the axis (NaN without diaphragm).
    mask_last : ndarray of bool — the diaphragm columns of the last frame.
    """

    def __init__(self, trajectory: Any, top: Any = None, *, grid_spacing: float | None = None,
                 max_thickness: float | None = None, pool_radius: float | None = None,
                 contact_cutoff: float | None = None, **kw: Any):
        super().__init__(trajectory, top, grid_spacing=grid_spacing, **kw)
        self.max_thickness = self._length("max_diaphragm_thickness", max_thickness)
        self.pool_radius = self._length("pool_radius", pool_radius)
        self.contact_cutoff = self._length("contact_cutoff", contact_cutoff)

    def _single_frame(self, frame: Frame) -> None:
        geoms, cf, b = self._contact(frame)
        grid = self._zone_grid(frame, geoms, cf)
        h = np.flatnonzero(b.is_head & b.in_zone)
        j = self._joining(frame, b, self.contact_cutoff)
        res = K.compute_diaphragm(grid, b.u[h], b.v[h], b.s[h], ~b.is_b[h], self.max_thickness, self.pool_radius,
                                  up=b.up[b.lipid[h]], seal_u=b.u[j], seal_v=b.v[j], min_seal=MIN_RIM_SEAL,
                                  seal_probe=self.lengths["seal_probe"], **diaphragm_profile(self.lengths))
        row = self._row(frame)
        row.update(diaphragm_area_nm2=res.area_nm2, diaphragm_radius_nm=res.radius_nm,
                   diaphragm_offset_nm=res.offset_nm)
        self._rows.append(row)
        self._store_last(res.mask)

    def plot(self, ax: Any = None) -> Any:
        from .. import plot as P

        return P.plot_columns(self.table, ["diaphragm_radius_nm"], ylabel="diaphragm radius (nm)", ax=ax)


def find_holes(xyz: F, box: F, lipids: LipidIndex, geoms: list[MembraneGeometry], cf: ContactFrame,
               grid: K.LateralGrid, block_radius: float = BLOCK_RADIUS, min_radius: float = MIN_PORE_RADIUS,
               min_seal: float = MIN_RIM_SEAL, contact_cutoff: float = CONTACT_CUTOFF,
               beads: ContactBeads | None = None, joining: B | None = None, rim_band: float = RIM_BAND,
               seal_probe: float = SEAL_PROBE, keep_seal: float | None = None,
               held: F | None = None) -> K.HoleResult:
    """Fusion pore and ruptures through the contact zone of one frame (see :func:`~.kernels.compute_holes`,
    whose hold rule ``keep_seal`` and ``held`` are); ``beads`` and their ``joining`` mask
    (:func:`joining_tails`) are computed unless given. Lengths in nm."""
    b = beads if beads is not None else contact_beads(xyz, box, lipids, geoms, cf)
    z = b.in_zone
    j = joining if joining is not None else joining_tails(xyz, box, b, contact_cutoff)
    return K.compute_holes(grid, b.u[z], b.v[z], b.is_b[z], b.u[j], b.v[j], block_radius, min_radius, min_seal,
                           rim_band, seal_probe, keep_seal, held, HOLD_AFTER_FRAMES)


def check_hold_rim_seal(hold_rim_seal: float | None, min_rim_seal: float) -> float | None:
    """``hold_rim_seal`` if it is None or a fraction in ``[0, min_rim_seal]``, else an AnalysisError naming it."""
    if hold_rim_seal is None:
        return None
    h = float(hold_rim_seal)
    if not (math.isfinite(h) and 0.0 <= h <= min_rim_seal):
        raise AnalysisError(f"hold_rim_seal: {hold_rim_seal!r}; accepted None (no hold rule) or a rim-seal "
                            f"fraction between 0 and min_rim_seal ({min_rim_seal})")
    return h


class PoreAnalysis(_ZoneAnalysis):
    """Fusion pore through the contact zone, and ruptures (solvent-free definitions, see the module docstring).

    Parameters (besides those of the base classes)
    ----------
    min_rim_seal : float
        Smallest rim seal of a new fusion pore (default :data:`MIN_RIM_SEAL`).
    hold_rim_seal : float or None
        Smallest rim seal of a fusion pore held from the analysed frame before, once it has been one on
        :data:`HOLD_AFTER_FRAMES` consecutive analysed frames (hysteresis, default :data:`HOLD_RIM_SEAL`); None
        judges every frame by ``min_rim_seal`` alone. The held pore is carried from frame to frame in this
        object, so the calls do not depend on how the frames are read in chunks.

    Results
    -------
    table : ``frame, time_ps, has_pore, pore_radius_nm, pore_inscribed_radius_nm, pore_area_nm2,
        pore_offset_nm, n_pores, pore_rim_seal, pore_held, has_rupture, rupture_radius_nm, n_ruptures``
        (radii to bead centres; 0 without a pore / rupture). ``pore_rim_seal``: fraction of the rim of the pore
        (else of the largest hole through both membranes) sealed by lipid joining both membranes (NaN: no such
        hole); ``pore_held``: the pore is one by the hold rule only (seal below ``min_rim_seal``).
    mask_last : ndarray of bool — the pore columns of the last frame.
    """

    def __init__(self, trajectory: Any, top: Any = None, *, block_radius: float | None = None,
                 min_pore_radius: float | None = None, min_rim_seal: float = MIN_RIM_SEAL,
                 hold_rim_seal: float | None = HOLD_RIM_SEAL, contact_cutoff: float | None = None, **kw: Any):
        super().__init__(trajectory, top, **kw)
        self.block_radius = self._length("block_radius", block_radius)
        self.min_pore_radius = self._length("min_pore_radius", min_pore_radius)
        self.min_rim_seal, self.contact_cutoff = min_rim_seal, self._length("contact_cutoff", contact_cutoff)
        self.hold_rim_seal = check_hold_rim_seal(hold_rim_seal, min_rim_seal)

    def _prepare(self) -> None:
        super()._prepare()
        self._held: F | None = None

    def _single_frame(self, frame: Frame) -> None:
        geoms, cf, b = self._contact(frame)
        grid = self._zone_grid(frame, geoms, cf)
        holes = find_holes(frame.xyz, frame.box, frame.lipids, geoms, cf, grid, self.block_radius,
                           self.min_pore_radius, self.min_rim_seal, self.contact_cutoff, beads=b,
                           joining=self._joining(frame, b, self.contact_cutoff), rim_band=self.lengths["rim_band"],
                           seal_probe=self.lengths["seal_probe"], keep_seal=self.hold_rim_seal, held=self._held)
        self._held = holes.fusion_cells
        res, rup = holes.pore, holes.rupture
        row = self._row(frame)
        row.update(has_pore=res.found, pore_radius_nm=res.radius_nm, pore_inscribed_radius_nm=res.inscribed_nm,
                   pore_area_nm2=res.area_nm2, pore_offset_nm=res.offset_nm, n_pores=res.n_regions,
                   pore_rim_seal=holes.pore_seal, pore_held=holes.pore_kept, has_rupture=rup.found,
                   rupture_radius_nm=rup.radius_nm, n_ruptures=rup.n_regions)
        self._rows.append(row)
        self._store_last(res.mask)

    def plot(self, ax: Any = None) -> Any:
        from .. import plot as P

        return P.plot_pore_radius(self.table, ax=ax)


# ---------------------------------------------------------------------------------------------
# in-run pore detection
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoreCheck:
    """One in-run pore check (:func:`check_pore`).

    Attributes
    ----------
    has_pore : bool
        A fusion pore (with a single membrane: any hole through it).
    radius_nm : float
        ``sqrt(A/pi)`` radius of the pore to bead centres (0.0 without one).
    rim_seal : float
        Rim seal of the pore, else of the largest hole through both membranes (NaN without one).
    held : bool
        The pore is one by the hold rule only (its seal below :data:`MIN_RIM_SEAL`).
    fusion_cells : ndarray, shape (m, 3)
        ``(u, v, frames)`` of the cells of the fusion pores (:attr:`~.kernels.HoleResult.fusion_cells`): pass
        them as ``held`` to the next check.
    """

    has_pore: bool
    radius_nm: float
    rim_seal: float
    held: bool
    fusion_cells: F


@dataclass
class PoreMemory:
    """What the in-run pore check remembers from one check to the next: the fusion pores of the last check as
    ``(u, v, frames)`` rows (lateral cell centre in nm, contact frame; consecutive checks its pore has been one),
    the ``held`` of :func:`check_pore`. Give the same object to :func:`detect_pore` at every check of a run;
    :meth:`to_list` / :meth:`from_list` save and restore it (JSON) so that a resumed run holds the pore it held
    at its checkpoint.
    """

    cells: F = field(default_factory=lambda: np.zeros((0, 3)))

    #: Decimals (nm) of the saved cell centres: far below a cell, so a restored centre falls in the same cell.
    DECIMALS = 3

    def to_list(self) -> list[list[float]]:
        return [[round(float(u), self.DECIMALS), round(float(v), self.DECIMALS), int(n)] for u, v, n in self.cells]

    @classmethod
    def from_list(cls, cells: Any) -> "PoreMemory":
        """From :meth:`to_list`'s output; anything else (missing, malformed) gives an empty memory."""
        try:
            arr = np.asarray(cells, dtype=float).reshape(-1, 3)
        except (TypeError, ValueError):
            return cls()
        return cls(arr) if np.isfinite(arr).all() else cls()


def check_pore(positions_nm: Any, box_nm: Any, lipid_index_info: Any, *, held: F | None = None,
               hold_rim_seal: float | None = HOLD_RIM_SEAL, membranes: tuple[int, ...] | None = None,
               contact_xy: tuple[float, float] | None = None, geometry: tuple[str | None, ...] | None = None,
               zone_radius: float | None = None, grid_spacing: float | None = None,
               block_radius: float | None = None, min_radius: float | None = None,
               sigma_nm: float | None = None) -> PoreCheck:
    """The in-run pore check with the analysis' hold rule: :func:`detect_pore` given the fusion pores of the
    check before (``held``, the previous :attr:`PoreCheck.fusion_cells`), so that a sealed pore whose rim
    seal flickers stays a pore check after check as it does frame after frame in :class:`PoreAnalysis`.
    ``hold_rim_seal``: as in :class:`PoreAnalysis` (None: every check judged alone). The other parameters
    are those of :func:`detect_pore`.
    """
    if hasattr(positions_nm, "value_in_unit"):
        import openmm.unit as u

        positions_nm = positions_nm.value_in_unit(u.nanometer)
    if hasattr(box_nm, "value_in_unit"):
        import openmm.unit as u

        box_nm = box_nm.value_in_unit(u.nanometer)
    xyz = np.asarray(positions_nm, dtype=float)
    box = np.asarray(box_nm, dtype=float)
    if box.shape == (3, 3):
        box = np.diag(box).copy()
    lip = as_lipid_index(lipid_index_info)
    if membranes is None:
        membranes = (0, 1) if lip.n_membranes >= 2 else (0,)
    kinds = geometry if geometry is not None else (None,) * lip.n_membranes
    geoms = [compute_membrane_geometry(xyz, box, lip, m, kinds[m] if m < len(kinds) else None)
             for m in range(lip.n_membranes)]
    cf = compute_contact_frame(geoms, box, tuple(membranes), contact_xy)
    radius = zone_radius if zone_radius is not None else default_zone_radius(geoms, tuple(membranes))
    L = lengths_nm(sigma_nm)
    grid = zone_grid(cf, box, L["zone_spacing"] if grid_spacing is None else grid_spacing, radius, None)
    block = L["block_radius"] if block_radius is None else block_radius
    smallest = L["min_pore_radius"] if min_radius is None else min_radius
    if len(cf.membranes) == 1:  # a single membrane: any hole through it
        b = contact_beads(xyz, box, lip, geoms, cf)
        res = K.compute_pore(grid, b.u[b.in_zone], b.v[b.in_zone], block, smallest)
        return PoreCheck(bool(res.found), float(res.radius_nm), float("nan"), False, np.zeros((0, 3)))
    h = find_holes(xyz, box, lip, geoms, cf, grid, block, smallest, contact_cutoff=L["contact_cutoff"],
                   rim_band=L["rim_band"], seal_probe=L["seal_probe"],
                   keep_seal=check_hold_rim_seal(hold_rim_seal, MIN_RIM_SEAL), held=held)
    return PoreCheck(bool(h.pore.found), float(h.pore.radius_nm), float(h.pore_seal), bool(h.pore_kept),
                     h.fusion_cells)


def detect_pore(positions_nm: Any, box_nm: Any, lipid_index_info: Any, *, membranes: tuple[int, ...] | None = None,
                contact_xy: tuple[float, float] | None = None, geometry: tuple[str | None, ...] | None = None,
                zone_radius: float | None = None, grid_spacing: float | None = None,
                block_radius: float | None = None, min_radius: float | None = None,
                sigma_nm: float | None = None, memory: PoreMemory | None = None) -> tuple[bool, float]:
    """Is there a fusion pore, and how large? For OpenMM reporters (no mdtraj, no files).

    Without ``memory`` the frame is judged alone (a pure function). With it, the analysis' hold rule applies
    (:func:`check_pore`): a fusion pore of the last checks stays one while its rim seal stays at least
    :data:`HOLD_RIM_SEAL`, and ``memory`` is updated to this check's fusion pores.

    Parameters
    ----------
    positions_nm : array_like, shape (n_atoms, 3), or openmm Quantity
        Positions in nm (``state.getPositions(asNumpy=True)`` works).
    box_nm : array_like, shape (3,) or (3, 3), or openmm Quantity
        Orthorhombic box lengths or box vectors (``state.getPeriodicBoxVectors(asNumpy=True)``).
    lipid_index_info : LipidIndex, openmm/mdtraj Topology, or mapping
        Which atoms are heads and tails and their membranes; build it once, e.g.
        ``LipidIndex.from_topology(simulation.topology)``, or a mapping with ``head`` (n_lipids,),
        ``tails`` (n_lipids lists), ``membrane`` (n_lipids,).
    membranes : tuple of int, optional
        ``(A, B)`` for a pore between two membranes (default ``(0, 1)`` when there are two or more), or
        ``(A,)`` for a hole through one planar membrane (default with a single membrane).
    contact_xy, geometry, zone_radius, grid_spacing, block_radius, min_radius
        As in :class:`PoreAnalysis` / :class:`FusionAnalysis`.
    sigma_nm : float, optional
        The model's sigma (nm): lengths left unset are those of :mod:`snarefuse.analysis.lengths` at it.
    memory : PoreMemory, optional
        The fusion pores of the last check of the same run (updated in place).

    Returns
    -------
    has_pore : bool
        A fusion pore (a hole through both membranes whose rim joins them, see :func:`find_holes`); a
        rupture or lysis is not one. With a single membrane, any hole through it.
    radius_nm : float
        ``sqrt(A/pi)`` radius of the pore measured to bead centres (0.0 without a pore).

    Examples
    --------
    >>> from snarefuse.analysis import testsystems
    >>> t = testsystems.bilayer_with_hole(3.0)
    >>> info = LipidIndex.from_topology(t.topology)
    >>> has, r = detect_pore(t.xyz[0], t.unitcell_lengths[0], info)
    >>> bool(has), round(r)
    (True, 3)
    """
    c = check_pore(positions_nm, box_nm, lipid_index_info, held=None if memory is None else memory.cells,
                   hold_rim_seal=None if memory is None else HOLD_RIM_SEAL, membranes=membranes,
                   contact_xy=contact_xy, geometry=geometry, zone_radius=zone_radius, grid_spacing=grid_spacing,
                   block_radius=block_radius, min_radius=min_radius, sigma_nm=sigma_nm)
    if memory is not None:
        memory.cells = c.fusion_cells
    return c.has_pore, c.radius_nm
