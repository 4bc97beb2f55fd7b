"""Export a build to LAMMPS: ``system.data`` (``atom_style bond``, LAMMPS ``units lj``) and ``in.lammps``.

The mapping is :func:`snarefuse.reference.lammps_cooke.write_lammps_inputs` (``pair_style cosine/squared`` for the
Cooke WCA + cos² attraction, ``bond_style fene`` without its LJ part, ``bond_style harmonic`` for the straightening
springs, ``special_bonds lj/coul 1 1 1``; one atom type per distinct head size, tail attraction and mass), which the
test suite runs in LAMMPS and compares with OpenMM's potential energy and forces. Lumen gas beads are WCA-only beads
(tail attraction 0). The SNARE proteins' terms are read from the build's ``system.xml`` (what OpenMM simulates):
protein beads join the pair style with their own size and tail attraction (the overlay form), helix and linker
bonds are ``harmonic``, Go native contacts ``bond_style lepton`` bonds (``eps [5 (r0/r)^12 - 6 (r0/r)^10]``), the
interface anchor a third ``cosine/squared`` instance (no WCA) between anchor and head atom types (beads labelled
apart in :func:`~snarefuse.reference.lammps_cooke.write_lammps_inputs`). OpenMM leaves the bonded protein pairs out
of its Cooke pair force; a LAMMPS pair style cannot leave out single pairs while keeping the lipids' bonded pairs
in (``special_bonds 1 1 1``), so each such pair gets a lepton bond of minus its pair energy. Forces of any other
kind are refused with their names.

LAMMPS ``units lj``: length sigma, energy epsilon, mass the bead mass, time tau = sigma sqrt(m / epsilon); the
script's header records their values in nm, kJ/mol, amu and ps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openmm

from ..errors import RunDirectoryError
from ..forcefield import PAIR_FORCE_NAME
from ..lumen import GAS_BEAD_SIZE, GAS_RESNAME
from ..reference.lammps_cooke import LammpsInputs, write_lammps_inputs
from ..reference.numpy_cooke import K_BEND_REDUCED, SPRING_R0_REDUCED, TWO_SIXTH
from ..rundir import read_system_xml
from . import BuildFiles, ExportError, load_build

#: Forces of a build that this export maps onto LAMMPS styles.
MAPPED_FORCES = ("CookeFENE", "CookeStraighteningSpring", PAIR_FORCE_NAME, "SNARE helix", "SNARE linker coil",
                 "SNARE native contacts", "SNARE interface anchor")
LIPID_FORCES = MAPPED_FORCES[:3]
DATA_FILE = "system.data"
#: Neighbour-list skin (sigma), as in snarefuse.reference.
SKIN = 0.3
INPUT_FILE = "in.lammps"
#: Line of in.lammps after which the dynamics (thermostat, output, run) start; what precedes it sets up the model.
DYNAMICS_MARKER = "# --- dynamics: the spec's run section ---"


def cooke_inputs(b: BuildFiles) -> dict:
    """Keyword arguments of :func:`~snarefuse.reference.lammps_cooke.write_lammps_inputs` for a build of lipids
    and lumen gas (per-bead head size ``b`` and tail attraction ``a``, FENE bonds along each lipid, one
    straightening spring per lipid from head to last tail bead)."""
    unmapped = [f for f in b.manifest.get("forces", []) if f not in MAPPED_FORCES]
    if unmapped:
        raise ExportError(f"{b.run_dir.manifest_json}: forces {unmapped} have no LAMMPS mapping in this "
                          f"export; accepted: {list(MAPPED_FORCES)}")
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
        if species is None and len(idx) == 1 and b.manifest.get("snares"):
            bb.append(math.nan)  # a SNARE residue: its parameters come from system.xml (snare_terms)
            aa.append(math.nan)
            continue
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


@dataclass
class SnareTerms:
    """The SNARE proteins' terms of a build, read from its ``system.xml`` (MD units: nm, kJ/mol)."""

    b: dict[int, float]                       # protein bead -> CookePair size (sigma units)
    a: dict[int, float]                       # protein bead -> CookePair tail attraction
    masses: np.ndarray                        # (N,) every particle, in bead masses
    harmonic: list[tuple[int, int, float, float]] = field(default_factory=list)  # i, j, r0, k: 0.5 k (r - r0)^2
    contacts: list[tuple[int, int, float, float]] = field(default_factory=list)  # i, j, eps, r0: Go 12-10
    exclusions: list[tuple[int, int]] = field(default_factory=list)  # pairs left out of CookePair
    anchors: list[int] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    anchor: tuple[float, float, float] = (0.0, 0.0, 0.0)  # eps, plateau r_p, width w


def _params(force: openmm.CustomBondForce, k: int) -> tuple[int, int, dict[str, float]]:
    i, j, values = force.getBondParameters(k)
    names = [force.getPerBondParameterName(n) for n in range(force.getNumPerBondParameters())]
    return int(i), int(j), dict(zip(names, values))


