"""The bonded terms of the one-bead-per-residue SNARE model (:mod:`snarefuse.forces` has the rest and the
overview): helix bonds and restraints at ideal alpha-helix distances, the unzipped linker's bonds, and the Go
native contacts that hold the bundle zipped. Each ``*_force`` returns a configured ``openmm.CustomBondForce``
and has a NumPy ``*_energy`` twin with the same parameters; inputs are floats in MD units (nm, kJ/mol) or
``openmm.unit.Quantity``.

Model and default parameters
----------------------------
* Helix: i,i+1 bonds (:data:`HELIX_BOND_K` = 1000 kJ/mol/nm^2, 0.383 nm), i,i+3 / i,i+4
  restraints (:data:`HELIX_RESTRAINT_K` = 500 kJ/mol/nm^2, 0.505 / 0.620 nm) and i,i+7 / i,i+11
  restraints (:data:`HELIX_LONG_RANGE_K` = 200 kJ/mol/nm^2, 1.05 / 1.65 nm: bending stiffness) at ideal
  alpha-helix distances. The highest normal mode of this network at 330 amu has a period of 1.94 ps, 21 steps of
  dt = 0.01 tau = 0.091 ps (tau = 9.09 ps for sigma = 0.88 nm, m = 250 amu, epsilon = 2.34 kJ/mol).
* Unzipped linker: harmonic bonds of 0.365 nm (:data:`COIL_BOND_K` = 800 kJ/mol/nm^2; a bare chain's
  fastest mode 2 sqrt(k/m) has a period of 2.0 ps = 22 steps), no bending term; the i,i+2 excluded
  volume (sigma 0.5 nm) alone limits back-folding, giving a persistence length of ~0.5 nm
  (<cos> of the bond angle 0.48 at 310 K) within the 0.3-0.7 nm measured for unstructured residues
  (worm-like chain; docs/model.md, "SNARE complexes").
* Native contacts: 12-10 Go potential eps [5 (r0/r)^12 - 6 (r0/r)^10], minimum -eps at the native
  distance r0, between C-alpha pairs of different helices closer than 1.1 nm in the ideal bundle
  (275 pairs, 16 per layer, when fully zipped). :data:`DEFAULT_CONTACT_EPSILON_KT` = 1.4 kT per
  contact, chosen from the measured zippering free energy (``bench/zipper_free_energy.py``: tethered
  complex, thermodynamic integration along the depth from the zipped/unzipped coexistence at
  0.56 kT, checked against the populations there): 37-62 kT per complex at 1.4 kT over the state
  definitions and extrapolations tried, within the ~35 kT (calorimetry) to ~65 kT (optical
  tweezers; Gao et al., Science 337, 1340, 2012) measured for the neuronal complex; 1.0 kT gives
  16-25 kT. The Go energy (385 kT) is not the free energy: at 310 K
  the zipped bundle holds about half of the total well depth (<u> = -149 of -275 at 1.4 kT), the
  tethered unzipped helices keep some contacts, and zipping costs inter-helix entropy.
  The global ``snare_contact_scale`` tunes all contacts at run time.
* Clamped contacts (the layers a clamp holds open, scaled by the global ``snare_clamp``): only the
  attraction is scaled. The potential is split at its minimum, WCA-style (Weeks, Chandler & Andersen,
  J. Chem. Phys. 54, 5237, 1971), into a repulsion ``eps [5 x^12 - 6 x^10 + 1]`` for r < r0 (0 beyond) and
  an attraction (-eps for r < r0, the 12-10 form beyond), and the clamp scales the attraction only:
  ``E = eps [c u + (1 - c) (u + 1) step(r0 - r)]``, u = 5 x^12 - 6 x^10, x = r0/r. At c = 1 this is the
  12-10 form; at c = 0 a clamped pair is pushed out of its native distance and nothing else. Scaling the
  whole 12-10 form would leave the pair without any force of its own while clamped, free to come as close as
  the 0.5 nm excluded volume allows (r/r0 ~ 0.5), where the released repulsion is ~10^6 kJ/mol/nm: a
  release ramped over 100 steps then blows the run up in its first steps (docs/regulated.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import openmm
from openmm import unit

from .constants import NM_PER_RESIDUE

__all__ = [
    "HELIX_BOND_K",
    "HELIX_RESTRAINT_K",
    "HELIX_LONG_RANGE_K",
    "HELIX_LONG_RANGE_SEPARATIONS",
    "COIL_BOND_K",
    "COIL_BOND_NM",
    "DEFAULT_CONTACT_EPSILON_KT",
    "DEFAULT_CONTACT_CUTOFF_NM",
    "CA_RADIUS_NM",
    "RISE_NM",
    "RESIDUES_PER_TURN",
    "ideal_helix_distance",
    "helix_bond_terms",
    "helix_bonded_force",
    "helix_bonded_energy",
    "coil_bond_force",
    "coil_bond_energy",
    "native_contact_force",
    "native_contact_energy",
]

#: helix i,i+1 virtual-bond force constant, kJ/mol/nm^2.
HELIX_BOND_K = 1000.0
#: helix i,i+3 and i,i+4 restraint force constant, kJ/mol/nm^2.
HELIX_RESTRAINT_K = 500.0
#: helix i,i+7 and i,i+11 (two and three turns) restraint force constant, kJ/mol/nm^2: the bending
#: stiffness of the helix; without it the local i,i+3/i,i+4 network lets a 22-residue TMD fold to
#: half its length within 2 tau under the linker's pull.
HELIX_LONG_RANGE_K = 200.0
#: separations of the long-range helix restraints
HELIX_LONG_RANGE_SEPARATIONS = (7, 11)
#: unzipped-linker bond force constant, kJ/mol/nm^2.
COIL_BOND_K = 800.0
#: unzipped-linker contour length per residue, nm (:data:`snarefuse.constants.NM_PER_RESIDUE`).
COIL_BOND_NM = NM_PER_RESIDUE
#: native-contact well depth per contact, in kT (chosen from the measured zippering free energy; module docstring).
DEFAULT_CONTACT_EPSILON_KT = 1.4
#: C-alpha distance defining a native contact in the ideal bundle, nm.
DEFAULT_CONTACT_CUTOFF_NM = 1.1
#: names of the native-contact forces (the SNARE analysis reads the contacts back from them)
NATIVE_CONTACT_FORCE = "SNARE native contacts"
CLAMPED_CONTACT_FORCE = "SNARE clamped contacts"
#: radius of the C-alpha helix around the helix axis, nm (the builder places helices with it too).
CA_RADIUS_NM = 0.23
#: alpha-helix rise per residue along the helix axis, nm (1.5 A, the canonical alpha-helix).
RISE_NM = 0.15
#: alpha-helix residues per turn (100 degrees per residue).
RESIDUES_PER_TURN = 3.6


def in_unit(x: float | unit.Quantity, u: unit.Unit) -> float:
    """Strip units once at the boundary: a Quantity is converted to ``u``, a float taken as already in ``u``."""
    if unit.is_quantity(x):
        return float(x.value_in_unit(u))  # type: ignore[union-attr]
    return float(x)


_NM = unit.nanometer
_KJ = unit.kilojoule_per_mole
_K_NM2 = unit.kilojoule_per_mole / unit.nanometer**2


def pair_distances(positions: np.ndarray, i: np.ndarray, j: np.ndarray, box: Sequence[float] | None) -> np.ndarray:
    """|r_j - r_i| for index arrays ``i``, ``j`` (minimum image in an orthorhombic ``box`` when given)."""
    d = np.asarray(positions, dtype=np.float64)[j] - np.asarray(positions, dtype=np.float64)[i]
    if box is not None:
        L = np.asarray(box, dtype=np.float64)
        d -= L * np.round(d / L)
    return np.linalg.norm(d, axis=-1)


def ideal_helix_distance(separation: int, *, radius_nm: float = CA_RADIUS_NM, rise_nm: float = RISE_NM,
                         residues_per_turn: float = RESIDUES_PER_TURN) -> float:
    """C-alpha distance between residues i and i+separation of a straight ideal alpha-helix, nm.

    Examples
    --------
    >>> round(ideal_helix_distance(1), 3)
    0.383
    """
    angle = 2.0 * math.pi * separation / residues_per_turn
    return math.hypot(2.0 * radius_nm * math.sin(angle / 2.0), separation * rise_nm)


def helix_bond_terms(helices: Sequence[Sequence[int] | np.ndarray], *, bond_k: float = HELIX_BOND_K,
                     restraint_k: float = HELIX_RESTRAINT_K,
                     long_range_k: float = HELIX_LONG_RANGE_K) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs, rest lengths and force constants of the helix terms: i,i+1 bonds, i,i+3 / i,i+4
    restraints (local geometry) and i,i+7 / i,i+11 restraints (bending stiffness), all at ideal
    straight alpha-helix distances.

    Parameters
    ----------
    helices : sequence of sequences of int
        Particle indices of each helical stretch, consecutive residues in order.

    Returns
    -------
    pairs : ndarray (M, 2) int64
    r0 : ndarray (M,) float64, nm
    k : ndarray (M,) float64, kJ/mol/nm^2
    """
    pairs, r0, k = [], [], []
    for helix in helices:
        h = [int(i) for i in helix]
        terms = [(1, bond_k), (3, restraint_k), (4, restraint_k)]
        terms += [(sep, long_range_k) for sep in HELIX_LONG_RANGE_SEPARATIONS if long_range_k > 0]
        for sep, kk in terms:
            d = ideal_helix_distance(sep)
            for a, b in zip(h[:-sep], h[sep:]):
                pairs.append((a, b))
                r0.append(d)
                k.append(kk)
    return (np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(r0, dtype=np.float64),
            np.array(k, dtype=np.float64))


