"""The CPU platform's threads in Contexts that hold the native Cooke pair force (plugin/platforms/cpu/src):
the plugin's LangevinMiddleIntegrator kernel (the step in one pass, Gaussian noise from a counter-based generator
keyed by seed, step and particle) and the pinning of OpenMM's pool threads where they fill the machine.

Skipped, with the reason, where the plugin is not built.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import openmm
import pytest

from snarefuse import native
from snarefuse.formulations import NATIVE_FORMULATION, apply_formulation

from .test_native import (GAS_EPS, GAS_SIGMA, GAS_WC, KJ, KJ_NM, PAIR_GROUP, _assert_equal_to_float_round_off,
                          _assert_matches, _expected, _platform, _system, _xml_and_positions)

pytestmark = pytest.mark.skipif(not native.available("CPU"),
                                reason=f"native CPU kernel absent: {native.why_unavailable('CPU')}")

#: CpuLangevinMiddleKernel.h: set to 0, Contexts get OpenMM's own LangevinMiddleIntegrator kernel.
LANGEVIN_ENV = "SNAREFUSE_CPU_LANGEVIN"
#: CpuCallerWorks.h: set to 0, OpenMM's pool threads are left where the operating system puts them.
PIN_THREADS_ENV = "SNAREFUSE_CPU_PIN_THREADS"
#: CpuCallerWorks.h: set to 0, a pool thread woken on the calling thread's CPU claims a slot like any other.
LEAVE_CALLER_CPU_ENV = "SNAREFUSE_CPU_LEAVE_CALLER_CPU"
#: Molar gas constant in kJ/(mol K), as OpenMM's BOLTZ.
BOLTZ = openmm.unit.MOLAR_GAS_CONSTANT_R.value_in_unit(KJ / openmm.unit.kelvin)

# The plugin kernel's generator: Philox4x32-10 (Salmon et al., SC11), counter (particle, step low word, step high
# word, NOISE_TAG), key (seed low word, seed high word); Box-Muller on words (0, 1) and (2, 3).
PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
NOISE_TAG = 0x4C4D4944
WORD = 0xFFFFFFFF


def _philox4x32_10(counter: tuple, key: tuple) -> list[np.ndarray]:
    """Philox4x32 with ten rounds on arrays of counters (uint64 arrays holding 32-bit words)."""
    c = [np.asarray(x, dtype=np.uint64) for x in counter]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(PHILOX_W[0])) & np.uint64(WORD)
            k1 = (k1 + np.uint64(PHILOX_W[1])) & np.uint64(WORD)
        p0, p1 = np.uint64(PHILOX_M[0]) * c[0], np.uint64(PHILOX_M[1]) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & np.uint64(WORD), (p0 >> np.uint64(32)) ^ c[3] ^ k1,
             p0 & np.uint64(WORD)]
    return c


@pytest.mark.parametrize("counter,key,expected", [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((WORD,) * 4, (WORD, WORD), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_reference_philox_gives_random123s_known_answers(counter, key, expected):
    """The generator this file checks the kernel against, on Random123's known-answer vectors (kat_vectors)."""
    assert tuple(int(w) for w in _philox4x32_10(counter, key)) == expected


def _expected_gaussians(seed: int, step: int, particles: int) -> np.ndarray:
    """The kernel's three standard normal numbers for each particle at a step (float64 here, float in the kernel)."""
    words = _philox4x32_10((np.arange(particles), step & WORD, step >> 32, NOISE_TAG), (seed & WORD, seed >> 32))
    unit = [((w >> np.uint64(8)) + np.uint64(1)).astype(np.float64) / 2.0 ** 24 for w in words]  # in (0, 1]
    r0, r1 = np.sqrt(-2 * np.log(unit[0])), np.sqrt(-2 * np.log(unit[2]))
    return np.stack([r0 * np.cos(2 * np.pi * unit[1]), r0 * np.sin(2 * np.pi * unit[1]),
                     r1 * np.cos(2 * np.pi * unit[3])], axis=1)


#: A cubic grid of beads FAR_SPACING_NM apart, beyond the pair cutoff (r_c + w_c = 2.40 nm at b = 1), so every force
#: is zero and one step from rest leaves each velocity its noise alone. Masses alternate 1 and 4.
FAR_GRID = 16
FAR_SPACING_NM = 3.0
FAR_MASSES = (1.0, 4.0)
TEMPERATURE_K, FRICTION_PER_PS, DT_PS, SEED = 310.0, 1.0, 0.05, 12345


