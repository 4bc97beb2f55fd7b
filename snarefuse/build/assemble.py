"""Assemble geometry into a :class:`BuiltSystem`: topology, positions, box, ``openmm.System``.

Topology conventions (relied on by the analysis package): a lipid is one residue named after its
species, atoms ``H, T1, T2[, T3]`` bonded along the chain, no elements; each membrane is one chain
(chain index = membrane id). SNARE proteins follow the lipids (one chain per helix), then the gas
beads of each vesicle's lumen (one chain per vesicle, one ``GAS`` residue per bead; :mod:`.gas`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openmm
from openmm import app

from .. import __version__
from ..errors import BuildError
from ..forcefield import create_system, forcefield_xml
from ..io import atomic_write_json, atomic_write_text
from ..psf import psf_text
from ..rundir import RunDirectory
from ..structure import structure_file_name, structure_text
from ..spec import Spec, vesicle_head_offset_nm
from .bilayer import Disc, LeafletGeometry, head_plane_offset, planar_bilayer, split_counts
from .gas import add_lumen_gas, place_lumen_gas
from .proteins import MembraneShape, add_anchor_force, add_forces, add_to_topology, lipids_clear_of, place_ring
from .vesicle import vesicle_lipid_positions



@dataclass
class BuiltSystem:
    """A built system, ready to simulate.

    Attributes
    ----------
    spec : Spec
    topology : openmm.app.Topology
    positions : np.ndarray, shape (N, 3), float64, nm
    box : np.ndarray, shape (3,), nm (orthorhombic)
    system : openmm.System
    manifest : dict
        Counts, bead types, membranes, unit mapping (written as ``manifest.json``).
    """

    spec: Spec
    topology: app.Topology
    positions: np.ndarray
    box: np.ndarray
    system: openmm.System
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def units(self):  # noqa: ANN201
        return self.spec.model.units

    def save(self, directory: str | Path) -> Path:
        """Write ``system.pdb`` (``system.cif`` for systems past the PDB format's limits), ``system.psf``,
        ``system.xml``, ``spec.yaml``, ``manifest.json``, ``forcefield.xml``.

        The structure file and the PSF carry the same residue numbers, segments and every bond
        (:mod:`snarefuse.structure`); ``manifest.json`` names the structure file (``structure_file``).

        Refuses (``BuildError``) to write into a directory that holds other files, except a
        previous build of the very same spec (then nothing is rewritten).
        """
        rd = RunDirectory(directory)
        d = rd.path
        if d.exists() and not d.is_dir():
            raise BuildError(f"{d}: exists and is not a directory")
        if d.exists() and any(d.iterdir()):
            if rd.is_built():
                manifest = rd.peek_json(rd.manifest_json)
                old = manifest.get("spec_key") if isinstance(manifest, dict) else None
                if old == self.spec.key():
                    return d
                raise BuildError(f"{d}: holds a system built from another spec (key {old}, this spec "
                                 f"{self.spec.key()}); choose another output directory or remove it")
            raise BuildError(f"{d}: directory is not empty and is not a snarefuse build; "
                             "choose an empty or new directory")
        d.mkdir(parents=True, exist_ok=True)
        name, text = structure_text(self.topology, self.positions, self.box)
        atomic_write_text(rd.structure_file(Path(name).suffix.lstrip(".")), text)
        masses = [self.system.getParticleMass(i).value_in_unit(openmm.unit.dalton)
                  for i in range(self.system.getNumParticles())]
        atomic_write_text(rd.system_psf, psf_text(self.topology, masses))
        atomic_write_text(rd.system_xml, openmm.XmlSerializer.serialize(self.system))
        atomic_write_text(rd.forcefield_xml, forcefield_xml(self.spec.model, self.spec.lipids))
        self.spec.dump(rd.spec_yaml)
        atomic_write_json(rd.manifest_json, self.manifest)  # last: marks the build complete
        return d


#: Force group of the system.hold restraint (apart from the lipid and protein forces, so its energy can be read).
FORCE_GROUP_HOLD = 5
HOLD_FORCE_NAME = "Membrane hold"


def add_hold_force(system: openmm.System, membranes: list[list[int]], distance_nm: float, strength_kjmol_nm2: float) \
        -> openmm.CustomCVForce:
    """The flat-bottom restraint of ``system.hold`` on the z distance of two membranes' centres of mass.

    Zero while the centres are at most ``distance_nm`` apart along z, ``k/2 (d - distance)^2`` beyond. Each centre
    is a collective variable, a mass-weighted mean z over one membrane's beads (unwrapped coordinates: a planar
    membrane spans the box laterally, so only its z centre means anything, and it does not cross the box's z faces).
    Collective variables bond no particles, so each lipid stays a molecule of its own for the barostat's scaling; a
    centroid bond force would join all the membranes' beads into one molecule and the barostat could not move them.
    """
    force = openmm.CustomCVForce("0.5*k_hold*step(d-d_hold)*(d-d_hold)^2; d=abs(z1-z0)")
    force.addGlobalParameter("k_hold", strength_kjmol_nm2)
    force.addGlobalParameter("d_hold", distance_nm)
    for m, atoms in enumerate(membranes):
        centre = openmm.CustomExternalForce("w*z")
        centre.addPerParticleParameter("w")
        masses = np.array([system.getParticleMass(a).value_in_unit(openmm.unit.dalton) for a in atoms])
        for a, w in zip(atoms, masses / masses.sum()):
            centre.addParticle(a, [w])
        force.addCollectiveVariable(f"z{m}", centre)
    force.setName(HOLD_FORCE_NAME)
    force.setForceGroup(FORCE_GROUP_HOLD)
    system.addForce(force)
    return force


def check_per_particle_forces(system: openmm.System) -> None:
    """Raise :class:`BuildError` unless every nonbonded force has one entry per particle of ``system``.

    OpenMM refuses such a System only when a context is created, with a message that names no force;
    a builder that adds particles after a force that needs an entry for each of them is caught here.
    """
    n = system.getNumParticles()
    short = [f"{f.getName()!r} ({f.__class__.__name__}: {f.getNumParticles()} particles)"
             for f in system.getForces()
             if isinstance(f, (openmm.NonbondedForce, openmm.CustomNonbondedForce)) and f.getNumParticles() != n]
    if short:
        raise BuildError(f"internal: the built System has {n} particles but {', '.join(short)}; every particle "
                         "must be added before the forces that hold one entry per particle")


def _add_membrane(top: app.Topology, chain: app.Chain, leaflets: list[LeafletGeometry], beads: int,
                  out: list[np.ndarray]) -> list[int]:
    names = ["H"] + [f"T{i}" for i in range(1, beads)]
    counts = [0, 0]
    for li, lf in enumerate(leaflets):
        for pos, sp in zip(lf.positions, lf.species):
            res = top.addResidue(str(sp), chain)
            atoms = [top.addAtom(n, None, res) for n in names]
            for a, b in zip(atoms[:-1], atoms[1:]):
                top.addBond(a, b)
            out.append(pos)
            counts[li] += 1
    return counts


def _assign_species(n: int, composition: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    species = np.array([s for s, c in split_counts(n, composition).items() for _ in range(c)], dtype=object)
    rng.shuffle(species)
    return species


def _vesicle(spec: Spec, center: np.ndarray, rng: np.random.Generator) -> tuple[list[LeafletGeometry], dict]:
    model, ves = spec.model, spec.system.vesicle
    assert ves is not None
    v = vesicle_lipid_positions(ves.radius_nm, ves.area_per_lipid_nm2, n_beads=model.beads_per_lipid,
                                seed=int(rng.integers(2**31)), head_offset_nm=vesicle_head_offset_nm(model),
                                center_nm=center)
    leaflets = []
    for label, comp in (("outer", ves.outer), ("inner", ves.inner)):
        pos = v.positions[v.leaflet == label]
        leaflets.append(LeafletGeometry(pos, _assign_species(len(pos), comp, rng)))
    info = {"kind": "vesicle", "center_nm": [float(x) for x in center], "radius_nm": ves.radius_nm,
            "outer_head_radius_nm": v.outer_head_radius_nm, "inner_head_radius_nm": v.inner_head_radius_nm}
    return leaflets, info


def build_system(spec: Spec) -> BuiltSystem:
    """Build the system a spec describes.

    Membranes are stacked along z around the box centre; the contact axis of two-membrane
    geometries is the z axis through the centre of the box (x = y = L/2). Membrane 0 is the
    target membrane (the lower planar bilayer, the planar bilayer of ``vesicle_planar``, or the
    lower vesicle); membrane 1 the apposed one.

    Examples
    --------
    >>> from snarefuse.spec import load_spec, example_spec_path
    >>> built = build_system(load_spec(example_spec_path("bilayer_small")))
    >>> built.positions.shape
    (1200, 3)
    """
    model, geo = spec.model, spec.system
    rng = np.random.default_rng(spec.seed)
    beads = model.beads_per_lipid
    sigma = model.sigma_nm
    box_xy = geo.lateral_box_nm
    box = np.array([box_xy, box_xy, geo.box_z_nm])
    centre = box / 2
    h = head_plane_offset(beads, sigma)
    cleft = geo.cleft_nm or 0.0

    # (leaflets, info) per membrane, bottom to top
    membranes_geo: list[tuple[list[LeafletGeometry], dict[str, Any]]] = []

    def planar(z: float, turned_over: bool = False) -> tuple[list[LeafletGeometry], dict[str, Any]]:
        bl = geo.bilayer
        assert bl is not None
        n_total = bl.n_lipids if bl.n_lipids is not None else int(round(2 * box_xy**2 / bl.area_per_lipid_nm2))
        upper, lower = (bl.lower, bl.upper) if turned_over else (bl.upper, bl.lower)
        # the discs come with proximal/distal only: the lower bilayer's upper leaflet and the turned-over upper
        # bilayer's lower leaflet face the cleft
        prox, dist = (None if d is None else Disc(d.radius_nm, d.composition)
                      for d in (bl.proximal_disc, bl.distal_disc))
        up, lo = planar_bilayer(n_total // 2, n_total - n_total // 2, box_xy, z, beads, sigma, upper, lower, rng,
                                upper_disc=dist if turned_over else prox, lower_disc=prox if turned_over else dist)
        return [up, lo], {"kind": "planar", "midplane_z_nm": z}

    if geo.geometry == "bilayer":
        membranes_geo.append(planar(centre[2]))
    elif geo.geometry == "two_bilayers":
        sep = 2 * h + cleft
        assert geo.bilayer is not None
        membranes_geo += [planar(centre[2] - sep / 2), planar(centre[2] + sep / 2, turned_over=geo.bilayer.facing)]
    elif geo.geometry == "vesicle_planar":
        assert geo.vesicle is not None
        rv = geo.vesicle.radius_nm + vesicle_head_offset_nm(model)
        stack = 2 * h + cleft + 2 * rv
        z0 = centre[2] - stack / 2
        membranes_geo.append(planar(z0 + h))
        membranes_geo.append(_vesicle(spec, np.array([centre[0], centre[1], z0 + 2 * h + cleft + rv]), rng))
    elif geo.geometry == "vesicle_vesicle":
        assert geo.vesicle is not None
        rv = geo.vesicle.radius_nm + vesicle_head_offset_nm(model)
        z0 = centre[2] - (4 * rv + cleft) / 2
        membranes_geo.append(_vesicle(spec, np.array([centre[0], centre[1], z0 + rv]), rng))
        membranes_geo.append(_vesicle(spec, np.array([centre[0], centre[1], z0 + 3 * rv + cleft]), rng))
    else:  # pragma: no cover - spec validation prevents this
        raise BuildError(f"system.geometry: {geo.geometry!r} is not implemented")

    # SNARE complexes first: lipids that overlap them are removed
    complexes = []
    if geo.snares is not None and geo.snares.n_complexes > 0:
        shapes = [MembraneShape("planar", midplane_z=i["midplane_z_nm"]) if i["kind"] == "planar" else
                  MembraneShape("vesicle", center=np.array(i["center_nm"]), radius=i["radius_nm"])
                  for _, i in membranes_geo]
        complexes = place_ring(spec, shapes, box)
    removed = 0
    if complexes:
        for leaflets, _ in membranes_geo:
            for k, lf in enumerate(leaflets):
                keep = lipids_clear_of(lf.positions, complexes, box)
                removed += int((~keep).sum())
                leaflets[k] = LeafletGeometry(lf.positions[keep], lf.species[keep])

    top = app.Topology()
    chunks: list[np.ndarray] = []
    membranes = []
    first_res = 0
    for m, (leaflets, info) in enumerate(membranes_geo):
        chain = top.addChain(chr(ord("A") + m))
        counts = _add_membrane(top, chain, leaflets, beads, chunks)
        names = ("n_upper", "n_lower") if info["kind"] == "planar" else ("n_outer", "n_inner")
        membranes.append({"id": m, "chain": chain.id, **info, "n_lipids": sum(counts), names[0]: counts[0],
                          names[1]: counts[1], "first_residue": first_res})
        first_res += sum(counts)
    top.setPeriodicBoxVectors([openmm.Vec3(box[0], 0, 0), openmm.Vec3(0, box[1], 0), openmm.Vec3(0, 0, box[2])])
    system = create_system(top, model, spec.lipids)  # lipids only; proteins are added below
    system.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*row) for row in np.diag(box)])
    if geo.hold is not None:
        lipid_atoms = [[a.index for a in chain.atoms()] for chain in list(top.chains())[:len(membranes)]]
        add_hold_force(system, lipid_atoms, geo.hold.distance_nm, geo.hold.strength_kt_nm2 * model.units.kt_kjmol)
    snare_records: list[dict[str, Any]] = []
    if complexes:
        snare_records = add_to_topology(top, complexes)
        add_forces(system, complexes, [r["first_atom"] for r in snare_records], spec)
        chunks += [c.positions for c in complexes]
    fills = place_lumen_gas(spec, [info for _, info in membranes_geo],
                            np.concatenate([c.positions for c in complexes]) if complexes else None)
    for fill, record in zip(fills, add_lumen_gas(top, system, fills, model.bead_mass_amu)):
        membranes[fill.membrane]["lumen"] = record
        chunks.append(fill.positions)
    # forces with one entry per particle that only some particles take part in come last, once every
    # particle (lipids, proteins, gas) is in the System
    if complexes:
        heads = [a.index for a in top.atoms() if a.name == "H" and a.residue.chain.index < len(membranes)]
        add_anchor_force(system, complexes, [r["first_atom"] for r in snare_records], spec, heads)
    check_per_particle_forces(system)
    positions = np.concatenate([c.reshape(-1, 3) for c in chunks]) if chunks else np.zeros((0, 3))

    units = model.units
    species_counts: dict[str, int] = {}
    for res in top.residues():
        species_counts[res.name] = species_counts.get(res.name, 0) + 1
    manifest = {
        "snarefuse_version": __version__,
        "openmm_version": openmm.__version__,
        "spec_key": spec.key(),
        "name": spec.name,
        "geometry": geo.geometry,
        "n_atoms": int(positions.shape[0]),
        "n_lipids": int(sum(m["n_lipids"] for m in membranes)),
        "beads_per_lipid": beads,
        "bead_names": ["H"] + [f"T{i}" for i in range(1, beads)],
        "species": {k: {"count": species_counts.get(k, 0), **v.to_dict()} for k, v in sorted(spec.lipids.items())},
        "membranes": membranes,
        "snares": snare_records,
        "lipids_removed_for_proteins": removed,
        "n_gas": int(sum(len(f.positions) for f in fills)),
        "contact_axis": {"point_nm": [float(centre[0]), float(centre[1]), float(centre[2])], "direction": [0, 0, 1]},
        "box_nm": box.tolist(),
        "units": units.as_dict(),
        "forces": [f.getName() for f in system.getForces()],
        "structure_file": structure_file_name(top, positions),
    }
    return BuiltSystem(spec, top, positions, box, system, manifest)
