"""Every formulation of the Cooke pair force gives the energies and forces of the force field's own
expression: on the Reference platform to rtol 1e-5, on each other platform of the session's platform fixture
(CPU, OpenCL, CUDA, HIP; skipped visibly where not loaded) within single-precision tolerance; for 3-bead, 4-bead and mixed-species bilayers and for isolated pairs of
every bead-type combination placed just inside and outside every cutoff of the model."""

from __future__ import annotations

import functools
import math

import numpy as np
import openmm
import pytest

from snarefuse.build import build_system
from snarefuse.errors import PlatformError
from snarefuse.formulations import (
    DEFAULT_FORMULATION,
    FALLBACK_FORMULATION,
    FORCE_GROUP_SHORT_RANGE,
    FORMULATIONS,
    FormulationError,
    apply_formulation,
    check_platform,
    default_formulation,
    formulation_of,
)
from snarefuse.forcefield import FORCE_GROUP_NONBONDED

from .conftest import mixed_species_spec, small_spec

#: Reference platform (double precision) against the default expression.
ENERGY_RTOL = 1e-5
FORCE_RTOL = 1e-5
FORCE_ATOL_FRACTION = 1e-6   # of the largest force component in the configuration
#: Single-precision platforms (CPU, OpenCL) against the Reference default.
SINGLE_ENERGY_RTOL = 1e-5
SINGLE_FORCE_RTOL = 1e-4
SINGLE_FORCE_ATOL_FRACTION = 1e-4
#: Thermal-like displacement of the built lattice (nm), so that pairs populate every cutoff region.
JITTER_NM = 0.04
#: Relative offset of the pair distances placed around each cutoff.
EDGE = 1e-6
TWO_SIXTH = 2 ** (1 / 6)

NAMES = list(FORMULATIONS)
CPU_NAMES = [n for n in NAMES if n != "interaction_groups"]
#: Platforms that compile the formulations' kernels for each Context.
ACCELERATORS = ("OpenCL", "CUDA", "HIP")


SPECS = {
    "cooke3": lambda: small_spec(system__bilayer__n_lipids=120),
    "cooke4": lambda: small_spec(system__bilayer__n_lipids=120, model__lipid_model="cooke4"),
    "mixed-species": lambda: mixed_species_spec().with_overrides({"system.bilayer.n_lipids": 120}),
}


def _pair_force(system: openmm.System) -> openmm.CustomNonbondedForce:
    return next(f for f in system.getForces() if f.getName() == "CookePair")


