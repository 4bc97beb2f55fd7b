"""The Cooke force field: pair energies against the analytic formulas near every cutoff,
force = -dE/dr, template pinning, species parameters, no exclusions."""

from __future__ import annotations

import io
import math

import numpy as np
import openmm
import pytest
from openmm import app

from snarefuse.build import build_system
from snarefuse.forcefield import forcefield_xml, load_forcefield
from snarefuse.spec import Spec

from .conftest import small_spec

#: Relative tolerance of energies on the Reference platform (double precision).
ENERGY_RTOL = 1e-9
#: Finite-difference step (nm) and tolerance for force = -dE/dr.
FD_STEP_NM = 1e-5
FD_RTOL = 1e-5
FD_ATOL_KJ_NM = 1e-4

SPEC = small_spec()
U = SPEC.model.units
EPS, SIG, WC = U.epsilon_kjmol, SPEC.model.sigma_nm, SPEC.model.wc_nm
RC = 2 ** (1 / 6) * SIG


def analytic_pair(r: float, head1: bool, head2: bool) -> float:
    """Cooke et al. 2005, Eqs. 1-3, in kJ/mol."""
    b = 0.95 * SIG if (head1 or head2) else SIG
    e = 0.0
    if r < 2 ** (1 / 6) * b:
        e += 4 * EPS * ((b / r) ** 12 - (b / r) ** 6 + 0.25)
    if not (head1 or head2):
        if r < RC:
            e += -EPS
        elif r <= RC + WC:
            e += -EPS * math.cos(math.pi * (r - RC) / (2 * WC)) ** 2
    return e


def pair_energy(r: float, head1: bool, head2: bool) -> float:
    """Energy of two beads at distance r through the force field's CookePair force."""
    built = build_system(SPEC)
    nb = [f for f in built.system.getForces() if isinstance(f, openmm.CustomNonbondedForce)][0]
    sys = openmm.System()
    f = openmm.CustomNonbondedForce(nb.getEnergyFunction())
    for i in range(nb.getNumGlobalParameters()):
        f.addGlobalParameter(nb.getGlobalParameterName(i), nb.getGlobalParameterDefaultValue(i))
    for i in range(nb.getNumPerParticleParameters()):
        f.addPerParticleParameter(nb.getPerParticleParameterName(i))
    for head in (head1, head2):
        sys.addParticle(250.0)
        f.addParticle([0.95, 0.0] if head else [1.0, 1.0])
    f.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
    f.setCutoffDistance(nb.getCutoffDistance())
    sys.addForce(f)
    sys.setDefaultPeriodicBoxVectors(openmm.Vec3(10, 0, 0), openmm.Vec3(0, 10, 0), openmm.Vec3(0, 0, 10))
    ctx = openmm.Context(sys, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions([[1, 1, 1], [1 + r, 1, 1]])
    return ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)


DISTANCES = {
    "wca-inside-head": (0.9 * SIG, True, False),
    "wca-edge-head-minus": (2 ** (1 / 6) * 0.95 * SIG * (1 - 1e-6), True, False),
    "wca-edge-head-plus": (2 ** (1 / 6) * 0.95 * SIG * (1 + 1e-6), True, True),
    "tail-core": (0.95 * SIG, False, False),
    "tail-rc-minus": (RC * (1 - 1e-7), False, False),
    "tail-rc-exact": (RC, False, False),
    "tail-rc-plus": (RC * (1 + 1e-7), False, False),
    "tail-mid-cos2": (RC + 0.5 * WC, False, False),
    "tail-cutoff-minus": (RC + WC - 1e-6, False, False),
    "tail-beyond": (RC + WC + 1e-3, False, False),
    "head-tail-far": (1.5 * SIG, True, False),
    "across-boundary": (9.5, False, False),  # 9.5 nm in a 10 nm box is 0.5 nm by minimum image
}


@pytest.mark.parametrize("case", list(DISTANCES))
def test_pair_energy_matches_analytic(case):
    r, h1, h2 = DISTANCES[case]
    r_min_image = r if r < 5 else 10 - r
    np.testing.assert_allclose(pair_energy(r, h1, h2), analytic_pair(r_min_image, h1, h2),
                               rtol=ENERGY_RTOL, atol=1e-10)


