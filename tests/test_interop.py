"""Files written by snarefuse read back by independent libraries: MDAnalysis (PSF + DCD) and
mdtraj (PDB, PSF), with the same atoms, residue names, segments and bonds."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import mdtraj
import numpy as np
import pytest
from openmm import unit as openmm_unit

from snarefuse.build import build_system
from snarefuse.runner import run_simulation

from .conftest import small_spec

MDAnalysis = pytest.importorskip("MDAnalysis")


@pytest.fixture(scope="module")
def two_bilayer_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    spec = small_spec(system__geometry="two_bilayers", system__cleft="1 nm", run__steps=100,
                      run__trajectory_interval=50, run__report_interval=50, run__checkpoint_interval=100,
                      run__platform="CPU")
    built = build_system(spec)
    d = tmp_path_factory.mktemp("interop") / "run"
    built.save(d)
    run_simulation(d, progress=False)
    return d, built


def test_mdanalysis_reads_psf_and_dcd(two_bilayer_run):
    d, built = two_bilayer_run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = MDAnalysis.Universe(str(d / "system.psf"), str(d / "trajectory.dcd"))
    assert u.atoms.n_atoms == built.topology.getNumAtoms() == 1200
    assert len(u.trajectory) == 2
    assert set(u.residues.resnames) == {"CKL"}
    assert len(u.bonds) == built.topology.getNumBonds() == 800
    assert [s.segid for s in u.segments] == ["A", "B"]
    heads = u.select_atoms("name H")
    assert heads.n_atoms == 400
    np.testing.assert_allclose(u.atoms.masses, 250.0)
    # the first frame's coordinates agree with mdtraj's reading of the same DCD (MDAnalysis: Å)
    t = mdtraj.load(str(d / "trajectory.dcd"), top=str(d / "system.pdb"))
    np.testing.assert_allclose(u.trajectory[0].positions / 10.0, t.xyz[0], atol=1e-4)


def test_mdtraj_reads_psf_with_bonds(two_bilayer_run):
    d, built = two_bilayer_run
    top = mdtraj.load_psf(str(d / "system.psf"))
    assert top.n_atoms == 1200 and top.n_bonds == 800 and top.n_residues == 400
    assert {r.name for r in top.residues} == {"CKL"}


def test_psf_keeps_bonds_beyond_pdb_limits(tmp_path: Path):
    """PDB CONECT records stop at 99,999 atoms; the PSF does not."""
    from snarefuse.psf import psf_text

    built = build_system(small_spec(system__bilayer__n_lipids=34000))
    masses = [250.0] * built.topology.getNumAtoms()
    (tmp_path / "big.psf").write_text(psf_text(built.topology, masses))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = MDAnalysis.Universe(str(tmp_path / "big.psf"))
    assert u.atoms.n_atoms == 102000 and len(u.bonds) == 68000


def test_mdanalysis_selects_snare_residues_by_chain_and_name(tmp_path: Path):
    """Proteins come out with real residue names and numbers, one segment per chain: a user selects
    'VAMP2 R56' (the 0-layer arginine) as segid V0, resid 56, resname ARG."""
    from snarefuse.spec import example_spec_path, load_spec

    spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides({"system.snares.n_complexes": 1})
    built = build_system(spec)
    built.save(tmp_path / "snare")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = MDAnalysis.Universe(str(tmp_path / "snare" / "system.psf"), str(tmp_path / "snare" / "system.pdb"))
    assert u.atoms.n_atoms == built.topology.getNumAtoms()
    r56 = u.select_atoms("segid V0 and resid 56")
    assert r56.n_atoms == 1 and r56.residues.resnames[0] == "ARG"
    q226 = u.select_atoms("segid S0 and resid 226")  # syntaxin-1A Q226, its 0-layer glutamine
    assert q226.n_atoms == 1 and q226.residues.resnames[0] == "GLN"
    assert {"V0", "S0", "N0", "C0"} <= {s.segid for s in u.segments}
    # the protein bonds are there: every residue of VAMP2 bonded to the next
    vamp = u.select_atoms("segid V0")
    assert len(vamp.bonds) >= vamp.n_atoms - 1


# --- the structure file (system.pdb, or system.cif past the PDB's limits) agrees with the PSF -----------------

def _psf_atoms(path: Path) -> list[tuple[str, int]]:
    """(segment id, residue number) of every atom of a PSF, read as text (no library in between)."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().endswith("!NATOM"))
    n = int(lines[start].split()[0])
    return [(w[1], int(w[2])) for w in (line.split() for line in lines[start + 1:start + 1 + n])]


