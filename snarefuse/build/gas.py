"""Gas beads in the lumen of each vesicle: placement, topology and particles (``system.vesicle.lumen``).

How many beads and why they look as they do is :mod:`snarefuse.lumen`'s business; this module puts
them in a built system:

- positions: uniform in the sphere of radius ``R - 3.2 sigma`` (inner head shell less one sigma) by
  random sequential addition, no two beads closer than the WCA range ``2^(1/6) sigma`` and none
  that close to a protein bead, so the gas starts at zero energy. Each vesicle's gas has its own
  seed, derived from the spec's, so adding gas leaves every lipid where it was.
- topology: per vesicle one chain ``G<membrane id>`` of one-bead residues ``GAS`` (atom ``G``),
  after the lipids and the proteins (chain index = membrane id still holds for the membranes).
- System: each bead is a particle of the lipid bead mass, added to the ``CookePair`` force with
  ``b = GAS_BEAD_SIZE`` and ``a = 0`` (WCA only); no bonds, no exclusions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import openmm
from openmm import app

from ..errors import BuildError
from ..forcefield import PAIR_FORCE_NAME
from ..lumen import GAS_ATOM_NAME, GAS_BEAD_SIZE, GAS_RESNAME, LUMEN_MARGIN_SIGMA, LumenGas
from ..spec import Spec
from .vesicle import VesicleLipids, interior_gas_positions

#: Salt mixed into the spec's seed for the gas of each vesicle.
_SEED_SALT = 0x6A5


@dataclass
class LumenFill:
    """The gas of one vesicle: which membrane, where its beads are, what they amount to."""

    membrane: int
    positions: np.ndarray  # (n, 3) nm
    gas: LumenGas


def place_lumen_gas(spec: Spec, membranes: list[dict[str, Any]], avoid_nm: np.ndarray | None = None) -> list[LumenFill]:
    """Gas positions for every vesicle among ``membranes`` (the assembler's records: ``kind``,
    ``center_nm``, ``radius_nm``, ``outer_head_radius_nm``, ``inner_head_radius_nm``); none when the spec has no ``system.vesicle.lumen``.

    ``avoid_nm`` (m, 3): bead positions (proteins) the gas keeps ``2^(1/6) sigma`` away from.
    """
    ves = spec.system.vesicle
    if ves is None or ves.lumen is None:
        return []
    model, units = spec.model, spec.model.units
    sigma = model.sigma_nm
    gas = ves.lumen.resolve(ves.radius_nm, sigma, model.kt_over_epsilon, units.kt_kjmol)
    wca_range = 2.0 ** (1.0 / 6.0) * GAS_BEAD_SIZE * sigma
    out = []
    for m, rec in enumerate(membranes):
        if rec["kind"] != "vesicle":
            continue
        shell = VesicleLipids(np.zeros((0, model.beads_per_lipid, 3)), np.zeros(0, dtype="U5"),
                              np.asarray(rec["center_nm"], dtype=np.float64), rec["radius_nm"],
                              rec["outer_head_radius_nm"], rec["inner_head_radius_nm"])
        seed = int(np.random.SeedSequence([spec.seed, _SEED_SALT, m]).generate_state(1)[0])
        try:
            pos = interior_gas_positions(gas.n_gas, shell, margin_nm=LUMEN_MARGIN_SIGMA * sigma,
                                         min_separation_nm=wca_range, seed=seed, avoid_nm=avoid_nm,
                                         avoid_clearance_nm=wca_range)
        except BuildError as e:
            raise BuildError(f"system.vesicle.lumen: {e}") from None
        out.append(LumenFill(m, pos, gas))
    return out


def add_lumen_gas(topology: app.Topology, system: openmm.System, fills: list[LumenFill],
                  mass_amu: float) -> list[dict[str, Any]]:
    """Append the gas to ``topology`` and ``system`` (in that order of atoms) and return one manifest
    record per vesicle: the :class:`~snarefuse.lumen.LumenGas` fields plus ``chain`` and ``first_atom``."""
    if not fills:
        return []
    pair = [f for f in system.getForces() if isinstance(f, openmm.CustomNonbondedForce) and f.getName() == PAIR_FORCE_NAME]
    if len(pair) != 1:
        raise BuildError("internal: expected one CookePair force to extend with gas beads")
    records = []
    for fill in fills:
        chain = topology.addChain(f"{GAS_RESNAME[0]}{fill.membrane}")
        first = topology.getNumAtoms()
        for _ in range(len(fill.positions)):
            topology.addAtom(GAS_ATOM_NAME, None, topology.addResidue(GAS_RESNAME, chain))
            idx = system.addParticle(mass_amu)
            pair[0].addParticle([GAS_BEAD_SIZE, 0.0])
            if idx != topology.getNumAtoms() - 1:
                raise BuildError("internal: gas particles must follow the other particles in topology order")
        records.append({**fill.gas.as_dict(), "chain": chain.id, "first_atom": first})
    return records
