"""The native Cooke pair force (plugin/, snarefuse.native) against the force field's own expression.

Skipped, visibly and with the reason, where the plugin is not built (``pip install`` builds it where a C++ compiler is
found; ``python -m snarefuse.native build`` rebuilds it in a checkout).
The Reference kernel computes in double precision and is held to 1e-9; the CPU kernel computes in single precision
(as OpenMM's CPU platform does: float positions and forces, fvec4 SIMD) and is held to single-precision tolerances.
"""

from __future__ import annotations

import functools
import math
import os
import xml.etree.ElementTree as ET

import numpy as np
import openmm
import pytest

from snarefuse import native
from snarefuse.build import build_system
from snarefuse.forcefield import FENE_ENERGY, forcefield_file
from snarefuse.formulations import NATIVE_FORMULATION, FormulationError, apply_formulation, formulation_of
from snarefuse.runner import minimize
from snarefuse.spec import example_spec_path, load_spec

from .test_formulations import _case, _snare_case

pytestmark = pytest.mark.skipif(not native.available(), reason=f"native plugin absent: {native.why_unavailable()}")

#: The Reference kernel (double precision) against the expression on the Reference platform.
ENERGY_RTOL = 1e-9
FORCE_ATOL_FRACTION = 1e-9   # of the largest force component
#: The CPU kernel (single precision: float coordinates, forces and pair arithmetic; energy summed per bead in float).
SINGLE_ENERGY_RTOL = 1e-5
SINGLE_FORCE_ATOL_FRACTION = 1e-4   # of the largest force component
#: Finite-difference step (nm) and tolerance (fraction of the largest force component) for force = -dE/dr; single
#: precision needs a longer step (float energies resolve ~1e-7 relative) and so a looser tolerance.
FD_STEP_NM = {"Reference": 1e-5, "CPU": 1e-3, "OpenCL": 1e-3, "CUDA": 1e-3, "HIP": 1e-3}
FD_ATOL_FRACTION = {"Reference": 1e-6, "CPU": 2e-3, "OpenCL": 2e-3, "CUDA": 2e-3, "HIP": 2e-3}
#: OpenCL (POCL on a machine without a GPU), CUDA and HIP run the common-compute kernel, in single precision. A GPU
#: platform without a device is skipped with that reason (the kernel library itself loads without one).
NATIVE_PLATFORMS = ["Reference", "CPU", "OpenCL", "CUDA", "HIP"]
GPU_PLATFORMS = ("OpenCL", "CUDA", "HIP")
CASES = ["cooke3", "cooke4", "mixed-species", "pairs-near-cutoffs", "snare"]
PAIR_GROUP = 2
#: The CPU kernel's Verlet skin (CpuCookePairKernel.h SKIN_SIGMA) in nm at sigma = 0.88 nm.
CPU_SKIN_NM = 0.5 * 0.88
KJ = openmm.unit.kilojoule_per_mole
KJ_NM = openmm.unit.kilojoule_per_mole / openmm.unit.nanometer


@functools.lru_cache(maxsize=None)
def _no_device(name: str) -> str | None:
    """Why a Context cannot be created on GPU platform ``name`` (no device, no driver), or None when it can."""
    system = openmm.System()
    system.addParticle(1.0)
    try:
        openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(name))
    except Exception as exc:  # OpenMMException: no device, driver too old, ...
        return f"no {name} device: OpenMM cannot create a {name} Context here ({exc})"
    return None


def _runnable(name: str) -> str | None:
    """Why the native kernel cannot run on platform ``name`` here, or None when it can."""
    loaded = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    if name in GPU_PLATFORMS and name not in loaded:  # e.g. CUDA: no driver (libcuda), so no GPU to run on
        return f"no {name} device: {native.why_unavailable(name)}"
    if not native.available(name):
        return native.why_unavailable(name) or name
    return _no_device(name) if name in GPU_PLATFORMS else None


def _platform(name: str) -> openmm.Platform:
    """The platform, or a skip with the reason (a failure for a platform named in SNAREFUSE_REQUIRE_PLATFORMS, as
    the GPU check sets, so that a GPU machine never passes by skipping)."""
    reason = _runnable(name)
    if reason is not None:
        if name in os.environ.get("SNAREFUSE_REQUIRE_PLATFORMS", "").replace(",", " ").split():
            pytest.fail(f"platform {name} required by SNAREFUSE_REQUIRE_PLATFORMS: {reason}")
        pytest.skip(reason)
    return openmm.Platform.getPlatformByName(name)


@functools.lru_cache(maxsize=None)
def _xml_and_positions(case: str) -> tuple[str, np.ndarray]:
    return _snare_case() if case == "snare" else _case(case)


def _system(case: str) -> openmm.System:
    return openmm.XmlSerializer.deserialize(_xml_and_positions(case)[0])


def _context(system: openmm.System, platform: str, positions: np.ndarray) -> openmm.Context:
    props = {"Threads": "2"} if platform == "CPU" else {"Precision": "single"} if platform in GPU_PLATFORMS else {}
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), _platform(platform), props)
    ctx.setPositions(positions)
    return ctx


