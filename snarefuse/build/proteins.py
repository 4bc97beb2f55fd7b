"""SNARE complexes in fusion geometries: a ring of trans-SNAREpins around the contact axis, their
topology (real residue names and numbers, one chain per helix) and their forces.

Placement: complex k has its membrane-proximal (layer +8) end on a ring of radius
``snares.ring_radius`` around the contact axis at azimuth 2 pi k / N, its N-terminus pointing
radially outward, lying in the cleft parallel to the membranes (``snare.place_complex_between``);
the VAMP2 TMD crosses membrane 1 (the vesicle / upper membrane, v-SNARE side) and the syntaxin
TMD membrane 0 (the target membrane). On a vesicle the local midplane height at the complex's
lateral position is used (planar approximation over the complex's footprint).

Interactions: protein beads join the lipids' single ``CookePair`` force with their own per-particle
parameters — size b = PROTEIN_SIGMA_NM / sigma (WCA with everything, the Cooke min() rule) and tail
attraction a = 0 (hydrophilic residues) or a = t^2 for TMD residues, so that a TMD bead attracts a
lipid tail bead with t epsilon (geometric mean rule; t = ``snares.tmd_tail_attraction``). Protein
pairs that carry bonded terms are excluded from it. The TMD's C-terminal residue (charged carboxylate)
has a = 0, and the interfacial anchor residues (``SnareComplex.anchor_indices``: juxtamembrane W/Y/K/R and
that C-terminus) attract lipid head beads through one more force, ``SNARE interface anchor``
(``snares.anchor_strength``, :func:`snarefuse.forces.interface_anchor_force`), which holds the TMD ends at
the two interfaces so that a TMD spans its membrane instead of lying flat at the midplane. Joining
CookePair costs nothing for lipid–lipid pairs (no second full nonbonded force, which would double the
lipid pair cost: bench/README.md);
the anchor force is restricted to the small anchor x head interaction group (its measured cost is in
:func:`snarefuse.forces.interface_anchor_force`). Bonded terms (helix
bonds and i,i+3/i,i+4 restraints, linker coil bonds, Go native contacts by layer) come from
:mod:`snarefuse.forces`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import openmm
from openmm import app
from scipy.spatial import cKDTree

from ..errors import BuildError
from ..forcefield import PAIR_FORCE_NAME
from ..forces import (ANCHOR_PLATEAU_SIGMA, ANCHOR_WIDTH_SIGMA, PROTEIN_BEAD_MASS_AMU, PROTEIN_SIGMA_NM,
                      coil_bond_force, helix_bonded_force, interface_anchor_force, native_contact_force)
from ..spec import SnareSpec, Spec
from .snare import SnareComplex, build_snare_complex, clamped_native_contacts, place_complex_between

#: Force group of the protein bonded terms (0-2 hold the lipid terms, 3 the short-range WCA force of the
#: split pair formulations in snarefuse.formulations).
FORCE_GROUP_PROTEIN = 4
#: Lipids with any bead closer than this to a protein bead are removed at build time (nm).
LIPID_CLEARANCE_NM = 0.7
#: Beads of two different complexes closer than this (nm) mean the ring is too crowded.
MIN_COMPLEX_SEPARATION_NM = 0.6
#: Minimum distance (nm) of bundle beads from the head-group surfaces at placement: the protein-head
#: WCA contact distance, 2^(1/6) x 0.5 nm = 0.56 nm, rounded up.
BUNDLE_CLEARANCE_NM = 0.6

CHAIN_PREFIX = {"A": "V", "B": "S", "C": "N", "D": "C"}  # VAMP2, syntaxin, SNAP-25 SN1, SN2


@dataclass
class MembraneShape:
    """Enough of a membrane's geometry to find its local midplane height above a lateral point."""

    kind: str                 # planar | vesicle
    midplane_z: float = 0.0   # planar
    center: np.ndarray | None = None  # vesicle
    radius: float = 0.0       # vesicle midplane radius

    def local_midplane(self, xy: np.ndarray, facing_up: bool) -> float:
        """Midplane height at lateral position ``xy`` on the side facing the other membrane."""
        if self.kind == "planar":
            return self.midplane_z
        assert self.center is not None
        rho2 = float(np.sum((np.asarray(xy) - self.center[:2]) ** 2))
        if rho2 >= self.radius**2:
            raise BuildError(f"system.snares.ring_radius: lateral position {np.sqrt(rho2):.2f} nm from the vesicle "
                             f"axis is outside the vesicle (radius {self.radius:.2f} nm)")
        dz = math.sqrt(self.radius**2 - rho2)
        return self.center[2] + dz if facing_up else self.center[2] - dz