def _globals(force: openmm.Force) -> dict[str, float]:
    return {force.getGlobalParameterName(n): force.getGlobalParameterDefaultValue(n)
            for n in range(force.getNumGlobalParameters())}


def snare_terms(b: BuildFiles) -> SnareTerms:
    """Read the SNARE terms of ``b`` from its ``system.xml``: what OpenMM simulates, term by term."""
    path = b.run_dir.system_xml
    try:
        system = read_system_xml(path)
    except RunDirectoryError as e:
        raise ExportError(str(e)) from None
    forces = {f.getName(): f for f in system.getForces()}
    pair = forces[PAIR_FORCE_NAME]
    membrane = _lipid_or_gas_atoms(b)
    protein = [i for i in range(system.getNumParticles()) if i not in membrane]
    t = SnareTerms({i: float(pair.getParticleParameters(i)[0]) for i in protein},
                   {i: float(pair.getParticleParameters(i)[1]) for i in protein},
                   np.array([system.getParticleMass(i).value_in_unit(openmm.unit.dalton)
                             for i in range(system.getNumParticles())]) / b.spec.model.units.mass_amu)
    for name in ("SNARE helix", "SNARE linker coil"):
        f = forces[name]
        if f.getEnergyFunction().replace(" ", "") != "0.5*k*(r-r0)^2":
            raise ExportError(f"{path}: force {name!r} is not 0.5*k*(r-r0)^2; this export maps only that form")
        for k in range(f.getNumBonds()):
            i, j, p = _params(f, k)
            t.harmonic.append((i, j, p["r0"], p["k"]))
    f = forces["SNARE native contacts"]
    scale = _globals(f).get("snare_contact_scale", 1.0)
    for k in range(f.getNumBonds()):
        i, j, p = _params(f, k)
        t.contacts.append((i, j, scale * p["eps"], p["r0"]))
    t.exclusions = [tuple(int(x) for x in pair.getExclusionParticles(k)) for k in range(pair.getNumExclusions())]
    f = forces["SNARE interface anchor"]
    g = _globals(f)
    t.anchor = (g["snare_anchor_eps"], g["snare_anchor_rp"], g["snare_anchor_w"])
    hc = [f.getParticleParameters(i) for i in range(f.getNumParticles())]
    t.heads = [i for i, (h, _) in enumerate(hc) if h]
    t.anchors = [i for i, (_, c) in enumerate(hc) if c]
    return t


def _lipid_or_gas_atoms(b: BuildFiles) -> set[int]:
    return {a.index for res in b.topology.residues() if res.name in b.spec.lipids or res.name == GAS_RESNAME
            for a in res.atoms()}


def _excluded_pair_expression(bij: float, aij: float, wc: float) -> str:
    """Lepton expression (LAMMPS lj units, r the distance) cancelling the Cooke pair energy of one pair that
    OpenMM's CookePair excludes: LAMMPS's pair style cannot leave out single pairs, so a bond adds -E_pair(r)."""
    rw, rc = TWO_SIXTH * bij, TWO_SIXTH
    return (f"-(step({rw!r}-r)*4*(x6*(x6-1)+0.25) - {aij!r}*step({rc + wc!r}-r)*"
            f"select(step(r-{rc!r}), 0.5*(1+cos({math.pi!r}*(r-{rc!r})/{wc!r})), 1)); x6=({bij!r}/r)^6")


