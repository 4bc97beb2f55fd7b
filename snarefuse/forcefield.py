"""Load a lipid force field by name and create the ``openmm.System``.

The model lives in ``forcefields/cooke3.xml`` / ``cooke4.xml`` as OpenMM ForceField XML, with
parameters in reduced units and three global parameters (``cooke_eps``, ``cooke_sigma``,
``cooke_wc``) carrying the mapping to MD units. This module

1. registers the ``<SnarefuseChainSpring>`` tag (the head-to-last-tail straightening spring, a
   1–3 or 1–4 distance spring that OpenMM's bond generators cannot express because the pair is
   not bonded in the topology),
2. derives one set of atom types / residue template per lipid species of a spec from the
   prototype species ``CKL`` (head size ``b`` and tail attraction ``a`` per species),
3. sets the unit mapping and bead mass from the spec, and
4. creates the System with every residue template pinned (coarse-grained beads have no
   elements, so species with the same bead graph would otherwise be ambiguous).
"""

from __future__ import annotations

import copy
import io
import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openmm
from openmm import app
from openmm.app import forcefield as _ff

from .errors import BuildError

if TYPE_CHECKING:  # pragma: no cover
    from .spec import LipidSpecies, ModelSpec

PROTOTYPE = "CKL"
FORCE_GROUP_BONDS = 0
FORCE_GROUP_SPRING = 1
FORCE_GROUP_NONBONDED = 2
#: Name of the Cooke lipid pair force (the XML's CustomNonbondedForce) in every created system; the builder
#: adds gas and protein beads to it and the formulations rewrite it by this name.
PAIR_FORCE_NAME = "CookePair"
#: The FENE energy of force fields before 2026-12-06: NaN beyond r_inf (the log of a negative number) with a finite
#: force there, which OpenMM's L-BFGS line search accepted (a vesicle-vesicle minimisation ended at NaN). The force
#: fields now write :data:`FENE_ENERGY`, +inf there; :func:`upgrade_fene` rewrites a System saved before.
LEGACY_FENE_ENERGY = "-0.5*kf*cooke_eps*rinf^2*log(1-(r/(rinf*cooke_sigma))^2)"
FENE_ENERGY = "-0.5*kf*cooke_eps*rinf^2*log(max(0, 1-(r/(rinf*cooke_sigma))^2))"


# ------------------------------------------------------------------------------ the spring tag
class ChainSpringGenerator:
    """ForceField generator for ``<SnarefuseChainSpring>``: a CustomBondForce between two named
    atoms of the same residue (not bonded in the topology)."""

    def __init__(self, energy: str):
        self.energy = energy
        self.globals: dict[str, float] = {}
        self.springs: dict[str, list[tuple[str, str, dict[str, float]]]] = {}
        self.param_names: list[str] = []

    @staticmethod
    def parseElement(element: ET.Element, ff: app.ForceField) -> None:  # noqa: N802 (OpenMM API)
        gen = ChainSpringGenerator(element.attrib["energy"])
        for g in element.findall("GlobalParameter"):
            gen.globals[g.attrib["name"]] = float(g.attrib["defaultValue"])
        for s in element.findall("Spring"):
            params = {k: float(v) for k, v in s.attrib.items() if k not in ("residue", "atomName1", "atomName2")}
            if not gen.param_names:
                gen.param_names = sorted(params)
            gen.springs.setdefault(s.attrib["residue"], []).append(
                (s.attrib["atomName1"], s.attrib["atomName2"], params))
        ff.registerGenerator(gen)

    def createForce(self, sys: openmm.System, data: Any, nonbondedMethod: Any, nonbondedCutoff: Any,  # noqa: N802
                    args: dict[str, Any]) -> None:
        force = openmm.CustomBondForce(self.energy)
        force.setName("CookeStraighteningSpring")
        for name, value in self.globals.items():
            force.addGlobalParameter(name, value)
        for p in self.param_names:
            force.addPerBondParameter(p)
        by_residue: dict[Any, dict[str, int]] = {}
        for atom in data.atoms:
            by_residue.setdefault(atom.residue, {})[atom.name] = atom.index
        for residue, atoms in by_residue.items():
            for a1, a2, params in self.springs.get(residue.name, []):
                if a1 in atoms and a2 in atoms:
                    force.addBond(atoms[a1], atoms[a2], [params[p] for p in self.param_names])
        force.setForceGroup(FORCE_GROUP_SPRING)
        force.setUsesPeriodicBoundaryConditions(True)
        sys.addForce(force)

    def postprocessSystem(self, sys: openmm.System, data: Any, args: dict[str, Any]) -> None:  # noqa: N802
        pass


_ff.parsers["SnarefuseChainSpring"] = ChainSpringGenerator.parseElement


# ------------------------------------------------------------------------------ XML assembly
def forcefield_file(lipid_model: str) -> Path:
    """Path of the shipped XML of ``lipid_model`` (``cooke3`` or ``cooke4``)."""
    p = Path(str(files("snarefuse.forcefields").joinpath(f"{lipid_model}.xml")))
    if not p.exists():
        raise BuildError(f"model.lipid_model: no force field file {p.name} in snarefuse.forcefields")
    return p


