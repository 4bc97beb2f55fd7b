"""Exports loaded by the engine or library they are for: the LAMMPS export run in LAMMPS gives OpenMM's potential
energy; the GSD export read back with the gsd package has the build's particles, types, bonds and box; the VMD
state parsed has every representation it promises, with selections that match the build."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import openmm
import pytest
from click.testing import CliRunner

from snarefuse.build import build_system
from snarefuse.cli import main
from snarefuse.export import ExportError, load_build
from snarefuse.export.lammps import DYNAMICS_MARKER, export_lammps
from snarefuse.reference.lammps_cooke import lammps_available, lammps_unavailable_reason, load_lammps
from snarefuse.spec import example_spec_path, load_spec

#: LAMMPS and OpenMM evaluate the same model; they differ by float rounding in sums over ~10^5 pairs
ENERGY_RTOL = 1e-6
FORCE_RTOL = 1e-5
#: absolute force tolerance relative to the largest force in the configuration
FORCE_ATOL_FRACTION = 1e-6


@pytest.fixture(scope="module")
def lipid_gas_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart without its SNAREs: two lipid species, a planar membrane, a vesicle with lumen gas."""
    spec = load_spec(example_spec_path("quickstart")).with_overrides({"system.snares.n_complexes": 0})
    d = tmp_path_factory.mktemp("export") / "lipids"
    build_system(spec).save(d)
    return d


@pytest.fixture(scope="module")
def snare_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("export") / "quickstart"
    build_system(load_spec(example_spec_path("quickstart"))).save(d)
    return d


def _openmm_energy_forces(d: Path, positions_nm: np.ndarray) -> tuple[float, np.ndarray]:
    system = openmm.XmlSerializer.deserialize((d / "system.xml").read_text())
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(positions_nm)
    st = ctx.getState(getEnergy=True, getForces=True)
    return (st.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole),
            st.getForces(asNumpy=True).value_in_unit(openmm.unit.kilojoule_per_mole / openmm.unit.nanometer))


@pytest.mark.skipif(not lammps_available(), reason=f"LAMMPS not loadable: {lammps_unavailable_reason()}")
@pytest.mark.parametrize("build", ["lipid_gas_build", "snare_build"])
def test_lammps_export_run_in_lammps_gives_openmm_energy_and_forces(build: str, request, tmp_path: Path,
                                                                     monkeypatch):
    d = request.getfixturevalue(build)
    out = tmp_path / "lmp"
    result = CliRunner().invoke(main, ["export", "lammps", str(d), "-o", str(out)])
    assert result.exit_code == 0, result.output
    script = (out / "in.lammps").read_text()
    assert "pair_style hybrid/overlay cosine/squared" in script or "pair_style cosine/squared" in script
    assert "read_data system.data" in script
    setup, dynamics = script.split(DYNAMICS_MARKER)
    b = load_build(d)
    assert b.manifest["n_gas"] > 0 and len(b.spec.lipids) == 2  # gas and two head sizes are in what is compared
    lammps = load_lammps()
    monkeypatch.chdir(out)  # the script names its data file relative to its own directory, as 'lmp -in' runs it
    lmp = lammps.lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"])
    try:
        lmp.commands_string(setup)
        lmp.command("run 0 post no")
        pe_lj = lmp.get_thermo("pe")
        n = lmp.get_natoms()
        ids = np.array(lmp.numpy.extract_atom("id", nelem=n), dtype=np.int64)
        f_lj = np.empty((n, 3))
        f_lj[ids - 1] = np.array(lmp.numpy.extract_atom("f", nelem=n, dim=3), dtype=float)
        # the dynamics part runs too (a few steps, writing its trajectory)
        lmp.commands_string(re.sub(r"^run \d+$", "run 20", dynamics, flags=re.M))
    finally:
        lmp.close()
    assert n == len(b.positions)
    eps, sigma = b.spec.model.units.epsilon_kjmol, b.sigma_nm
    e_mm, f_mm = _openmm_energy_forces(d, b.positions)
    np.testing.assert_allclose(pe_lj * eps, e_mm, rtol=ENERGY_RTOL)
    np.testing.assert_allclose(f_lj * eps / sigma, f_mm, rtol=FORCE_RTOL, atol=FORCE_ATOL_FRACTION * np.abs(f_mm).max())
    assert (out / "trajectory.dcd").stat().st_size > 0
    if build == "snare_build":  # every SNARE term is in what was compared
        assert {"SNARE native contacts", "SNARE interface anchor"} <= set(b.manifest["forces"])
        assert "lepton" in setup and "cosine/squared 3" in setup


def test_lammps_export_refuses_forces_it_does_not_map(snare_build: Path, tmp_path: Path):
    d = tmp_path / "build"
    shutil.copytree(snare_build, d)
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["forces"].append("Pulling")
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match=r"forces \['Pulling'\] have no LAMMPS mapping"):
        export_lammps(d, tmp_path / "lmp")
    result = CliRunner().invoke(main, ["export", "lammps", str(d), "-o", str(tmp_path / "lmp")])
    assert result.exit_code == 2 and "'Pulling'" in result.output and "Traceback" not in result.output