def _bond_set(pairs) -> set[tuple[int, int]]:
    return {(min(i, j), max(i, j)) for i, j in pairs}


def _saved_example(tmp_path_factory: pytest.TempPathFactory, example: str) -> tuple[Path, object]:
    """A shipped example built and saved in a fresh directory: (directory, BuiltSystem)."""
    from snarefuse.spec import example_spec_path, load_spec

    built = build_system(load_spec(example_spec_path(example)))
    d = tmp_path_factory.mktemp("structure") / example
    built.save(d)
    return d, built


@pytest.fixture(scope="module")
def quickstart_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    return _saved_example(tmp_path_factory, "quickstart")


def test_quickstart_pdb_read_by_mdtraj_has_every_bond_and_the_psf_numbers(quickstart_build):
    d, built = quickstart_build
    assert (d / "system.pdb").exists() and not (d / "system.cif").exists()
    top = mdtraj.load_topology(str(d / "system.pdb"))
    expected = _bond_set((a.index, b.index) for a, b in built.topology.bonds())
    assert len(expected) > 8000  # lipids, SNARE helices and linkers
    assert _bond_set((a.index, b.index) for a, b in top.bonds) == expected
    psf = _psf_atoms(d / "system.psf")
    assert [(a.segment_id, a.residue.resSeq) for a in top.atoms] == psf
    # chain ids are the first letter of the PSF segment (chain C is SNAP-25 SN2, as segment C0 is)
    assert all(a.residue.chain.chain_id == a.segment_id[0] for a in top.atoms)
    assert top.n_chains == built.topology.getNumChains()
    vamp = [a.residue for a in top.atoms if a.segment_id == "V0"]
    assert (vamp[0].resSeq, vamp[-1].resSeq) == (28, 116) and vamp[0].name == "SER"


def test_quickstart_pdb_read_by_mdanalysis_has_every_bond_and_the_psf_segments(quickstart_build):
    d, built = quickstart_build
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = MDAnalysis.Universe(str(d / "system.pdb"))
        u_psf = MDAnalysis.Universe(str(d / "system.psf"))
    assert _bond_set(u.bonds.indices) == _bond_set(u_psf.bonds.indices) \
        == _bond_set((a.index, b.index) for a, b in built.topology.bonds())
    np.testing.assert_array_equal(u.atoms.resids, u_psf.atoms.resids)
    np.testing.assert_array_equal(u.atoms.segids, u_psf.atoms.segids)
    r56 = u.select_atoms("segid V0 and resid 56")  # VAMP2 R56, its 0-layer arginine
    assert r56.n_atoms == 1 and r56.residues.resnames[0] == "ARG" and r56.chainIDs[0] == "V"


@pytest.fixture(scope="module")
def large_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """The shipped vesicle-vesicle system: 102,024 beads, past the PDB's 99,999 (builds in seconds)."""
    d, built = _saved_example(tmp_path_factory, "vesicle_vesicle")
    assert built.topology.getNumAtoms() > 99_999
    return d, built


def test_large_build_writes_pdbx_read_by_mdtraj_with_every_bond(large_build):
    d, built = large_build
    assert (d / "system.cif").exists() and not (d / "system.pdb").exists()
    assert json.loads((d / "manifest.json").read_text())["structure_file"] == "system.cif"
    top = mdtraj.load_topology(str(d / "system.cif"))
    assert top.n_atoms == built.topology.getNumAtoms()
    assert _bond_set((a.index, b.index) for a, b in top.bonds) == \
        _bond_set((a.index, b.index) for a, b in built.topology.bonds())
    psf = _psf_atoms(d / "system.psf")
    assert [(a.residue.chain.chain_id, a.residue.resSeq) for a in top.atoms] == psf
    assert top.n_residues == len({r for _, r in psf}) == 34_008  # no two residues share a number


