"""Slow, obviously-correct NumPy reference for the Cooke–Kremer–Deserno lipid model.

This module is the yardstick the fast OpenMM implementation is tested against. It favours
clarity over speed: every term is written out exactly as in the paper, evaluated pair by pair
with vectorised NumPy, and nothing is tabulated, switched or approximated.

The model (Cooke, Kremer & Deserno, Phys. Rev. E 72, 011506, 2005; the 4-bead variant of
Butu, An & O'Shaughnessy, Biophys. J. 2025). Every pair of beads interacts, bonded pairs
included (no exclusions):

* WCA repulsion ``4 eps [(b_ij/r)^12 - (b_ij/r)^6 + 1/4]`` for ``r < 2^(1/6) b_ij`` with
  ``b_ij = sigma * min(b_i, b_j)`` (``b = 0.95`` for heads, ``1.0`` for tails).
* Tail attraction for pairs with ``a_i a_j > 0``, strength ``eps_att = eps sqrt(a_i a_j)``,
  ``r_c = 2^(1/6) sigma``: ``-eps_att`` for ``r < r_c``;
  ``-eps_att cos^2(pi (r - r_c) / (2 w_c sigma))`` for ``r_c <= r <= r_c + w_c sigma``; 0 beyond.
* FENE bonds ``-1/2 k r_inf^2 ln(1 - (r/r_inf)^2)``, ``k = 30 eps/sigma^2``, ``r_inf = 1.5 sigma``.
* A harmonic "straightening" spring ``1/2 k_bend (r - r0)^2`` between the first and the last
  bead of each lipid, ``k_bend = 10 eps/sigma^2``, ``r0 = 4 sigma`` (3-bead) or ``6 sigma`` (4-bead).
* Orthorhombic periodic box, minimum-image convention.

Units: positions and lengths in nm, energies in kJ/mol, forces in kJ/mol/nm.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "TWO_SIXTH",
    "cooke_energy_forces",
    "cooke_pair_energy",
    "inputs_from_built",
    "lipid_topology",
]

#: 2^(1/6): the WCA cutoff in units of the bead size, and the attraction plateau edge r_c / sigma.
TWO_SIXTH = 2.0 ** (1.0 / 6.0)

#: Default FENE stiffness in eps/sigma^2 (Cooke et al. 2005).
K_FENE_REDUCED = 30.0
#: Default FENE maximum extension in sigma (Cooke et al. 2005).
R_INF_REDUCED = 1.5
#: Default straightening-spring stiffness in eps/sigma^2 (Cooke et al. 2005).
K_BEND_REDUCED = 10.0
#: Straightening-spring rest length in sigma, by number of beads in the lipid.
SPRING_R0_REDUCED = {3: 4.0, 4: 6.0}


# --------------------------------------------------------------------------------------------
# Topology helper
# --------------------------------------------------------------------------------------------
def lipid_topology(lipid_sizes, *, sigma, head_b=0.95, tail_b=1.0, tail_a=1.0):
    """Per-bead parameters and bonded terms for a sequence of linear Cooke lipids.

    Each lipid is one head bead followed by ``n - 1`` tail beads, stored contiguously in the
    given order.

    Parameters
    ----------
    lipid_sizes : sequence of int
        Number of beads of each lipid (3 or 4).
    sigma : float
        Length unit in nm (used for the spring rest lengths).
    head_b, tail_b : float
        Size factors of head and tail beads.
    tail_a : float
        Attraction strength of tail beads (heads get 0).

    Returns
    -------
    b, a : np.ndarray (N,)
    bonds : np.ndarray (M, 2) int
        FENE bonds between consecutive beads.
    springs : np.ndarray (K, 3) float
        ``i, j, r0_nm`` for the head-to-last-bead straightening spring.
    """
    b, a, bonds, springs = [], [], [], []
    start = 0
    for n in lipid_sizes:
        n = int(n)
        if n not in SPRING_R0_REDUCED:
            raise ValueError(f"lipids must have 3 or 4 beads, got {n}")
        b += [head_b] + [tail_b] * (n - 1)
        a += [0.0] + [tail_a] * (n - 1)
        bonds += [(start + k, start + k + 1) for k in range(n - 1)]
        springs.append((start, start + n - 1, SPRING_R0_REDUCED[n] * sigma))
        start += n
    return (
        np.asarray(b, dtype=float),
        np.asarray(a, dtype=float),
        np.asarray(bonds, dtype=np.int64).reshape(-1, 2),
        np.asarray(springs, dtype=float).reshape(-1, 3),
    )


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------
def _minimum_image(delta, box):
    """Minimum-image displacement vectors in an orthorhombic box."""
    return delta - box * np.round(delta / box)


def _wrap(positions, box):
    """Positions wrapped into [0, box) (cKDTree with boxsize needs this half-open range)."""
    wrapped = np.mod(positions, box)
    # np.mod can round a tiny negative coordinate up to exactly `box`.
    wrapped[wrapped >= box] = 0.0
    return wrapped


def _accumulate_pair_forces(n, i, j, dEdr, delta, r):
    """Forces from pair terms E(r_ij): F_i = dE/dr * (x_j - x_i)/r, F_j = -F_i.

    ``delta`` is ``x_j - x_i`` (minimum image).
    """
    fvec = (dEdr / r)[:, None] * delta  # force on i
    forces = np.zeros((n, 3))
    for k in range(3):
        forces[:, k] += np.bincount(i, weights=fvec[:, k], minlength=n)
        forces[:, k] -= np.bincount(j, weights=fvec[:, k], minlength=n)
    return forces


# --------------------------------------------------------------------------------------------
# Pair potential (scalar form, for documentation and tests)
# --------------------------------------------------------------------------------------------
def cooke_pair_energy(r, *, b_ij, eps_att, sigma, eps, wc):
    """Nonbonded Cooke energy of one pair at distance(s) ``r`` (nm), split into (wca, attraction).

    ``b_ij`` is the pair size in nm (``sigma * min(b_i, b_j)``), ``eps_att`` the attraction
    strength in kJ/mol (``eps * sqrt(a_i a_j)``, 0 for no attraction).
    """
    r = np.asarray(r, dtype=float)
    wca, _ = _wca(r, b_ij, eps)
    att, _ = _attraction(r, eps_att, sigma, wc)
    return wca, att


def _wca(r, b_ij, eps):
    """WCA energy and dE/dr; zero for r >= 2^(1/6) b_ij."""
    r = np.asarray(r, dtype=float)
    b_ij = np.broadcast_to(np.asarray(b_ij, dtype=float), r.shape)
    inside = r < TWO_SIXTH * b_ij
    energy = np.zeros_like(r)
    dEdr = np.zeros_like(r)
    s6 = (b_ij[inside] / r[inside]) ** 6
    energy[inside] = 4.0 * eps * (s6 * s6 - s6 + 0.25)
    dEdr[inside] = 4.0 * eps * (-12.0 * s6 * s6 + 6.0 * s6) / r[inside]
    return energy, dEdr


def _attraction(r, eps_att, sigma, wc):
    """Cosine-squared attraction energy and dE/dr (wc in units of sigma)."""
    r = np.asarray(r, dtype=float)
    eps_att = np.broadcast_to(np.asarray(eps_att, dtype=float), r.shape)
    rc = TWO_SIXTH * sigma
    width = wc * sigma
    energy = np.zeros_like(r)
    dEdr = np.zeros_like(r)

    plateau = (eps_att > 0) & (r < rc)
    energy[plateau] = -eps_att[plateau]

    tail = (eps_att > 0) & (r >= rc) & (r <= rc + width)
    x = np.pi * (r[tail] - rc) / (2.0 * width)
    energy[tail] = -eps_att[tail] * np.cos(x) ** 2
    # d/dr[-e cos^2 x] = 2 e cos x sin x dx/dr = e sin(2x) * pi / (2 width)
    dEdr[tail] = eps_att[tail] * np.sin(2.0 * x) * np.pi / (2.0 * width)
    return energy, dEdr


# --------------------------------------------------------------------------------------------
# Full energy and forces
# --------------------------------------------------------------------------------------------
def cooke_energy_forces(
    positions,
    box,
    b,
    a,
    bonds,
    springs,
    *,
    sigma,
    eps,
    wc,
    k_fene=None,
    r_inf=None,
    k_bend=None,
):
    """Potential energy and forces of a Cooke-model configuration.

    Parameters
    ----------
    positions : array_like (N, 3)
        Bead positions in nm (need not be wrapped into the box).
    box : array_like (3,)
        Orthorhombic periodic box edges in nm. Every edge must exceed twice the largest
        nonbonded cutoff so that the minimum image is unique.
    b : array_like (N,)
        Size factor of each bead (0.95 heads, 1.0 tails); pair size ``sigma * min(b_i, b_j)``.
    a : array_like (N,)
        Attraction strength of each bead (0 heads, 1 tails); pair strength ``eps sqrt(a_i a_j)``.
    bonds : array_like (M, 2) int
        FENE-bonded bead pairs.
    springs : array_like (K, 3) or (K, 4)
        ``i, j, r0_nm`` straightening springs; an optional 4th column gives a per-spring
        stiffness in kJ/mol/nm^2 overriding ``k_bend``.
    sigma : float
        Length unit in nm.
    eps : float
        Energy unit in kJ/mol.
    wc : float
        Attraction range in units of sigma (1.6 for the fluid bilayer).
    k_fene : float, optional
        FENE stiffness in kJ/mol/nm^2, default ``30 eps / sigma^2``.
    r_inf : float, optional
        FENE maximum extension in nm, default ``1.5 sigma``.
    k_bend : float, optional
        Spring stiffness in kJ/mol/nm^2, default ``10 eps / sigma^2``.

    Returns
    -------
    energy : float
        Total potential energy in kJ/mol.
    forces : np.ndarray (N, 3)
        Forces in kJ/mol/nm.
    terms : dict
        Energies by term, kJ/mol: ``wca``, ``attraction``, ``pair`` (= wca + attraction),
        ``fene`` and ``spring``.

    Raises
    ------
    ValueError
        On malformed input, a box too small for the cutoffs, or a FENE bond at or beyond
        ``r_inf`` (infinite energy).
    """
    x = np.asarray(positions, dtype=float)
    box = np.asarray(box, dtype=float).reshape(3)
    b = np.asarray(b, dtype=float).reshape(-1)
    a = np.asarray(a, dtype=float).reshape(-1)
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    springs = np.asarray(springs, dtype=float)
    springs = springs.reshape(-1, springs.shape[-1] if springs.size else 3)
    n = x.shape[0]
    if x.shape != (n, 3) or b.shape != (n,) or a.shape != (n,):
        raise ValueError("positions must be (N, 3) and b, a must be (N,)")
    if np.any(box <= 0):
        raise ValueError(f"box edges must be positive, got {box}")
    if np.any(a < 0):
        raise ValueError("attraction strengths a must be >= 0")
    if springs.shape[1] not in (3, 4):
        raise ValueError("springs must be (K, 3) [i, j, r0] or (K, 4) [i, j, r0, k]")

    k_fene = K_FENE_REDUCED * eps / sigma**2 if k_fene is None else float(k_fene)
    r_inf = R_INF_REDUCED * sigma if r_inf is None else float(r_inf)
    k_bend = K_BEND_REDUCED * eps / sigma**2 if k_bend is None else float(k_bend)

    forces = np.zeros((n, 3))
    terms = {}

    # ---- nonbonded: all pairs within the largest cutoff, bonded pairs included ----
    cutoff = TWO_SIXTH * sigma * (b.max() if n else 1.0)
    if np.any(a > 0):
        cutoff = max(cutoff, TWO_SIXTH * sigma + wc * sigma)
    if np.any(box <= 2.0 * cutoff):
        raise ValueError(
            f"box {box} nm too small: every edge must exceed twice the cutoff {cutoff:.6g} nm"
        )
    if n > 1:
        tree = cKDTree(_wrap(x, box), boxsize=box)
        pairs = tree.query_pairs(r=cutoff, output_type="ndarray")
    else:
        pairs = np.zeros((0, 2), dtype=np.int64)
    i, j = pairs[:, 0], pairs[:, 1]
    delta = _minimum_image(x[j] - x[i], box)
    r = np.linalg.norm(delta, axis=1)
    if np.any(r == 0):
        raise ValueError("two beads at the same position")

    b_ij = sigma * np.minimum(b[i], b[j])
    e_wca, d_wca = _wca(r, b_ij, eps)
    eps_att = eps * np.sqrt(a[i] * a[j])
    e_att, d_att = _attraction(r, eps_att, sigma, wc)
    terms["wca"] = float(e_wca.sum())
    terms["attraction"] = float(e_att.sum())
    terms["pair"] = terms["wca"] + terms["attraction"]
    forces += _accumulate_pair_forces(n, i, j, d_wca + d_att, delta, r)

    # ---- FENE bonds ----
    i, j = bonds[:, 0], bonds[:, 1]
    delta = _minimum_image(x[j] - x[i], box)
    r = np.linalg.norm(delta, axis=1)
    if np.any(r >= r_inf):
        bad = int(np.argmax(r))
        raise ValueError(
            f"FENE bond {tuple(int(v) for v in bonds[bad])} has length {r[bad]:.6g} nm "
            f">= r_inf = {r_inf:.6g} nm"
        )
    stretch = (r / r_inf) ** 2
    terms["fene"] = float(np.sum(-0.5 * k_fene * r_inf**2 * np.log1p(-stretch)))
    # d/dr[-1/2 k R^2 ln(1 - r^2/R^2)] = k r / (1 - r^2/R^2)
    forces += _accumulate_pair_forces(n, i, j, k_fene * r / (1.0 - stretch), delta, r)

    # ---- straightening springs ----
    i = springs[:, 0].astype(np.int64)
    j = springs[:, 1].astype(np.int64)
    r0 = springs[:, 2]
    k = springs[:, 3] if springs.shape[1] == 4 else np.full(len(springs), k_bend)
    delta = _minimum_image(x[j] - x[i], box)
    r = np.linalg.norm(delta, axis=1)
    terms["spring"] = float(np.sum(0.5 * k * (r - r0) ** 2))
    forces += _accumulate_pair_forces(n, i, j, k * (r - r0), delta, r)

    energy = terms["pair"] + terms["fene"] + terms["spring"]
    return energy, forces, terms



# --------------------------------------------------------------------------------------------
# Inputs from a built snarefuse system
# --------------------------------------------------------------------------------------------
def inputs_from_built(built):
    """Keyword arguments for :func:`cooke_energy_forces` (and the LAMMPS reference) describing a
    :class:`snarefuse.build.BuiltSystem`, derived from its topology and spec, *not* from its
    ``openmm.System`` (so the two can be compared).

    Every residue must be a lipid species of the spec: atoms head first, then the tail beads in
    chain order. Returns a dict with ``positions, box, b, a, bonds, springs, sigma, eps, wc``.
    """
    spec = built.spec
    sigma = spec.model.sigma_nm
    b, a, bonds, springs = [], [], [], []
    for res in built.topology.residues():
        if res.name not in spec.lipids:
            raise NotImplementedError(f"residue {res.name!r} is not a lipid species of the spec")
        species = spec.lipids[res.name]
        idx = [atom.index for atom in res.atoms()]
        if idx != list(range(idx[0], idx[0] + len(idx))) or len(idx) not in SPRING_R0_REDUCED:
            raise ValueError(f"residue {res.name} {res.index}: expected 3 or 4 contiguous beads")
        if len(b) != idx[0]:
            raise ValueError("atoms are not ordered residue by residue")
        b += [species.head_size] + [1.0] * (len(idx) - 1)
        a += [0.0] + [species.tail_attraction] * (len(idx) - 1)
        bonds += list(zip(idx[:-1], idx[1:]))
        springs.append((idx[0], idx[-1], SPRING_R0_REDUCED[len(idx)] * sigma))
    return dict(
        positions=np.asarray(built.positions, dtype=float),
        box=np.asarray(built.box, dtype=float),
        b=np.asarray(b, dtype=float),
        a=np.asarray(a, dtype=float),
        bonds=np.asarray(bonds, dtype=np.int64).reshape(-1, 2),
        springs=np.asarray(springs, dtype=float).reshape(-1, 3),
        sigma=sigma,
        eps=built.units.epsilon_kjmol,
        wc=spec.model.wc_nm / sigma,
    )