def test_gsd_export_read_back_has_particles_types_bonds_and_box(snare_build: Path, tmp_path: Path):
    gsd_hoomd = pytest.importorskip("gsd.hoomd")
    result = CliRunner().invoke(main, ["export", "gsd", str(snare_build), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    b = load_build(snare_build)
    sigma = b.sigma_nm
    with gsd_hoomd.open(str(tmp_path / "system.gsd"), "r") as f:
        assert len(f) == 1
        frame = f[0]
    n = len(b.positions)
    assert frame.particles.N == n
    np.testing.assert_allclose(frame.configuration.box, [*(b.box / sigma), 0, 0, 0], rtol=1e-6)
    half = b.box / sigma / 2
    pos = frame.particles.position
    assert np.all(pos >= -half - 1e-5) and np.all(pos < half + 1e-5)
    # positions are the build's with the origin moved to the box centre (HOOMD's box is [-L/2, L/2)), in sigma
    d = pos - (b.positions / sigma - half)
    d -= (b.box / sigma) * np.round(d / (b.box / sigma))
    assert np.abs(d).max() < 1e-4
    types = list(frame.particles.types)
    names = np.array(types)[frame.particles.typeid]
    heads = [a.index for a in b.topology.atoms() if a.name == "H"]
    assert set(names[heads]) == {"CKL_H", "CKC_H"}
    assert set(types) == {"CKL_H", "CKL_T", "CKC_H", "CKC_T", "GAS", "SNARE", "SNARE_TMD"}
    n_tmd = sum(s == "tmd" for cx in b.manifest["snares"] for s in cx["segment"])
    assert (names == "SNARE_TMD").sum() == n_tmd > 0
    np.testing.assert_allclose(frame.particles.diameter[heads],
                               [b.spec.lipids[a.residue.name].head_size for a in b.topology.atoms() if a.name == "H"])
    # bonds: every bond of the topology (lipid chains + SNARE helices) plus one straightening spring per lipid
    groups = {tuple(sorted(g)) for g in frame.bonds.group.tolist()}
    top_bonds = {tuple(sorted((a.index, c.index))) for a, c in b.topology.bonds()}
    bond_types = np.array(frame.bonds.types)[frame.bonds.typeid]
    assert top_bonds <= groups
    assert (bond_types == "spring").sum() == b.manifest["n_lipids"] == len(groups - top_bonds)
    assert (bond_types == "snare").sum() == len(top_bonds) - (bond_types == "fene").sum()
    assert frame.log["snarefuse/sigma_nm"][0] == pytest.approx(sigma)


def _reps(script: str) -> list[tuple[str, str, str]]:
    """(style, colour, selection) of every 'sf_rep $mol {style} {colour} {selection}' line of a view.vmd."""
    return re.findall(r"^sf_rep \$mol \{([^}]*)\} \{([^}]*)\} \{(.*)\}", script, flags=re.M)


def _tcl_words_balanced(script: str) -> bool:
    depth = 0
    for ch in script:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_vmd_state_draws_heads_tails_helices_tmds_and_periodic_images(snare_build: Path, tmp_path: Path):
    result = CliRunner().invoke(main, ["export", "vmd", str(snare_build), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    script = (tmp_path / "view.vmd").read_text()
    assert _tcl_words_balanced(script)
    b = load_build(snare_build)
    # files: the PSF (every bond) and the structure file, found relative to the script or absolutely
    loads = re.findall(r"^mol (?:new|addfile) (.*?) type (\w+)", script, flags=re.M)
    assert [t for _, t in loads[:2]] == ["psf", "pdb"]
    for path, _ in loads:
        m = re.fullmatch(r"\{(.*)\}", path)
        assert m and Path(m.group(1)).exists(), path
    reps = _reps(script)
    sels = [s for _, _, s in reps]
    assert "resname CKC CKL and name H" in sels
    assert "resname CKC CKL and not name H" in sels
    assert "resname GAS" in sels
    helix = {re.match(r'segname "(\w)', s).group(1): c for _, c, s in reps if s.startswith("segname")}
    assert set(helix) == {"V", "S", "N", "C"} and len(set(helix.values())) == 4  # one colour per protein
    # the TMD selection names exactly the TMD residues of the manifest
    (tmd_sel,) = [s for _, _, s in reps if " to " in s]
    chosen = set()
    for seg, lo, hi in re.findall(r"segname (\w+) and resid (\d+) to (\d+)", tmd_sel):
        chosen |= {(seg, r) for r in range(int(lo), int(hi) + 1)}
    prefix = {"A": "V", "B": "S", "C": "N", "D": "C"}
    expected = {(f"{prefix[h]}{cx['complex']}", r) for cx in b.manifest["snares"]
                for h, s, r in zip(cx["helix"], cx["segment"], cx["resid"]) if s == "tmd"}
    assert chosen == expected and len(expected) == 5 * 45
    # every representation gets its periodic images in x and y; the box is set in Å
    assert "mol showperiodic $mol $rep xXyY" in script and "mol numperiodic $mol $rep 1" in script
    lx = b.box[0] * 10
    assert f"{{{lx:.3f} " in script


def test_export_of_a_directory_that_is_not_a_build_names_the_missing_file(tmp_path: Path):
    result = CliRunner().invoke(main, ["export", "vmd", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'spec.yaml'}: missing" in result.output and "snarefuse build" in result.output


def test_lammps_seed_and_paths_do_not_depend_on_the_working_directory(lipid_gas_build: Path, tmp_path: Path):
    files = export_lammps(lipid_gas_build, tmp_path / "a")
    assert [f.name for f in files] == ["system.data", "in.lammps"]
    text = (tmp_path / "a" / "in.lammps").read_text()
    assert str(tmp_path) not in text.split(DYNAMICS_MARKER)[0].split("\n", 3)[3]  # no absolute path in the setup
    assert os.path.getsize(tmp_path / "a" / "system.data") > 0