def _pairs_system() -> tuple[openmm.System, np.ndarray]:
    """Isolated pairs of every (b, a) bead-type combination of the mixed-species system, at distances
    just inside and outside every cutoff (WCA of the pair, the largest WCA range, plateau edge r_c,
    r_c + w_c) and inside each region; pairs sit far more than a cutoff apart from each other."""
    built = build_system(mixed_species_spec())
    nb = _pair_force(built.system)
    params = np.array([nb.getParticleParameters(i)[:2] for i in range(nb.getNumParticles())])
    types = np.unique(params, axis=0)
    sigma = nb.getGlobalParameterDefaultValue(1)
    wc = nb.getGlobalParameterDefaultValue(2)
    rc = TWO_SIXTH * sigma
    cutoff = nb.getCutoffDistance().value_in_unit(openmm.unit.nanometer)
    rw_max = TWO_SIXTH * types[:, 0].max() * sigma
    pairs = []
    for i in range(len(types)):
        for j in range(i, len(types)):
            rw = TWO_SIXTH * min(types[i, 0], types[j, 0]) * sigma
            for d in (0.93 * rw / TWO_SIXTH, rw * (1 - EDGE), rw * (1 + EDGE), rw_max * (1 - EDGE),
                      rw_max * (1 + EDGE), rc * (1 - EDGE), rc, rc * (1 + EDGE), rc + 0.37 * wc, cutoff - EDGE,
                      cutoff + 1e-3):
                pairs.append((types[i], types[j], d))
    spacing = cutoff + 1.0
    n_side = math.ceil(len(pairs) ** (1 / 3))
    box = n_side * spacing
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(openmm.Vec3(box, 0, 0), openmm.Vec3(0, box, 0), openmm.Vec3(0, 0, box))
    force = openmm.CustomNonbondedForce(nb.getEnergyFunction())
    force.setName("CookePair")
    force.setForceGroup(FORCE_GROUP_NONBONDED)
    for k in range(nb.getNumGlobalParameters()):
        force.addGlobalParameter(nb.getGlobalParameterName(k), nb.getGlobalParameterDefaultValue(k))
    force.addPerParticleParameter("b")
    force.addPerParticleParameter("a")
    force.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
    force.setCutoffDistance(cutoff)
    positions = []
    rng = np.random.default_rng(3)
    for k, (t1, t2, d) in enumerate(pairs):
        cell = np.array([k % n_side, (k // n_side) % n_side, k // n_side**2]) * spacing + 0.5
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        for t, p in ((t1, cell), (t2, cell + d * direction)):
            system.addParticle(250.0)
            force.addParticle([float(t[0]), float(t[1])])
            positions.append(p)
    system.addForce(force)
    return system, np.array(positions)


@functools.lru_cache(maxsize=None)
def _case(name: str) -> tuple[str, np.ndarray]:
    """(serialised System with the default formulation, positions in nm) of a test case."""
    if name == "pairs-near-cutoffs":
        system, positions = _pairs_system()
    else:
        built = build_system(SPECS[name]())
        rng = np.random.default_rng(11)
        system, positions = built.system, built.positions + rng.normal(scale=JITTER_NM, size=built.positions.shape)
    return openmm.XmlSerializer.serialize(system), positions


CASES = [*SPECS, "pairs-near-cutoffs"]


def _system(case: str) -> openmm.System:
    return openmm.XmlSerializer.deserialize(_case(case)[0])


def _evaluate(system: openmm.System, case: str, platform: str, parameters: dict[str, float] | None = None):
    props = {"Precision": "single"} if platform in ACCELERATORS else {}
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform), props)
    ctx.setPositions(_case(case)[1])
    for k, v in (parameters or {}).items():
        ctx.setParameter(k, v)
    st = ctx.getState(getEnergy=True, getForces=True)
    return (st.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole),
            st.getForces(asNumpy=True).value_in_unit(openmm.unit.kilojoule_per_mole / openmm.unit.nanometer))


def _assert_matches(e: float, f: np.ndarray, e0: float, f0: np.ndarray, platform: str) -> None:
    """Energy (kJ/mol) and forces (N, 3) against the default formulation's, at the platform's precision."""
    if platform == "Reference":
        e_rtol, f_rtol, f_atol = ENERGY_RTOL, FORCE_RTOL, FORCE_ATOL_FRACTION
    else:
        e_rtol, f_rtol, f_atol = SINGLE_ENERGY_RTOL, SINGLE_FORCE_RTOL, SINGLE_FORCE_ATOL_FRACTION
    np.testing.assert_allclose(e, e0, rtol=e_rtol)
    np.testing.assert_allclose(f, f0, rtol=f_rtol, atol=f_atol * np.abs(f0).max())


@functools.lru_cache(maxsize=None)
def _default(case: str) -> tuple[float, np.ndarray]:
    return _evaluate(_system(case), case, "Reference")


def _names_on(platform: str) -> list[str]:
    """The formulations that run on ``platform`` (check_platform refuses interaction groups on CPU)."""
    return CPU_NAMES if platform == "CPU" else NAMES


def _skip_unless_run_on(platform: str, name: str, case: str) -> None:
    """Skip, with the reason, the combinations that are not run: a formulation the platform refuses, and on the
    compiling platforms each formulation other than the platform's default outside the isolated pairs (each Context
    compiles its kernels, seconds apiece under POCL; the isolated pairs put a pair in every cutoff region)."""
    if name not in _names_on(platform):
        pytest.skip(f"formulation {name!r} does not run on {platform} (check_platform refuses it)")
    if platform in ACCELERATORS and name != default_formulation(platform) and case != "pairs-near-cutoffs":
        pytest.skip(f"on {platform} only the default formulation runs on {case!r}; the others on the isolated pairs")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", NAMES)
def test_formulation_matches_default(platform_name, name, case):
    _skip_unless_run_on(platform_name, name, case)
    system = apply_formulation(_system(case), name, platform=platform_name)
    _assert_matches(*_evaluate(system, case, platform_name), *_default(case), platform_name)


