"""The OpenMM force field against two independent implementations of the Cooke model — the NumPy
reference and LAMMPS (pair_style cosine/squared + bond_style fene + harmonic) — on the same
configurations, to relative 1e-5, for 3-bead, 4-bead and mixed-species membranes."""

from __future__ import annotations

import numpy as np
import openmm
import pytest

from snarefuse.build import build_system
from snarefuse.reference import cooke_energy_forces, inputs_from_built
from snarefuse.reference.lammps_cooke import lammps_available, lammps_energy_forces, lammps_unavailable_reason

from .conftest import mixed_species_spec, small_spec

ENERGY_RTOL = 1e-5
FORCE_RTOL = 1e-5
#: absolute force tolerance relative to the largest force in the configuration
FORCE_ATOL_FRACTION = 1e-6
#: thermal-like displacement of the built lattice (nm), so that pairs populate every cutoff region
JITTER_NM = 0.04


CASES = {
    "cooke3": lambda: small_spec(),
    "cooke4": lambda: small_spec(model__lipid_model="cooke4"),
    "mixed-species": mixed_species_spec,
    "two-bilayers-wc1.2": lambda: small_spec(system__geometry="two_bilayers", system__cleft="0.3 nm",
                                             model__wc="1.2 sigma"),
}


def _configuration(name: str):
    built = build_system(CASES[name]())
    rng = np.random.default_rng(11)
    built.positions = built.positions + rng.normal(scale=JITTER_NM, size=built.positions.shape)
    return built


def _openmm(built):
    ctx = openmm.Context(built.system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(built.positions)
    st = ctx.getState(getEnergy=True, getForces=True)
    return (st.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole),
            st.getForces(asNumpy=True).value_in_unit(openmm.unit.kilojoule_per_mole / openmm.unit.nanometer))


@pytest.mark.parametrize("name", list(CASES))
def test_openmm_matches_numpy_reference(name):
    built = _configuration(name)
    e, f = _openmm(built)
    e_ref, f_ref, _ = cooke_energy_forces(**inputs_from_built(built))
    np.testing.assert_allclose(e, e_ref, rtol=ENERGY_RTOL)
    np.testing.assert_allclose(f, f_ref, rtol=FORCE_RTOL, atol=FORCE_ATOL_FRACTION * np.abs(f_ref).max())


@pytest.mark.skipif(not lammps_available(), reason=f"LAMMPS not loadable: {lammps_unavailable_reason()}")
@pytest.mark.parametrize("name", list(CASES))
def test_openmm_matches_lammps(name):
    built = _configuration(name)
    e, f = _openmm(built)
    e_ref, f_ref, _ = lammps_energy_forces(**inputs_from_built(built))
    np.testing.assert_allclose(e, e_ref, rtol=ENERGY_RTOL)
    np.testing.assert_allclose(f, f_ref, rtol=FORCE_RTOL, atol=FORCE_ATOL_FRACTION * np.abs(f_ref).max())