def _pair_state(ctx: openmm.Context) -> tuple[float, np.ndarray]:
    st = ctx.getState(getEnergy=True, getForces=True, groups={PAIR_GROUP})
    return st.getPotentialEnergy().value_in_unit(KJ), st.getForces(asNumpy=True).value_in_unit(KJ_NM)


@functools.lru_cache(maxsize=None)
def _expected(case: str) -> tuple[float, np.ndarray]:
    return _pair_state(_context(_system(case), "Reference", _xml_and_positions(case)[1]))


def _assert_matches(got: tuple[float, np.ndarray], expected: tuple[float, np.ndarray], platform: str) -> None:
    e_rtol, f_atol = (ENERGY_RTOL, FORCE_ATOL_FRACTION) if platform == "Reference" else \
        (SINGLE_ENERGY_RTOL, SINGLE_FORCE_ATOL_FRACTION)
    np.testing.assert_allclose(got[0], expected[0], rtol=e_rtol)
    np.testing.assert_allclose(got[1], expected[1], rtol=0, atol=f_atol * np.abs(expected[1]).max())


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("platform", NATIVE_PLATFORMS)
def test_native_matches_expression(platform, case):
    _platform(platform)  # a platform that cannot run skips here, before apply_formulation refuses it
    system = apply_formulation(_system(case), NATIVE_FORMULATION, platform=platform)
    assert formulation_of(system) == "native"
    _assert_matches(_pair_state(_context(system, platform, _xml_and_positions(case)[1])), _expected(case), platform)


#: CpuCookePairKernel.h: the environment variable that keeps the CPU pair loop at four neighbours a step.
VECTOR_WIDTH_ENV = "SNAREFUSE_CPU_VECTOR_WIDTH"


def _assert_equal_to_float_round_off(state: tuple[float, np.ndarray], reference: tuple[float, np.ndarray]) -> None:
    """Two single-precision CPU variants of one kernel (vector width, thread layout): energy and forces agree to
    float round-off."""
    np.testing.assert_allclose(state[0], reference[0], rtol=1e-5)
    np.testing.assert_allclose(state[1], reference[1], rtol=0, atol=1e-5 * np.abs(reference[1]).max())


@pytest.mark.parametrize("case", ["cooke3", "mixed-species", "pairs-near-cutoffs", "snare"])
def test_cpu_pair_loop_four_wide_matches_expression_and_the_default_width(case, monkeypatch):
    """On an AVX CPU the pair loop runs eight neighbours a step (fvec8); the four-wide loop (fvec4, every other
    x86 CPU) is asked for through the environment: both match the expression, and each other to float round-off."""
    _platform("CPU")
    system = apply_formulation(_system(case), NATIVE_FORMULATION, platform="CPU")
    positions = _xml_and_positions(case)[1]
    default = _pair_state(_context(system, "CPU", positions))
    monkeypatch.setenv(VECTOR_WIDTH_ENV, "4")
    four = _pair_state(_context(system, "CPU", positions))
    _assert_matches(four, _expected(case), "CPU")
    _assert_equal_to_float_round_off(four, default)


def test_cpu_pair_loop_width_from_the_environment_is_checked(monkeypatch):
    _platform("CPU")
    system = apply_formulation(_system("cooke3"), NATIVE_FORMULATION, platform="CPU")
    monkeypatch.setenv(VECTOR_WIDTH_ENV, "16")
    with pytest.raises(openmm.OpenMMException, match=f"{VECTOR_WIDTH_ENV} must be 4 or 8, not '16'"):
        _context(system, "CPU", _xml_and_positions("cooke3")[1])


#: CpuCallerWorks.h: the environment variable that, set to 0, leaves the calling thread idle while the pool works.
CALLER_WORKS_ENV = "SNAREFUSE_CPU_CALLER_WORKS"


@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("case", ["cooke3", "snare"])
def test_cpu_calling_thread_taking_blocks_matches_the_pool_alone(case, threads, monkeypatch):
    """The calling thread takes list and pair blocks next to the pool's threads (each worker in its own force
    buffer; with one thread it does all of them without a dispatch): energy and forces equal the expression's and,
    to float round-off, those of the pool alone (the calling thread idle)."""
    _platform("CPU")
    system = apply_formulation(_system(case), NATIVE_FORMULATION, platform="CPU")
    positions = _xml_and_positions(case)[1]

    def state() -> tuple[float, np.ndarray]:
        ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), _platform("CPU"), {"Threads": threads})
        ctx.setPositions(positions)
        return _pair_state(ctx)

    shared = state()
    monkeypatch.setenv(CALLER_WORKS_ENV, "0")
    pool_alone = state()
    _assert_matches(shared, _expected(case), "CPU")
    _assert_equal_to_float_round_off(shared, pool_alone)


