"""Export a build to LAMMPS: ``system.data`` (``atom_style bond``, LAMMPS ``units lj``) and ``in.lammps``.

The mapping is :func:`snarefuse.reference.lammps_cooke.write_lammps_inputs` (``pair_style cosine/squared`` for the
Cooke WCA + cos² attraction, ``bond_style fene`` without its LJ part, ``bond_style harmonic`` for the straightening
springs, ``special_bonds lj/coul 1 1 1``; one atom type per distinct head size, tail attraction and mass), which the
test suite runs in LAMMPS and compares with OpenMM's potential energy. Lumen gas beads are WCA-only beads (tail
attraction 0). The SNARE proteins' forces (helix restraints, linker coils, Go contacts, interface anchor) have no
LAMMPS mapping here: such builds are refused with the forces named.

LAMMPS ``units lj``: length sigma, energy epsilon, mass the bead mass, time tau = sigma sqrt(m / epsilon); the
script's header records their values in nm, kJ/mol, amu and ps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..lumen import GAS_BEAD_SIZE, GAS_RESNAME
from ..reference.lammps_cooke import write_lammps_inputs
from ..reference.numpy_cooke import SPRING_R0_REDUCED
from . import BuildFiles, ExportError, load_build

#: Forces of a build that this export maps onto LAMMPS styles.
MAPPED_FORCES = ("CookeFENE", "CookeStraighteningSpring", "CookePair")
DATA_FILE = "system.data"
INPUT_FILE = "in.lammps"
#: Line of in.lammps after which the dynamics (thermostat, output, run) start; what precedes it sets up the model.
DYNAMICS_MARKER = "# --- dynamics: the spec's run section ---"


def cooke_inputs(b: BuildFiles) -> dict:
    """Keyword arguments of :func:`~snarefuse.reference.lammps_cooke.write_lammps_inputs` for a build of lipids
    and lumen gas (per-bead head size ``b`` and tail attraction ``a``, FENE bonds along each lipid, one
    straightening spring per lipid from head to last tail bead)."""
    unmapped = [f for f in b.manifest.get("forces", []) if f not in MAPPED_FORCES]
    if unmapped:
        raise ExportError(f"{b.directory / 'manifest.json'}: forces {unmapped} have no LAMMPS mapping in this "
                          f"export; accepted: builds of lipids and lumen gas (forces {list(MAPPED_FORCES)}), i.e. "
                          "without system.snares")
    spec = b.spec
    sigma = spec.model.sigma_nm
    bb, aa, bonds, springs = [], [], [], []
    for res in b.topology.residues():
        idx = [atom.index for atom in res.atoms()]
        if idx[0] != len(bb) or idx != list(range(idx[0], idx[0] + len(idx))):
            raise ExportError(f"{b.structure_file}: residue {res.name} {res.id}: atoms are not in residue order")
        if res.name == GAS_RESNAME:
            bb += [GAS_BEAD_SIZE] * len(idx)
            aa += [0.0] * len(idx)
            continue
        species = spec.lipids.get(res.name)
        if species is None or len(idx) not in SPRING_R0_REDUCED:
            raise ExportError(f"{b.structure_file}: residue {res.name} {res.id} is neither a lipid species of "
                              f"spec.yaml ({sorted(spec.lipids)}) nor {GAS_RESNAME}")
        bb += [species.head_size] + [1.0] * (len(idx) - 1)
        aa += [0.0] + [species.tail_attraction] * (len(idx) - 1)
        bonds += list(zip(idx[:-1], idx[1:]))
        springs.append((idx[0], idx[-1], SPRING_R0_REDUCED[len(idx)] * sigma))
    return dict(positions=b.positions, box=b.box, b=np.asarray(bb), a=np.asarray(aa),
                bonds=np.asarray(bonds, dtype=np.int64).reshape(-1, 2), springs=np.asarray(springs).reshape(-1, 3),
                sigma=sigma, eps=spec.model.units.epsilon_kjmol, wc=spec.model.wc_nm / sigma)


def export_lammps(build_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``system.data`` and ``in.lammps`` of the build in ``build_dir`` into ``out_dir`` (created).

    ``lmp -in in.lammps`` (run in ``out_dir``) sets up the model and runs the spec's Langevin dynamics; the
    membrane barostat is not exported (LAMMPS has no Monte Carlo membrane barostat; the script says so).
    Returns the files written.
    """
    b = load_build(build_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        inputs = write_lammps_inputs(out, **cooke_inputs(b))
    except ValueError as e:
        raise ExportError(f"{b.structure_file}: {e}") from None
    data = out / DATA_FILE
    Path(inputs.data_path).replace(data)
    units = b.spec.model.units
    run = b.spec.run
    tau_ps = units.tau_ps
    seed = int(b.spec.seed) % 900_000_000 + 1  # LAMMPS seeds: positive 32-bit integers
    kt = units.kt_over_epsilon
    setup = [f"read_data {DATA_FILE}" if c.startswith("read_data ") else c for c in inputs.commands]
    lines = [
        f"# snarefuse export of {b.directory} ({b.spec.name}): {len(b.positions)} beads, spec key "
        f"{b.manifest.get('spec_key', '?')}",
        f"# LAMMPS units lj: sigma = {units.sigma_nm} nm, epsilon = {units.epsilon_kjmol} kJ/mol, "
        f"m = {units.mass_amu} amu, tau = {tau_ps} ps; kT = {kt} epsilon ({units.temperature_k} K)",
        "# pair: Cooke WCA + cos^2 tail attraction (pair_style cosine/squared); bonds: FENE + head-to-tail "
        "harmonic springs",
        *setup,
        "",
        DYNAMICS_MARKER,
        f"velocity all create {kt} {seed} dist gaussian mom yes",
        f"fix sf_langevin all langevin {kt} {kt} {1.0 / (run.friction_per_ps * tau_ps)} {seed + 1}",
        "fix sf_nve all nve",
        f"timestep {run.timestep_ps / tau_ps}",
        f"thermo {run.report_interval}",
        f"dump sf_traj all dcd {run.trajectory_interval} trajectory.dcd",
        "dump_modify sf_traj unwrap no",
    ]
    if run.barostat.enabled:
        lines.append(f"# not exported: run.barostat (OpenMM MonteCarloMembraneBarostat, surface tension "
                     f"{run.barostat.surface_tension_barnm} bar*nm, every {run.barostat.interval} steps); LAMMPS "
                     "has no Monte Carlo membrane barostat, e.g. 'fix press/langevin' with x y coupled comes closest")
    lines.append(f"run {run.steps}")
    script = out / INPUT_FILE
    script.write_text("\n".join(lines) + "\n")
    return [data, script]