def _harmonic_bond_force(pairs: np.ndarray, r0: np.ndarray, k: np.ndarray, force_group: int,
                         periodic: bool, name: str) -> openmm.CustomBondForce:
    force = openmm.CustomBondForce("0.5*k*(r-r0)^2")
    force.setName(name)
    force.addPerBondParameter("k")
    force.addPerBondParameter("r0")
    for (i, j), kk, rr in zip(pairs, k, r0):
        force.addBond(int(i), int(j), [float(kk), float(rr)])
    force.setForceGroup(force_group)
    force.setUsesPeriodicBoundaryConditions(periodic)
    return force


def _harmonic_bond_energy(positions: np.ndarray, pairs: np.ndarray, r0: np.ndarray, k: np.ndarray,
                          box: Sequence[float] | None = None) -> float:
    if len(pairs) == 0:
        return 0.0
    r = pair_distances(positions, pairs[:, 0], pairs[:, 1], box)
    return float(np.sum(0.5 * k * (r - r0) ** 2))





def helix_bonded_force(helices: Sequence[Sequence[int] | np.ndarray], *, bond_k: float | unit.Quantity = HELIX_BOND_K,
                       restraint_k: float | unit.Quantity = HELIX_RESTRAINT_K, force_group: int = 0,
                       periodic: bool = False) -> openmm.CustomBondForce:
    """Harmonic i,i+1 bonds and i,i+3 / i,i+4 restraints at ideal alpha-helix distances.

    ``E = sum 1/2 k (r - r0)^2``, r0 = 0.383 (i+1), 0.505 (i+3), 0.620 (i+4) nm.

    Parameters
    ----------
    helices : sequence of sequences of int
        Particle indices of each helical stretch (motif, zipped linker, TMD), N to C.
    bond_k, restraint_k : float (kJ/mol/nm^2) or Quantity
        Force constants. Defaults keep the fastest mode at >= 20 steps of 0.01 tau with
        330 amu beads (module docstring).
    force_group : int
    periodic : bool
        Use periodic boundary conditions for the bond vectors.
    """
    pairs, r0, k = helix_bond_terms(helices, bond_k=in_unit(bond_k, _K_NM2), restraint_k=in_unit(restraint_k, _K_NM2))
    return _harmonic_bond_force(pairs, r0, k, force_group, periodic, "SNARE helix")


