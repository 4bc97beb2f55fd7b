"""Validation tier: the quickstart SNARE system (4 zipped complexes between two bilayers) over
40 tau keeps each four-helix bundle — the fraction of native contacts formed, Q (r < 1.8 r0, the
threshold of Best, Hummer & Eaton, PNAS 2013), stays above Q_BOUND in every frame, and the RMSD of the a/d core positions from the built ideal coiled
coil stays below CORE_RMSD_BOUND_NM (the ideal straight bundle relaxes and bends by ~0.6 nm) —
keeps each TMD a straight helix with its centre inside its own bilayer, and holds the membranes docked (the gap between
facing head planes stays within GAP_DRIFT_BOUND_NM of its value in the first frame)."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj
import numpy as np
import openmm
import pytest

from snarefuse.build import build_system
from snarefuse.rundir import load_trajectory
from snarefuse.runner import run_simulation
from snarefuse.spec import example_spec_path, load_spec

pytestmark = pytest.mark.validation

STEPS = 4000
#: the ideal straight coiled coil relaxes and bends: core RMSD 0.40-0.46 nm mean, max 0.45-0.60 nm over 40 tau
CORE_RMSD_BOUND_NM = 0.8
#: a native contact counts as formed at r < Q_LAMBDA r0 (Best, Hummer & Eaton, PNAS 110, 17874 (2013))
Q_LAMBDA = 1.8
#: fraction of native contacts that must stay formed in every frame. Measured (quickstart, 40 tau, CPU, five
#: runs; the CPU platform is not deterministic across runs): Q mean 0.95-0.98 per complex, per-frame minimum
#: 0.87-0.97, once just below 0.85. (Before the i,i+7/i,i+11 helix restraints: mean 0.83-0.92, min 0.72.)
Q_BOUND = 0.8
#: TMD bead centre of mass within this distance of its membrane's local midplane
TMD_DEPTH_BOUND_NM = 1.9  # the head planes of a Cooke bilayer sit ~1.94 nm from its midplane
GAP_DRIFT_BOUND_NM = 1.0
#: end-to-end length of a TMD helix (3.15 / 3.30 nm built). With the i,i+7/i,i+11 helix restraints the
#: spans of the quickstart TMDs have a median of ~2.9-3.0 nm with single frames down to ~2.2 nm (thermal
#: bending under the linker's pull); before those restraints they folded to 1.3-2.5 nm within a few tau.
TMD_MEDIAN_SPAN_NM = 2.7
TMD_MIN_SPAN_NM = 1.8


@pytest.fixture(scope="module")
def snare_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides(
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
    system = openmm.XmlSerializer.deserialize((snare_run / "system.xml").read_text())
    contacts = [f for f in system.getForces() if f.getName() == "SNARE native contacts"][0]
    bonds = [contacts.getBondParameters(i) for i in range(contacts.getNumBonds())]
    pairs = np.array([(i, j) for i, j, _ in bonds])
    r0 = np.array([p[1] for _, _, p in bonds])
    for rec in m["snares"]:
        core = np.array(rec["is_core"]) & (np.array(rec["segment"]) == "motif")
        full = np.flatnonzero(core) + rec["first_atom"]
        rmsd = mdtraj.rmsd(t.atom_slice(full), ref.atom_slice(full))
        lo, hi = rec["first_atom"], rec["first_atom"] + rec["n_atoms"]
        mine = (pairs[:, 0] >= lo) & (pairs[:, 0] < hi)
        d = np.linalg.norm(t.xyz[:, pairs[mine, 0]] - t.xyz[:, pairs[mine, 1]], axis=2)
        q = (d < Q_LAMBDA * r0[mine]).mean(axis=1)
        print(f"complex {rec['complex']}: core RMSD {rmsd.mean():.3f} nm (max {rmsd.max():.3f}); "
              f"Q mean {q.mean():.3f} (min {q.min():.3f}) over {mine.sum()} contacts")
        assert q.min() >= Q_BOUND
        assert rmsd.max() < CORE_RMSD_BOUND_NM


def _heads(t, chain):
    return [a.index for a in t.topology.atoms if a.name == "H" and a.residue.chain.index == chain]


def test_tmds_stay_in_their_membranes_and_membranes_stay_docked(snare_run: Path):
    t = load_trajectory(snare_run)
    m = json.loads((snare_run / "manifest.json").read_text())
    gaps, spans = [], []
    for f in range(t.n_frames):
        z0 = t.xyz[f, _heads(t, 0), 2]
        z1 = t.xyz[f, _heads(t, 1), 2]
        mid0, mid1 = np.median(z0), np.median(z1)
        gaps.append(np.median(z1[z1 < mid1]) - np.median(z0[z0 > mid0]))
        for rec in m["snares"]:
            helix, seg = np.array(rec["helix"]), np.array(rec["segment"])
            for h, mid in (("A", mid1), ("B", mid0)):  # VAMP2 TMD in membrane 1, syntaxin TMD in membrane 0
                idx = np.flatnonzero((helix == h) & (seg == "tmd")) + rec["first_atom"]
                depth = abs(t.xyz[f, idx, 2].mean() - mid)
                assert depth < TMD_DEPTH_BOUND_NM, (f, h, rec["complex"], depth)
                # the TMD stays a helix (built: 3.15 nm VAMP2, 3.30 nm syntaxin end to end)
                spans.append(np.linalg.norm(t.xyz[f, idx[-1]] - t.xyz[f, idx[0]]))
    gaps, spans = np.array(gaps), np.array(spans)
    print(f"head-plane gap {gaps[0]:.2f} -> {gaps[-1]:.2f} nm; TMD end-to-end span median {np.median(spans):.2f} nm, "
          f"min {spans.min():.2f} nm")
    assert np.median(spans) > TMD_MEDIAN_SPAN_NM
    assert spans.min() > TMD_MIN_SPAN_NM
    assert np.all(np.abs(gaps - gaps[0]) < GAP_DRIFT_BOUND_NM)


#: unloaded TMD (slack linkers), second half of each run: the fraction of frames in which it crosses its membrane's
#: midplane (N-terminal end on the cleft side, C-terminus beyond) and the mean height of its N-terminal end above
#: its C-terminus along the normal, pooled over UNLOADED_SEEDS. Measured with the default anchors (3 epsilon),
#: 20-50 tau, four runs: crossed in 100% of frames, heights 1.7-2.95 nm, tilts 25-55 deg (VAMP2) and 18-56 deg
#: (syntaxin); without anchors, with head-sized polar flank beads, or at 1 epsilon: crossed in 7-60% of frames,
#: heights 0.16-1.2 nm, tilts 66-85 deg (lying at the midplane). docs/model.md, "TMD anchoring". 40 tau runs on 2
#: threads (not bit-reproducible), native kernel: seeds 1-6 crossed in 90-100% of frames (VAMP2 100%), but the seed
#: 2024 build's syntaxin in 70-100% (18 runs, 5 below 90%: it tilts to ~57 deg at times), so one seed alone makes a
#: flaky test; pooled over three seeds the fraction is >= 90% in every case seen, and the bound sits between that and
#: the flat TMDs' 60%.
MIN_CROSSED_FRACTION = 0.8
MIN_SPAN_HEIGHT_NM = 1.4
UNLOADED_STEPS = 4000
UNLOADED_SEEDS = (2024, 1, 2)


def test_unloaded_tmds_span_their_membranes_with_anchors(tmp_path: Path):
    crossed = {"A": [], "B": []}
    heights = {"A": [], "B": []}
    tilts = {"A": [], "B": []}
    for seed in UNLOADED_SEEDS:
        spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides(
            {"seed": seed, "system.snares.n_complexes": 1, "system.snares.zipped_layers": [-7, 0],
             "system.snares.linker_unzipped": [30, 30], "run.steps": UNLOADED_STEPS, "run.trajectory_interval": 200,
             "run.report_interval": 1000, "run.checkpoint_interval": 2000, "run.platform": "CPU"})
        assert spec.system.snares.anchor_strength == 3.0
        d = tmp_path / f"run{seed}"
        build_system(spec).save(d)
        run_simulation(d, progress=False)
        t = load_trajectory(d)
        rec = json.loads((d / "manifest.json").read_text())["snares"][0]
        helix, seg = np.array(rec["helix"]), np.array(rec["segment"])
        for h, chain, sign in (("A", 1, -1.0), ("B", 0, +1.0)):  # VAMP2 enters membrane 1 from below, syntaxin 0 from above
            idx = np.flatnonzero((helix == h) & (seg == "tmd")) + rec["first_atom"]
            for f in range(t.n_frames // 2, t.n_frames):
                axis = t.xyz[f, idx[-1]] - t.xyz[f, idx[0]]
                tilts[h].append(np.degrees(np.arccos(abs(axis[2]) / np.linalg.norm(axis))))
                mid = np.median(t.xyz[f, _heads(t, chain), 2])
                n_end, c_end = sign * (t.xyz[f, idx[0], 2] - mid), sign * (t.xyz[f, idx[-1], 2] - mid)
                crossed[h].append(n_end > 0 > c_end)
                heights[h].append(n_end - c_end)
    for h in ("A", "B"):
        print(f"{h}: crossed in {np.mean(crossed[h]):.0%} of frames, N-C height {np.mean(heights[h]):.2f} nm, "
              f"tilt {np.mean(tilts[h]):.1f} deg (seeds {UNLOADED_SEEDS})")
        assert np.mean(crossed[h]) >= MIN_CROSSED_FRACTION
        assert np.mean(heights[h]) > MIN_SPAN_HEIGHT_NM