def _add_snare_terms(b: BuildFiles, t: SnareTerms, inputs: LammpsInputs, data: Path, skin: float) -> list[str]:
    """Append the SNARE terms to the data file and setup commands written by ``write_lammps_inputs``: native
    contacts and pair-exclusion compensations as ``bond_style lepton`` bonds, the interface anchor as a third
    ``cosine/squared`` instance between anchor and head atom types. Returns the new setup commands."""
    sigma, eps = b.sigma_nm, b.spec.model.units.epsilon_kjmol
    wc = b.spec.model.wc_nm / sigma
    text = data.read_text()
    m = re.search(r"^(\d+) bonds\n(\d+) bond types$", text, flags=re.M)
    assert m, "write_lammps_inputs writes the bond counts"
    n_bonds, n_types = int(m.group(1)), int(m.group(2))
    coeffs, rows = [], []
    for i, j, e, r0 in t.contacts:
        n_types += 1
        e_r, r0_r = float(e / eps), float(r0 / sigma)
        coeffs.append(f'bond_coeff {n_types} lepton 0.0 "{e_r!r}*(5*({r0_r!r}/r)^12-6*({r0_r!r}/r)^10)"')
        rows.append((n_types, i, j))
    by_pair: dict[tuple[float, float], int] = {}
    for i, j in t.exclusions:
        bi, bj = t.b.get(i), t.b.get(j)
        if bi is None or bj is None:
            raise ExportError(f"{b.run_dir.system_xml}: CookePair excludes the pair {i}-{j}, which is not "
                              "between two SNARE beads; this export compensates only protein exclusions")
        key = (float(min(bi, bj)), float(math.sqrt(t.a[i] * t.a[j])))
        if key not in by_pair:
            n_types += 1
            by_pair[key] = n_types
            coeffs.append(f'bond_coeff {n_types} lepton 0.0 "{_excluded_pair_expression(key[0], key[1], wc)}"')
        rows.append((by_pair[key], i, j))
    text = text[:m.start()] + f"{n_bonds + len(rows)} bonds\n{n_types} bond types" + text[m.end():]
    text = text.rstrip("\n") + "\n" + "".join(f"{n_bonds + k + 1} {ty} {i + 1} {j + 1}\n"
                                              for k, (ty, i, j) in enumerate(rows))
    data.write_text(text)
    # ghost atoms must reach every bond partner: 1.5 x the longest bond (LAMMPS's own rule) + skin
    x = np.mod(b.positions / sigma, b.box / sigma)
    pairs = np.array([(i, j) for _, i, j in rows])
    d = x[pairs[:, 1]] - x[pairs[:, 0]]
    d -= (b.box / sigma) * np.round(d / (b.box / sigma))
    comm = float(max(inputs.comm_cutoff, 1.5 * float(np.linalg.norm(d, axis=1).max()) + skin))
    types = inputs.atom_types
    anchor_types = sorted({int(types[i]) for i in t.anchors})
    head_types = sorted({int(types[i]) for i in t.heads})
    e_a, rp, w = float(t.anchor[0] / eps), float(t.anchor[1] / sigma), float(t.anchor[2] / sigma)
    out = []
    for c in inputs.commands:
        if c.startswith("bond_style hybrid"):
            c += " lepton no_offset"
        elif c.startswith("pair_style hybrid/overlay"):
            c += f" cosine/squared {rp + w!r}"
        elif c.startswith("comm_modify cutoff"):
            c = f"comm_modify cutoff {comm!r}"
        if c.startswith("neighbor "):  # after every style, coefficient and compute of the model
            out += coeffs
            out += [f"pair_coeff {min(ta, th)} {max(ta, th)} cosine/squared 3 {e_a!r} {rp!r} {rp + w!r}"
                    for ta in anchor_types for th in head_types]
        out.append(c)
    return out


def export_lammps(build_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``system.data`` and ``in.lammps`` of the build in ``build_dir`` into ``out_dir`` (created).

    ``lmp -in in.lammps`` (run in ``out_dir``) sets up the model and runs the spec's Langevin dynamics; the
    membrane barostat is not exported (LAMMPS has no Monte Carlo membrane barostat; the script says so).
    Returns the files written.
    """
    b = load_build(build_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kw = cooke_inputs(b)
    terms = snare_terms(b) if b.manifest.get("snares") else None
    labels = None
    if terms is not None:
        for i in terms.b:
            kw["b"][i], kw["a"][i] = terms.b[i], terms.a[i]
        labels = [""] * len(kw["b"])
        for i in terms.heads:
            labels[i] = "head"
        for i in terms.anchors:
            labels[i] = "anchor"
        k_bend = K_BEND_REDUCED * kw["eps"] / kw["sigma"] ** 2
        lipid = [(i, j, r0, k_bend) for i, j, r0 in kw["springs"].tolist()]
        kw["springs"] = np.array(lipid + [tuple(h) for h in terms.harmonic], dtype=float).reshape(-1, 4)
        kw["pair_form"] = "overlay"
        kw["masses"] = terms.masses
    if np.isnan(kw["b"]).any():
        raise ExportError(f"{b.structure_file}: beads that are neither lipids nor gas, in a build without SNAREs")
    try:
        inputs = write_lammps_inputs(out, **kw, labels=labels, skin=SKIN)
    except ValueError as e:
        raise ExportError(f"{b.structure_file}: {e}") from None
    data = out / DATA_FILE
    Path(inputs.data_path).replace(data)
    commands = inputs.commands if terms is None else _add_snare_terms(b, terms, inputs, data, SKIN)
    units = b.spec.model.units
    run = b.spec.run
    tau_ps = units.tau_ps
    seed = int(b.spec.seed) % 900_000_000 + 1  # LAMMPS seeds: positive 32-bit integers
    kt = units.kt_over_epsilon
    setup = [f"read_data {DATA_FILE}" if c.startswith("read_data ") else c for c in commands]
    lines = [
        f"# snarefuse export of {b.directory} ({b.spec.name}): {len(b.positions)} beads, spec key "
        f"{b.manifest.get('spec_key', '?')}",
        f"# LAMMPS units lj: sigma = {units.sigma_nm} nm, epsilon = {units.epsilon_kjmol} kJ/mol, "
        f"m = {units.mass_amu} amu, tau = {tau_ps} ps; kT = {kt} epsilon ({units.temperature_k} K)",
        "# pair: Cooke WCA + cos^2 tail attraction (pair_style cosine/squared); bonds: FENE + head-to-tail "
        "harmonic springs",
        *([] if terms is None else [
            "# SNAREs: helix and linker bonds harmonic; Go native contacts (12-10) and, for each protein pair that "
            "OpenMM leaves out of the Cooke pair force, minus its pair energy, as bond_style lepton bonds; the "
            "interface anchor as a third cosine/squared (anchor x head atom types)"]),
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
