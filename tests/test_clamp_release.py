"""Releasing the clamp: the clamped contacts' repulsion stays on while clamped, so a release adds only the
bounded attraction, whatever state the clamped dynamics reached (snarefuse.protein_bonds, "Clamped contacts")."""

from __future__ import annotations

import numpy as np
import openmm
import pytest
from openmm import unit

from snarefuse.protein_bonds import native_contact_energy, native_contact_force

EPS = 3.6  # kJ/mol: 1.4 kT at 310 K
R0 = 1.045  # nm: the longest native distance of the bundle
MASS_AMU = 330.0  # a protein bead
DT_PS = 0.0909  # 0.01 tau
FRICTION_PER_PS = 0.11
TEMPERATURE_K = 310.0


def _pair_context(clamp: float, *extra: openmm.Force) -> openmm.Context:
    system = openmm.System()
    for _ in range(2):
        system.addParticle(MASS_AMU)
    system.addForce(native_contact_force([(0, 1)], [R0], epsilon_kjmol=EPS, clamp=clamp))
    for f in extra:
        system.addForce(f)
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE_K * unit.kelvin, FRICTION_PER_PS / unit.picosecond,
                                                 DT_PS * unit.picosecond)
    integrator.setRandomNumberSeed(11)
    return openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))


def _at(ctx: openmm.Context, r: float, clamp: float) -> tuple[float, float]:
    """Energy (kJ/mol) and the force on bead 1 along the pair axis (kJ/mol/nm, > 0 pushes apart)."""
    ctx.setPositions([[0.0, 0.0, 0.0], [r, 0.0, 0.0]])
    ctx.setParameter("snare_clamp", clamp)
    st = ctx.getState(getEnergy=True, getForces=True)
    f = st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
    return st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole), float(f[1, 0])


R_SCAN = np.linspace(0.45, 3.0, 400) * R0


@pytest.mark.parametrize("clamp", [0.0, 0.13, 0.5, 1.0])
def test_the_clamped_contact_matches_its_numpy_twin(clamp):
    ctx = _pair_context(0.0)
    for r in R_SCAN:
        e, _ = _at(ctx, r, clamp)
        pos = np.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0]])
        assert e == pytest.approx(native_contact_energy(pos, [(0, 1)], [R0], epsilon_kjmol=EPS, clamp=clamp),
                                  rel=1e-9, abs=1e-9)


def test_released_the_clamped_contact_is_the_native_one():
    clamped, plain = _pair_context(0.0), openmm.Context(*_plain_system_and_integrator())
    for r in R_SCAN:
        plain.setPositions([[0.0, 0.0, 0.0], [r, 0.0, 0.0]])
        e_plain = plain.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        assert _at(clamped, r, 1.0)[0] == pytest.approx(e_plain, rel=1e-9, abs=1e-9)


def _plain_system_and_integrator():
    system = openmm.System()
    for _ in range(2):
        system.addParticle(MASS_AMU)
    system.addForce(native_contact_force([(0, 1)], [R0], epsilon_kjmol=EPS))
    return system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference")


def test_while_clamped_a_pair_is_kept_out_of_its_contact_and_free_beyond_it():
    ctx = _pair_context(0.0)
    e, f = _at(ctx, 0.8 * R0, 0.0)
    assert e > 10 * 2.577 and f > 0  # > 10 kT inside 0.8 r0, pushing apart
    for r in (R0, 1.2 * R0, 2.0 * R0):
        e, f = _at(ctx, r, 0.0)
        assert e == pytest.approx(0.0, abs=1e-9) and f == pytest.approx(0.0, abs=1e-6)
    # the split is at the minimum: the force is continuous through r0
    assert abs(_at(ctx, R0 * (1 - 1e-6), 0.0)[1]) < 1e-2


def test_a_release_adds_only_the_bounded_attraction_at_any_distance():
    """Whatever distance the clamped dynamics left a pair at, switching the clamp from 0 to 1 changes its force
    by at most the largest attractive force of the 12-10 well (3.7 eps/r0), never by the repulsion."""
    ctx = _pair_context(0.0)
    r = np.linspace(R0, 3 * R0, 2000)
    max_attraction = np.max(np.abs(EPS * 60 / r * ((R0 / r) ** 12 - (R0 / r) ** 10)))
    for rr in R_SCAN:
        change = abs(_at(ctx, rr, 1.0)[1] - _at(ctx, rr, 0.0)[1])
        assert change <= max_attraction * (1 + 1e-6) + 1e-6, f"r = {rr / R0:.3f} r0"


def test_a_crowded_clamped_pair_is_released_without_blowing_up():
    """A soft spring presses the pair towards 0.5 nm (the protein excluded-volume size, about half of r0) while
    clamped, as neighbouring helices can; the clamp is then released over 100 steps, as the trigger does.
    The pair keeps out of its contact while clamped, and the release moves it by less than 0.05 nm a step."""
    spring = openmm.CustomBondForce("0.5*k*(r-rc)^2")
    spring.addGlobalParameter("k", 50.0)
    spring.addGlobalParameter("rc", 0.5)
    spring.addBond(0, 1, [])
    ctx = _pair_context(0.0, spring)
    ctx.setPositions([[0.0, 0.0, 0.0], [1.0 * R0, 0.0, 0.0]])
    ctx.setVelocitiesToTemperature(TEMPERATURE_K * unit.kelvin, 5)
    integrator = ctx.getIntegrator()
    closest = np.inf
    for _ in range(1000):
        integrator.step(1)
        pos = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        closest = min(closest, float(np.linalg.norm(pos[1] - pos[0])))
    assert closest > 0.8 * R0
    prev = pos
    for step in range(200):
        ctx.setParameter("snare_clamp", min(1.0, step / 100))
        integrator.step(1)
        pos = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        assert np.all(np.isfinite(pos))
        assert np.max(np.linalg.norm(pos - prev, axis=1)) < 0.05, f"release step {step}"
        prev = pos