def helix_bonded_energy(positions: np.ndarray, helices: Sequence[Sequence[int] | np.ndarray], *,
                        bond_k: float = HELIX_BOND_K, restraint_k: float = HELIX_RESTRAINT_K,
                        box: Sequence[float] | None = None) -> float:
    """NumPy reference of :func:`helix_bonded_force`: energy in kJ/mol of positions (N, 3) nm."""
    pairs, r0, k = helix_bond_terms(helices, bond_k=bond_k, restraint_k=restraint_k)
    return _harmonic_bond_energy(positions, pairs, r0, k, box)


def coil_bond_force(bonds: Sequence[Sequence[int] | np.ndarray] | np.ndarray, *, k: float | unit.Quantity = COIL_BOND_K,
                    r0: float | unit.Quantity = COIL_BOND_NM, force_group: int = 0,
                    periodic: bool = False) -> openmm.CustomBondForce:
    """Harmonic bonds of the unzipped linkers: a freely jointed chain of 0.365 nm segments.

    ``E = sum 1/2 k (r - r0)^2``. No bending term: with the protein excluded volume acting from
    i,i+2 on (sigma 0.5 nm), the persistence length is ~0.5 nm (module docstring).
    """
    pairs = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    kk, rr = in_unit(k, _K_NM2), in_unit(r0, _NM)
    return _harmonic_bond_force(pairs, np.full(len(pairs), rr), np.full(len(pairs), kk), force_group, periodic,
                                "SNARE linker coil")


