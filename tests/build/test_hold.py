"""system.hold: the flat-bottom restraint on the z distance of two planar membranes' centres of mass."""

from __future__ import annotations

import numpy as np
import openmm
import pytest

from snarefuse.build import build_system
from snarefuse.build.assemble import FORCE_GROUP_HOLD, HOLD_FORCE_NAME
from snarefuse.errors import SpecError
from snarefuse.spec import Spec, example_spec_path, load_spec

STRENGTH_KT = 20.0


def _spec(**system: object) -> dict:
    d = load_spec(example_spec_path("fusion_planar_control")).to_dict()
    d["system"]["bilayer"] = {"n_lipids": 200, "area_per_lipid": "1.24 sigma^2", "proximal": {"CKC": 1.0},
                              "distal": {"CKL": 1.0}}
    d["system"].pop("hold", None)
    d["system"].update(system)
    return d


def _hold_energy(built, positions) -> float:
    ctx = openmm.Context(built.system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(positions)
    state = ctx.getState(getEnergy=True, groups={FORCE_GROUP_HOLD})
    return state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)


def test_hold_is_zero_within_its_distance_and_harmonic_beyond():
    built = build_system(Spec.from_dict(_spec(hold={"distance": "5 nm", "strength": STRENGTH_KT})))
    assert HOLD_FORCE_NAME in built.manifest["forces"]
    n = built.manifest["membranes"][1]["first_residue"] * built.manifest["beads_per_lipid"]
    pos = built.positions.copy()
    built_dz = pos[n:, 2].mean() - pos[:n, 2].mean()
    assert built_dz < 5.0
    assert _hold_energy(built, pos) == pytest.approx(0.0, abs=1e-9)
    pos[n:, 2] += 5.0 + 1.5 - built_dz  # centres 1.5 nm beyond the distance (all beads have the same mass)
    kt = built.spec.model.units.kt_kjmol
    assert _hold_energy(built, pos) == pytest.approx(0.5 * STRENGTH_KT * kt * 1.5**2, rel=1e-6)
    pos[n:, 2] -= 2 * (pos[n:, 2].mean() - pos[:n, 2].mean())  # the other side: |dz| is what counts
    assert _hold_energy(built, pos) == pytest.approx(0.5 * STRENGTH_KT * kt * 1.5**2, rel=1e-6)


def test_without_hold_no_force_and_the_key_is_unchanged():
    spec = Spec.from_dict(_spec())
    assert HOLD_FORCE_NAME not in build_system(spec).manifest["forces"]
    assert "hold" not in spec.to_dict()["system"]
    held = Spec.from_dict(_spec(hold={"distance": "5 nm", "strength": STRENGTH_KT}))
    assert held.key() != spec.key()
    assert Spec.from_dict(held.to_dict()).key() == held.key()


@pytest.mark.parametrize("hold, field, message", [
    ({"distance": "0 nm", "strength": 1}, "system.hold.distance", "> 0"),
    ({"distance": "40 nm", "strength": 1}, "system.hold.distance", "half the box height"),
    ({"distance": "5 nm", "strength": -1}, "system.hold.strength", None),
    ({"distance": "5 nm", "strength": 5000}, "system.hold.strength", "<= 1000"),
    ({"strength": 1}, "system.hold.distance", None),
    ({"distance": "5 nm"}, "system.hold.strength", None),
    ({"distance": "5 nm", "strength": 1, "k": 2}, "system.hold.k", None),
])
def test_bad_hold_names_the_field(hold, field, message):
    with pytest.raises(SpecError, match=message) as err:
        Spec.from_dict(_spec(hold=hold))
    assert err.value.field == field


def test_hold_outside_two_bilayers_is_refused():
    d = load_spec(example_spec_path("quickstart")).to_dict()
    d["system"]["hold"] = {"distance": "5 nm", "strength": 1}
    with pytest.raises(SpecError, match="two_bilayers only") as err:
        Spec.from_dict(d)
    assert err.value.field == "system.hold"


def test_each_lipid_stays_a_molecule_for_the_barostat():
    # the membrane barostat scales molecule centres; a force that bonded the membranes' beads together would make
    # each membrane one molecule and keep the area from changing
    built = build_system(Spec.from_dict(_spec(hold={"distance": "5 nm", "strength": STRENGTH_KT})))
    ctx = openmm.Context(built.system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    assert len(ctx.getMolecules()) == built.manifest["n_lipids"]