def test_cpu_calling_thread_setting_from_the_environment_is_checked(monkeypatch):
    _platform("CPU")
    system = apply_formulation(_system("cooke3"), NATIVE_FORMULATION, platform="CPU")
    monkeypatch.setenv(CALLER_WORKS_ENV, "yes")
    with pytest.raises(openmm.OpenMMException, match=f"{CALLER_WORKS_ENV} must be 0 or 1, not 'yes'"):
        _context(system, "CPU", _xml_and_positions("cooke3")[1])


#: CpuCookePairKernel.h MIN_PARTICLES_PARALLEL_SORT: from this many beads the CPU list build sorts on the pool.
PARALLEL_SORT_BEADS = 16384


def test_cpu_list_build_of_a_large_bilayer_on_the_pool_matches_expression():
    """A bilayer above PARALLEL_SORT_BEADS beads, where the CPU kernel finds cells and fills its sorted arrays on
    the pool's threads: pair energy and forces equal the expression's on the Reference platform."""
    from .conftest import small_spec

    _platform("CPU")
    built = build_system(small_spec(system__bilayer__n_lipids=PARALLEL_SORT_BEADS // 3 + 100))
    assert built.positions.shape[0] >= PARALLEL_SORT_BEADS
    positions = built.positions + np.random.default_rng(5).normal(scale=0.02, size=built.positions.shape)
    expected = _pair_state(_context(built.system, "Reference", positions))
    system = apply_formulation(built.system, NATIVE_FORMULATION, platform="CPU", copy=True)
    _assert_matches(_pair_state(_context(system, "CPU", positions)), expected, "CPU")


#: CpuCookePairKernel.h NEAR_EXCLUSION_RANGE: exclusions of index distance below it are a bit mask per particle, the
#: others a sorted list; the distances tested straddle the boundary.
NEAR_EXCLUSION_RANGE = 64
EXCLUSION_DISTANCES = (1, 2, NEAR_EXCLUSION_RANGE - 2, NEAR_EXCLUSION_RANGE - 1, NEAR_EXCLUSION_RANGE,
                       NEAR_EXCLUSION_RANGE + 1, 150)


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
def test_exclusions_at_every_index_distance_match_expression(platform):
    """The 360 beads of a bilayer's force spread on a grid wider than the cutoff, and for each index distance d on
    both sides of NEAR_EXCLUSION_RANGE two pairs (i, i + d) put 0.8 nm apart, one of them excluded: the native
    kernel's pair energy and forces are those of the expression, i.e. of the pairs left in and no other."""
    _platform(platform)
    system = _system("cooke3")
    pair = next(f for f in system.getForces() if f.getName() == "CookePair")
    assert pair.getNumExclusions() == 0
    n = system.getNumParticles()
    spacing = 1.25 * pair.getCutoffDistance().value_in_unit(openmm.unit.nanometer)
    cells = math.ceil(n ** (1 / 3))
    grid = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)[:n]
    positions = (grid + 0.5) * spacing
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*(spacing * cells * np.eye(3)[k])) for k in range(3)))
    used, first = set(), 0
    for d in EXCLUSION_DISTANCES:
        for excluded in (True, False):
            while {first, first + d} & used:
                first += 1
            used |= {first, first + d}
            positions[first + d] = positions[first] + [0.8, 0.0, 0.0]
            if excluded:
                pair.addExclusion(first, first + d)
    assert max(used) < n
    expected = _pair_state(_context(system, "Reference", positions))
    included = expected[0] / len(EXCLUSION_DISTANCES)  # the mean energy of a pair left in
    assert abs(included) > 1e-3  # kJ/mol: the pairs placed interact
    native_system = apply_formulation(system, NATIVE_FORMULATION, platform=platform, copy=True)
    _assert_matches(_pair_state(_context(native_system, platform, positions)), expected, platform)


def test_snare_exclusions_and_protein_beads_carried_over():
    system = _system("snare")
    pair = next(f for f in system.getForces() if f.getName() == "CookePair")
    converted = apply_formulation(system, NATIVE_FORMULATION, copy=True)
    params = native.force_parameters(next(f for f in converted.getForces() if f.getName() == "CookePair"))
    assert len(params.exclusions) == pair.getNumExclusions() > 0
    assert params.exclusions == [tuple(pair.getExclusionParticles(k)) for k in range(pair.getNumExclusions())]
    expected = np.array([pair.getParticleParameters(i)[:2] for i in range(pair.getNumParticles())])
    np.testing.assert_array_equal(np.stack([params.b, params.a], axis=1), expected)
    assert params.force_group == PAIR_GROUP and params.periodic