@pytest.mark.parametrize("name", NAMES)
def test_globals_stay_live(name):
    """Changing cooke_eps / cooke_sigma in a Context changes every formulation the same way."""
    case = "mixed-species"
    changed = {"cooke_eps": 1.3 * 2.343166737843174, "cooke_sigma": 0.98 * 0.88}
    e0, f0 = _evaluate(_system(case), case, "Reference", changed)
    e, f = _evaluate(apply_formulation(_system(case), name, platform="Reference"), case, "Reference", changed)
    np.testing.assert_allclose(e, e0, rtol=ENERGY_RTOL)
    np.testing.assert_allclose(f, f0, rtol=FORCE_RTOL, atol=FORCE_ATOL_FRACTION * np.abs(f0).max())


@pytest.mark.parametrize("name", NAMES)
def test_keeps_parameters_globals_and_group(name):
    original = _system("mixed-species")
    before = _pair_force(original)
    system = apply_formulation(original, name, platform="Reference", copy=True)
    assert _pair_force(original).getEnergyFunction() == before.getEnergyFunction()  # copy=True left it alone
    pair = _pair_force(system)
    assert pair.getForceGroup() == FORCE_GROUP_NONBONDED
    assert [pair.getPerParticleParameterName(i) for i in range(2)] == ["b", "a"]
    for i in range(0, before.getNumParticles(), 37):
        assert pair.getParticleParameters(i)[:2] == before.getParticleParameters(i)
    assert {pair.getGlobalParameterName(i): pair.getGlobalParameterDefaultValue(i)
            for i in range(pair.getNumGlobalParameters())} == {
        before.getGlobalParameterName(i): before.getGlobalParameterDefaultValue(i)
        for i in range(before.getNumGlobalParameters())}
    assert pair.getCutoffDistance() == before.getCutoffDistance()
    extra = [f for f in system.getForces() if f.getName() == "CookePairWCA"]
    assert all(f.getForceGroup() == FORCE_GROUP_SHORT_RANGE for f in extra)
    assert formulation_of(system) == name
    assert system.getNumForces() == original.getNumForces() + len(extra)


def test_formulations_can_be_switched_back():
    case = "cooke3"
    system = _system(case)
    for name in ("split", "interaction_groups", "tabulated_types", "expression"):
        apply_formulation(system, name, platform="Reference")
        assert formulation_of(system) == name
    reference = _system(case)  # keep the System alive while its forces are read
    assert [f.getName() for f in system.getForces()] == [f.getName() for f in reference.getForces()]
    e, f = _evaluate(system, case, "Reference")
    np.testing.assert_allclose(e, _default(case)[0], rtol=ENERGY_RTOL)


def test_interaction_groups_refuse_cpu():
    with pytest.raises(PlatformError, match="CPU platform"):
        apply_formulation(_system("cooke3"), "interaction_groups", platform="CPU")
    with pytest.raises(PlatformError, match="platform="):
        apply_formulation(_system("cooke3"), "interaction_groups")
    system = apply_formulation(_system("cooke3"), "interaction_groups", platform="OpenCL")
    with pytest.raises(PlatformError, match="neighbour list"):
        check_platform(system, "CPU")
    check_platform(system, "OpenCL")
    check_platform(_system("cooke3"), "CPU")


def test_unknown_formulation_names_the_choices():
    with pytest.raises(FormulationError, match="known: expression"):
        apply_formulation(_system("cooke3"), "fastest")


def test_no_pair_force_is_an_error():
    with pytest.raises(FormulationError, match="CookePair"):
        apply_formulation(openmm.System(), "poly")


def test_default_formulation_per_platform():
    assert set(DEFAULT_FORMULATION.values()) <= set(FORMULATIONS)
    assert DEFAULT_FORMULATION["CPU"] != "interaction_groups"
    assert default_formulation("Reference") == "expression"
    assert default_formulation("NoSuchPlatform") == FALLBACK_FORMULATION


