"""The fusion detector on frames of real runs, against the states decided from pictures of those frames.

Each directory under ``tests/data/`` named below holds frames sliced from a real snarefuse run
(``trajectory.dcd``, float32), the run's topology (``system.pdb.gz``) and spec, and ``states.json``: per frame
the fusion state and whether a membrane is torn, decided from cross-sections and top views of the frame (see
its ``how_decided``), never from the detector. Frames whose picture left the call open (the few frames around a
transition) were not shipped, so every shipped frame is asserted exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mdtraj
import numpy as np
import pytest

from snarefuse.analysis import FusionAnalysis, LipidIndex, detect_pore

DATA = Path(__file__).resolve().parents[1] / "data"
#: Real trajectories with their picture-decided states.
SETS = ["planar_lysis", "planar_fusion", "vesicle_fusion"]
#: A few lipids cross the cleft into the other bilayer in these stretched runs; a leaflet-sized count (~400,
#: what the connected-leaflet majority gave at these gaps) would mean the measure counts whole leaflets.
MAX_MIXED_BEFORE_STALK = 20


def _load(name: str) -> tuple[mdtraj.Trajectory, dict[str, Any]]:
    d = DATA / name
    if not (d / "states.json").exists():
        pytest.fail(f"{d}/states.json missing: the shipped test data is incomplete")
    top = mdtraj.load_topology(str(d / "system.pdb.gz"))
    return mdtraj.load(str(d / "trajectory.dcd"), top=top), json.loads((d / "states.json").read_text())


@pytest.fixture(scope="module", params=SETS)
def analysed(request: pytest.FixtureRequest) -> tuple[str, mdtraj.Trajectory, dict[str, Any], FusionAnalysis]:
    t, states = _load(request.param)
    # persist=1: every frame is judged on its own (the shipped frames are not consecutive)
    return request.param, t, states, FusionAnalysis(t, persist=1).run()


def test_states_match_the_pictures(analysed) -> None:  # type: ignore[no-untyped-def]
    name, _, states, fa = analysed
    want = [f["state"] for f in states["frames"]]
    got = list(fa.table["state_name"])
    bad = [(f["source_frame"], f["time_tau"], w, g) for f, w, g in zip(states["frames"], want, got) if w != g]
    assert not bad, f"{name}: (run frame, tau, picture, detector) that disagree: {bad}"


def test_ruptures_match_the_pictures(analysed) -> None:  # type: ignore[no-untyped-def]
    name, _, states, fa = analysed
    want = np.array([f["rupture"] for f in states["frames"]])
    got = np.asarray(fa.table["has_rupture"], dtype=bool)
    bad = [(f["source_frame"], f["time_tau"], bool(w), bool(g)) for f, w, g in zip(states["frames"], want, got)
           if w != g]
    assert not bad, f"{name}: (run frame, tau, picture, detector) that disagree on rupture: {bad}"


def test_in_run_detector_sees_only_fusion_pores(analysed) -> None:  # type: ignore[no-untyped-def]
    """detect_pore (what --stop-after-pore uses) on the raw positions: a pore exactly on the pore frames."""
    name, t, states, _ = analysed
    info = LipidIndex.from_topology(t.topology)
    got = [detect_pore(t.xyz[i], t.unitcell_lengths[i], info)[0] for i in range(t.n_frames)]
    want = [f["state"] in ("pore", "expanded_pore") for f in states["frames"]]
    assert got == want, f"{name}: detect_pore per frame {got}, pictures {want}"


def test_lipid_mixing_before_the_stalk_is_a_few_lipids(analysed) -> None:  # type: ignore[no-untyped-def]
    name, _, states, fa = analysed
    early = np.array([f["state"] == "docked" and not f["rupture"] for f in states["frames"]])
    assert early.any()
    assert np.max(fa.table["lipids_in_other_leaflet"][early]) <= MAX_MIXED_BEFORE_STALK, name


def test_lysis_never_reaches_a_fusion_state() -> None:
    t, states = _load("planar_lysis")
    fa = FusionAnalysis(t, persist=1).run()
    fp = fa.results.first_passage
    assert fp["hemifused"]["frame"] is None and fp["pore"]["frame"] is None
    first_torn = next(f["frame"] for f in states["frames"] if f["rupture"])
    assert fp["rupture"]["frame"] == first_torn