@pytest.mark.parametrize("platform", NATIVE_PLATFORMS)
def test_force_is_minus_energy_gradient(platform):
    case = "mixed-species"
    system = apply_formulation(_system(case), NATIVE_FORMULATION)
    pos = _xml_and_positions(case)[1].copy()
    ctx = _context(system, platform, pos)
    _, forces = _pair_state(ctx)
    rng = np.random.default_rng(7)
    for i in rng.choice(len(pos), size=4, replace=False):
        for k in range(3):
            e = []
            for sign in (1, -1):
                moved = pos.copy()
                moved[i, k] += sign * FD_STEP_NM[platform]
                ctx.setPositions(moved)
                e.append(_pair_state(ctx)[0])
            np.testing.assert_allclose(-(e[0] - e[1]) / (2 * FD_STEP_NM[platform]), forces[i, k], rtol=0,
                                       atol=FD_ATOL_FRACTION[platform] * np.abs(forces).max())


def _expression_with_globals(case: str, values: dict[str, float], positions: np.ndarray) -> tuple[float, np.ndarray]:
    """Pair energy and forces of the expression with other globals, its cutoff r_c + w_c following them."""
    system = _system(case)
    pair = next(f for f in system.getForces() if f.getName() == "CookePair")
    pair.setCutoffDistance(2 ** (1 / 6) * values["cooke_sigma"] + values["cooke_wc"])
    ctx = _context(system, "Reference", positions)
    for k, v in values.items():
        ctx.setParameter(k, v)
    return _pair_state(ctx)


@pytest.mark.parametrize("platform", NATIVE_PLATFORMS)
def test_changed_globals_take_effect_in_live_context(platform):
    """cooke_eps, cooke_sigma and a larger cooke_wc set in a Context that has already evaluated (so the CPU
    kernel's neighbour list was built for the old ranges) give the energy of a System made with them."""
    case = "mixed-species"
    pos = _xml_and_positions(case)[1]
    ctx = _context(apply_formulation(_system(case), NATIVE_FORMULATION), platform, pos)
    before = _pair_state(ctx)
    # the GPU kernel's neighbour-list cutoff is fixed at Context creation: there w_c narrows (widening is refused,
    # test_gpu_kernel_refuses_globals_that_widen_the_range)
    wc_factor = 0.8 if platform in GPU_PLATFORMS else 1.25
    changed = {"cooke_eps": 1.3 * 2.343166737843174, "cooke_sigma": 0.98 * 0.88, "cooke_wc": wc_factor * 1.408}
    for k, v in changed.items():
        ctx.setParameter(k, v)
    got = _pair_state(ctx)
    assert abs(got[0] - before[0]) > 0.05 * abs(before[0])
    _assert_matches(got, _expression_with_globals(case, changed, pos), platform)


@pytest.mark.parametrize("platform", [p for p in NATIVE_PLATFORMS if p in GPU_PLATFORMS])
def test_gpu_kernel_refuses_globals_that_widen_the_range(platform):
    """On a GPU platform the pair range shares OpenMM's neighbour list, whose cutoff is fixed when the Context is
    created (from the default globals): a cooke_wc that would reach beyond it is an error naming the values."""
    case = "mixed-species"
    ctx = _context(apply_formulation(_system(case), NATIVE_FORMULATION), platform, _xml_and_positions(case)[1])
    _pair_state(ctx)
    ctx.setParameter("cooke_wc", 1.25 * 1.408)
    with pytest.raises(openmm.OpenMMException, match="cooke_wc = 1.76 nm .* beyond the .* cutoff"):
        _pair_state(ctx)


@pytest.mark.parametrize("platform", NATIVE_PLATFORMS)
def test_dynamics_and_box_change_keep_the_pair_list_right(platform):
    """After 300 MD steps (the CPU kernel reuses its list until a bead moves half the skin) and a rescaled box
    (as a barostat does), the forces equal a fresh evaluation of the expression at the same coordinates."""
    case = "cooke3"
    system = apply_formulation(_system(case), NATIVE_FORMULATION)
    ctx = openmm.Context(system, openmm.LangevinMiddleIntegrator(310, 1.0, 0.01), _platform(platform),
                         {"Threads": "2"} if platform == "CPU" else {})
    ctx.setPositions(_xml_and_positions(case)[1])
    ctx.setVelocitiesToTemperature(310, 3)
    ctx.getIntegrator().setRandomNumberSeed(3)
    ctx.getIntegrator().step(300)
    st = ctx.getState(getPositions=True)
    pos = st.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
    box = np.array(st.getPeriodicBoxVectors(asNumpy=True).value_in_unit(openmm.unit.nanometer))
    start = _xml_and_positions(case)[1]
    assert np.abs(pos - start).max() > 0.5 * CPU_SKIN_NM  # beads moved beyond half the skin: the list was rebuilt

    def expected(p, b):
        ref = _context(_system(case), "Reference", p)
        ref.setPeriodicBoxVectors(*b)
        return _pair_state(ref)

    _assert_matches(_pair_state(ctx), expected(pos, box), platform)
    scale = np.array([1.03, 1.03, 1 / 1.03 ** 2])
    scaled_pos, scaled_box = pos * scale, box * scale[:, None]
    ctx.setPeriodicBoxVectors(*scaled_box)
    ctx.setPositions(scaled_pos)
    _assert_matches(_pair_state(ctx), expected(scaled_pos, scaled_box), platform)


