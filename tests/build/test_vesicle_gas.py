"""Gas in the lumen of solvent-free vesicles (``system.vesicle.lumen``): spec, bead count and equation
of state, placement, topology and files, forces, analysis indexing, and containment in a short run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openmm
import pytest
from openmm import app, unit
from scipy.spatial import cKDTree

from snarefuse.analysis.base import LipidIndex
from snarefuse.build import build_system
from snarefuse.errors import SpecError
from snarefuse.formulations import apply_formulation
from snarefuse.lumen import (
    BAR_PER_KJMOL_NM3,
    GAS_BEAD_SIZE,
    GAS_RESNAME,
    MAX_PACKING_FRACTION,
    gas_pressure_bar,
    lumen_radius_nm,
    lumen_volume_nm3,
    wca_second_virial_nm3,
)
from snarefuse.spec import Spec, example_spec_path, load_spec

#: Key of systems/vesicle_vesicle.yaml recorded before system.vesicle.lumen existed: specs without the
#: field must keep their key (their run and sweep directories are content-addressed by it).
VESICLE_VESICLE_KEY = "2010ad702d0e020f"
#: Small vesicles keep the builds and the Reference-platform force checks fast (4,700 and 6,500 lipid beads).
SMALL_RADIUS_NM = 5.0
RUN_RADIUS_NM = 6.0
#: Reference (double precision) central differences against OpenMM's forces.
FD_STEP_NM = 1e-5
FORCE_RTOL = 1e-5
FORCE_ATOL = 1e-3  # kJ/mol/nm, against forces of 10^2-10^4
#: Formulations against the force field's own expression on the Reference platform.
ENERGY_RTOL = 1e-7
#: NVT simulations of 1000 WCA beads (sigma = 0.88 nm, kT = 1.1 epsilon, 310 K; pressure from the volume
#: derivative of the energy, 4e4 steps): packing fraction (B2-matched diameter) -> pressure (bar), its error.
#: Carnahan-Starling must agree within 3 standard errors; the ideal-gas law is off by 8-35% there.
WCA_SIMULATION = [(0.02, 2.4984, 0.0063), (0.05, 7.0678, 0.0242), (0.1, 17.5492, 0.0798)]
N_SIGMA = 3.0
#: The short run: steps of 0.01 tau after minimisation.
RUN_STEPS = 300


def _spec(radius_nm: float = SMALL_RADIUS_NM, lumen: dict | None = None, geometry: str = "vesicle_vesicle") -> Spec:
    over: dict = {"system.vesicle.radius": f"{radius_nm} nm", "system.box_z": None}
    if geometry == "vesicle_vesicle":
        over["system.box_xy"] = None
    if lumen is not None:
        over["system.vesicle.lumen"] = lumen
    return load_spec(example_spec_path(geometry)).with_overrides(over)


def _gas_of(spec: Spec):
    model = spec.model
    ves = spec.system.vesicle
    assert ves is not None and ves.lumen is not None
    return ves.lumen.resolve(ves.radius_nm, model.sigma_nm, model.kt_over_epsilon, model.units.kt_kjmol)


@pytest.fixture(scope="module")
def plain():
    return build_system(_spec())


@pytest.fixture(scope="module")
def gassy():
    return build_system(_spec(lumen={"tension": "2 mN/m"}))


def _gas_atoms(built, membrane: int) -> np.ndarray:
    rec = built.manifest["membranes"][membrane]["lumen"]
    return np.arange(rec["first_atom"], rec["first_atom"] + rec["n_gas"])


def _lipid_atoms(built) -> int:
    return built.manifest["n_lipids"] * built.manifest["beads_per_lipid"]


# ------------------------------------------------------------------------------------------- spec
@pytest.mark.parametrize("lumen,attr,expected", [
    ({"n_gas": 8}, "n_gas", 8),
    ({"pressure": "2 bar"}, "pressure_bar", 2.0),
    ({"pressure": "200 kPa"}, "pressure_bar", 2.0),
    ({"pressure": "0.5 atm"}, "pressure_bar", 0.506625),
    ({"tension": "1 mN/m"}, "tension_barnm", 10.0),
    ({"tension": 10.0}, "tension_barnm", 10.0),
])
def test_lumen_forms_parse(lumen, attr, expected):
    got = getattr(_spec(lumen=lumen).system.vesicle.lumen, attr)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_pressure_in_reduced_units():
    spec = _spec(lumen={"pressure": "0.01 kT/nm^3"})
    np.testing.assert_allclose(spec.system.vesicle.lumen.pressure_bar,
                               0.01 * spec.model.units.kt_kjmol * BAR_PER_KJMOL_NM3, rtol=1e-12)


@pytest.mark.parametrize("lumen", [{"n_gas": 6}, {"pressure": "3 bar"}, {"tension": "0.5 mN/m"}])
def test_lumen_round_trips_and_enters_the_key(lumen):
    spec = _spec(lumen=lumen)
    again = Spec.from_dict(spec.to_dict())
    assert again.system.vesicle.lumen == spec.system.vesicle.lumen
    assert again.key() == spec.key() != _spec().key()


def test_key_without_lumen_is_unchanged():
    spec = load_spec(example_spec_path("vesicle_vesicle"))
    assert "lumen" not in spec.to_dict()["system"]["vesicle"]
    assert spec.key() == VESICLE_VESICLE_KEY
    assert spec.with_overrides({"system.vesicle.lumen": None}).key() == VESICLE_VESICLE_KEY


@pytest.mark.parametrize("lumen,field,fragment", [
    ({"pressure": "-1 bar"}, "system.vesicle.lumen.pressure", ">= 0"),
    ({"tension": "-0.1 mN/m"}, "system.vesicle.lumen.tension", ">= 0"),
    ({"n_gas": -3}, "system.vesicle.lumen.n_gas", ">= 0"),
    ({"n_gas": 2.5}, "system.vesicle.lumen.n_gas", "integer"),
    ({"pressure": "1 nm"}, "system.vesicle.lumen.pressure", "not a pressure unit"),
    ({"tension": "1 bar"}, "system.vesicle.lumen.tension", "not a tension unit"),
    ({"n_gas": 100000}, "system.vesicle.lumen.n_gas", "too many"),
    ({"pressure": "100 bar"}, "system.vesicle.lumen.pressure", "too many"),
    ({"tension": "50 mN/m"}, "system.vesicle.lumen.tension", "too many"),
    ({"n_gas": 5, "pressure": "1 bar"}, "system.vesicle.lumen", "exactly one"),
    ({}, "system.vesicle.lumen", "exactly one"),
    ({"volume": 1}, "system.vesicle.lumen.volume", "unknown key"),
])
def test_invalid_lumen_names_the_field(lumen, field, fragment):
    with pytest.raises(SpecError) as e:
        _spec(lumen=lumen)
    assert e.value.field == field and fragment in e.value.message


def test_too_many_names_the_largest_accepted_count():
    spec = _spec()
    v = lumen_volume_nm3(SMALL_RADIUS_NM, spec.model.sigma_nm)
    with pytest.raises(SpecError, match=r"accepted n_gas <= (\d+)") as e:
        _spec(lumen={"n_gas": 10**4})
    n_max = int(e.value.message.split("accepted n_gas <= ")[1].split(",")[0])
    assert _gas_of(_spec(lumen={"n_gas": n_max})).packing_fraction <= MAX_PACKING_FRACTION
    assert n_max + 1 > MAX_PACKING_FRACTION * v / (math.pi / 6 * _diameter(spec) ** 3)


def _diameter(spec: Spec) -> float:
    b2 = wca_second_virial_nm3(GAS_BEAD_SIZE * spec.model.sigma_nm, spec.model.kt_over_epsilon)
    return (3 * b2 / (2 * math.pi)) ** (1 / 3)


# ------------------------------------------------------------------------ count and equation of state
def test_dilute_count_is_the_ideal_gas_law():
    spec = _spec(25.0, {"pressure": "0.02 bar"})
    v = lumen_volume_nm3(25.0, spec.model.sigma_nm)
    kt_barnm3 = spec.model.units.kt_kjmol * BAR_PER_KJMOL_NM3
    assert _gas_of(spec).n_gas == round(0.02 * v / kt_barnm3)


@pytest.mark.parametrize("pressure_bar", [0.5, 2.0, 8.0])
def test_count_reproduces_the_pressure_to_second_order(pressure_bar):
    spec = _spec(25.0, {"pressure": f"{pressure_bar} bar"})
    gas = _gas_of(spec)
    v = lumen_volume_nm3(25.0, spec.model.sigma_nm)
    rho = gas.n_gas / v
    kt_barnm3 = spec.model.units.kt_kjmol * BAR_PER_KJMOL_NM3
    b2 = wca_second_virial_nm3(GAS_BEAD_SIZE * spec.model.sigma_nm, spec.model.kt_over_epsilon)
    virial = rho * kt_barnm3 * (1 + b2 * rho)
    # third-order term of the hard-sphere series: (5/8) (B2 rho)^2; plus half a bead of rounding
    np.testing.assert_allclose(virial, pressure_bar, rtol=(b2 * rho) ** 2 + 0.5 / gas.n_gas)
    assert gas.n_gas < pressure_bar * v / kt_barnm3  # repulsion: fewer beads than the ideal-gas law
    np.testing.assert_allclose(gas.pressure_bar, pressure_bar, rtol=1.0 / gas.n_gas)


@pytest.mark.parametrize("eta,p_sim,err", WCA_SIMULATION)
def test_equation_of_state_matches_wca_simulations(eta, p_sim, err):
    spec = _spec()
    d = _diameter(spec)
    n, v = 1000, 1000 * math.pi * d**3 / (6 * eta)
    p = gas_pressure_bar(n, v, spec.model.units.kt_kjmol, d)
    assert abs(p - p_sim) < N_SIGMA * err


def test_second_virial_tends_to_hard_spheres_when_cold():
    b = 0.88
    # below kT = 1e-5 epsilon the soft edge of the WCA core is < 0.1% of its range
    np.testing.assert_allclose(wca_second_virial_nm3(b, 1e-5), 2 * math.pi / 3 * (2 ** (1 / 6) * b) ** 3, rtol=0.002)


@pytest.mark.parametrize("tension_mn_m", [0.5, 2.0])
def test_tension_sets_the_laplace_pressure(tension_mn_m):
    gas = _gas_of(_spec(25.0, {"tension": f"{tension_mn_m} mN/m"}))
    target = 2 * tension_mn_m * 10.0 / 25.0  # bar: 2 gamma / R, 1 mN/m = 10 bar nm
    step = gas_pressure_bar(gas.n_gas + 1, gas.volume_nm3, _spec().model.units.kt_kjmol, _diameter(_spec())) \
        - gas.pressure_bar
    assert abs(gas.pressure_bar - target) <= step / 2 + 1e-12
    np.testing.assert_allclose(gas.tension_mn_per_m, gas.pressure_bar * 25.0 / 2 / 10.0, rtol=1e-12)


# ------------------------------------------------------------------------------------------ build
def test_counts_topology_and_parameters(gassy):
    n = _gas_of(gassy.spec).n_gas
    m = gassy.manifest
    assert n > 0 and m["n_gas"] == 2 * n
    gas_res = [r for r in gassy.topology.residues() if r.name == GAS_RESNAME]
    assert len(gas_res) == 2 * n and all(len(list(r.atoms())) == 1 for r in gas_res)
    assert sorted({r.chain.id for r in gas_res}) == ["G0", "G1"]
    assert gassy.system.getNumParticles() == gassy.topology.getNumAtoms() == len(gassy.positions)
    pair = next(f for f in gassy.system.getForces() if f.getName() == "CookePair")
    for i in np.concatenate([_gas_atoms(gassy, 0), _gas_atoms(gassy, 1)]):
        assert tuple(pair.getParticleParameters(int(i))) == (GAS_BEAD_SIZE, 0.0)
        assert gassy.system.getParticleMass(int(i)).value_in_unit(unit.dalton) == gassy.spec.model.bead_mass_amu
    rec = m["membranes"][1]["lumen"]
    assert rec["n_gas"] == n and rec["tension_mN_per_m"] == pytest.approx(rec["pressure_bar"] * SMALL_RADIUS_NM / 20)


@pytest.mark.parametrize("membrane", [0, 1])
def test_gas_inside_the_lumen_clear_of_lipids_and_each_other(gassy, membrane):
    sigma = gassy.spec.model.sigma_nm
    rec = gassy.manifest["membranes"][membrane]
    gas = gassy.positions[_gas_atoms(gassy, membrane)]
    r = np.linalg.norm(gas - np.asarray(rec["center_nm"]), axis=1)
    assert r.max() <= lumen_radius_nm(SMALL_RADIUS_NM, sigma) + 1e-9
    lipids = gassy.positions[:_lipid_atoms(gassy)]
    assert cKDTree(lipids).query(gas)[0].min() >= sigma * (1 - 1e-9)
    assert cKDTree(gas).query(gas, k=2)[0][:, 1].min() >= 2 ** (1 / 6) * GAS_BEAD_SIZE * sigma


def test_gas_leaves_the_lipids_where_they_were(plain, gassy):
    n = _lipid_atoms(plain)
    assert n == _lipid_atoms(gassy)
    np.testing.assert_array_equal(gassy.positions[:n], plain.positions[:n])


def test_vesicle_planar_fills_only_the_vesicle():
    built = build_system(_spec(8.0, {"n_gas": 7}, geometry="vesicle_planar"))
    planar, vesicle = built.manifest["membranes"]
    assert "lumen" not in planar and vesicle["lumen"]["n_gas"] == 7 == built.manifest["n_gas"]
    gas = built.positions[_gas_atoms(built, 1)]
    assert np.linalg.norm(gas - np.asarray(vesicle["center_nm"]), axis=1).max() <= lumen_radius_nm(8.0, built.spec.model.sigma_nm) + 1e-9


def test_saved_files_carry_the_gas_and_analysis_counts_it_as_content(gassy, tmp_path: Path):
    d = gassy.save(tmp_path / "run")
    psf_gas = [line for line in (d / "system.psf").read_text().splitlines() if f" {GAS_RESNAME} " in line]
    assert len(psf_gas) == gassy.manifest["n_gas"]
    pdb = app.PDBFile(str(d / "system.pdb"))
    assert pdb.topology.getNumAtoms() == len(gassy.positions)
    for top in (gassy.topology, pdb.topology):
        idx = LipidIndex.from_topology(top)
        assert idx.n_lipids == gassy.manifest["n_lipids"] and idx.n_membranes == 2
        assert len(idx.markers) == gassy.manifest["n_gas"]
        assert idx.n_atoms == len(gassy.positions)


# ----------------------------------------------------------------------------------------- forces
def _pressed_positions(built) -> tuple[np.ndarray, list[int]]:
    """The built positions with two gas beads pushed into contact: one 0.95 sigma inside an inner-leaflet
    head, the other 0.95 sigma from the first (both inside every WCA range they meet)."""
    sigma = built.spec.model.sigma_nm
    rec = built.manifest["membranes"][0]
    centre = np.asarray(rec["center_nm"])
    head = built.positions[rec["n_outer"] * built.manifest["beads_per_lipid"]]  # first inner-leaflet head
    g0, g1 = (int(i) for i in _gas_atoms(built, 0)[:2])
    x = built.positions.copy()
    inward = (centre - head) / np.linalg.norm(centre - head)
    x[g0] = head + 0.95 * sigma * inward
    side = np.cross(inward, [0.0, 0.0, 1.0] if abs(inward[2]) < 0.9 else [1.0, 0.0, 0.0])
    x[g1] = x[g0] + 0.95 * sigma * (inward + side) / np.linalg.norm(inward + side)
    return x, [g0, g1]


def test_energy_finite_and_force_is_minus_gradient(gassy):
    x, atoms = _pressed_positions(gassy)
    ctx = openmm.Context(gassy.system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))

    def energy(pos: np.ndarray) -> float:
        ctx.setPositions(pos)
        return ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)

    ctx.setPositions(x)
    state = ctx.getState(getEnergy=True, getForces=True)
    assert math.isfinite(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
    forces = state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)[atoms]
    assert np.linalg.norm(forces, axis=1).min() > 1.0  # the contacts are really pressed
    numeric = np.zeros_like(forces)
    for k, i in enumerate(atoms):
        for d in range(3):
            xp, xm = x.copy(), x.copy()
            xp[i, d] += FD_STEP_NM
            xm[i, d] -= FD_STEP_NM
            numeric[k, d] = -(energy(xp) - energy(xm)) / (2 * FD_STEP_NM)
    np.testing.assert_allclose(forces, numeric, rtol=FORCE_RTOL, atol=FORCE_ATOL)


@pytest.mark.parametrize("name", ["poly", "tabulated_types", "split"])
def test_formulations_keep_the_gas(gassy, name):
    x, _ = _pressed_positions(gassy)

    def energy(system: openmm.System) -> float:
        ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
        ctx.setPositions(x)
        return ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)

    np.testing.assert_allclose(energy(apply_formulation(gassy.system, name)), energy(gassy.system), rtol=ENERGY_RTOL)


# ------------------------------------------------------------------------------------ containment
def test_short_run_keeps_the_gas_inside():
    """300 steps at the largest accepted pressure (~17 bar, Laplace tension ~5 mN/m): every gas bead
    stays inside its vesicle's bilayer midplane (the mean of the inner and outer head radii). Gas beads
    do enter the inner head layer at this pressure, so the midplane, not the head shell, is the test."""
    spec = _spec(RUN_RADIUS_NM, {"pressure": "17 bar"})
    built = build_system(spec)
    units = spec.model.units
    integrator = openmm.LangevinMiddleIntegrator(spec.model.temperature_k, 1 / units.tau_ps, 0.01 * units.tau_ps)
    integrator.setRandomNumberSeed(spec.seed)
    ctx = openmm.Context(built.system, integrator, openmm.Platform.getPlatformByName("CPU"), {"Threads": "2"})
    ctx.setPositions(built.positions)
    openmm.LocalEnergyMinimizer.minimize(ctx, 10.0, 200)
    ctx.setVelocitiesToTemperature(spec.model.temperature_k, spec.seed)
    integrator.step(RUN_STEPS)
    x = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    beads = built.manifest["beads_per_lipid"]
    for m, rec in enumerate(built.manifest["membranes"]):
        first = rec["first_residue"] * beads
        lipids = x[first:first + rec["n_lipids"] * beads]
        centre = lipids.mean(axis=0)
        r_heads = np.linalg.norm(lipids[::beads] - centre, axis=1)
        midplane = 0.5 * (r_heads[:rec["n_outer"]].mean() + r_heads[rec["n_outer"]:].mean())
        r_gas = np.linalg.norm(x[_gas_atoms(built, m)] - centre, axis=1)
        assert rec["lumen"]["n_gas"] > 20 and r_gas.max() < midplane