def place_ring(spec: Spec, shapes: list[MembraneShape], box: np.ndarray) -> list[SnareComplex]:
    """Build and place ``snares.n_complexes`` complexes on a ring around the contact axis."""
    sn = spec.system.snares
    assert sn is not None
    if sn.n_complexes == 0:
        return []
    if len(shapes) != 2:
        raise BuildError("system.snares: SNARE complexes bridge two membranes; use a two-membrane geometry")
    centre = box[:2] / 2
    rng = np.random.default_rng(spec.seed + 7)
    if sn.ring_radius_nm >= box[0] / 2:
        raise BuildError(f"system.snares.ring_radius: {sn.ring_radius_nm:.2f} nm reaches past half the box width "
                         f"({box[0] / 2:.2f} nm); use a smaller ring or a larger membrane")
    out = []
    for k in range(sn.n_complexes):
        phi = 2 * math.pi * k / sn.n_complexes
        xy = centre + sn.ring_radius_nm * np.array([math.cos(phi), math.sin(phi)])
        z_t = shapes[0].local_midplane(xy, facing_up=True)
        z_v = shapes[1].local_midplane(xy, facing_up=False)
        cx = build_snare_complex(tuple(sn.zipped_layers), tuple(sn.linker_unzipped), seed=int(rng.integers(2**31)),
                                 clamp_layers=tuple(sn.clamp.layers) if sn.clamp is not None else None)
        try:
            placed = place_complex_between(cx, z_v, z_t, xy, phi, head_offset_nm=spec.model.head_offset_nm,
                                           clearance_nm=BUNDLE_CLEARANCE_NM,
                                           seed=int(rng.integers(2**31)))
        except BuildError as e:
            raise BuildError(f"system.cleft / system.snares: cannot place complex {k} at {np.round(xy, 2)} nm "
                             f"(local midplanes {z_t:.2f} and {z_v:.2f} nm): {e}") from None
        out.append(placed)
    check_complex_overlaps(out, box, sn.ring_radius_nm)
    return out


def check_complex_overlaps(complexes: list[SnareComplex], box: np.ndarray, ring_radius_nm: float) -> None:
    """Refuse complexes closer than :data:`MIN_COMPLEX_SEPARATION_NM` to each other or to any periodic image of
    any complex (itself included).

    A complex lies in the cleft with its N-terminus pointing radially outward, so it may cross the box edge;
    that is harmless as long as no bundle meets another one's image (with an even number of complexes the
    bundle at azimuth phi and the one at phi + pi point at each other across the boundary)."""
    lx, ly, lz = (float(x) for x in box[:3])
    wrapped = [np.mod(c.positions, [lx, ly, lz]) for c in complexes]
    for i, c in enumerate(complexes):
        span = np.ptp(c.positions[:, :2], axis=0)
        if (span > np.array([lx, ly]) - MIN_COMPLEX_SEPARATION_NM).any():
            raise BuildError(f"system.snares: complex {i} spans {span.max():.2f} nm laterally and meets its own "
                             f"periodic image in a box of {lx:.2f} x {ly:.2f} nm; use a larger membrane")
    trees = [cKDTree(w, boxsize=[lx, ly, lz]) for w in wrapped]
    for i in range(len(complexes)):
        for j in range(i + 1, len(complexes)):
            d, k = trees[i].query(wrapped[j])
            if d.min() < MIN_COMPLEX_SEPARATION_NM:
                pa = complexes[j].positions[int(np.argmin(d))]
                pb = complexes[i].positions[int(k[int(np.argmin(d))])]
                across = bool((np.abs(pa[:2] - pb[:2]) > np.array([lx, ly]) / 2).any())
                where = "across the periodic boundary (one meets the other's image)" if across else "on the ring"
                reach = float(np.hypot(*(complexes[i].positions[:, :2] - box[:2] / 2).T).max())
                raise BuildError(f"system.snares: complexes {i} and {j} overlap ({d.min():.2f} nm apart) {where}; "
                                 f"complex {i} reaches {reach:.1f} nm from the contact axis (ring radius "
                                 f"{ring_radius_nm:.2f} nm) in a box {lx:.2f} nm wide: "
                                 "use a smaller ring_radius, fewer complexes, or a larger membrane "
                                 "(system.bilayer.n_lipids / system.box_xy)")


