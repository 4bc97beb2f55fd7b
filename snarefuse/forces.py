"""Protein forces that OpenMM force-field XML cannot express: the one-bead-per-residue SNARE model.

Every ``*_force`` function (here and in :mod:`snarefuse.protein_bonds`) returns a configured
``openmm.Custom*Force``; every one has a plain NumPy ``*_energy`` twin with the same parameters, used by the tests
(force = -dE/dr and reference values) and usable in analyses. Inputs are floats in MD units (nm, kJ/mol) or
``openmm.unit.Quantity``. This module imports OpenMM, NumPy and the package's constants, never the builder: the
particle index lists come from it (``snarefuse.build.snare.SnareComplex``: ``helical_stretches()``,
``coil_bonds()``, ``native_contacts()``, ``excluded_pairs()``, ``tmd_indices()``).

Model and default parameters (justification in each docstring)
-------------------------------------------------------------
* Bead mass :data:`PROTEIN_BEAD_MASS_AMU` = 330 amu, uniform (3 x the 110 amu mean residue mass).
  Mass does not change equilibrium; it slows the fastest protein vibrations to the lipid time step.
* Helix, unzipped linker and native contacts: the bonded terms, :mod:`snarefuse.protein_bonds` (re-exported here).
* Excluded volume: WCA, protein-protein sigma 0.5 nm; protein-lipid sigma = (0.5 nm + b_lipid)/2
  with the lipid's own b (0.95 sigma heads, sigma tails).
* TMD residues attract lipid tail beads with the Cooke tail attraction form (-eps_a inside r_c,
  cos^2 tail of width w_c) at :data:`DEFAULT_TMD_TAIL_ATTRACTION` = 0.25 epsilon per residue-bead
  pair: a 22-residue TMD then binds tails like the ~5 tail beads whose volume it displaces.
* Interfacial anchors (:func:`interface_anchor_force`): the juxtamembrane Trp/Tyr/Lys/Arg and the TMD's
  C-terminal residue attract lipid head beads, :data:`DEFAULT_ANCHOR_STRENGTH` = 3 epsilon per pair (plateau to
  2^(1/6) sigma, cos^2 decay over 0.5 sigma). Without them a TMD lies flat at the bilayer midplane (unloaded
  tilt 83-85 deg from the normal, measured); at 1 epsilon it still does (66-79 deg); at 3 epsilon it spans its membrane
  at 18-56 deg, crossing its midplane in every frame (docs/model.md, "TMD anchoring").

OpenMM notes: the two nonbonded forces use interaction groups, so on CUDA/OpenCL they carry their
own exclusions and cutoffs and do not clash with the lipid force field's CustomNonbondedForce; the
lipid force field must then keep protein beads out of its own lipid-lipid interactions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import openmm
from openmm import unit

# the bonded terms are part of this module's API: the builder and the tests take every protein term from here
from .protein_bonds import (CA_RADIUS_NM, COIL_BOND_K, COIL_BOND_NM, DEFAULT_CONTACT_CUTOFF_NM,  # noqa: F401
                            DEFAULT_CONTACT_EPSILON_KT, HELIX_BOND_K, HELIX_LONG_RANGE_K,
                            HELIX_LONG_RANGE_SEPARATIONS, HELIX_RESTRAINT_K, RESIDUES_PER_TURN, RISE_NM,
                            coil_bond_energy, coil_bond_force, helix_bond_terms, helix_bonded_energy,
                            helix_bonded_force, ideal_helix_distance, in_unit, native_contact_energy,
                            native_contact_force, pair_distances)
from .protein_bonds import __all__ as _BONDED_NAMES
from .units import DEFAULT_SIGMA_NM

__all__ = [
    *_BONDED_NAMES,
    "PROTEIN_BEAD_MASS_AMU",
    "PROTEIN_SIGMA_NM",
    "DEFAULT_TMD_TAIL_ATTRACTION",
    "protein_wca_force",
    "protein_wca_energy",
    "protein_lipid_force",
    "protein_lipid_energy",
    "free_complex_system",
    "DEFAULT_ANCHOR_STRENGTH",
    "ANCHOR_PLATEAU_SIGMA",
    "ANCHOR_WIDTH_SIGMA",
    "interface_anchor_force",
    "interface_anchor_energy",
]

#: uniform protein bead mass, amu (3 x mean residue mass 110 amu), see module docstring.
PROTEIN_BEAD_MASS_AMU = 330.0
#: protein bead excluded-volume size, nm.
PROTEIN_SIGMA_NM = 0.5
#: TMD residue - lipid tail attraction as a fraction of the lipid epsilon.
DEFAULT_TMD_TAIL_ATTRACTION = 0.25

_TWO_SIXTH = 2.0 ** (1.0 / 6.0)
_NM = unit.nanometer
_KJ = unit.kilojoule_per_mole


def _wca(r: np.ndarray, b: np.ndarray | float, eps: float) -> np.ndarray:
    x6 = (b / r) ** 6
    return np.where(r < _TWO_SIXTH * b, 4.0 * eps * (x6 * x6 - x6 + 0.25), 0.0)


def _nonbonded_method(periodic: bool) -> int:
    return openmm.CustomNonbondedForce.CutoffPeriodic if periodic else openmm.CustomNonbondedForce.CutoffNonPeriodic


def protein_wca_force(n_particles: int, protein: Sequence[int] | np.ndarray,
                      excluded_pairs: Sequence[Sequence[int] | np.ndarray] | np.ndarray = (), *,
                      epsilon_kjmol: float | unit.Quantity, sigma_nm: float | unit.Quantity = PROTEIN_SIGMA_NM,
                      periodic: bool = True, force_group: int = 0) -> openmm.CustomNonbondedForce:
    """Protein-protein excluded volume (non-native): WCA ``4 eps [(s/r)^12 - (s/r)^6 + 1/4]``, r < 2^(1/6) s.

    Parameters
    ----------
    n_particles : int
        Particles in the System (every one must be added to a nonbonded force).
    protein : (P,) int
        Protein bead indices; only protein-protein pairs interact (interaction group).
    excluded_pairs : (K, 2) int
        Pairs without excluded volume (``SnareComplex.excluded_pairs()``: bonded and helix i..i+4).
    epsilon_kjmol : float (kJ/mol) or Quantity
        WCA strength; the lipid epsilon is the natural choice.
    sigma_nm : float (nm) or Quantity
        Bead size; 0.5 nm puts the cut at 0.56 nm, below the 0.92 nm closest inter-helix C-alpha
        distance of the ideal bundle, and sets the linker persistence length to ~0.5 nm.
    periodic : bool
        CutoffPeriodic (True) or CutoffNonPeriodic.
    """
    s, eps = in_unit(sigma_nm, _NM), in_unit(epsilon_kjmol, _KJ)
    force = openmm.CustomNonbondedForce("4*snare_pp_eps*(x6*x6-x6+0.25); x6=(snare_pp_sigma/r)^6")
    force.setName("SNARE protein excluded volume")
    force.addGlobalParameter("snare_pp_eps", eps)
    force.addGlobalParameter("snare_pp_sigma", s)
    for _ in range(n_particles):
        force.addParticle([])
    prot = sorted({int(i) for i in protein})
    force.addInteractionGroup(prot, prot)
    for i, j in np.asarray(excluded_pairs, dtype=np.int64).reshape(-1, 2):
        force.addExclusion(int(i), int(j))
    force.setNonbondedMethod(_nonbonded_method(periodic))
    force.setCutoffDistance(_TWO_SIXTH * s)
    force.setUseSwitchingFunction(False)
    force.setUseLongRangeCorrection(False)
    force.setForceGroup(force_group)
    return force


def protein_wca_energy(positions: np.ndarray, protein: Sequence[int] | np.ndarray,
                       excluded_pairs: Sequence[Sequence[int] | np.ndarray] | np.ndarray = (), *, epsilon_kjmol: float,
                       sigma_nm: float = PROTEIN_SIGMA_NM, box: Sequence[float] | None = None) -> float:
    """NumPy reference of :func:`protein_wca_force` (all pairs, O(P^2)), kJ/mol."""
    prot = np.array(sorted({int(i) for i in protein}), dtype=np.int64)
    iu, ju = np.triu_indices(len(prot), k=1)
    i, j = prot[iu], prot[ju]
    excl = {tuple(sorted(map(int, p))) for p in np.asarray(excluded_pairs, dtype=np.int64).reshape(-1, 2)}
    keep = np.array([(a, b) not in excl for a, b in zip(i.tolist(), j.tolist())], dtype=bool)
    r = pair_distances(positions, i[keep], j[keep], box)
    return float(np.sum(_wca(r, sigma_nm, epsilon_kjmol)))


def _lipid_params(sigma_protein: float, sigma_head: float, sigma_tail: float, eps_att: float,
                  wc: float) -> float:
    """Cutoff of the protein-lipid force: the longest range among the pair types present."""
    b_head, b_tail = 0.5 * (sigma_protein + sigma_head), 0.5 * (sigma_protein + sigma_tail)
    rng = max(_TWO_SIXTH * b_head, _TWO_SIXTH * b_tail)
    if eps_att > 0:
        rng = max(rng, _TWO_SIXTH * b_tail + wc)
    return rng


def protein_lipid_force(n_particles: int, protein: Sequence[int] | np.ndarray, tmd: Sequence[int] | np.ndarray,
                        heads: Sequence[int] | np.ndarray, tails: Sequence[int] | np.ndarray, *,
                        epsilon_kjmol: float | unit.Quantity, wc_nm: float | unit.Quantity,
                        tmd_tail_epsilon_kjmol: float | unit.Quantity | None = None,
                        sigma_protein_nm: float | unit.Quantity = PROTEIN_SIGMA_NM,
                        sigma_head_nm: float | unit.Quantity = 0.95 * DEFAULT_SIGMA_NM,
                        sigma_tail_nm: float | unit.Quantity = DEFAULT_SIGMA_NM,
                        periodic: bool = True, force_group: int = 0) -> openmm.CustomNonbondedForce:
    """Protein-lipid interactions: WCA for every residue, plus Cooke tail attraction for TMD residues.

    For a residue-lipid pair with ``b = (sigma_protein + sigma_lipid)/2`` and ``r_c = 2^(1/6) b``::

        E = 4 eps [(b/r)^12 - (b/r)^6 + 1/4]                        r < r_c
          - eps_a                                                     r < r_c
          - eps_a cos^2(pi (r - r_c) / (2 w_c))               r_c <= r < r_c + w_c

    with ``eps_a = tmd_tail_epsilon`` for (TMD residue, tail bead) pairs and 0 otherwise, the form of
    the Cooke tail-tail attraction (Cooke, Kremer & Deserno, Phys. Rev. E 72, 011506, 2005), so TMDs stay
    among the tails and can tilt.

    Parameters
    ----------
    n_particles : int
        Particles in the System.
    protein : (P,) int
        All protein beads (TMD included).
    tmd : (T,) int
        TMD beads, a subset of ``protein``.
    heads, tails : int arrays
        Lipid head and tail beads (all lipids of all membranes).
    epsilon_kjmol : float (kJ/mol) or Quantity
        Lipid epsilon (WCA strength).
    wc_nm : float (nm) or Quantity
        Width of the attraction tail, the lipid model's w_c (1.6 sigma = 1.408 nm).
    tmd_tail_epsilon_kjmol : float (kJ/mol) or Quantity or None
        Attraction depth per TMD residue - tail bead pair; None: ``DEFAULT_TMD_TAIL_ATTRACTION`` * epsilon.
    sigma_protein_nm, sigma_head_nm, sigma_tail_nm : float (nm) or Quantity
        Bead sizes (lipid defaults: b = 0.95 sigma and sigma for sigma = 0.88 nm).
    periodic : bool
    force_group : int
    """
    eps = in_unit(epsilon_kjmol, _KJ)
    eps_a = DEFAULT_TMD_TAIL_ATTRACTION * eps if tmd_tail_epsilon_kjmol is None else in_unit(tmd_tail_epsilon_kjmol, _KJ)
    wc = in_unit(wc_nm, _NM)
    sp, sh, st = in_unit(sigma_protein_nm, _NM), in_unit(sigma_head_nm, _NM), in_unit(sigma_tail_nm, _NM)
    prot = sorted({int(i) for i in protein})
    tmd_set = {int(i) for i in tmd}
    if not tmd_set <= set(prot):
        raise ValueError("tmd: every TMD index must also be in protein")
    head_set, tail_set = {int(i) for i in heads}, {int(i) for i in tails}
    force = openmm.CustomNonbondedForce(
        "step(rc-r)*4*snare_pl_eps*(x6*x6-x6+0.25)"
        " - ea*select(step(r-rc), step(rc+snare_pl_wc-r)*0.5*(1+cos(3.141592653589793*(r-rc)/snare_pl_wc)), 1);"
        " ea=snare_pl_eps_tmd*(tmd1*tail2+tmd2*tail1); x6=(b/r)^6; rc=1.122462048309373*b; b=0.5*(size1+size2)"
    )
    force.setName("SNARE protein-lipid")
    force.addGlobalParameter("snare_pl_eps", eps)
    force.addGlobalParameter("snare_pl_eps_tmd", eps_a)
    force.addGlobalParameter("snare_pl_wc", wc)
    for name in ("size", "tmd", "tail"):
        force.addPerParticleParameter(name)
    prot_set = set(prot)
    for i in range(n_particles):
        if i in prot_set:
            force.addParticle([sp, 1.0 if i in tmd_set else 0.0, 0.0])
        elif i in tail_set:
            force.addParticle([st, 0.0, 1.0])
        elif i in head_set:
            force.addParticle([sh, 0.0, 0.0])
        else:
            force.addParticle([0.0, 0.0, 0.0])
    force.addInteractionGroup(prot, sorted(head_set | tail_set))
    force.setNonbondedMethod(_nonbonded_method(periodic))
    force.setCutoffDistance(_lipid_params(sp, sh, st, eps_a, wc))
    force.setUseSwitchingFunction(False)
    force.setUseLongRangeCorrection(False)
    force.setForceGroup(force_group)
    return force


def protein_lipid_energy(positions: np.ndarray, protein: Sequence[int] | np.ndarray, tmd: Sequence[int] | np.ndarray,
                         heads: Sequence[int] | np.ndarray, tails: Sequence[int] | np.ndarray, *,
                         epsilon_kjmol: float, wc_nm: float, tmd_tail_epsilon_kjmol: float | None = None,
                         sigma_protein_nm: float = PROTEIN_SIGMA_NM, sigma_head_nm: float = 0.95 * DEFAULT_SIGMA_NM,
                         sigma_tail_nm: float = DEFAULT_SIGMA_NM, box: Sequence[float] | None = None) -> float:
    """NumPy reference of :func:`protein_lipid_force` (all protein-lipid pairs), kJ/mol."""
    eps_a = DEFAULT_TMD_TAIL_ATTRACTION * epsilon_kjmol if tmd_tail_epsilon_kjmol is None else tmd_tail_epsilon_kjmol
    prot = np.array(sorted({int(i) for i in protein}), dtype=np.int64)
    tmd_mask = np.isin(prot, np.asarray(tmd, dtype=np.int64))
    total = 0.0
    for lipids, s_l, is_tail in ((heads, sigma_head_nm, False), (tails, sigma_tail_nm, True)):
        lip = np.asarray(lipids, dtype=np.int64)
        if lip.size == 0 or prot.size == 0:
            continue
        ii, jj = np.meshgrid(np.arange(prot.size), np.arange(lip.size), indexing="ij")
        r = pair_distances(positions, prot[ii.ravel()], lip[jj.ravel()], box)
        b = 0.5 * (sigma_protein_nm + s_l)
        rc = _TWO_SIXTH * b
        total += float(np.sum(_wca(r, b, epsilon_kjmol)))
        if is_tail and eps_a != 0.0:
            att = np.where(r < rc, 1.0, np.where(r < rc + wc_nm, np.cos(np.pi * (r - rc) / (2.0 * wc_nm)) ** 2, 0.0))
            total -= float(eps_a * np.sum(att * tmd_mask[ii.ravel()]))
    return total


#: Depth of the interfacial anchor attraction per (anchor residue, lipid head bead) pair, in units of the
#: lipid epsilon (:func:`interface_anchor_force`).
DEFAULT_ANCHOR_STRENGTH = 3.0
#: Plateau radius of the anchor attraction in units of sigma (the Cooke r_c = 2^(1/6) sigma).
ANCHOR_PLATEAU_SIGMA = _TWO_SIXTH
#: Width of its cos^2 decay in units of sigma: short (0.5 sigma), so that an anchor at the bilayer
#: midplane (~2.2 sigma from either head layer) feels no head at all.
ANCHOR_WIDTH_SIGMA = 0.5


def _anchor_shape(r: np.ndarray, plateau_nm: float, width_nm: float) -> np.ndarray:
    u = np.clip((r - plateau_nm) / width_nm, 0.0, None)
    return np.where(u < 1.0, np.cos(0.5 * np.pi * np.minimum(u, 1.0)) ** 2, 0.0)


def interface_anchor_force(n_particles: int, heads: Sequence[int] | np.ndarray, anchors: Sequence[int] | np.ndarray,
                           *, epsilon_kjmol: float | unit.Quantity, plateau_nm: float | unit.Quantity,
                           width_nm: float | unit.Quantity,
                           excluded_pairs: Sequence[Sequence[int] | np.ndarray] | np.ndarray = (),
                           periodic: bool = True, force_group: int = 0) -> openmm.CustomNonbondedForce:
    """Interfacial anchoring: attraction between anchor residues and lipid head beads.

    For every (anchor residue, head bead) pair::

        E = -eps_anchor                                  r < r_p
          = -eps_anchor cos^2(pi (r - r_p) / (2 w))      r_p <= r < r_p + w
          = 0                                            beyond

    the shape of the Cooke tail attraction with its own plateau ``r_p`` and a short width ``w``.
    Excluded volume is not part of it (the beads' WCA lives in the ``CookePair`` force). Anchors are
    the residues that hold real TMDs at the membrane interface: juxtamembrane Trp/Tyr (the aromatic
    belt) and Lys/Arg (snorkelling to the phosphates), and the C-terminal residue with its charged
    carboxylate (``SnareComplex.anchor_indices()``). Without them a TMD of this model, a thin
    hydrophobic rod, lies flat at the bilayer midplane and linker tension only tilts it further.

    One ``CustomNonbondedForce`` with per-particle ``h`` (1 for heads) and ``c`` (1 for anchors),
    ``E = -eps (h1 c2 + c1 h2) shape(r)``, restricted to the anchor x head interaction group; the cos^2
    is the polynomial of :mod:`snarefuse.formulations` (error < 1e-11). Cost, measured with
    ``bench/bench_fusion.py --anchor-strength 0 3`` (``bench/results/anchor_cost.json``): OpenMM's CPU
    platform walks every pair of the group each step without a neighbour list, which for 48 anchors x
    4-10k heads is cheaper than a second pass over the full neighbour list (quickstart, 2 threads: -14 to
    -22% steps/s with the group, -27% without; vesicle-planar, 31,714 beads: -13% with it, -31% without);
    on OpenCL (POCL) -7 to -9%, the same either way. The group's pair count grows as
    anchors x heads: for systems far larger than the shipped ones, re-measure.

    Parameters
    ----------
    n_particles : int
        Particles in the System.
    heads, anchors : int arrays
        Lipid head beads and anchor residue beads (disjoint).
    epsilon_kjmol : float (kJ/mol) or Quantity
        Depth per anchor-head pair.
    plateau_nm, width_nm : float (nm) or Quantity
        ``r_p`` and ``w``; the cutoff is ``r_p + w``.
    excluded_pairs : (K, 2) int
        Pairs to exclude (the Cooke pair force's protein exclusions, so exclusion lists agree).
    periodic : bool
    force_group : int
    """
    from .formulations import poly_tail_expression  # formulations imports forcefield; keep this module light
    eps, rp, w = in_unit(epsilon_kjmol, _KJ), in_unit(plateau_nm, _NM), in_unit(width_nm, _NM)
    if rp <= 0 or w <= 0:
        raise ValueError(f"interface anchor: plateau and width must be > 0 nm, got {rp} and {w}")
    head_set, anchor_set = {int(i) for i in heads}, {int(i) for i in anchors}
    if head_set & anchor_set:
        raise ValueError("interface anchor: a bead cannot be both a head and an anchor")
    force = openmm.CustomNonbondedForce(
        f"-snare_anchor_eps*(h1*c2+c1*h2)*tail; {poly_tail_expression()}; "
        "u=max(r-snare_anchor_rp,0)/snare_anchor_w")
    force.setName("SNARE interface anchor")
    force.addGlobalParameter("snare_anchor_eps", eps)
    force.addGlobalParameter("snare_anchor_rp", rp)
    force.addGlobalParameter("snare_anchor_w", w)
    force.addPerParticleParameter("h")
    force.addPerParticleParameter("c")
    for i in range(n_particles):
        force.addParticle([1.0 if i in head_set else 0.0, 1.0 if i in anchor_set else 0.0])
    for i, j in np.asarray(excluded_pairs, dtype=np.int64).reshape(-1, 2):
        force.addExclusion(int(i), int(j))
    if anchor_set and head_set:
        force.addInteractionGroup(sorted(anchor_set), sorted(head_set))
    force.setNonbondedMethod(_nonbonded_method(periodic))
    force.setCutoffDistance(rp + w)
    force.setUseSwitchingFunction(False)
    force.setUseLongRangeCorrection(False)
    force.setForceGroup(force_group)
    return force


def interface_anchor_energy(positions: np.ndarray, heads: Sequence[int] | np.ndarray,
                            anchors: Sequence[int] | np.ndarray, *, epsilon_kjmol: float, plateau_nm: float,
                            width_nm: float, box: Sequence[float] | None = None) -> float:
    """NumPy reference of :func:`interface_anchor_force` (all anchor-head pairs, exact cos^2), kJ/mol."""
    h = np.asarray(sorted({int(i) for i in heads}), dtype=np.int64)
    a = np.asarray(sorted({int(i) for i in anchors}), dtype=np.int64)
    if h.size == 0 or a.size == 0:
        return 0.0
    ii, jj = np.meshgrid(a, h, indexing="ij")
    r = pair_distances(positions, ii.ravel(), jj.ravel(), box)
    return float(-epsilon_kjmol * np.sum(_anchor_shape(r, plateau_nm, width_nm)))


def free_complex_system(complex, *, contact_epsilon_kjmol: float | unit.Quantity,
                        wca_epsilon_kjmol: float | unit.Quantity,
                        contact_cutoff_nm: float = DEFAULT_CONTACT_CUTOFF_NM) -> tuple[openmm.System, np.ndarray, np.ndarray]:
    """One complex alone in vacuum (no membranes, no periodic box): the protein terms exactly as the builder
    adds them (helix bonded terms, linker bonds, Go native contacts, protein WCA), for stability and
    free-energy runs.

    Parameters
    ----------
    complex : snarefuse.build.snare.SnareComplex
        Supplies ``n_residues``, ``helical_stretches()``, ``coil_bonds()``, ``native_contacts()``,
        ``excluded_pairs()``.
    contact_epsilon_kjmol : float (kJ/mol) or Quantity
        Depth per native contact (scaled at run time by the global ``snare_contact_scale``).
    wca_epsilon_kjmol : float (kJ/mol) or Quantity
        WCA energy scale (the lipid model's epsilon in a built system).

    Returns
    -------
    (System, pairs, r0)
        The System (forces in group 0) and the native contact pairs with their native distances, nm.
    """
    n = complex.n_residues
    system = openmm.System()
    for _ in range(n):
        system.addParticle(PROTEIN_BEAD_MASS_AMU)
    pairs, r0 = complex.native_contacts(contact_cutoff_nm)
    system.addForce(helix_bonded_force(complex.helical_stretches()))
    system.addForce(coil_bond_force(complex.coil_bonds()))
    system.addForce(native_contact_force(pairs, r0, epsilon_kjmol=contact_epsilon_kjmol))
    system.addForce(protein_wca_force(n, range(n), complex.excluded_pairs(), epsilon_kjmol=wca_epsilon_kjmol,
                                      periodic=False))
    return system, pairs, r0