def test_large_build_read_by_mdanalysis_from_psf_and_openmm_from_pdbx(large_build, tmp_path: Path):
    """MDAnalysis takes the PSF (every bond, the same numbers) with any coordinate file; OpenMM reads the PDBx
    with every bond and the same positions."""
    from openmm import app

    d, built = large_build
    cif = app.PDBxFile(str(d / "system.cif"))
    assert cif.topology.getNumBonds() == built.topology.getNumBonds() == 68_016
    xyz = cif.getPositions(asNumpy=True).value_in_unit(openmm_unit.nanometer)
    np.testing.assert_allclose(xyz, built.positions, atol=1e-3)  # PDBx keeps 0.001 Å
    mdtraj.Trajectory(xyz[None], mdtraj.load_topology(str(d / "system.cif"))).save_dcd(str(tmp_path / "x.dcd"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = MDAnalysis.Universe(str(d / "system.psf"), str(tmp_path / "x.dcd"))
    assert len(u.bonds) == 68_016 and u.residues.n_residues == 34_008
    np.testing.assert_allclose(u.atoms.positions / 10.0, xyz, atol=1e-4)


def test_analyze_prints_no_dcdplugin_lines(two_bilayer_run, tmp_path: Path, capfd):
    """mdtraj's DCD reader prints 'dcdplugin) ...' with C printf when it opens a file; analyze (and the sweeps,
    which call it) keep stdout for their own lines."""
    from snarefuse.analysis.pipeline import analyze_run

    d, _ = two_bilayer_run
    mdtraj.load(str(d / "trajectory.dcd"), top=str(d / "system.pdb"))
    assert "dcdplugin)" in capfd.readouterr().out  # what is silenced below, shown to happen
    print("before")
    analyze_run(d, tmp_path / "analysis", figures=False)
    print("after")
    out = capfd.readouterr().out
    assert "dcdplugin)" not in out
    assert out.splitlines() == ["before", "after"]  # Python's own stdout is untouched
    assert (tmp_path / "analysis" / "summary.json").exists()


def test_run_directory_reads_the_pdbx_of_a_large_build(large_build):
    """The toolkit (runner, analysis) reads the build through RunDirectory: the PDBx build is found, checked and
    its topology has every bond."""
    from snarefuse.rundir import RunDirectory

    d, built = large_build
    rd = RunDirectory(d)
    assert rd.system_pdb.name == "system.cif"
    _, _, system, structure = rd.read_build()
    assert structure.topology.getNumAtoms() == system.getNumParticles() == 102_024
    assert "system.cif" in rd.build_checksums()
    assert rd.topology().n_bonds == built.topology.getNumBonds()


def _two_bead_topology(resid: str):
    from openmm import app

    top = app.Topology()
    res = top.addResidue("CKL", top.addChain("A"), id=resid)
    a, b = top.addAtom("H", None, res), top.addAtom("T1", None, res)
    top.addBond(a, b)
    return top


@pytest.mark.parametrize("resid,positions,why", [
    ("10000", [[1.0, 1.0, 1.0], [1.0, 1.0, 1.5]], "residue number 10000"),
    ("1", [[1.0, 1.0, 1.0], [1.0, 1.0, 1000.5]], "coordinates from"),
], ids=["residue-number", "coordinate"])
def test_systems_past_other_pdb_limits_get_pdbx(resid, positions, why):
    from snarefuse.structure import pdb_limits_exceeded, pdb_text, structure_text

    top = _two_bead_topology(resid)
    x = np.array(positions)
    assert any(why in w for w in pdb_limits_exceeded(top, x))
    with pytest.raises(ValueError, match="PDB format cannot hold"):
        pdb_text(top, x, np.array([2000.0, 2000.0, 2000.0]))
    name, text = structure_text(top, x, np.array([2000.0, 2000.0, 2000.0]))
    assert name == "system.cif" and f"bond1 covale A CKL {resid} H A CKL {resid} T1" in text


def test_load_trajectory_prints_no_dcdplugin_lines(two_bilayer_run, capfd):
    from snarefuse.rundir import load_trajectory

    d, _ = two_bilayer_run
    capfd.readouterr()
    t = load_trajectory(d)
    assert t.n_frames == 2 and "dcdplugin)" not in capfd.readouterr().out