def forcefield_xml(model: "ModelSpec", lipids: dict[str, "LipidSpecies"]) -> str:
    """The resolved ForceField XML for a spec: one species per lipid type, MD-unit globals.

    The returned text loads with plain ``openmm.app.ForceField`` once this module is imported
    (it registers the spring tag).
    """
    root = ET.parse(forcefield_file(model.lipid_model)).getroot()
    units = model.units
    values = {"cooke_eps": units.epsilon_kjmol, "cooke_sigma": model.sigma_nm, "cooke_wc": model.wc_nm}
    for g in root.iter("GlobalParameter"):
        g.set("defaultValue", repr(values[g.attrib["name"]]))

    types_el = root.find("AtomTypes")
    residues_el = root.find("Residues")
    spring_el = root.find("SnarefuseChainSpring")
    nb_el = root.find("CustomNonbondedForce")
    assert types_el is not None and residues_el is not None and spring_el is not None and nb_el is not None
    proto_types = [t for t in types_el if t.attrib["name"].startswith(PROTOTYPE + "-")]
    proto_res = [r for r in residues_el if r.attrib["name"] == PROTOTYPE][0]
    proto_spring = [s for s in spring_el.findall("Spring") if s.attrib["residue"] == PROTOTYPE]
    proto_nb = [a for a in nb_el.findall("Atom") if a.attrib["type"].startswith(PROTOTYPE + "-")]
    for el, parent in ([(t, types_el) for t in proto_types] + [(proto_res, residues_el)]
                       + [(s, spring_el) for s in proto_spring] + [(a, nb_el) for a in proto_nb]):
        parent.remove(el)

    for name, sp in sorted(lipids.items()):
        for t in proto_types:
            new = copy.deepcopy(t)
            new.set("name", t.attrib["name"].replace(PROTOTYPE, name, 1))
            new.set("mass", repr(model.bead_mass_amu))
            types_el.append(new)
        res = copy.deepcopy(proto_res)
        res.set("name", name)
        for atom in res.findall("Atom"):
            atom.set("type", atom.attrib["type"].replace(PROTOTYPE, name, 1))
        residues_el.append(res)
        for s in proto_spring:
            new = copy.deepcopy(s)
            new.set("residue", name)
            spring_el.append(new)
        for a in proto_nb:
            new = copy.deepcopy(a)
            new.set("type", a.attrib["type"].replace(PROTOTYPE, name, 1))
            is_head = a.attrib["type"].endswith("-H")
            new.set("b", repr(sp.head_size if is_head else 1.0))
            new.set("a", repr(0.0 if is_head else sp.tail_attraction))
            nb_el.append(new)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def load_forcefield(model: "ModelSpec", lipids: dict[str, "LipidSpecies"]) -> app.ForceField:
    """An ``openmm.app.ForceField`` for the spec's model and species."""
    return app.ForceField(io.StringIO(forcefield_xml(model, lipids)))


def create_system(topology: app.Topology, model: "ModelSpec", lipids: dict[str, "LipidSpecies"]) -> openmm.System:
    """Create the ``openmm.System`` of the lipids in ``topology``.

    Periodic cutoff at r_c + w_c (the potential reaches zero there smoothly: no switching
    function, no long-range correction), no exclusions, no centre-of-mass motion remover
    (Langevin dynamics needs none). Force groups: 0 FENE, 1 spring, 2 nonbonded; other
    components (proteins) add their own.
    """
    ff = load_forcefield(model, lipids)
    templates = {res: res.name for res in topology.residues() if res.name in lipids}
    try:
        system = ff.createSystem(topology, nonbondedMethod=app.CutoffPeriodic,
                                 nonbondedCutoff=model.cutoff_nm, removeCMMotion=False,
                                 residueTemplates=templates)
    except ValueError as e:
        raise BuildError(f"cannot create the OpenMM system from the topology: {e}") from None
    for f in system.getForces():
        if isinstance(f, openmm.CustomNonbondedForce):
            f.setName(PAIR_FORCE_NAME)
            f.setForceGroup(FORCE_GROUP_NONBONDED)
            f.setUseLongRangeCorrection(False)
            f.setUseSwitchingFunction(False)
        elif isinstance(f, openmm.CustomBondForce) and f.getName() != "CookeStraighteningSpring":
            f.setName("CookeFENE")
            f.setForceGroup(FORCE_GROUP_BONDS)
            # minimum-image bonds: correct even for per-bead wrapped coordinates
            f.setUsesPeriodicBoundaryConditions(True)
    return system


def upgrade_fene(system: openmm.System) -> bool:
    """Rewrite, in place, each FENE bond force of ``system`` that has :data:`LEGACY_FENE_ENERGY` (a ``system.xml``
    saved before the change) to :data:`FENE_ENERGY`: the same energy and force below r_inf, +inf instead of NaN
    beyond. True if any was rewritten."""
    changed = False
    for f in system.getForces():
        if isinstance(f, openmm.CustomBondForce) and f.getEnergyFunction() == LEGACY_FENE_ENERGY:
            f.setEnergyFunction(FENE_ENERGY)
            changed = True
    return changed