@pytest.mark.parametrize("platform", ["CPU", "OpenCL", "CUDA", "HIP"])
def test_native_is_the_default_exactly_where_its_kernel_loads_and_was_measured_faster(platform):
    from snarefuse import native
    from snarefuse.formulations import NATIVE_DEFAULT_PLATFORMS

    assert NATIVE_DEFAULT_PLATFORMS == ("CPU", "OpenCL")  # CUDA and HIP: not measured on a GPU yet
    measured = platform in NATIVE_DEFAULT_PLATFORMS
    expected = "native" if measured and native.available(platform) else DEFAULT_FORMULATION[platform]
    assert default_formulation(platform) == expected


def test_platforms_command_says_whether_the_native_kernel_is_there_and_why_not():
    import json

    from click.testing import CliRunner

    from snarefuse import native
    from snarefuse.cli import main

    out = CliRunner().invoke(main, ["platforms", "--json"])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    assert rep["native_cooke"]["available"] == native.available()
    assert rep["native_cooke"]["platforms"] == list(native.native_platforms())
    assert rep["default_formulation"]["CPU"] == default_formulation("CPU")
    text = CliRunner().invoke(main, ["platforms"]).output
    assert "Native Cooke pair kernel:" in text
    if not native.available():
        assert native.why_unavailable() in text


def test_polynomial_tail_is_the_cosine():
    """The written-out coefficients are the documented fit, and the tail shape matches (1 + cos(pi u))/2 to
    float64 round-off in value and to below float32 round-off in slope."""
    from snarefuse.formulations import SIN_PI_COEFFICIENTS, sin_pi_coefficients

    np.testing.assert_allclose(SIN_PI_COEFFICIENTS, sin_pi_coefficients(len(SIN_PI_COEFFICIENTS)), rtol=1e-9)
    u = np.linspace(0.0, 1.0, 10001)
    t = u - 0.5
    powers = np.arange(1, 2 * len(SIN_PI_COEFFICIENTS), 2)
    tail = 0.5 - 0.5 * (t[:, None] ** powers) @ np.array(SIN_PI_COEFFICIENTS)
    slope = -0.5 * (powers * t[:, None] ** (powers - 1)) @ np.array(SIN_PI_COEFFICIENTS)
    np.testing.assert_allclose(tail, 0.5 * (1 + np.cos(np.pi * u)), rtol=0, atol=1e-11)
    np.testing.assert_allclose(slope, -0.5 * np.pi * np.sin(np.pi * u), rtol=0, atol=1e-8)


@functools.lru_cache(maxsize=None)
def _snare_case() -> tuple[str, np.ndarray]:
    """A two-bilayer system with one SNARE complex: protein beads (their own b, a, exclusions) share
    the Cooke pair force with the lipids, so every formulation must carry them over."""
    from snarefuse.spec import example_spec_path, load_spec

    spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides(
        {"system.snares.n_complexes": 1})
    built = build_system(spec)
    rng = np.random.default_rng(5)
    jitter = rng.normal(scale=0.02, size=built.positions.shape)
    return openmm.XmlSerializer.serialize(built.system), built.positions + jitter


@pytest.mark.parametrize("name", ["poly", "split"])
def test_formulations_keep_protein_beads_and_exclusions(platform_name, name):
    platform = platform_name
    xml, pos = _snare_case()
    system = openmm.XmlSerializer.deserialize(xml)
    n_exclusions = _pair_force(system).getNumExclusions()
    assert n_exclusions > 0  # the bonded protein neighbours
    ref = openmm.Context(openmm.XmlSerializer.deserialize(xml), openmm.VerletIntegrator(0.001),
                         openmm.Platform.getPlatformByName("Reference"))
    ref.setPositions(pos)
    s0 = ref.getState(getEnergy=True, getForces=True)
    apply_formulation(system, name, platform=platform)
    assert sum(f.getNumExclusions() for f in system.getForces() if f.getName() in ("CookePair", "CookePairWCA")) \
        == n_exclusions * (2 if name == "split" else 1)
    props = {"Precision": "single"} if platform in ACCELERATORS else {}
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform), props)
    ctx.setPositions(pos)
    s = ctx.getState(getEnergy=True, getForces=True)
    kj, kj_nm = openmm.unit.kilojoule_per_mole, openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
    _assert_matches(s.getPotentialEnergy().value_in_unit(kj), s.getForces(asNumpy=True).value_in_unit(kj_nm),
                    s0.getPotentialEnergy().value_in_unit(kj), s0.getForces(asNumpy=True).value_in_unit(kj_nm),
                    platform)
