"""SNARE metrics where proteins are present: zippering by layer, TMD tilt and depth, ring radius,
linker extension and the worm-like-chain force it implies (docs/model.md, "SNARE complexes").

The complexes are described by the ``snares`` records of a build's ``manifest.json``
(:func:`snarefuse.build.proteins.add_to_topology`): per complex ``first_atom``, ``n_atoms``,
``linker_unzipped`` (VAMP2, syntaxin) and per-bead ``helix`` (chain ``A`` VAMP2, ``B`` syntaxin-1A,
``C`` SNAP-25B SN1, ``D`` SN2), ``resid`` (real residue numbers), ``layer``, ``segment``
(``motif`` / ``linker`` / ``tmd``) and ``is_core``. One bead per residue (the C-alpha).

Periodic boundaries: each chain of a complex is unwrapped along its sequence by minimum image of
consecutive beads, then shifted by whole box vectors so that its centroid is the minimum image of
the VAMP2 centroid; a complex split by the box boundary (or written with each chain wrapped on its
own, as OpenMM reporters do for separate molecules) is measured whole.

Definitions (lengths nm, angles degrees, forces pN)
----------------------------------------------------
* Layer distance ``d_layer_{L}_nm`` (L = -7 ... +8, written ``m7 ... 0 ... p8``): the mean of the six
  pairwise distances between the four layer-L residues (the a/d core residue of layer L of each helix,
  e.g. the 0-layer VAMP2 R56, syntaxin Q226, SNAP-25 Q53 and Q174). The ideal bundle of the builder
  has 1.045 nm between neighbouring helices and 1.478 nm across: a mean of
  :data:`IDEAL_LAYER_DISTANCE_NM` = 1.189 nm.
* A layer is *zipped* when ``d_layer < zip_cutoff_nm`` (default :data:`ZIP_CUTOFF_NM` = 1.8 nm, about
  1.5 x ideal, the usual Go-model criterion r < 1.5 r0 for a formed contact). In the quickstart system
  at 1 kT per contact (at the default 1.4 kT the bundles hold tighter, native-contact Q 0.99
  against 0.95-0.98) the layers of the assembled complexes loosen from 1.19 to ~1.45 nm on average
  within 15 tau, with 15 % of layer-frames above 1.6 nm and 3 % above 1.8 nm. Caveat at the boundary:
  in a freshly built complex the first layer C-terminal to ``zipped_layers`` is only half peeled (its
  VAMP2 and syntaxin residues are the first residues of the linker coil, ~1.75 nm) and reads as
  zipped; the layers beyond it read as open. The measure is geometric: the builder keeps residues
  outside ``zipped_layers`` in bundle geometry unless they are linker coil, so a freshly built complex
  reads as zipped wherever its helices are in place (they separate only in dynamics).
* Native contacts (zippering by energy, not geometry): the Go contacts of the System's contact forces
  (:func:`native_contacts_of_system`: the bonds and ``r0`` of ``SNARE native contacts`` and ``SNARE clamped
  contacts``, so the analysis measures exactly the pairs the dynamics holds). A contact is *formed* when its
  beads are closer than :data:`CONTACT_FORMED_R0` x r0 (1.2 r0). Per complex and frame: ``q_all`` the fraction
  of all its native contacts formed (Q), ``q_clamped`` that of the contacts of a VAMP2 residue in the clamp
  layers (``clamp_layers``, default +1...+8: the pairs ``system.snares.clamp`` scales; measured on the same
  pairs in a run without a clamp, whose build carries them), and ``q_rest`` that of the others. Unlike the
  layer distances this tells an open helix lying by the groove with its contacts off (Q ~ 0) from a zipped
  one: in a half-zipped clamped build VAMP2's clamped helix sits just outside its contacts. Without the
  contacts (no ``system.xml``) the ``q_*`` columns are absent.
* ``n_zipped_layers`` counts the zipped layers (0-16); ``zip_front_layer`` (zippering progress) is the
  most C-terminal (membrane-proximal) layer of the longest contiguous run of zipped layers, a single
  open layer inside a run bridged (:func:`zippering_progress`); NaN when no layer is zipped.
* TMD axis: the principal axis of the TMD beads (VAMP2 95-116, syntaxin 266-288) smoothed by two
  passes of a one-turn (4-residue) moving average (:func:`compute_helix_axis`), oriented N -> C; its
  centre is the centroid of the TMD beads. Each TMD belongs to the membrane whose mid-surface is
  nearest to that centre on the first analysed frame.
* Local membrane frame at a TMD: lipids of its membrane whose last tail bead (the midplane bead) lies
  within ``local_radius_nm`` (default :data:`LOCAL_RADIUS_NM`) of the TMD centre laterally and within
  :data:`LOCAL_HALF_HEIGHT_NM` along the global normal (z for a planar membrane, radial for a
  vesicle). Local normal: their mean lipid axis (last tail -> head, each flipped onto the global
  normal); local midplane point: the mean of the centroids of their last tail beads in the two
  leaflets (lipids pointing along / against the global normal), so that unequal leaflet counts in the
  patch do not bias it. With fewer than :data:`MIN_LOCAL_LIPIDS` such lipids (a TMD pulled out of its
  membrane) the global normal and mid-surface are used. The normal ``n`` is oriented towards the
  cleft (towards the other membrane; outward for a vesicle).
* ``tmd_tilt_{protein}_deg``: angle between the TMD axis and the local normal as lines, 0-90 deg.
* ``tmd_span_{protein}_nm``: extent of the TMD beads along that axis; an intact straight helix spans
  0.15 nm x (n - 1), 3.15 nm for VAMP2 and 3.30 nm for syntaxin. A shorter span means a bent or
  collapsed TMD, whose tilt is then only that of its principal axis.
* ``tmd_depth_{protein}_nm``: ``(TMD centre - local midplane point) . n``: 0 for a TMD centred in its
  membrane, positive when displaced towards the cleft (pulled out by the linker), negative beyond.
* Ring: the contact axis of :func:`~snarefuse.analysis.contact.compute_contact_frame` (planar-planar:
  along z through ``contact_xy``, default the box centre; vesicle-planar: z through the vesicle centre;
  vesicle-vesicle: the line joining the centres; a single or no membrane: z through ``contact_xy``).
  Each complex's ring point is the midpoint of its two linker anchors (below), where the builder puts
  the complex on the ring of ``snares.ring_radius``. ``ring_radius_nm``: distance of the ring point from
  the contact axis; ``ring_radius_mean_nm``: its mean over the complexes of the frame;
  ``ring_radius_self_nm``: mean distance of the ring points from their own centroid projected on the
  plane normal to the axis (independent of where the axis is; NaN with one complex).
* Linker: the ``n`` unzipped (coil) residues before the TMD (``linker_unzipped``, e.g. VAMP2 90-94,
  syntaxin 255-265) join the last helical bundle residue (the *anchor*, e.g. VAMP2 W89) to the first
  TMD residue by ``n + 1`` virtual bonds of 0.365 nm (one residue; the builder's coil bonds). The
  extension ``linker_ext_{protein}_nm`` is the anchor to first-TMD-residue distance ``x``; the contour
  length between those two beads is ``L = 0.365 nm x (n + 1)`` (n residues, n + 1 bonds: 2.19 nm for
  VAMP2's 5, 4.38 nm for syntaxin's 11); ``linker_rel_ext_{protein} = x / L``. Without unzipped
  residues (n = 0) the linker columns are NaN.
* ``linker_force_{protein}_pn``: Marko-Siggia worm-like-chain force at that extension,
  ``F = (kT / P) [1 / (4 (1 - x/L)^2) - 1/4 + x/L]`` with persistence length ``P``
  (default :data:`PERSISTENCE_LENGTH_NM` = 0.5 nm, the model linker's; 0.3-0.7 nm is measured for unstructured residues) and
  ``kT`` at ``temperature_k``. The formula diverges at ``x = L`` (and the model's harmonic coil bonds
  can stretch past it): ``x/L`` is clamped to :data:`WLC_MAX_FRACTION` for the force, which is then a
  lower bound, and ``linker_clamped_{protein}`` is True.

Examples
--------
>>> round(float(wlc_force_pn(0.5, 1.0, 0.5, temperature_k=310.0)), 2)
10.7
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import RunDirectoryError
from ..protein_bonds import CLAMPED_CONTACT_FORCE, NATIVE_CONTACT_FORCE
from ..rundir import RunDirectory, read_system_xml
from ..spec_types import ClampSpec
from ..units import BOLTZMANN_KJ_PER_MOL_K
from . import kernels as K
from .base import AnalysisBase, AnalysisError, Frame
from .contact import compute_contact_frame
from .membrane import MembraneGeometry, frame_geometry
# the kernels (snare_geometry.py) are part of this module's API: tests and users import them from here
from .snare_geometry import (CONTACT_FORMED_R0, DEFAULT_TEMPERATURE_K, IDEAL_LAYER_DISTANCE_NM,  # noqa: F401
                             KJMOL_NM_TO_PN, LAYERS, LOCAL_RADIUS_NM, PERSISTENCE_LENGTH_NM, WLC_CONTOUR_PER_BOND_NM, WLC_MAX_FRACTION,
                             ZIP_CUTOFF_NM,
                             compute_helix_axis, compute_layer_distances, contact_fractions, contacts_formed, global_membrane_frame, layer_label,
                             local_membrane_frame, tilt_angle_deg, unwrap_chains, wlc_force_pn,
                             zippering_progress)

F = NDArray[np.float64]
IA = NDArray[np.int64]

#: Options of :class:`SnareAnalysis` that :func:`~snarefuse.analysis.pipeline.analyze_run` accepts in
#: ``snare_options``: name -> (unit, default, meaning). Each takes a finite number > 0 in that unit.
SNARE_OPTIONS: dict[str, tuple[str, float, str]] = {
    "zip_cutoff_nm": ("nm", ZIP_CUTOFF_NM, "zipping threshold on a layer's mean inter-helix distance"),
    "persistence_length_nm": ("nm", PERSISTENCE_LENGTH_NM, "linker persistence length of the worm-like-chain force"),
    "local_radius_nm": ("nm", LOCAL_RADIUS_NM, "lateral radius of the lipid patch of a TMD's local membrane frame"),
    "temperature_k": ("K", DEFAULT_TEMPERATURE_K, "temperature of the worm-like-chain force"),
}
#: TMD-anchored chains: (column key, helix letter).
ANCHORED = (("vamp2", "A"), ("syntaxin", "B"))
HELICES = ("A", "B", "C", "D")
#: Layers whose VAMP2 contacts ``q_clamped`` measures when no clamp says otherwise: the clamp's default.
DEFAULT_CLAMP_LAYERS: tuple[int, int] = ClampSpec.layers
#: Native-contact groups of each complex: columns ``q_{group}`` (module docstring).
CONTACT_GROUPS = ("all", "clamped", "rest")


def check_snare_options(options: Mapping[str, Any] | None, where: str = "snare_options") -> dict[str, float]:
    """Validated :class:`SnareAnalysis` options (:data:`SNARE_OPTIONS`) as floats in their units.

    Parameters
    ----------
    options : mapping of str to float or openmm Quantity, optional
        Option name -> value: a number in the unit the name ends with (nm, K), or a Quantity
        convertible to it.
    where : str
        Name of the mapping in error messages.

    Raises
    ------
    AnalysisError
        An unknown name, or a value that is not a finite number > 0; the message names the option and
        what is accepted.

    Examples
    --------
    >>> check_snare_options({"zip_cutoff_nm": 1.5})
    {'zip_cutoff_nm': 1.5}
    """
    if options is None:
        return {}
    accepted = ", ".join(SNARE_OPTIONS)
    if not isinstance(options, Mapping):
        raise AnalysisError(f"{where}: expected a mapping of option names to values, got {type(options).__name__}; "
                            f"accepted names: {accepted}")
    out: dict[str, float] = {}
    for name, value in options.items():
        if name not in SNARE_OPTIONS:
            raise AnalysisError(f"{where}: unknown option {name!r}; accepted: {accepted}")
        unit_name = SNARE_OPTIONS[name][0]
        v = value
        if hasattr(v, "value_in_unit"):
            from openmm import unit

            try:
                v = v.value_in_unit(unit.nanometer if unit_name == "nm" else unit.kelvin)
            except TypeError:
                raise AnalysisError(f"{where}.{name}: {value}; accepted a quantity in {unit_name} "
                                    "(or a number in that unit)") from None
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (math.isfinite(float(v)) and float(v) > 0):
            raise AnalysisError(f"{where}.{name}: {value!r}; accepted a finite number > 0 in {unit_name} "
                                "(or an openmm Quantity)")
        out[name] = float(v)
    return out


# ---------------------------------------------------------------------------------------------
# complexes from the manifest
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SnareIndex:
    """Bead indices of one complex (rows of its own bead block, ``atoms`` maps them to the system).

    Attributes
    ----------
    complex : int
    atoms : ndarray of int64, shape (n,)
        System atom index of each bead.
    chain : ndarray of str, shape (n,)
        Helix letter of each bead (A VAMP2, B syntaxin, C SN1, D SN2).
    layer_atoms : ndarray of int64, shape (16, 4)
        Bead of layer -7...+8 on helices A, B, C, D (-1 if absent).
    tmd : dict of str to ndarray of int64
        TMD beads of ``vamp2`` and ``syntaxin``.
    anchor, tmd_first : dict of str to int
        Linker anchor (last helical residue before the coil) and first TMD bead (-1 if none).
    n_unzipped : dict of str to int
        Unzipped linker residues of each.
    layer : ndarray of float64, shape (n,)
        Layer of each bead's residue (the builder's; NaN where it has none).
    """

    complex: int
    atoms: IA
    chain: NDArray[np.str_]
    layer_atoms: IA
    tmd: dict[str, IA]
    anchor: dict[str, int]
    tmd_first: dict[str, int]
    n_unzipped: dict[str, int]
    layer: F

    def contour_nm(self, key: str) -> float:
        """Linker contour length ``0.365 nm x (n_unzipped + 1)``; NaN without unzipped residues."""
        n = self.n_unzipped[key]
        return WLC_CONTOUR_PER_BOND_NM * (n + 1) if n > 0 and self.anchor[key] >= 0 else float("nan")

    @classmethod
    def from_record(cls, rec: Mapping[str, Any], where: str = "snares") -> SnareIndex:
        """From one ``manifest.json`` ``snares`` record."""
        try:
            first, n = int(rec["first_atom"]), int(rec["n_atoms"])
            chain = np.asarray(rec["helix"], dtype=str)
            resid = np.asarray(rec["resid"], dtype=np.int64)
            layer = np.array([np.nan if v is None else float(v) for v in rec["layer"]], dtype=float)
            segment = np.asarray(rec["segment"], dtype=str)
            core = np.asarray(rec["is_core"], dtype=bool)
            unz = [int(v) for v in rec.get("linker_unzipped", (0, 0))]
            k = int(rec.get("complex", 0))
        except (KeyError, TypeError, ValueError) as e:
            raise AnalysisError(f"{where}: a SNARE record needs first_atom, n_atoms, helix, resid, layer, segment, "
                                f"is_core (and linker_unzipped) as written by the builder ({e!r})") from None
        if not all(len(a) == n for a in (chain, resid, layer, segment, core)) or len(unz) != 2:
            raise AnalysisError(f"{where}: per-bead arrays must all have n_atoms = {n} entries and "
                                "linker_unzipped two")
        la = np.full((len(LAYERS), 4), -1, dtype=np.int64)
        for j, h in enumerate(HELICES):
            for i, L in enumerate(LAYERS):
                hit = np.flatnonzero((chain == h) & core & (layer == L) & (segment != "tmd"))
                if len(hit):
                    la[i, j] = hit[0]
        tmd, anchor, tfirst, nunz = {}, {}, {}, {}
        for (key, h), nz in zip(ANCHORED, unz):
            t = np.flatnonzero((chain == h) & (segment == "tmd"))
            tmd[key] = t
            nunz[key] = nz
            tfirst[key] = int(t[0]) if len(t) else -1
            a = np.flatnonzero((chain == h) & (resid == (resid[t[0]] - nz - 1))) if len(t) else t
            anchor[key] = int(a[0]) if len(a) else -1
        return cls(k, np.arange(first, first + n, dtype=np.int64), chain, la, tmd, anchor, tfirst, nunz, layer)



def native_contacts_of_system(source: Any) -> tuple[IA, F]:
    """The SNARE native contacts of a System: ``pairs`` (M, 2) atom indices and ``r0`` (M,) nm, the bonds of its
    ``SNARE native contacts`` and ``SNARE clamped contacts`` forces (:func:`snarefuse.protein_bonds.native_contact_force`).

    Parameters
    ----------
    source : openmm.System, or path
        The System, its serialised ``system.xml``, or a run directory holding one.

    Raises
    ------
    AnalysisError
        The file is missing or not a serialised System, or the System has no SNARE contact force.
    """
    import openmm

    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.is_dir():
            p = RunDirectory(p).system_xml
        if not p.exists():
            raise AnalysisError(f"{p}: not found; the native contacts are read from the build's system.xml")
        try:
            source = read_system_xml(p)
        except RunDirectoryError as e:
            raise AnalysisError(str(e)) from None
    if not isinstance(source, openmm.System):
        raise AnalysisError(f"contacts: expected an openmm.System, a system.xml path or a run directory, "
                            f"got {type(source).__name__}")
    pairs: list[tuple[int, int]] = []
    r0: list[float] = []
    found = False
    for f in source.getForces():
        if f.getName() not in (NATIVE_CONTACT_FORCE, CLAMPED_CONTACT_FORCE):
            continue
        found = True
        col = [f.getPerBondParameterName(k) for k in range(f.getNumPerBondParameters())].index("r0")
        for b in range(f.getNumBonds()):
            i, j, par = f.getBondParameters(b)
            pairs.append((i, j))
            r0.append(par[col])
    if not found:
        raise AnalysisError(f"contacts: the System has no {NATIVE_CONTACT_FORCE!r} or {CLAMPED_CONTACT_FORCE!r} force")
    return np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(r0, dtype=np.float64)


def snare_records(source: Any) -> list[dict[str, Any]]:
    """The ``snares`` records of a manifest: accepts the list itself, a manifest mapping, the path of a manifest
    file, or a run directory holding one."""
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.is_dir():
            p = RunDirectory(p).manifest_json
        if not p.exists():
            raise AnalysisError(f"{p}: not found; SnareAnalysis needs the build's manifest (its 'snares')")
        try:
            source = json.loads(p.read_text())
        except ValueError as e:
            raise AnalysisError(f"{p}: not valid JSON ({e}); SnareAnalysis needs the build's manifest") from None
    if isinstance(source, Mapping):
        source = source.get("snares") or []
    if not isinstance(source, Sequence) or not all(isinstance(r, Mapping) for r in source):
        raise AnalysisError("snares: expected the manifest's 'snares' list of per-complex records, a manifest, "
                            "or the path of a manifest file / run directory")
    return [dict(r) for r in source]


# ---------------------------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------------------------
class SnareAnalysis(AnalysisBase):
    """Per-frame, per-complex SNARE metrics (definitions in the module docstring).

    Parameters
    ----------
    trajectory, top, chunk, dt_ps
        See :class:`~snarefuse.analysis.base.AnalysisBase`.
    snares : list of dict, mapping, or path
        The manifest's ``snares`` records, the manifest, or the path of a manifest file / run directory.
    membranes : (int, int)
        Membranes of the contact axis (as in :class:`~snarefuse.analysis.fusion.FusionAnalysis`).
    contact_xy : (float, float), optional
        x, y (nm) of a z contact axis (default the box centre of each frame).
    geometry : tuple of {'planar', 'vesicle', None}, optional
        Force membrane kinds instead of detecting them.
    zip_cutoff_nm : float
        Zipping threshold on a layer's mean inter-helix distance.
    persistence_length_nm, temperature_k : float
        Worm-like-chain persistence length (nm) and temperature (K) of the linker force.
    local_radius_nm : float
        Lateral radius of the lipid patch of a TMD's local membrane frame.
    contacts : openmm.System, path, or (pairs, r0), optional
        The native contacts: a System, its ``system.xml`` or a run directory (:func:`native_contacts_of_system`),
        or the arrays themselves. None: no ``q_*`` columns.
    clamp_layers : (int, int)
        Layers whose VAMP2 contacts ``q_clamped`` measures (the spec's ``system.snares.clamp.layers``).

    Results
    -------
    table : Table
        One row per frame and complex: ``frame, time_ps, complex``, ``d_layer_{m7..0..p8}_nm``,
        ``n_zipped_layers, zip_front_layer``, ``tmd_tilt_{vamp2,syntaxin}_deg``,
        ``tmd_depth_{vamp2,syntaxin}_nm``, ``tmd_span_{vamp2,syntaxin}_nm``,
        ``tmd_local_lipids_{vamp2,syntaxin}`` (lipids of the local frame; 0: global frame used),
        ``ring_radius_nm, ring_radius_mean_nm, ring_radius_self_nm``, ``linker_ext_{p}_nm``,
        ``linker_rel_ext_{p}``, ``linker_force_{p}_pn``, ``linker_clamped_{p}`` (p = vamp2, syntaxin), and
        with ``contacts`` ``q_all, q_clamped, q_rest`` (native contacts formed).
    summary : dict
        Settings, contour lengths, the membrane of each TMD, ``mean`` / ``std`` / ``median`` over all
        rows (frames x complexes) of every metric and ``last`` (mean over the complexes of the last frame;
        for ``linker_clamped_*`` these are fractions of rows), ``layer_distance_mean_nm`` per layer, and
        ``native_contacts`` (criterion, clamp layers, contacts per group and complex, and ``q_*`` at the first
        frame).

    Examples
    --------
    A run directory ``rd = RunDirectory("run")``: ``SnareAnalysis(rd.trajectory(), rd.system_pdb, snares=rd.path)``.
    A free complex zipped up to layer +4, its VAMP2 and syntaxin unzipped from there to the TMDs (layer
    +5 is only half peeled in a fresh build, see the module docstring):

    >>> import mdtraj
    >>> from openmm import app
    >>> from snarefuse.build.proteins import add_to_topology
    >>> from snarefuse.build.snare import build_snare_complex
    >>> cx = build_snare_complex((-7, 4), (24, 25))
    >>> top = app.Topology()
    >>> records = add_to_topology(top, [cx])
    >>> t = mdtraj.Trajectory(cx.positions, mdtraj.Topology.from_openmm(top), unitcell_lengths=[[40.0] * 3],
    ...                       unitcell_angles=[[90.0] * 3])
    >>> sa = SnareAnalysis(t, snares=records).run()
    >>> int(sa.table["n_zipped_layers"][0]), float(sa.table["zip_front_layer"][0])
    (13, 5.0)
    >>> round(float(sa.table["linker_rel_ext_vamp2"][0]), 2)
    0.8
    """

    def __init__(self, trajectory: Any, top: Any = None, *, snares: Any, membranes: tuple[int, int] = (0, 1),
                 contact_xy: tuple[float, float] | None = None, geometry: tuple[str | None, ...] | None = None,
                 zip_cutoff_nm: float = ZIP_CUTOFF_NM, persistence_length_nm: float = PERSISTENCE_LENGTH_NM,
                 temperature_k: float = DEFAULT_TEMPERATURE_K, local_radius_nm: float = LOCAL_RADIUS_NM,
                 contacts: Any = None, clamp_layers: tuple[int, int] = DEFAULT_CLAMP_LAYERS,
                 chunk: int = 100, dt_ps: float | None = None):
        super().__init__(trajectory, top, chunk=chunk, dt_ps=dt_ps)
        recs = snare_records(snares)
        if not recs:
            raise AnalysisError("snares: no SNARE complex records (the manifest's 'snares' list is empty)")
        for name, v in (("zip_cutoff_nm", zip_cutoff_nm), ("persistence_length_nm", persistence_length_nm),
                        ("temperature_k", temperature_k), ("local_radius_nm", local_radius_nm)):
            if not v > 0:
                raise AnalysisError(f"{name}: {v}; accepted a value > 0")
        self.complexes = [SnareIndex.from_record(r, f"snares[{i}]") for i, r in enumerate(recs)]
        n_atoms = self.lipids.n_atoms
        top_atoms = list(self.source.topology.atoms)
        for c in self.complexes:
            if c.atoms[-1] >= n_atoms:
                raise AnalysisError(f"snares[{c.complex}]: atoms {c.atoms[0]}..{c.atoms[-1]} beyond the topology's "
                                    f"{n_atoms} atoms; is this the manifest of this system?")
            if any(top_atoms[i].name != "CA" for i in (c.atoms[0], c.atoms[-1])):
                raise AnalysisError(f"snares[{c.complex}]: atoms {c.atoms[0]}..{c.atoms[-1]} are not protein beads "
                                    "(named CA) in the topology; is this the manifest of this system?")
        self.membranes = tuple(int(m) for m in membranes)
        self.contact_xy = contact_xy
        self.geometry = tuple(geometry) if geometry is not None else None
        self.zip_cutoff_nm, self.persistence_length_nm = float(zip_cutoff_nm), float(persistence_length_nm)
        self.temperature_k, self.local_radius_nm = float(temperature_k), float(local_radius_nm)
        self.clamp_layers = (int(clamp_layers[0]), int(clamp_layers[1]))
        self._contacts = self._contact_groups(contacts) if contacts is not None else None

    def _contact_groups(self, contacts: Any) -> tuple[IA, F, IA]:
        """``(pairs, r0, slot)``: the contacts of the complexes and each one's slot ``complex * 2 + clamped``."""
        if isinstance(contacts, tuple) and len(contacts) == 2:
            pairs = np.asarray(contacts[0], dtype=np.int64).reshape(-1, 2)
            r0 = np.asarray(contacts[1], dtype=np.float64).reshape(-1)
            if len(r0) != len(pairs):
                raise AnalysisError(f"contacts: {len(pairs)} pairs but {len(r0)} native distances; give one r0 a pair")
        else:
            pairs, r0 = native_contacts_of_system(contacts)
        lo, hi = self.clamp_layers
        if lo > hi:
            raise AnalysisError(f"clamp_layers: {list(self.clamp_layers)}; the first layer must not exceed the last")
        first = np.array([c.atoms[0] for c in self.complexes])
        owner = np.searchsorted(first, pairs, side="right") - 1  # complex row of each atom (-1: before all)
        size = np.array([len(c.atoms) for c in self.complexes])
        inside = (owner >= 0) & (pairs - first[np.clip(owner, 0, None)] < size[np.clip(owner, 0, None)])
        keep = inside.all(axis=1) & (owner[:, 0] == owner[:, 1])
        if not keep.any():
            raise AnalysisError("contacts: none of the native contacts joins two beads of one SNARE complex of the "
                                "manifest; are the System and the manifest of the same build?")
        pairs, r0, owner = pairs[keep], r0[keep], owner[keep, 0]
        held = np.zeros(len(pairs), dtype=bool)
        for k, c in enumerate(self.complexes):
            mine = owner == k
            local = pairs[mine] - c.atoms[0]
            vamp2 = (c.chain == "A") & (c.layer >= lo) & (c.layer <= hi)
            held[mine] = vamp2[local].any(axis=1)
        return pairs, r0, owner * 2 + held.astype(np.int64)

    # template ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        super()._prepare()
        lip = self.lipids
        self._mem_atoms = [(lip.head[lip.membrane == m], lip.last_tail[lip.membrane == m])
                           for m in range(lip.n_membranes)]
        self._kinds: tuple[str, ...] | None = self.geometry  # type: ignore[assignment]
        self._tmd_membrane: dict[tuple[int, str], int] | None = None

    def _axis(self, frame: Frame, geoms: list[MembraneGeometry]) -> tuple[F, F]:
        """(origin, unit direction) of the contact axis."""
        ok = len(geoms) >= 2 and len(set(self.membranes)) == 2 and max(self.membranes) < len(geoms)
        if ok:
            cf = compute_contact_frame(geoms, frame.box, self.membranes, self.contact_xy)
            return cf.origin, cf.n
        xy = self.contact_xy if self.contact_xy is not None else frame.box[:2] / 2
        return np.array([xy[0], xy[1], frame.box[2] / 2]), np.array([0.0, 0.0, 1.0])

    def _assign_membranes(self, centres: dict[tuple[int, str], F], geoms: list[MembraneGeometry], box: F) -> None:
        out: dict[tuple[int, str], int] = {}
        for key, c in centres.items():
            best, best_d = -1, np.inf
            for g in geoms:
                _, mid = global_membrane_frame(g, None, c, box)
                dist = float(np.linalg.norm(K.minimum_image(c - mid, box)))
                if dist < best_d:
                    best, best_d = g.membrane, dist
            out[key] = best
        self._tmd_membrane = out

    def _single_frame(self, frame: Frame) -> None:
        geoms = frame_geometry(frame, self._kinds) if frame.lipids.n_lipids else []
        if geoms and (self._kinds is None or None in self._kinds):
            self._kinds = tuple(g.kind for g in geoms)
        origin, axis = self._axis(frame, geoms)
        box = frame.box
        whole = [unwrap_chains(frame.xyz[c.atoms], box, c.chain) for c in self.complexes]
        centres = {(c.complex, key): compute_helix_axis(x[c.tmd[key]])[0] if len(c.tmd[key]) >= 2 else None
                   for c, x in zip(self.complexes, whole) for key, _ in ANCHORED}
        if self._tmd_membrane is None:
            self._assign_membranes({k: v for k, v in centres.items() if v is not None}, geoms, box)
        assert self._tmd_membrane is not None
        rows, ring_pts = [], []
        q = None
        if self._contacts is not None:
            pairs, r0, slot = self._contacts
            formed = contacts_formed(frame.xyz, pairs, r0, box)
            q = contact_fractions(formed, slot, 2 * len(self.complexes))
            q_all = contact_fractions(formed, slot // 2, len(self.complexes))
        for k, (c, x) in enumerate(zip(self.complexes, whole)):
            d = compute_layer_distances(x, c.layer_atoms, box)
            zipped = np.nan_to_num(d, nan=np.inf) < self.zip_cutoff_nm
            n_z, front = zippering_progress(zipped)
            row: dict[str, Any] = {"frame": frame.index, "time_ps": frame.time_ps, "complex": c.complex}
            row.update({f"d_layer_{layer_label(L)}_nm": float(v) for L, v in zip(LAYERS, d)})
            row.update(n_zipped_layers=n_z, zip_front_layer=front)
            if q is not None:
                row.update(q_all=float(q_all[k]), q_clamped=float(q[2 * k + 1]), q_rest=float(q[2 * k]))
            for key, _ in ANCHORED:
                row.update(self._tmd(frame, geoms, c, x, key))
            a_v, a_s = c.anchor["vamp2"], c.anchor["syntaxin"]
            p = 0.5 * (x[a_v] + x[a_s]) if a_v >= 0 and a_s >= 0 else x.mean(axis=0)
            dp = K.minimum_image(p - origin, box)
            lateral = dp - (dp @ axis) * axis
            ring_pts.append(lateral)
            row["ring_radius_nm"] = float(np.linalg.norm(lateral))
            for key, _ in ANCHORED:
                a, t = c.anchor[key], c.tmd_first[key]
                L = c.contour_nm(key)
                ext = float(np.linalg.norm(x[t] - x[a])) if np.isfinite(L) else float("nan")
                row[f"linker_ext_{key}_nm"] = ext
                row[f"linker_rel_ext_{key}"] = ext / L
                row[f"linker_force_{key}_pn"] = float(wlc_force_pn(ext, L, self.persistence_length_nm,
                                                                   self.temperature_k))
                row[f"linker_clamped_{key}"] = bool(ext / L > WLC_MAX_FRACTION) if np.isfinite(L) else False
            rows.append(row)
        pts = np.array(ring_pts)
        r_mean = float(np.mean([r["ring_radius_nm"] for r in rows]))
        r_self = float(np.linalg.norm(pts - pts.mean(axis=0), axis=1).mean()) if len(pts) > 1 else float("nan")
        for r in rows:
            r["ring_radius_mean_nm"], r["ring_radius_self_nm"] = r_mean, r_self
        self._rows.extend(rows)

    def _tmd(self, frame: Frame, geoms: list[MembraneGeometry], c: SnareIndex, x: F, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {f"tmd_tilt_{key}_deg": np.nan, f"tmd_depth_{key}_nm": np.nan,
                               f"tmd_span_{key}_nm": np.nan, f"tmd_local_lipids_{key}": 0}
        m = self._tmd_membrane.get((c.complex, key), -1) if self._tmd_membrane else -1
        if len(c.tmd[key]) < 2 or m < 0:
            return out
        centre, a = compute_helix_axis(x[c.tmd[key]])
        out[f"tmd_span_{key}_nm"] = float(np.ptp((x[c.tmd[key]] - centre) @ a))
        centre = K.wrap(centre, frame.box)
        others = [g for g in geoms if g.membrane != m and g.membrane in self.membranes] or \
                 [g for g in geoms if g.membrane != m]
        heads, tails = self._mem_atoms[m]
        n, mid, n_lip = local_membrane_frame(centre, frame.xyz, frame.box, heads, tails, geoms[m],
                                             others[0] if others else None, self.local_radius_nm)
        out[f"tmd_tilt_{key}_deg"] = tilt_angle_deg(a, n)
        out[f"tmd_depth_{key}_nm"] = float(K.minimum_image(centre - mid, frame.box) @ n)
        out[f"tmd_local_lipids_{key}"] = n_lip
        return out

    def _conclude(self) -> None:
        super()._conclude()
        t = self.table
        summ: dict[str, Any] = {
            "n_complexes": len(self.complexes),
            "n_frames": len(np.unique(t["frame"])) if t.n_rows else 0,
            "zip_cutoff_nm": self.zip_cutoff_nm, "ideal_layer_distance_nm": IDEAL_LAYER_DISTANCE_NM,
            "persistence_length_nm": self.persistence_length_nm, "temperature_k": self.temperature_k,
            "local_radius_nm": self.local_radius_nm,
            "kt_pn_nm": BOLTZMANN_KJ_PER_MOL_K * self.temperature_k * KJMOL_NM_TO_PN,
            "wlc_max_fraction": WLC_MAX_FRACTION,
            "contour_length_nm": {k: [c.contour_nm(k) for c in self.complexes] for k, _ in ANCHORED},
            "tmd_membrane": {k: [(self._tmd_membrane or {}).get((c.complex, k), -1) for c in self.complexes]
                             for k, _ in ANCHORED},
        }
        if self._contacts is not None:
            slot, n_cx = self._contacts[2], len(self.complexes)
            counts = np.bincount(slot, minlength=2 * n_cx).reshape(n_cx, 2)
            nc: dict[str, Any] = {"formed_below_r0": CONTACT_FORMED_R0, "clamp_layers": list(self.clamp_layers),
                                  "n_contacts": {"all": counts.sum(axis=1).tolist(), "clamped": counts[:, 1].tolist(),
                                                 "rest": counts[:, 0].tolist()}}
            if t.n_rows:
                first = t["frame"] == t["frame"][0]
                nc["first_frame"] = {f"q_{g}": float(np.nanmean(np.asarray(t[f"q_{g}"], dtype=float)[first]))
                                     for g in CONTACT_GROUPS}
            summ["native_contacts"] = nc
        if t.n_rows:
            last = t["frame"] == t["frame"][-1]
            for col in t.columns:
                if col in ("frame", "time_ps", "complex") or col.startswith(("d_layer_", "tmd_local_lipids")):
                    continue
                v = np.asarray(t[col], dtype=float)
                fin, nan = np.isfinite(v), float("nan")
                summ[col] = {"mean": float(v[fin].mean()) if fin.any() else nan,
                             "std": float(v[fin].std()) if fin.any() else nan,
                             "median": float(np.median(v[fin])) if fin.any() else nan,
                             "last": float(np.nanmean(v[last])) if np.isfinite(v[last]).any() else nan}
            summ["layer_distance_mean_nm"] = {str(L): float(np.nanmean(t[f"d_layer_{layer_label(L)}_nm"]))
                                              if np.isfinite(t[f"d_layer_{layer_label(L)}_nm"]).any() else float("nan")
                                              for L in LAYERS}
        self.results.summary = summ
        self.results.tmd_membrane = summ["tmd_membrane"]

    # plots -----------------------------------------------------------------------------------
    def plot(self, ax: Any = None, time_unit: str = "ns", tau_ps: float | None = None) -> Any:
        """Zippering progress (number of zipped layers) of each complex vs time."""
        from .. import plot as P

        return P.plot_zippering(self.table, ax=ax, time_unit=time_unit, tau_ps=tau_ps)

    def plot_linker_force(self, ax: Any = None, time_unit: str = "ns", tau_ps: float | None = None) -> Any:
        """Worm-like-chain force of each linker vs time."""
        from .. import plot as P

        return P.plot_linker_force(self.table, ax=ax, time_unit=time_unit, tau_ps=tau_ps)