def _far_apart_system() -> tuple[openmm.System, np.ndarray]:
    n = FAR_GRID ** 3
    system = openmm.System()
    for i in range(n):
        system.addParticle(FAR_MASSES[i % 2])
    box = FAR_GRID * FAR_SPACING_NM
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box * np.eye(3)))
    system.addForce(native.create_force(np.ones(n), np.ones(n), epsilon=GAS_EPS, sigma=GAS_SIGMA, wc=GAS_WC,
                                        periodic=True, force_group=PAIR_GROUP))
    grid = np.stack(np.meshgrid(*[np.arange(FAR_GRID)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    return system, (grid + 0.5) * FAR_SPACING_NM


def _far_apart_context(threads: int, seed: int = SEED) -> tuple[openmm.Context, openmm.LangevinMiddleIntegrator]:
    system, positions = _far_apart_system()
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE_K, FRICTION_PER_PS, DT_PS)
    integrator.setRandomNumberSeed(seed)
    ctx = openmm.Context(system, integrator, _platform("CPU"), {"Threads": str(threads)})
    ctx.setPositions(positions)
    ctx.setVelocities(np.zeros((len(positions), 3)))
    return ctx, integrator


def _noise_scale() -> float:
    """Standard deviation of one velocity component's noise for unit mass (ReferenceLangevinMiddleDynamics)."""
    vscale = np.exp(-DT_PS * FRICTION_PER_PS)
    return np.sqrt(1 - vscale ** 2) * np.sqrt(BOLTZ * TEMPERATURE_K)


def _one_step_noise(threads: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(velocities after one step from rest divided by their mass's noise scale, positions moved)."""
    ctx, integrator = _far_apart_context(threads, seed)
    start = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
    forces = ctx.getState(getForces=True).getForces(asNumpy=True).value_in_unit(KJ_NM)
    assert not forces.any()
    integrator.step(1)
    st = ctx.getState(getPositions=True, getVelocities=True)
    v = st.getVelocities(asNumpy=True).value_in_unit(openmm.unit.nanometer / openmm.unit.picosecond)
    masses = np.array([FAR_MASSES[i % 2] for i in range(len(v))])[:, None]
    moved = st.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer) - start
    np.testing.assert_allclose(moved, 0.5 * DT_PS * v, rtol=1e-9, atol=1e-12)  # from rest: half a drift on the new v
    return v * np.sqrt(masses) / _noise_scale(), moved


def test_one_steps_noise_is_standard_normal_and_uncorrelated():
    """4,096 beads beyond each other's cutoff, one step from rest: the 12,288 noise numbers, scaled by each bead's
    sqrt(kT (1 - exp(-2 gamma dt)) / m), have the moments of a standard normal distribution within five standard
    errors, and neither the three components of one bead nor neighbouring beads (drawn together by the kernel)
    are correlated."""
    g, _ = _one_step_noise(threads=2)
    x = g.ravel()
    n = x.size
    assert abs(x.mean()) < 5 / np.sqrt(n)
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(np.mean(x ** 3)) < 5 * np.sqrt(15 / n)
    assert abs(np.mean(x ** 4) - 3) < 5 * np.sqrt(96 / n)
    for a, b in [(g[:, 0], g[:, 1]), (g[:, 0], g[:, 2]), (g[:, 1], g[:, 2]), (g[:-1, 0], g[1:, 0]),
                 (g[:-8, 2], g[8:, 2])]:
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(len(a))


def test_noise_is_philox_of_seed_step_and_particle():
    """The numbers are those of the reference generator above for (seed, step, particle), to float precision: the
    noise is a function of these alone, so it is what any thread count and any resumed run draws."""
    g, _ = _one_step_noise(threads=1)
    np.testing.assert_allclose(g, _expected_gaussians(SEED, 0, len(g)), rtol=2e-6, atol=2e-6)
    other, _ = _one_step_noise(threads=1, seed=SEED + 1)
    assert np.abs(other - g).max() > 1


@pytest.mark.parametrize("threads", [2, 3])
def test_noise_is_independent_of_the_thread_count(threads):
    """One step of the far-apart beads on several threads is bit for bit the one-thread step."""
    one, moved_one = _one_step_noise(threads=1)
    many, moved_many = _one_step_noise(threads=threads)
    assert np.array_equal(one, many)
    assert np.array_equal(moved_one, moved_many)


def test_openmms_kernel_where_the_environment_asks_for_it(monkeypatch):
    """LANGEVIN_ENV=0 gives the Context OpenMM's own kernel (its own generator: other numbers); other values are
    refused with the variable named."""
    monkeypatch.setenv(LANGEVIN_ENV, "0")
    g, _ = _one_step_noise(threads=1)
    assert np.abs(g - _expected_gaussians(SEED, 0, len(g))).max() > 1
    assert abs(g.var() - 1) < 5 * np.sqrt(2 / g.size)
    monkeypatch.setenv(LANGEVIN_ENV, "yes")
    with pytest.raises(openmm.OpenMMException, match=f"{LANGEVIN_ENV} must be 0 or 1, not 'yes'"):
        _far_apart_context(threads=1)


def test_systems_with_constraints_keep_openmms_kernel():
    """The plugin's kernel does not apply constraints, so a System with one gets OpenMM's kernel (which keeps the
    constrained distance)."""
    system, positions = _far_apart_system()
    system.addConstraint(0, 1, FAR_SPACING_NM)
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE_K, FRICTION_PER_PS, DT_PS)
    ctx = openmm.Context(system, integrator, _platform("CPU"), {"Threads": "1"})
    ctx.setPositions(positions)
    integrator.step(20)
    pos = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
    assert abs(np.linalg.norm(pos[0] - pos[1]) - FAR_SPACING_NM) < 1e-4


#: The force field's time step (0.01 tau with tau = 9.09 ps).
BILAYER_DT_PS = 0.0909


def _bilayer_context(threads: int, seed: int = SEED) -> tuple[openmm.Context, openmm.LangevinMiddleIntegrator]:
    """The 3-bead bilayer test case with the native pair force, Langevin dynamics at the force field's time step."""
    system = apply_formulation(_system("cooke3"), NATIVE_FORMULATION, platform="CPU")
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE_K, FRICTION_PER_PS, BILAYER_DT_PS)
    integrator.setRandomNumberSeed(seed)
    ctx = openmm.Context(system, integrator, _platform("CPU"), {"Threads": str(threads)})
    ctx.setPositions(_xml_and_positions("cooke3")[1])
    ctx.setVelocitiesToTemperature(TEMPERATURE_K, seed)
    return ctx, integrator


def _stopped_and_resumed(make, steps: int) -> tuple[openmm.State, list[openmm.State]]:
    """(the state after 2 x steps uninterrupted, the states of two new Contexts that load the checkpoint written
    after the first steps and run the rest)."""
    ctx, integrator = make()
    integrator.step(steps)
    checkpoint = ctx.createCheckpoint()
    integrator.step(steps)
    resumed = []
    for _ in range(2):
        again, again_integrator = make()
        again.loadCheckpoint(checkpoint)
        again_integrator.step(steps)
        resumed.append(again.getState(getPositions=True, getVelocities=True))
    return ctx.getState(getPositions=True, getVelocities=True), resumed


def _arrays(state: openmm.State) -> tuple[np.ndarray, np.ndarray]:
    return state.getPositions(asNumpy=True)._value, state.getVelocities(asNumpy=True)._value


def test_continuation_from_a_checkpoint_draws_the_same_noise():
    """The far-apart beads (no forces: the noise alone moves them), stopped after 5 steps and continued from the
    checkpoint in a new Context, are bit for bit the uninterrupted run (the checkpoint holds the step count, which
    indexes the noise)."""
    straight, resumed = _stopped_and_resumed(lambda: _far_apart_context(threads=1), 5)
    for state in resumed:
        for got, want in zip(_arrays(state), _arrays(straight)):
            assert np.array_equal(got, want)
    assert straight.getStepCount() == resumed[0].getStepCount() == 10


#: How far a resumed bilayer may be from the uninterrupted run after CHECKPOINT_STEPS steps: float round-off (the
#: new Context's neighbour list, built at the checkpoint, sums the pair forces in another order); one step's noise
#: moves a bead ~0.03 nm.
CHECKPOINT_STEPS, RESUMED_ATOL_NM = 30, 1e-5


def test_continuation_from_a_checkpoint_is_bit_identical_on_one_thread():
    """The bilayer on one thread, continued from a checkpoint: two resumed Contexts agree bit for bit, and with the
    uninterrupted run to float round-off."""
    straight, resumed = _stopped_and_resumed(lambda: _bilayer_context(threads=1), CHECKPOINT_STEPS)
    for got, want in zip(_arrays(resumed[0]), _arrays(resumed[1])):
        assert np.array_equal(got, want)
    np.testing.assert_allclose(_arrays(resumed[0])[0], _arrays(straight)[0], rtol=0, atol=RESUMED_ATOL_NM)


#: Mean kinetic temperature over a short run: THERMO_STEPS steps after THERMO_WARMUP, sampled every THERMO_EVERY
#: steps (1.8 ps, beyond the velocity's 1/gamma = 1 ps memory).
THERMO_WARMUP, THERMO_STEPS, THERMO_EVERY = 200, 4000, 20


def _mean_temperature(threads: int) -> tuple[float, float]:
    """(mean kinetic temperature, its standard error from 10 blocks) of the bilayer on the given thread count."""
    ctx, integrator = _bilayer_context(threads)
    system = ctx.getSystem()
    dof = 3 * system.getNumParticles() - (3 if any(isinstance(f, openmm.CMMotionRemover)
                                                   for f in system.getForces()) else 0)
    integrator.step(THERMO_WARMUP)
    temps = []
    for _ in range(THERMO_STEPS // THERMO_EVERY):
        integrator.step(THERMO_EVERY)
        ke = ctx.getState(getEnergy=True).getKineticEnergy().value_in_unit(KJ)
        temps.append(2 * ke / (dof * BOLTZ))
    blocks = np.array(temps).reshape(10, -1).mean(axis=1)
    return float(np.mean(temps)), float(blocks.std(ddof=1) / np.sqrt(len(blocks)))


@pytest.mark.parametrize("threads", [1, 2])
def test_mean_temperature_is_the_target(threads, monkeypatch):
    """The bilayer's mean kinetic temperature over 4,000 steps is the thermostat's within four standard errors (plus
    0.5 %, the order of the scheme's time-step error at this step), and within the same of OpenMM's own kernel's."""
    mean, err = _mean_temperature(threads)
    monkeypatch.setenv(LANGEVIN_ENV, "0")
    openmm_mean, openmm_err = _mean_temperature(threads)
    assert abs(mean - TEMPERATURE_K) < 4 * err + 0.005 * TEMPERATURE_K, (mean, err)
    assert abs(mean - openmm_mean) < 4 * np.hypot(err, openmm_err) + 0.005 * TEMPERATURE_K, (mean, openmm_mean)


def _single_cpu_threads() -> int:
    """Threads of this process allowed on exactly one CPU (Linux: /proc/self/task/*/status)."""
    count = 0
    for status in Path("/proc/self/task").glob("*/status"):
        allowed = next(line for line in status.read_text().splitlines() if line.startswith("Cpus_allowed_list:"))
        count += allowed.split(":")[1].strip().isdigit()
    return count


LINUX_WITH_TWO_CPUS = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2 or not Path("/proc/self/task").is_dir(),
    reason="needs Linux and at least two usable CPUs")


@LINUX_WITH_TWO_CPUS
@pytest.mark.parametrize("case", ["cooke3", "snare"])
def test_pool_threads_pinned_only_with_the_plugins_integrator_filling_the_machine(case, monkeypatch):
    """With as many threads as usable CPUs and the plugin's Langevin kernel, each of OpenMM's pool threads is pinned
    to its own CPU at the first step (the calling thread stays unpinned), and pair energies and forces are the
    unpinned pool's to float round-off and the expression's. Nothing is pinned with fewer or more threads, with
    another integrator, with OpenMM's Langevin kernel, or with PIN_THREADS_ENV=0."""
    threads = len(os.sched_getaffinity(0))
    system = apply_formulation(_system(case), NATIVE_FORMULATION, platform="CPU")
    positions = _xml_and_positions(case)[1]

    def pinned_after_a_step(num_threads: int, langevin: bool = True) -> tuple[tuple[float, np.ndarray], int]:
        before = _single_cpu_threads()
        integrator = (openmm.LangevinMiddleIntegrator(TEMPERATURE_K, FRICTION_PER_PS, BILAYER_DT_PS) if langevin
                      else openmm.VerletIntegrator(0.001))
        ctx = openmm.Context(system, integrator, _platform("CPU"), {"Threads": str(num_threads)})
        ctx.setPositions(positions)
        integrator.step(1)
        pinned = _single_cpu_threads() - before
        ctx.setPositions(positions)
        st = ctx.getState(getEnergy=True, getForces=True, groups={PAIR_GROUP})
        return (st.getPotentialEnergy().value_in_unit(KJ), st.getForces(asNumpy=True).value_in_unit(KJ_NM)), pinned

    pinned_state, pinned = pinned_after_a_step(threads)
    assert pinned == threads
    _assert_matches(pinned_state, _expected(case), "CPU")
    assert pinned_after_a_step(threads - 1)[1] == 0
    assert pinned_after_a_step(threads + 1)[1] == 0
    assert pinned_after_a_step(threads, langevin=False)[1] == 0
    monkeypatch.setenv(LANGEVIN_ENV, "0")
    assert pinned_after_a_step(threads)[1] == 0
    monkeypatch.delenv(LANGEVIN_ENV)
    monkeypatch.setenv(PIN_THREADS_ENV, "0")
    free_state, free = pinned_after_a_step(threads)
    assert free == 0
    _assert_equal_to_float_round_off(pinned_state, free_state)


#: Run in a process allowed on one CPU only: two threads there exceed the usable CPUs, so nothing is pinned, and
#: the step runs.
ONE_CPU_SCRIPT = textwrap.dedent("""
    import os, sys
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sys.path.insert(0, sys.argv[1])
    from tests.test_native_threads import _far_apart_context
    ctx, integrator = _far_apart_context(threads=2)
    integrator.step(3)
    print("stepped", ctx.getState().getStepCount())
""")


@LINUX_WITH_TWO_CPUS
def test_a_process_restricted_to_one_cpu_runs_two_threads_unpinned():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", ONE_CPU_SCRIPT, str(root)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, PIN_THREADS_ENV: "1"})
    assert done.returncode == 0, done.stderr
    assert "stepped 3" in done.stdout


@pytest.mark.parametrize("variable", [PIN_THREADS_ENV, LEAVE_CALLER_CPU_ENV])
def test_thread_settings_from_the_environment_are_checked(variable, monkeypatch):
    system = apply_formulation(_system("cooke3"), NATIVE_FORMULATION, platform="CPU")
    monkeypatch.setenv(variable, "auto")
    with pytest.raises(openmm.OpenMMException, match=f"{variable} must be 0 or 1, not 'auto'"):
        integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE_K, FRICTION_PER_PS, BILAYER_DT_PS)
        ctx = openmm.Context(system, integrator, _platform("CPU"), {"Threads": "2"})
        ctx.setPositions(_xml_and_positions("cooke3")[1])
        integrator.step(1)


