"""Validation tier: the quickstart SNARE system (4 zipped complexes between two bilayers) over
40 tau keeps each four-helix bundle (RMSD of the a/d core layers vs the built ideal coiled coil
below CORE_RMSD_BOUND_NM), keeps each TMD in its membrane, and holds the membranes docked (the
gap between facing head planes stays within GAP_DRIFT_BOUND_NM of its built value)."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj
import numpy as np
import pytest

from snarefuse.build import build_system
from snarefuse.io import load_trajectory
from snarefuse.runner import run_simulation
from snarefuse.spec import example_spec_path, load_spec

pytestmark = pytest.mark.validation

STEPS = 4000
#: the ideal coiled coil relaxes to ~0.6 nm RMSD within the first few tau and stays there
CORE_RMSD_BOUND_NM = 0.8
#: TMD bead centre of mass within this distance of its membrane's local midplane
TMD_DEPTH_BOUND_NM = 1.0
GAP_DRIFT_BOUND_NM = 1.0


@pytest.fixture(scope="module")
def snare_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = load_spec(example_spec_path("quickstart")).with_overrides(
        {"run.steps": STEPS, "run.trajectory_interval": 500, "run.report_interval": 500,
         "run.checkpoint_interval": 2000, "run.platform": "CPU"})
    d = tmp_path_factory.mktemp("snare") / "run"
    build_system(spec).save(d)
    run_simulation(d, progress=False)
    return d


def test_bundles_stay_bundles(snare_run: Path):
    t = load_trajectory(snare_run)
    ref = mdtraj.load(str(snare_run / "system.pdb"))
    m = json.loads((snare_run / "manifest.json").read_text())
    for rec in m["snares"]:
        sel = np.flatnonzero(np.array(rec["is_core"]) & (np.array(rec["segment"]) == "motif")) + rec["first_atom"]
        rmsd = mdtraj.rmsd(t.atom_slice(sel), ref.atom_slice(sel))
        print(f"complex {rec['complex']}: core RMSD {rmsd.mean():.3f} nm (max {rmsd.max():.3f})")
        assert rmsd.max() < CORE_RMSD_BOUND_NM


def _heads(t, chain):
    return [a.index for a in t.topology.atoms if a.name == "H" and a.residue.chain.index == chain]


def test_tmds_stay_in_their_membranes_and_membranes_stay_docked(snare_run: Path):
    t = load_trajectory(snare_run)
    m = json.loads((snare_run / "manifest.json").read_text())
    chains = {c.chain_id: c for c in t.topology.chains}
    gaps = []
    for f in range(t.n_frames):
        z0 = t.xyz[f, _heads(t, 0), 2]
        z1 = t.xyz[f, _heads(t, 1), 2]
        mid0, mid1 = np.median(z0), np.median(z1)
        gaps.append(np.median(z1[z1 < mid1]) - np.median(z0[z0 > mid0]))
        for rec in m["snares"]:
            k = rec["complex"]
            for prefix, mid, first in (("V", mid1, 95), ("S", mid0, 266)):
                idx = [a.index for r in chains[f"{prefix}{k}"].residues if r.resSeq >= first for a in r.atoms]
                depth = abs(t.xyz[f, idx, 2].mean() - mid)
                assert depth < TMD_DEPTH_BOUND_NM, (f, prefix, k, depth)
    gaps = np.array(gaps)
    print(f"head-plane gap {gaps[0]:.2f} -> {gaps[-1]:.2f} nm")
    assert np.all(np.abs(gaps - gaps[0]) < GAP_DRIFT_BOUND_NM)