def test_serialization_round_trip_keeps_force_and_energy():
    case = "mixed-species"
    system = apply_formulation(_system(case), NATIVE_FORMULATION)
    force = next(f for f in system.getForces() if f.getName() == "CookePair")
    xml = openmm.XmlSerializer.serialize(system)
    assert 'type="CookePairForce"' in xml
    again = openmm.XmlSerializer.deserialize(xml)
    a, b = native.force_parameters(force), native.force_parameters(
        next(f for f in again.getForces() if f.getName() == "CookePair"))
    np.testing.assert_array_equal(a.b, b.b)
    np.testing.assert_array_equal(a.a, b.a)
    assert (a.epsilon, a.sigma, a.wc, a.exclusions, a.periodic, a.name, a.force_group) == \
        (b.epsilon, b.sigma, b.wc, b.exclusions, b.periodic, b.name, b.force_group)
    _assert_matches(_pair_state(_context(again, "Reference", _xml_and_positions(case)[1])), _expected(case),
                    "Reference")


def test_switching_back_from_native_restores_the_expression():
    case = "mixed-species"
    system = apply_formulation(apply_formulation(_system(case), NATIVE_FORMULATION), "expression")
    assert formulation_of(system) == "expression"
    _assert_matches(_pair_state(_context(system, "Reference", _xml_and_positions(case)[1])), _expected(case),
                    "Reference")


@pytest.mark.parametrize("b,a,field", [(0.0, 1.0, "size factor b"), (1.0, -0.5, "attraction a")])
def test_bad_particle_parameters_are_refused(b, a, field):
    with pytest.raises(native.NativeError, match=field):
        native.create_force([1.0, b], [1.0, a], epsilon=1.0, sigma=1.0, wc=1.6)


@pytest.mark.parametrize("platform", NATIVE_PLATFORMS)
def test_box_smaller_than_twice_the_cutoff_is_refused(platform):
    system = openmm.System()
    for _ in range(2):
        system.addParticle(1.0)
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in 4.0 * np.eye(3)))
    system.addForce(native.create_force([1.0, 1.0], [1.0, 1.0], epsilon=1.0, sigma=1.0, wc=1.6))
    # Reference and CPU: the kernel's own check; OpenCL: the platform's nonbonded utilities, which refuse it first
    with pytest.raises(openmm.OpenMMException, match="half the periodic box|twice the nonbonded cutoff"):
        _context(system, platform, np.array([[0.0, 0, 0], [1.0, 0, 0]])).getState(getEnergy=True)


#: NVE (velocity Verlet) energy conservation, native against the expression, both on the CPU platform from the same
#: equilibrated state: 1e4 steps in the default tier, 1e5 in the soak tier, at the spec's time step (0.01 tau).
NVE_STEPS = {"default": 10_000, "soak": 100_000}
NVE_DT_PS = 0.0909
NVE_SAMPLE_EVERY = 100
#: The native drift (slope of the total energy, kJ/mol per bead per ns) may exceed neither twice the expression's nor
#: this floor, whichever is larger (both measured ~0.005-0.01 here, against kT = 2.58 kJ/mol); its spread (max - min)
#: no more than twice the expression's (a pair missed by the neighbour list would show as jumps).
NVE_DRIFT_FLOOR = 0.02
NVE_SPREAD_FACTOR = 2.0


