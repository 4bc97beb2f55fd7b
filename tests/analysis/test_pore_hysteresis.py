"""The hold rule of the fusion pore (hysteresis): a hole through both membranes that has been a sealed fusion
pore on ``HOLD_AFTER_FRAMES`` consecutive frames stays one while it stays open and its rim seal stays at least
``HOLD_RIM_SEAL``; a hole never sealed is judged by ``MIN_RIM_SEAL`` alone, so a rupture stays a rupture.

Kernel sequences on synthetic frames (two membranes' beads on a lattice with a hole, the tails joining them on
an arc of its rim: the arc sets the seal), and the in-run reporter carrying the held pore from check to check
and across a resume (its check replaced by the hold rule on given seals: the geometry is tested here and on
real frames, with the analysis streamed in chunks, in ``test_real_events.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from openmm import unit

from snarefuse.analysis import PoreAnalysis
from snarefuse.analysis import kernels as K
from snarefuse.analysis import testsystems as ts
from snarefuse.analysis import zone
from snarefuse.analysis.base import AnalysisError
from snarefuse.analysis.zone import HOLD_AFTER_FRAMES, HOLD_RIM_SEAL, MIN_RIM_SEAL
from snarefuse.events import EVENTS_JSON, FusionEventReporter

BOX = 20.0
GRID = K.LateralGrid.periodic_box(np.array([BOX, BOX]), (40, 40))
#: Bead-free radius of the synthetic hole (nm).
HOLE = 3.0
#: Share of the rim circle lined by joining tails -> the seal the kernel measures (checked in each test):
#: sealed ~0.61, flickering below MIN_RIM_SEAL ~0.46 and ~0.41, torn apart ~0.21.
SEALED, DIP, DEEP_DIP, TORN = 0.7, 0.5, 0.45, 0.2


def _frame(arc: float, centre: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, ...]:
    """``(u, v, is_b, seal_u, seal_v)``: both membranes' beads on a 0.5 nm lattice except a hole of radius
    ``HOLE`` on ``centre``, joining tails on ``arc`` of a circle 0.5 nm outside the hole."""
    g = np.arange(-BOX / 2, BOX / 2, 0.5) + 0.25
    lu, lv = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
    keep = np.hypot(K.minimum_image(lu - centre[0], BOX), K.minimum_image(lv - centre[1], BOX)) >= HOLE
    n = int(keep.sum())
    phi = np.linspace(0.0, 2 * np.pi * arc, int(300 * arc), endpoint=False)
    return (np.r_[lu[keep], lu[keep]], np.r_[lv[keep], lv[keep]], np.r_[np.zeros(n, bool), np.ones(n, bool)],
            centre[0] + (HOLE + 0.5) * np.cos(phi), centre[1] + (HOLE + 0.5) * np.sin(phi))


def _sequence(arcs: list[float], keep_seal: float | None = HOLD_RIM_SEAL,
              centres: list[tuple[float, float]] | None = None, hold_after: int = HOLD_AFTER_FRAMES
              ) -> list[K.HoleResult]:
    held = None
    out = []
    for i, arc in enumerate(arcs):
        h = K.compute_holes(GRID, *_frame(arc, centres[i] if centres else (0.0, 0.0)), keep_seal=keep_seal,
                            held=held, hold_after=hold_after)
        held = h.fusion_cells
        out.append(h)
    return out


def test_a_sealed_pore_whose_seal_flickers_below_the_threshold_stays_a_pore() -> None:
    arcs = [SEALED, SEALED, DIP, SEALED, DEEP_DIP, DIP, DEEP_DIP]
    seq = _sequence(arcs)
    seals = np.array([h.pore_seal for h in seq])
    dips = np.array([a != SEALED for a in arcs])
    assert (seals[~dips] >= MIN_RIM_SEAL).all() and (seals[dips] >= HOLD_RIM_SEAL).all()
    assert (seals[dips] < MIN_RIM_SEAL).all(), seals
    assert [h.pore.found for h in seq] == [True] * len(arcs)
    assert [h.rupture.found for h in seq] == [False] * len(arcs)
    assert [h.pore_kept for h in seq] == list(dips)
    # the frames its pore has been one, carried to the next frame
    assert [int(h.fusion_cells[:, 2].max()) for h in seq] == list(range(1, len(arcs) + 1))
    # without the hold rule the same frames alternate pore / rupture
    plain = _sequence(arcs, keep_seal=None)
    assert [h.pore.found for h in plain] == list(~dips)
    assert [h.rupture.found for h in plain] == list(dips)


def test_one_sealed_frame_does_not_start_the_hold() -> None:
    """A hole whose seal crosses MIN_RIM_SEAL on one frame only (as a tear beside a diaphragm does on some grid
    alignments) is not held; with ``hold_after=1`` it would be."""
    arcs = [DIP, SEALED, DIP, DEEP_DIP]
    assert [h.pore.found for h in _sequence(arcs)] == [False, True, False, False]
    assert [h.pore.found for h in _sequence(arcs, hold_after=1)] == [False, True, True, True]


def test_a_rupture_never_sealed_never_becomes_a_pore() -> None:
    for arc in (TORN, DIP):
        seq = _sequence([arc] * 5)
        assert [h.pore.found for h in seq] == [False] * 5, arc
        assert [h.rupture.found for h in seq] == [True] * 5, arc
        assert len(seq[-1].fusion_cells) == 0
    assert _sequence([TORN])[0].pore_seal < HOLD_RIM_SEAL


def test_a_pore_torn_below_the_hold_seal_is_a_rupture_and_must_seal_again() -> None:
    seq = _sequence([SEALED, SEALED, TORN, DIP, SEALED, SEALED, DIP])
    assert [h.pore.found for h in seq] == [True, True, False, False, True, True, True]
    assert [h.rupture.found for h in seq] == [False, False, True, True, False, False, False]


def test_only_the_same_hole_is_held() -> None:
    """A sealed pore closes and a hole opens elsewhere with a seal below MIN_RIM_SEAL: a rupture."""
    seq = _sequence([SEALED, SEALED, DIP], centres=[(0.0, 0.0), (0.0, 0.0), (8.0, 0.0)])
    assert seq[1].pore.found
    assert not seq[2].pore.found and seq[2].rupture.found
    # the same hole moved by 1 nm overlaps its place on the frame before: held
    moved = _sequence([SEALED, SEALED, DIP], centres=[(0.0, 0.0), (0.5, 0.0), (1.0, 0.5)])
    assert moved[2].pore.found and moved[2].pore_kept


def test_held_cells_are_positions_so_a_grid_of_another_shape_reads_them() -> None:
    first = _sequence([SEALED, SEALED])[-1]
    other = K.LateralGrid.periodic_box(np.array([BOX, BOX]), (41, 39))
    frames = K.cells_frames(other, first.fusion_cells)
    U, V = other.centers()
    # a finer grid has a few cells between the coarser grid's centres; overlap needs only some
    assert (frames[np.hypot(U, V) < HOLE - 1.0] == 2).mean() > 0.8
    assert not frames[np.hypot(U, V) > HOLE + 1.0].any()
    nxt = K.compute_holes(other, *_frame(0.35), keep_seal=HOLD_RIM_SEAL, held=first.fusion_cells)
    assert HOLD_RIM_SEAL <= nxt.pore_seal < MIN_RIM_SEAL
    assert nxt.pore.found and nxt.pore_kept


@pytest.mark.parametrize("bad", [-0.1, 0.6, float("nan")])
def test_hold_seal_outside_zero_to_min_seal_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="keep_seal"):
        K.compute_holes(GRID, *_frame(SEALED), keep_seal=bad)
    with pytest.raises(AnalysisError, match="hold_rim_seal"):
        PoreAnalysis(ts.fusion_pore(2.0), hold_rim_seal=bad)


def test_hold_after_below_one_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="hold_after"):
        K.compute_holes(GRID, *_frame(SEALED), keep_seal=HOLD_RIM_SEAL, hold_after=0)


# ------------------------------------------------------------------------------ the in-run reporter
#: Rim seal of the fake check at each step: sealed twice, then dips below MIN_RIM_SEAL between sealed checks.
SEAL_AT_STEP = {100: 0.6, 200: 0.6, 300: 0.45, 400: 0.6, 500: 0.4, 600: 0.45, 700: 0.2, 800: 0.45}
CHECK_EVERY = 100
DT_PS = 0.1


class _State:
    def __init__(self, step: int):
        self.step = step

    def getPositions(self, asNumpy: bool = False):  # noqa: N802, N803
        return np.full((1, 3), float(self.step))  # the fake check reads the step from here

    def getPeriodicBoxVectors(self, asNumpy: bool = False):  # noqa: N802, N803
        return np.eye(3)

    def getTime(self):  # noqa: N802
        return self.step * DT_PS * unit.picosecond


class _Simulation:
    """What the reporter uses of an ``app.Simulation``."""

    def __init__(self, step: int = 0):
        self.currentStep = step
        self.topology = ts.two_bilayers(2.0, n_side=4).topology
        self.integrator = type("I", (), {"getStepSize": lambda self: DT_PS * unit.picosecond})()

    def run(self, reporter: FusionEventReporter, until: int) -> None:
        while not reporter.stop_requested:
            n = reporter.describeNextReport(self)["steps"]
            if self.currentStep + n > until:
                return
            self.currentStep += n
            reporter.report(self, _State(self.currentStep))


@pytest.fixture
def fake_check(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """``check_pore`` replaced by the hold rule on :data:`SEAL_AT_STEP` (one cell per pore); records whether
    each check was given a pore it may hold."""
    given: list[bool] = []

    def check(positions: np.ndarray, box: np.ndarray, info: object, *, held: np.ndarray | None = None,
              hold_rim_seal: float | None = None, **options: object) -> zone.PoreCheck:
        seal = SEAL_AT_STEP[int(positions[0, 0])]
        age = int(held[:, 2].max()) if held is not None and len(held) else 0
        given.append(age >= HOLD_AFTER_FRAMES)
        has = seal >= MIN_RIM_SEAL or (age >= HOLD_AFTER_FRAMES and hold_rim_seal is not None
                                       and seal >= hold_rim_seal)
        cells = np.array([[1.25, -3.75, age + 1]]) if has else np.zeros((0, 3))
        return zone.PoreCheck(has, 2.0 if has else 0.0, seal, has and seal < MIN_RIM_SEAL, cells)

    monkeypatch.setattr(zone, "check_pore", check)
    return given


def test_the_in_run_reporter_holds_a_flickering_pore(fake_check: list[bool], tmp_path: Path) -> None:
    rep = FusionEventReporter(tmp_path, CHECK_EVERY, 0.0, confirm=5)
    _Simulation().run(rep, 800)
    # 100-500: sealed, sealed, held, sealed, held -> five checks in a row
    assert rep.event is not None and (rep.event.step, rep.event.confirmed_step) == (100, 500)
    assert fake_check[:5] == [False, False, True, True, True]
    saved = json.loads((tmp_path / EVENTS_JSON).read_text())["pore_cells"]
    assert sorted(int(k) for k in saved) == [100, 200, 300, 400, 500]
    assert saved["400"] == [[1.25, -3.75, 4]]


def test_a_resumed_reporter_holds_the_pore_it_held_at_its_checkpoint(fake_check: list[bool], tmp_path: Path) -> None:
    first = FusionEventReporter(tmp_path, CHECK_EVERY, 1000.0, confirm=5)
    _Simulation().run(first, 600)               # "killed" at 600; the pore was confirmed at 500
    (tmp_path / "checkpoint.json").write_text(json.dumps({"step": 400, "time_ps": 400 * DT_PS}))
    again = FusionEventReporter(tmp_path, CHECK_EVERY, 1000.0, confirm=5)
    assert again.event is None                  # confirmed after the checkpoint: found again
    fake_check.clear()
    _Simulation(step=400).run(again, 500)
    assert fake_check == [True]                 # the check at 500 (seal 0.40) holds the pore of 100-400
    assert again.event is not None and (again.event.step, again.event.confirmed_step) == (100, 500)
    saved = json.loads((tmp_path / EVENTS_JSON).read_text())["pore_cells"]
    assert sorted(int(k) for k in saved) == [100, 200, 300, 400, 500]


def test_the_reporter_lets_go_of_a_pore_torn_below_the_hold_seal(fake_check: list[bool], tmp_path: Path) -> None:
    rep = FusionEventReporter(tmp_path, CHECK_EVERY, 0.0, confirm=9)
    _Simulation().run(rep, 800)
    rows = (tmp_path / "events.csv").read_text().splitlines()[1:]
    assert [r.split(",")[2] for r in rows] == ["1", "1", "1", "1", "1", "1", "0", "0"]  # 700: 0.2; 800: not held
    assert rep.event is None