@pytest.mark.parametrize("leave", ["1", "0"])
@pytest.mark.parametrize("threads", [2, 3])
def test_pair_and_bonds_with_and_without_the_caller_cpu_rule(leave, threads, monkeypatch):
    """Whether or not a pool thread on the calling thread's CPU leaves its slot to the calling thread, every slot of
    the pair and bond dispatches runs once: energies and forces match the Reference platform."""
    monkeypatch.setenv(LEAVE_CALLER_CPU_ENV, leave)
    system = apply_formulation(_system("snare"), NATIVE_FORMULATION, platform="CPU")
    positions = _xml_and_positions("snare")[1]
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), _platform("CPU"), {"Threads": str(threads)})
    ctx.setPositions(positions)
    ref = openmm.Context(openmm.XmlSerializer.deserialize(_xml_and_positions("snare")[0]),
                         openmm.VerletIntegrator(0.001), _platform("Reference"))
    ref.setPositions(positions)
    for _ in range(3):  # several dispatches, the pool woken each time
        got, want = (c.getState(getEnergy=True, getForces=True) for c in (ctx, ref))
        np.testing.assert_allclose(got.getPotentialEnergy().value_in_unit(KJ),
                                   want.getPotentialEnergy().value_in_unit(KJ), rtol=1e-5)
        f_want = want.getForces(asNumpy=True).value_in_unit(KJ_NM)
        np.testing.assert_allclose(got.getForces(asNumpy=True).value_in_unit(KJ_NM), f_want, rtol=0,
                                   atol=1e-4 * np.abs(f_want).max())