def _nve_energies(system: openmm.System, state: openmm.State, steps: int) -> np.ndarray:
    integrator = openmm.VerletIntegrator(NVE_DT_PS)
    ctx = openmm.Context(system, integrator, _platform("CPU"), {"Threads": "1"})
    ctx.setPositions(state.getPositions())
    ctx.setVelocities(state.getVelocities())
    out = []
    for _ in range(steps // NVE_SAMPLE_EVERY):
        integrator.step(NVE_SAMPLE_EVERY)
        st = ctx.getState(getEnergy=True)
        out.append((st.getPotentialEnergy() + st.getKineticEnergy()).value_in_unit(KJ))
    return np.array(out) / system.getNumParticles()


@pytest.mark.parametrize("tier", [
    "default", pytest.param("soak", marks=pytest.mark.soak)])
def test_nve_energy_drift_no_worse_than_the_expression(tier):
    case = "cooke3"
    start = _system(case)
    lang = openmm.Context(start, openmm.LangevinMiddleIntegrator(310, 1.0, NVE_DT_PS), _platform("CPU"),
                          {"Threads": "1"})
    lang.getIntegrator().setRandomNumberSeed(1)
    lang.setPositions(_xml_and_positions(case)[1])
    lang.setVelocitiesToTemperature(310, 1)
    lang.getIntegrator().step(1000)
    state = lang.getState(getPositions=True, getVelocities=True)
    steps = NVE_STEPS[tier]
    t_ns = np.arange(steps // NVE_SAMPLE_EVERY) * NVE_SAMPLE_EVERY * NVE_DT_PS * 1e-3
    drift, spread = {}, {}
    for form in ("expression", NATIVE_FORMULATION):
        e = _nve_energies(apply_formulation(_system(case), form, platform="CPU"), state, steps)
        drift[form] = abs(np.polyfit(t_ns, e, 1)[0])
        spread[form] = e.max() - e.min()
    assert drift["native"] <= max(2 * drift["expression"], NVE_DRIFT_FLOOR), drift
    assert spread["native"] <= NVE_SPREAD_FACTOR * spread["expression"], spread


#: Random-gas check of the CPU kernel's cell grid: a periodic box only 2.2 list ranges wide (fewer than five cells a
#: side: every cell of a row visited once) and the same beads without periodicity (grid from their bounding box).
GAS_SIGMA, GAS_EPS, GAS_WC = 0.88, 2.343166737843174, 1.408
GAS_BEADS = 300
GAS_BOX_LIST_RANGES = 2.2


def _gas(rng: np.random.Generator, box: float, periodic: bool,
         beads: int = GAS_BEADS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """b, a and positions of ``beads`` beads no closer than 0.9 sigma (a random gas would put pairs deep in the WCA
    wall)."""
    b = rng.choice([0.95, 1.0, 1.1], beads)
    a = rng.choice([0.0, 1.0, 1.2], beads)
    pos: list[np.ndarray] = []
    while len(pos) < beads:
        p = rng.uniform(0, box, 3)
        d = np.array(pos) - p if pos else np.zeros((0, 3))
        if periodic:
            d -= box * np.round(d / box)
        if not pos or np.min(np.linalg.norm(d, axis=1)) > 0.9 * GAS_SIGMA:
            pos.append(p)
    return b, a, np.array(pos)


def _gas_contexts(b: np.ndarray, a: np.ndarray, positions: np.ndarray, box: float,
                  periodic: bool) -> dict[str, openmm.Context]:
    contexts = {}
    for platform in [p for p in NATIVE_PLATFORMS if _runnable(p) is None]:
        system = openmm.System()
        for _ in range(len(b)):
            system.addParticle(1.0)
        system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box * np.eye(3)))
        force = native.create_force(b, a, epsilon=GAS_EPS, sigma=GAS_SIGMA, wc=GAS_WC, periodic=periodic,
                                    force_group=PAIR_GROUP)
        system.addForce(force)
        contexts[platform] = _context(system, platform, positions)
    return contexts


@pytest.mark.parametrize("periodic", [True, False])
def test_cpu_cell_grid_on_a_small_box_and_without_periodicity(periodic):
    list_range = 2 ** (1 / 6) * GAS_SIGMA + GAS_WC + CPU_SKIN_NM
    box = GAS_BOX_LIST_RANGES * list_range
    contexts = _gas_contexts(*_gas(np.random.default_rng(23), box, periodic), box, periodic)
    _assert_matches(_pair_state(contexts["CPU"]), _pair_state(contexts["Reference"]), "CPU")


def test_cpu_kernel_runs_a_box_under_twice_the_list_range():
    """A periodic box wider than twice the cutoff but narrower than twice the cutoff plus the Verlet skin (a
    64-lipid bilayer: 5.45 nm against r_c + w_c = 2.40 nm and 2.84 nm with the skin). The CPU kernel refused it
    ("the cutoff (2.84 nm, r_c + w_c ...) exceeds half the periodic box width"), checking the list range instead of
    the cutoff, while the expression runs it. Checked against the Reference kernel at the build and after every
    bead moved just under half the skin (the list reused, pairs whose minimum image changed since the build)."""
    cutoff = 2 ** (1 / 6) * GAS_SIGMA + GAS_WC
    box = 2 * cutoff + 0.5 * CPU_SKIN_NM
    assert box < 2 * (cutoff + CPU_SKIN_NM)
    rng = np.random.default_rng(31)
    b, a, positions = _gas(rng, box, True, beads=150)  # 1.2 beads/nm^3, as the 300 of the test above
    contexts = _gas_contexts(b, a, positions, box, True)
    _assert_matches(_pair_state(contexts["CPU"]), _pair_state(contexts["Reference"]), "CPU")
    step = rng.normal(size=positions.shape)
    step *= 0.49 * CPU_SKIN_NM * rng.uniform(0.5, 1.0, (len(b), 1)) / np.linalg.norm(step, axis=1)[:, None]
    for ctx in contexts.values():
        ctx.setPositions(positions + step)
    _assert_matches(_pair_state(contexts["CPU"]), _pair_state(contexts["Reference"]), "CPU")


def test_native_formulation_refuses_a_box_under_twice_the_cutoff():
    """A clear FormulationError naming box and cutoff when the System is reformulated, instead of an
    OpenMMException from the kernel at the first force evaluation."""
    system = openmm.System()
    for _ in range(2):
        system.addParticle(1.0)
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in 4.0 * np.eye(3)))
    system.addForce(native.create_force([1.0, 1.0], [1.0, 1.0], epsilon=1.0, sigma=1.0, wc=1.6,
                                        force_group=PAIR_GROUP))
    expression = apply_formulation(system, "expression", copy=True)
    with pytest.raises(FormulationError, match=r"periodic box \(4\.000 x 4\.000 x 4\.000 nm\).*2\.722 nm"):
        apply_formulation(expression, "native")


