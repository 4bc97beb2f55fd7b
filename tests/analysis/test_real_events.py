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

from snarefuse.analysis import FusionAnalysis, LipidIndex, TrajectorySource, run_analyses
from snarefuse.analysis.zone import check_pore

DATA = Path(__file__).resolve().parents[1] / "data"
#: Real trajectories with their picture-decided states.
SETS = ["planar_lysis", "planar_fusion", "vesicle_fusion", "planar_control_pore"]
#: The planar control's off-axis pore whose rim seal flickers about 0.5 (shipped frames 4-9 are consecutive).
FLICKER = "planar_control_pore"
#: A few lipids cross the cleft into the other bilayer in these stretched runs; a leaflet-sized count (~400,
#: what the connected-leaflet majority gave at these gaps) would mean the measure counts whole leaflets.
MAX_MIXED_BEFORE_STALK = 20


def _load(name: str) -> tuple[mdtraj.Trajectory, dict[str, Any]]:
    d = DATA / name
    if not (d / "states.json").exists():
        pytest.fail(f"{d}/states.json missing: the shipped test data is incomplete")
    top = mdtraj.load_topology(str(d / "system.pdb.gz"))
    return mdtraj.load(str(d / "trajectory.dcd"), top=top), json.loads((d / "states.json").read_text())


def _contact_xy(name: str) -> tuple[float, float] | None:
    """The run's contact point (manifest), as ``snarefuse analyze`` places the axis: the lateral grid is
    aligned on it, which moves a rim seal near 0.5 by a few hundredths."""
    if name != FLICKER:
        return None
    point = json.loads((DATA / name / "manifest.json").read_text())["contact_axis"]["point_nm"]
    return float(point[0]), float(point[1])


@pytest.fixture(scope="module", params=SETS)
def analysed(request: pytest.FixtureRequest) -> tuple[str, mdtraj.Trajectory, dict[str, Any], FusionAnalysis]:
    t, states = _load(request.param)
    # persist=1: every frame is judged on its own (the shipped frames are not all consecutive)
    return request.param, t, states, FusionAnalysis(t, persist=1, contact_xy=_contact_xy(request.param)).run()


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
    """check_pore (what --stop-after-pore uses) on the raw positions, each check given the fusion pore of the
    check before as the reporter does: a pore exactly on the pore frames."""
    name, t, states, _ = analysed
    info = LipidIndex.from_topology(t.topology)
    got, held = [], None
    for i in range(t.n_frames):
        c = check_pore(t.xyz[i], t.unitcell_lengths[i], info, held=held, contact_xy=_contact_xy(name))
        got.append(c.has_pore)
        held = c.fusion_cells
    want = [f["state"] in ("pore", "expanded_pore") for f in states["frames"]]
    assert got == want, f"{name}: check_pore per frame {got}, pictures {want}"


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


def test_a_pore_whose_seal_flickers_is_confirmed_by_the_flicker_rule() -> None:
    """The planar control's off-axis pore: two of its six consecutive frames have a rim seal just below 0.5,
    so without the hold rule no three consecutive frames are pore and the run reads 'no pore'."""
    t, states = _load(FLICKER)
    pore_frames = [f["frame"] for f in states["frames"] if f["state"] == "pore"]
    assert pore_frames == list(range(pore_frames[0], pore_frames[0] + 6))
    # all shipped frames, so that the grid is pinned on the run's first frame as in the run's own analysis
    fa = FusionAnalysis(t, persist=3, contact_xy=_contact_xy(FLICKER)).run()
    seal = np.asarray(fa.table["pore_rim_seal"])[pore_frames]
    assert (seal < 0.5).sum() == 2 and (seal >= 0.3).all(), seal
    assert list(np.asarray(fa.table["pore_held"])[pore_frames]) == list(seal < 0.5)
    assert fa.results.first_passage["pore"]["frame"] == pore_frames[0]
    assert fa.results.first_passage["rupture"]["frame"] is None
    plain = FusionAnalysis(t, persist=3, hold_rim_seal=None, contact_xy=_contact_xy(FLICKER)).run()
    assert plain.results.first_passage["pore"]["frame"] is None


@pytest.mark.parametrize("chunk", [1, 4])
def test_the_held_pore_carries_across_streamed_chunks(chunk: int) -> None:
    """Streamed from the file in chunks of ``chunk`` frames: the same calls as in one chunk, held frames
    included (the held pore of a chunk's last frame is remembered in the next chunk)."""
    d = DATA / FLICKER
    states = json.loads((d / "states.json").read_text())

    def fusion_table(n: int) -> Any:
        src = TrajectorySource(d / "trajectory.dcd", d / "system.pdb.gz")
        fa = FusionAnalysis(src, persist=1, chunk=n, contact_xy=_contact_xy(FLICKER))
        run_analyses([fa], chunk=n)
        return fa.table

    one, streamed = fusion_table(100), fusion_table(chunk)
    for c in ("state_name", "has_pore", "pore_held", "has_rupture", "pore_rim_seal"):
        np.testing.assert_array_equal(streamed[c], one[c], err_msg=c)
    assert list(streamed["state_name"]) == [f["state"] for f in states["frames"]]
    assert np.asarray(streamed["pore_held"]).sum() == 2