def lipids_clear_of(lipid_positions: np.ndarray, complexes: list[SnareComplex], box: np.ndarray) -> np.ndarray:
    """Boolean mask over lipids (``lipid_positions`` of shape (n, beads, 3)): True where no bead
    is within :data:`LIPID_CLEARANCE_NM` of a protein bead (periodic)."""
    if not complexes or len(lipid_positions) == 0:
        return np.ones(len(lipid_positions), dtype=bool)
    prot = np.concatenate([c.positions for c in complexes]) % box
    tree = cKDTree(prot, boxsize=box)
    flat = lipid_positions.reshape(-1, 3) % box
    d, _ = tree.query(flat, distance_upper_bound=LIPID_CLEARANCE_NM)
    clash = np.isfinite(d).reshape(lipid_positions.shape[:2]).any(axis=1)
    return ~clash


def add_to_topology(top: app.Topology, complexes: list[SnareComplex]) -> list[dict[str, Any]]:
    """Append the complexes to ``top``: one chain per helix (ids V<k>, S<k>, N<k>, C<k>), one bead
    named CA per residue with its real residue name and number. Returns per-complex records."""
    records = []
    for k, cx in enumerate(complexes):
        chains: dict[str, app.Chain] = {}
        first = top.getNumAtoms()
        for r in cx.residues:
            if r.chain_id not in chains:
                chains[r.chain_id] = top.addChain(f"{CHAIN_PREFIX[r.chain_id]}{k}")
            res = top.addResidue(r.resname, chains[r.chain_id], id=str(r.resid))
            top.addAtom("CA", None, res)
        atoms = list(top.atoms())
        prev = None
        for r in cx.residues:
            a = atoms[first + r.index]
            if prev is not None and prev[0] == r.chain_id:
                top.addBond(prev[1], a)
            prev = (r.chain_id, a)
        records.append({
            "complex": k, "first_atom": first, "n_atoms": cx.n_residues,
            "chains": {CHAIN_PREFIX[c] + str(k): name for c, name in
                       (("A", "VAMP2"), ("B", "syntaxin-1A"), ("C", "SNAP-25B SN1"), ("D", "SNAP-25B SN2"))},
            "zipped_layers": list(cx.zipped_layers), "linker_unzipped": list(cx.linker_unzipped),
            "helix": cx.chain_ids.tolist(), "resid": cx.resids.tolist(),
            "layer": cx.layers.tolist(), "segment": cx.segments.tolist(), "is_core": cx.is_core.tolist(),
            "anchor": np.isin(np.arange(cx.n_residues), cx.anchor_indices()).tolist(),
        })
    return records