#: Force group given to every CustomBondForce in the bonded-term comparisons below.
BOND_GROUP = 20


def _bond_state(system: openmm.System, platform: str, positions: np.ndarray,
                threads: int | None = None) -> tuple[float, np.ndarray]:
    props = {"Threads": str(threads)} if threads else {}
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform), props)
    ctx.setPositions(positions)
    st = ctx.getState(getEnergy=True, getForces=True, groups={BOND_GROUP})
    return st.getPotentialEnergy().value_in_unit(KJ), st.getForces(asNumpy=True).value_in_unit(KJ_NM)


#: CpuCustomBondKernel.h: from this many bonds per thread the CPU platform splits a CustomBondForce over its threads.
MIN_BONDS_PER_THREAD = 256
#: A bilayer whose FENE bonds and springs are each split over 3 threads: 1,200 lipids, 2,400 FENE bonds and 1,200
#: springs.
MANY_BONDS_LIPIDS = 1200


@functools.lru_cache(maxsize=None)
def _many_bonds_case() -> tuple[str, np.ndarray]:
    from .conftest import small_spec

    built = build_system(small_spec(system__bilayer__n_lipids=MANY_BONDS_LIPIDS))
    rng = np.random.default_rng(3)
    return openmm.XmlSerializer.serialize(built.system), built.positions + rng.normal(scale=0.04,
                                                                                      size=built.positions.shape)


@pytest.mark.parametrize("case", ["cooke3", "snare", "many-bonds"])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("caller_works", ["1", "0"])
def test_bonds_on_cpu_threads_equal_the_reference_kernel(case, threads, caller_works, monkeypatch):
    """In a Context with the native pair force, the CPU platform's CustomBondForces (FENE, straightening springs,
    SNARE helix and contact bonds) run on its thread pool, split into groups of bonds that share no particle
    (where there are enough bonds; the calling thread takes one group, or, with CALLER_WORKS_ENV=0, the pool's
    threads take all); each group is OpenMM's Reference kernel, so energies and forces are the Reference platform's
    up to the order of summation, on any number of threads."""
    _platform("CPU")
    monkeypatch.setenv(CALLER_WORKS_ENV, caller_works)
    xml, positions = _many_bonds_case() if case == "many-bonds" else _xml_and_positions(case)
    system = apply_formulation(openmm.XmlSerializer.deserialize(xml), NATIVE_FORMULATION, platform="CPU")
    bonds = [f for f in system.getForces() if isinstance(f, openmm.CustomBondForce)]
    assert len(bonds) >= 2 and sum(f.getNumBonds() for f in bonds) > 100
    if case == "many-bonds":
        assert min(f.getNumBonds() for f in bonds) >= MIN_BONDS_PER_THREAD * 3
    for f in bonds:
        f.setForceGroup(BOND_GROUP)
    expected = _bond_state(system, "Reference", positions)
    got = _bond_state(system, "CPU", positions, threads)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], expected[1], rtol=0, atol=1e-12 * np.abs(expected[1]).max())


def test_bond_force_with_an_energy_parameter_derivative_in_a_native_context():
    """A CustomBondForce that asks for dE/d(parameter) is evaluated whole by the Reference kernel (the derivative is
    one sum): the derivative and the energy equal the Reference platform's."""
    _platform("CPU")
    system = apply_formulation(_system("cooke3"), NATIVE_FORMULATION, platform="CPU")
    spring = openmm.CustomBondForce("0.5*k*(r-0.9)^2")
    spring.addGlobalParameter("k", 100.0)
    spring.addEnergyParameterDerivative("k")
    for i in range(0, system.getNumParticles() - 3, 3):
        spring.addBond(i, i + 3, [])
    spring.setForceGroup(BOND_GROUP)
    system.addForce(spring)
    positions = _xml_and_positions("cooke3")[1]
    out = []
    for platform, props in [("Reference", {}), ("CPU", {"Threads": "2"})]:
        ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform),
                             props)
        ctx.setPositions(positions)
        st = ctx.getState(getEnergy=True, getParameterDerivatives=True, groups={BOND_GROUP})
        out.append((st.getPotentialEnergy().value_in_unit(KJ), st.getEnergyParameterDerivatives()["k"]))
    assert out[0][1] > 0
    np.testing.assert_allclose(out[1], out[0], rtol=1e-12)


