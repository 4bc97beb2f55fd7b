"""Files written by snarefuse read back by independent libraries: MDAnalysis (PSF + DCD) and
mdtraj (PDB, PSF), with the same atoms, residue names, segments and bonds."""

from __future__ import annotations

import warnings
from pathlib import Path

import mdtraj
import numpy as np
import pytest

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