def add_forces(system: openmm.System, complexes: list[SnareComplex], first_atoms: list[int], spec: Spec) -> None:
    """Add the protein particles (to the ``CookePair`` force) and their bonded forces to a System holding
    the lipids. The interfacial anchor force is not added here: it covers every particle of the System, so
    :func:`add_anchor_force` comes after the last particle (lumen gas included) is added."""
    sn = spec.system.snares
    assert sn is not None
    sigma = spec.model.sigma_nm
    nb = [f for f in system.getForces() if isinstance(f, openmm.CustomNonbondedForce) and f.getName() == PAIR_FORCE_NAME]
    if len(nb) != 1:
        raise BuildError("internal: expected one CookePair force to extend with protein beads")
    pair = nb[0]
    b_prot = PROTEIN_SIGMA_NM / sigma
    a_tmd = sn.tmd_tail_attraction**2
    helices, coils, contacts, r0s, in_clamp = [], [], [], [], []
    for cx, first in zip(complexes, first_atoms):
        # the TMD's C-terminal residue is polar (carboxylate): an anchor, not tail-attracting
        tmd = set(cx.tmd_indices().tolist()) - set(cx.tmd_cterm_indices().tolist())
        for i in range(cx.n_residues):
            idx = system.addParticle(PROTEIN_BEAD_MASS_AMU)
            assert idx == first + i, "protein particles must follow the lipids in topology order"
            pair.addParticle([b_prot, a_tmd if i in tmd else 0.0])
        helices += [s + first for s in cx.helical_stretches()]
        coils.append(cx.coil_bonds() + first)
        if sn.clamp is not None:  # clamped layers carry their contacts even where they are built open
            p, r0, held_here = clamped_native_contacts(cx, sn.clamp.layers)
            in_clamp.append(held_here)
        else:
            p, r0 = cx.native_contacts()
        contacts.append(p + first)
        r0s.append(r0)
    for i, j in _excluded_pairs(complexes, first_atoms):
        pair.addExclusion(int(i), int(j))
    kt = spec.model.units.kt_kjmol
    pairs, r0 = np.concatenate(contacts), np.concatenate(r0s)
    held = np.concatenate(in_clamp) if sn.clamp is not None else np.zeros(len(pairs), dtype=bool)
    for f in (helix_bonded_force(helices, force_group=FORCE_GROUP_PROTEIN, periodic=True),
              coil_bond_force(np.concatenate(coils), force_group=FORCE_GROUP_PROTEIN, periodic=True),
              native_contact_force(pairs[~held], r0[~held], epsilon_kjmol=sn.contact_strength_kt * kt,
                                   force_group=FORCE_GROUP_PROTEIN, periodic=True)):
        system.addForce(f)
    if sn.clamp is not None:
        system.addForce(native_contact_force(pairs[held], r0[held], epsilon_kjmol=sn.contact_strength_kt * kt,
                                             force_group=FORCE_GROUP_PROTEIN, periodic=True,
                                             clamp=sn.clamp.factor))


def _excluded_pairs(complexes: list[SnareComplex], first_atoms: list[int]) -> np.ndarray:
    """The protein pairs excluded from the nonbonded forces (those carrying bonded terms), (K, 2) System indices."""
    return np.concatenate([cx.excluded_pairs() + first for cx, first in zip(complexes, first_atoms)])


def add_anchor_force(system: openmm.System, complexes: list[SnareComplex], first_atoms: list[int], spec: Spec,
                     heads: np.ndarray | list[int]) -> None:
    """Add the ``SNARE interface anchor`` force (none when ``snares.anchor_strength`` is 0): the anchor
    residues attract ``heads`` (the lipid head beads). Call it once every particle is in the System: the
    force has one entry per particle, and particles added later (lumen gas) would leave it short."""
    sn = spec.system.snares
    assert sn is not None
    if sn.anchor_strength <= 0:
        return
    sigma = spec.model.sigma_nm
    anchors = np.concatenate([cx.anchor_indices() + first for cx, first in zip(complexes, first_atoms)])
    system.addForce(interface_anchor_force(
        system.getNumParticles(), heads, anchors,
        epsilon_kjmol=sn.anchor_strength * spec.model.units.epsilon_kjmol,
        plateau_nm=ANCHOR_PLATEAU_SIGMA * sigma, width_nm=ANCHOR_WIDTH_SIGMA * sigma,
        excluded_pairs=_excluded_pairs(complexes, first_atoms), periodic=True, force_group=FORCE_GROUP_PROTEIN))


__all__ = ["MembraneShape", "place_ring", "lipids_clear_of", "add_to_topology", "add_forces", "add_anchor_force",
           "SnareSpec"]