@pytest.mark.parametrize("lipid_model", ["cooke3", "cooke4"])
@pytest.mark.parametrize("platform", NATIVE_PLATFORMS)
def test_fene_bond_beyond_its_range_has_infinite_energy_not_nan(lipid_model, platform):
    """The force field's FENE bond beyond r_inf: +inf energy, which an L-BFGS line search rejects. Before, its
    log(1 - (r/r_inf)^2) gave NaN there (with a finite force), and OpenMM's line search accepted the NaN trial
    point (every comparison with NaN is false): the vesicle-vesicle minimisation ended at NaN."""
    root = ET.parse(forcefield_file(lipid_model)).getroot()
    (fene,) = [f for f in root.iter("CustomBondForce") if "rinf" in f.get("energy")]
    assert fene.get("energy") == FENE_ENERGY
    force = openmm.CustomBondForce(fene.get("energy"))
    for g in fene.iter("GlobalParameter"):
        force.addGlobalParameter(g.get("name"), float(g.get("defaultValue")))
    for p in fene.iter("PerBondParameter"):
        force.addPerBondParameter(p.get("name"))
    bond = fene.find("Bond")
    force.addBond(0, 1, [float(bond.get(p.get("name"))) for p in fene.iter("PerBondParameter")])
    system = openmm.System()
    for _ in range(2):
        system.addParticle(1.0)
    system.addForce(force)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), _platform(platform))
    r_inf = float(bond.get("rinf")) * force.getGlobalParameterDefaultValue(
        [force.getGlobalParameterName(k) for k in range(force.getNumGlobalParameters())].index("cooke_sigma"))
    energies = []
    for r in (0.5 * r_inf, 0.99 * r_inf, 1.01 * r_inf, 2 * r_inf):
        ctx.setPositions([openmm.Vec3(0, 0, 0), openmm.Vec3(r, 0, 0)])
        energies.append(ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ))
    assert np.all(np.isfinite(energies[:2])) and energies[1] > energies[0] > 0, energies
    assert energies[2:] == [math.inf, math.inf], energies


def test_minimising_the_vesicle_vesicle_system_stays_finite(tmp_path):
    """The vesicle-vesicle system (5 nm vesicles, 20.4 x 20.4 x 115.3 nm box, 4,668 beads) minimised with the native
    CPU kernel ended at NaN: at iteration 19 a line-search trial point stretched one FENE bond beyond r_inf (1.344
    against 1.32 nm), whose energy was NaN with a finite force, and the line search accepted it. The pair kernel
    was right all along (its energy and forces at that point match the Reference kernel and the expression; poly on
    two CPU threads ended at NaN too). With the FENE energy +inf there, the minimisation ends finite."""
    spec = load_spec(example_spec_path("vesicle_vesicle")).with_overrides(
        {"system.vesicle.radius": "5 nm", "system.box_xy": None, "run.platform": "CPU", "run.threads": 1})
    build_system(spec).save(tmp_path / "r")
    system = openmm.XmlSerializer.deserialize((tmp_path / "r" / "system.xml").read_text())
    positions = openmm.app.PDBFile(str(tmp_path / "r" / "system.pdb")).getPositions(asNumpy=True)
    apply_formulation(system, "native", platform="CPU")
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), _platform("CPU"), {"Threads": "1"})
    ctx.setPositions(positions)
    minimize(ctx, system, 10.0)
    state = ctx.getState(getEnergy=True, getPositions=True)
    assert math.isfinite(state.getPotentialEnergy().value_in_unit(KJ))
    pos = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
    (fene,) = [f for f in system.getForces() if f.getName() == "CookeFENE"]
    for k in range(fene.getNumBonds()):
        i, j, (kf, rinf) = fene.getBondParameters(k)
        assert np.linalg.norm(pos[i] - pos[j]) < rinf * 0.88


def test_default_choice_falls_back_to_the_pure_formulation_where_native_refuses_the_box(caplog):
    """``formulation="auto"`` on CPU: the native default refuses a box under twice the cutoff, so the runner tries
    the pure default (poly), which OpenMM refuses in turn with its own message; ``native`` asked for by name raises
    the FormulationError naming box and cutoff."""
    from snarefuse.errors import PlatformError
    from snarefuse.runner import make_simulation

    system = openmm.System()
    topology = openmm.app.Topology()
    residue = topology.addResidue("X", topology.addChain())
    for _ in range(2):
        system.addParticle(1.0)
        topology.addAtom("X", None, residue)
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in 4.0 * np.eye(3)))
    system.addForce(native.create_force([1.0, 1.0], [1.0, 1.0], epsilon=1.0, sigma=1.0, wc=1.6,
                                        force_group=PAIR_GROUP))
    system = apply_formulation(system, "expression")
    _platform("CPU")
    with caplog.at_level("WARNING", logger="snarefuse.runner"), \
            pytest.raises(PlatformError, match="CPU: .*cutoff"):
        make_simulation(topology, system, lambda: openmm.VerletIntegrator(0.001), "CPU", "mixed",
                        formulation="auto")
    assert "using the 'poly' formulation instead" in caplog.text
    with pytest.raises(FormulationError, match="narrower than twice the pair cutoff"):
        make_simulation(topology, system, lambda: openmm.VerletIntegrator(0.001), "CPU", "mixed",
                        formulation="native")