@pytest.fixture(scope="module")
def reference_context():
    built = build_system(SPEC)
    ctx = openmm.Context(built.system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    rng = np.random.default_rng(1)
    ctx.setPositions(built.positions + rng.normal(scale=0.05, size=built.positions.shape))
    return ctx


def test_force_is_minus_gradient_of_energy(reference_context):
    ctx = reference_context
    state = ctx.getState(getPositions=True, getForces=True)
    x0 = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
    forces = state.getForces(asNumpy=True).value_in_unit(openmm.unit.kilojoule_per_mole / openmm.unit.nanometer)
    rng = np.random.default_rng(2)
    atoms = rng.choice(len(x0), size=6, replace=False)
    numeric, analytic = [], []
    for i in atoms:
        for d in range(3):
            e = []
            for sgn in (+1, -1):
                x = x0.copy()
                x[i, d] += sgn * FD_STEP_NM
                ctx.setPositions(x)
                e.append(ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(
                    openmm.unit.kilojoule_per_mole))
            numeric.append(-(e[0] - e[1]) / (2 * FD_STEP_NM))
            analytic.append(forces[i, d])
    ctx.setPositions(x0)
    np.testing.assert_allclose(numeric, analytic, rtol=FD_RTOL, atol=FD_ATOL_KJ_NM)


def test_no_exclusions_and_cutoff():
    built = build_system(SPEC)
    nb = [f for f in built.system.getForces() if isinstance(f, openmm.CustomNonbondedForce)][0]
    assert nb.getNumExclusions() == 0
    np.testing.assert_allclose(nb.getCutoffDistance().value_in_unit(openmm.unit.nanometer), RC + WC)
    assert not nb.getUseSwitchingFunction() and not nb.getUseLongRangeCorrection()


def test_bond_and_spring_counts():
    built = build_system(SPEC)
    by_name = {f.getName(): f for f in built.system.getForces()}
    assert by_name["CookeFENE"].getNumBonds() == 2 * 200
    assert by_name["CookeStraighteningSpring"].getNumBonds() == 200
    i, j, (kb, r0) = by_name["CookeStraighteningSpring"].getBondParameters(0)
    assert (i, j, kb, r0) == (0, 2, 10.0, 4.0)


def test_cooke4_spring_spans_head_to_last_tail():
    spec = small_spec(model__lipid_model="cooke4")
    built = build_system(spec)
    spring = [f for f in built.system.getForces() if f.getName() == "CookeStraighteningSpring"][0]
    i, j, (kb, r0) = spring.getBondParameters(0)
    assert (i, j, kb, r0) == (0, 3, 10.0, 6.0)
    assert built.positions.shape == (800, 3)


def test_species_get_their_own_parameters():
    d = small_spec().to_dict()
    d["lipids"] = {"CKL": {"head_size": 0.95, "tail_attraction": 1.0},
                   "CKB": {"head_size": 1.1, "tail_attraction": 0.8}}
    d["system"]["bilayer"]["upper"] = {"CKL": 1.0}
    d["system"]["bilayer"]["lower"] = {"CKB": 1.0}
    spec = Spec.from_dict(d)
    built = build_system(spec)
    nb = [f for f in built.system.getForces() if isinstance(f, openmm.CustomNonbondedForce)][0]
    params = {}
    for res in built.topology.residues():
        for atom in res.atoms():
            params.setdefault((res.name, atom.name), tuple(nb.getParticleParameters(atom.index)))
    assert params[("CKB", "H")] == (1.1, 0.0)
    assert params[("CKB", "T2")] == (1.0, 0.8)
    assert params[("CKL", "H")] == (0.95, 0.0)
    assert params[("CKL", "T1")] == (1.0, 1.0)


def test_resolved_xml_loads_in_plain_openmm_forcefield():
    ff = app.ForceField(io.StringIO(forcefield_xml(SPEC.model, SPEC.lipids)))
    built = build_system(SPEC)
    templates = {r: r.name for r in built.topology.residues()}
    system = ff.createSystem(built.topology, nonbondedMethod=app.CutoffPeriodic, nonbondedCutoff=RC + WC,
                             residueTemplates=templates)
    assert system.getNumParticles() == 600
    assert isinstance(load_forcefield(SPEC.model, SPEC.lipids), app.ForceField)


def test_global_parameters_carry_the_unit_mapping():
    built = build_system(SPEC)
    nb = [f for f in built.system.getForces() if isinstance(f, openmm.CustomNonbondedForce)][0]
    g = {nb.getGlobalParameterName(i): nb.getGlobalParameterDefaultValue(i) for i in range(nb.getNumGlobalParameters())}
    np.testing.assert_allclose([g["cooke_eps"], g["cooke_sigma"], g["cooke_wc"]], [EPS, SIG, WC])
    np.testing.assert_allclose(EPS, 0.0083144626181532 * 310 / 1.1)


def test_bonds_use_minimum_image():
    """A lipid split across the periodic boundary has the same energy as a whole one."""
    built = build_system(SPEC)
    ctx = openmm.Context(built.system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(built.positions)
    e_whole = ctx.getState(getEnergy=True).getPotentialEnergy()
    ctx.setPositions(built.positions % built.box)  # every bead wrapped on its own
    e_wrapped = ctx.getState(getEnergy=True).getPotentialEnergy()
    np.testing.assert_allclose(e_wrapped._value, e_whole._value, rtol=1e-10)
