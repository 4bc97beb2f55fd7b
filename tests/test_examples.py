"""Every shipped example builds and runs.

The examples are found by globbing the shipped ``snarefuse.systems`` folder and told apart by content (a system
spec has a ``system`` section, a sweep spec a ``base``), so an example added later is tested without editing this
file. Each system spec is built as shipped, with no override, so the test sees exactly the force combination a
user gets (SNAREs with a vesicle lumen once failed at context creation here), and then takes a few Langevin steps
on the CPU platform with the forces of a real run (the barostat and the pair formulation the runner adds).
The steps start from the built positions without minimisation (10 iterations cost as much as the steps on the
~10^5-bead examples): a builder's start has no overlaps, and one that had would fail here, as it should. The one
exception is a clamped build: the clamp keeps the repulsion of its contacts on (docs/model.md), and the first
open residues of VAMP2, bonded to the last zipped layer, start inside the native distance of their partners; the
runner's minimisation (as in every fresh run) moves them out before the steps.
"""

from __future__ import annotations

import copy
from importlib.resources import files
from pathlib import Path

import numpy as np
import openmm
import pytest
from openmm import unit

from snarefuse.build import build_system
from snarefuse.reporters import BLOWUP_ENERGY_PER_PARTICLE_EPS
from snarefuse.runner import add_barostat, make_simulation, minimize
from snarefuse.spec import load_spec, load_yaml

EXAMPLES_DIR = Path(str(files("snarefuse.systems")))
#: Steps of dynamics after the start: enough to move every bead through every force several times.
STEPS = 10


def _kind(path: Path) -> str:
    data = load_yaml(path)
    if isinstance(data, dict) and "system" in data:
        return "system"
    if isinstance(data, dict) and "base" in data:
        return "sweep"
    return "unknown"


EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
SYSTEM_EXAMPLES = [p for p in EXAMPLES if _kind(p) == "system"]


def test_every_example_is_a_system_or_a_sweep_spec():
    assert len(SYSTEM_EXAMPLES) >= 1
    assert {p.name: _kind(p) for p in EXAMPLES if _kind(p) == "unknown"} == {}


@pytest.mark.parametrize("path", SYSTEM_EXAMPLES, ids=[p.stem for p in SYSTEM_EXAMPLES])
def test_example_builds_and_runs(path: Path):
    spec = load_spec(path)
    built = build_system(spec)
    n = built.system.getNumParticles()
    assert n == built.positions.shape[0] == built.topology.getNumAtoms()
    system = copy.deepcopy(built.system)
    add_barostat(system, spec.run, spec.model.temperature_k)

    def integrator() -> openmm.Integrator:
        i = openmm.LangevinMiddleIntegrator(spec.model.temperature_k * unit.kelvin,
                                            spec.run.friction_per_ps / unit.picosecond,
                                            spec.run.timestep_ps * unit.picosecond)
        i.setRandomNumberSeed(spec.seed % 2**31)
        return i

    sim = make_simulation(built.topology, system, integrator, "CPU", spec.run.precision, threads=1,
                          formulation=spec.run.formulation)
    sim.context.setPositions(built.positions)
    units = spec.model.units
    if spec.system.snares is not None and spec.system.snares.clamp is not None:
        minimize(sim.context, system, 10.0 * units.epsilon_kjmol / units.sigma_nm)
    sim.context.setVelocitiesToTemperature(spec.model.temperature_k * unit.kelvin, spec.seed % 2**31)
    sim.step(STEPS)
    state = sim.context.getState(getEnergy=True, getPositions=True)
    pe = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    ke = state.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole)
    assert np.isfinite(pe) and np.isfinite(ke)
    assert pe < BLOWUP_ENERGY_PER_PARTICLE_EPS * units.epsilon_kjmol * n
    assert np.all(np.isfinite(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)))
    assert sim.currentStep == STEPS