def coil_bond_energy(positions: np.ndarray, bonds: Sequence[Sequence[int] | np.ndarray] | np.ndarray, *,
                     k: float = COIL_BOND_K, r0: float = COIL_BOND_NM, box: Sequence[float] | None = None) -> float:
    """NumPy reference of :func:`coil_bond_force`, kJ/mol."""
    pairs = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    return _harmonic_bond_energy(positions, pairs, np.full(len(pairs), r0), np.full(len(pairs), k), box)


def native_contact_force(pairs: Sequence[Sequence[int] | np.ndarray] | np.ndarray, r0_nm: Sequence[float] | np.ndarray, *,
                         epsilon_kjmol: float | unit.Quantity, force_group: int = 0,
                         periodic: bool = False, clamp: float | None = None) -> openmm.CustomBondForce:
    """Go-like native contacts: ``E = s * eps * [5 (r0/r)^12 - 6 (r0/r)^10]`` per pair.

    The minimum, -eps, is at the native distance r0. The global parameter ``snare_contact_scale``
    (default 1) scales every contact and can be changed in a Context (e.g. to unzip by hand).
    With ``clamp`` (a factor, ``system.snares.clamp``) the force is the ``SNARE clamped contacts``: the
    attraction of its contacts is scaled by the global parameter ``snare_clamp`` as well (default
    ``clamp``), so that a protocol releasing the clamp changes only them; their repulsion inside r0 stays on
    (module docstring, "Clamped contacts"), so a clamped pair never sits deep inside its contact.

    Parameters
    ----------
    pairs : (M, 2) int
        Zipped native contacts (``SnareComplex.native_contacts()``).
    r0_nm : (M,) float
        Native distances, nm.
    epsilon_kjmol : float (kJ/mol) or Quantity
        Depth per contact; :data:`DEFAULT_CONTACT_EPSILON_KT` times kT (1.4 kT: a fully zipped complex
        holds 385 kT of Go energy and a zippering free energy of 37-62 kT; module docstring).
    """
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    r0 = np.asarray(r0_nm, dtype=np.float64).reshape(-1)
    if len(r0) != len(p):
        raise ValueError(f"r0_nm: {len(r0)} distances for {len(p)} pairs; give one per pair")
    eps = in_unit(epsilon_kjmol, _KJ)
    clamped = clamp is not None
    if clamped:
        energy = ("snare_contact_scale*eps*(snare_clamp*u+(1-snare_clamp)*step(r0-r)*(u+1)); "
                  "u=5*x^6-6*x^5; x=(r0/r)^2")
    else:
        energy = "snare_contact_scale*eps*(5*x^6-6*x^5); x=(r0/r)^2"
    force = openmm.CustomBondForce(energy)
    force.setName(CLAMPED_CONTACT_FORCE if clamped else NATIVE_CONTACT_FORCE)
    force.addGlobalParameter("snare_contact_scale", 1.0)
    if clamped:
        force.addGlobalParameter("snare_clamp", float(clamp))
    force.addPerBondParameter("eps")
    force.addPerBondParameter("r0")
    for (i, j), rr in zip(p, r0):
        force.addBond(int(i), int(j), [eps, float(rr)])
    force.setForceGroup(force_group)
    force.setUsesPeriodicBoundaryConditions(periodic)
    return force


def native_contact_energy(positions: np.ndarray, pairs: Sequence[Sequence[int] | np.ndarray] | np.ndarray,
                          r0_nm: Sequence[float] | np.ndarray, *, epsilon_kjmol: float, scale: float = 1.0,
                          clamp: float | None = None, box: Sequence[float] | None = None) -> float:
    """NumPy reference of :func:`native_contact_force`, kJ/mol; ``clamp``: the value of ``snare_clamp``
    for the clamped contacts (None: plain contacts)."""
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(p) == 0:
        return 0.0
    x = np.asarray(r0_nm, dtype=np.float64) / pair_distances(positions, p[:, 0], p[:, 1], box)
    u = 5.0 * x**12 - 6.0 * x**10
    if clamp is not None:
        u = clamp * u + (1.0 - clamp) * np.where(x > 1.0, u + 1.0, 0.0)
    return float(scale * epsilon_kjmol * np.sum(u))
