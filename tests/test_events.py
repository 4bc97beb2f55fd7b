"""The fusion-event reporter: the flicker rule and the delay on known-answer positions (no MD), the event
surviving re-construction (kill / resume), and short real runs that stop a set time after a pore."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Callable

import mdtraj
import numpy as np
import openmm
import pytest
from click.testing import CliRunner
from openmm import unit

from snarefuse.analysis import fusion as fusion_mod
from snarefuse.analysis import testsystems as ts
from snarefuse.build import build_system
from snarefuse.cli import main
from snarefuse.errors import RunError, SpecError
from snarefuse.events import EVENTS_CSV, EVENTS_JSON, FusionEventReporter
from snarefuse.runner import run_simulation
from snarefuse.spec import example_spec_path, load_spec

#: Time step (ps) of the fake simulations: a check every 100 steps is 10 ps.
DT_PS = 0.1
INTERVAL = 100
#: Bead-free radius (nm) of the known-answer pore.
PORE_RADIUS_NM = 3.0


@pytest.fixture(scope="module")
def frames() -> dict[str, mdtraj.Trajectory]:
    """Two flat bilayers 2 nm apart, and the same two fused by a 3 nm pore."""
    return {"flat": ts.two_bilayers(2.0, n_side=24), "pore": ts.fusion_pore(PORE_RADIUS_NM, n_side=24)}


class _Integrator:
    def getStepSize(self):  # noqa: N802
        return DT_PS * unit.picosecond


class _State:
    def __init__(self, t: mdtraj.Trajectory, time_ps: float):
        self._t, self._time = t, time_ps

    def getPositions(self, asNumpy: bool = False):  # noqa: N802, N803
        return self._t.xyz[0] * unit.nanometer

    def getPeriodicBoxVectors(self, asNumpy: bool = False):  # noqa: N802, N803
        return np.diag(self._t.unitcell_lengths[0]) * unit.nanometer

    def getTime(self):  # noqa: N802
        return self._time * unit.picosecond


class FakeSimulation:
    """What the reporter uses of an ``app.Simulation``; ``frame(step)`` gives the configuration at a step."""

    def __init__(self, frame: Callable[[int], mdtraj.Trajectory], step: int = 0):
        self.currentStep = step
        self.integrator = _Integrator()
        self.topology = None
        self.frame = frame

    def run(self, reporter: FusionEventReporter, until: int) -> list[int]:
        """Step from report to report (as ``Simulation.step`` does) up to ``until`` or the stop; the steps reported."""
        reported = []
        while not reporter.stop_requested:
            n = reporter.describeNextReport(self)["steps"]
            if self.currentStep + n > until:
                break
            self.currentStep += n
            t = self.frame(self.currentStep)
            self.topology = t.topology
            reporter.report(self, _State(t, self.currentStep * DT_PS))
            reported.append(self.currentStep)
        return reported


def pore_at(frames: dict[str, mdtraj.Trajectory], steps: set[int] | None = None,
            from_step: int | None = None) -> Callable[[int], mdtraj.Trajectory]:
    def frame(step: int) -> mdtraj.Trajectory:
        on = (steps is not None and step in steps) or (from_step is not None and step >= from_step)
        return frames["pore" if on else "flat"]
    return frame


def checkpoint(run_dir: Path, step: int) -> None:
    (run_dir / "checkpoint.json").write_text(json.dumps({"step": step, "time_ps": step * DT_PS}))


def csv_steps(run_dir: Path) -> np.ndarray:
    with open(run_dir / EVENTS_CSV, newline="") as f:
        return np.array([int(r["step"]) for r in csv.DictReader(f)], dtype=int)


# ------------------------------------------------------------------------------ known answers, no MD
def test_no_pore_between_flat_bilayers(frames, tmp_path: Path):
    rep = FusionEventReporter(tmp_path, INTERVAL, 0.0, confirm=2)
    reported = FakeSimulation(pore_at(frames)).run(rep, 500)
    assert reported == [100, 200, 300, 400, 500]
    assert rep.event is None and not rep.stop_requested
    with open(tmp_path / EVENTS_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["has_pore"] for r in rows] == ["0"] * 5
    assert json.loads((tmp_path / EVENTS_JSON).read_text())["pore"] is None


@pytest.mark.parametrize("pore_steps, first, confirmed", [
    ({300, 400, 500, 600}, 300, 500),          # three consecutive checks confirm it, dated at the first
    ({300, 500, 600, 700, 800}, 500, 700),     # a check without a pore (400) resets the count
    ({200, 300, 500, 600, 800, 900}, None, None),  # never three in a row: flicker only
])
def test_flicker_rule(frames, tmp_path: Path, pore_steps, first, confirmed):
    rep = FusionEventReporter(tmp_path, INTERVAL, 0.0, confirm=3)
    FakeSimulation(pore_at(frames, pore_steps)).run(rep, 1000)
    if first is None:
        assert rep.event is None and not rep.stop_requested
        return
    assert (rep.event.step, rep.event.confirmed_step) == (first, confirmed)
    np.testing.assert_allclose(rep.event.time_ps, first * DT_PS)
    np.testing.assert_allclose(rep.event.radius_nm, PORE_RADIUS_NM, atol=0.3)
    assert rep.stop_requested and rep.stop_requested_step == confirmed  # delay 0: stop at confirmation


def test_stop_waits_for_the_delay_and_reports_at_the_stop_step(frames, tmp_path: Path):
    rep = FusionEventReporter(tmp_path, INTERVAL, 25.0 * unit.picosecond, confirm=2)
    reported = FakeSimulation(pore_at(frames, from_step=300)).run(rep, 2000)
    # pore at step 300 (30 ps), confirmed at 400; stop at 30 + 25 = 55 ps = step 550, between two checks
    assert (rep.event.step, rep.event.confirmed_step) == (300, 400)
    assert reported == [100, 200, 300, 400, 500, 550]
    assert rep.stop_requested_step == 550
    saved = json.loads((tmp_path / EVENTS_JSON).read_text())
    assert (saved["pore"]["step"], saved["stop_step"], saved["stop_requested_step"]) == (300, 550, 550)
    np.testing.assert_allclose(saved["stop_time_ps"], 55.0)


def test_event_survives_reconstruction_and_rows_after_the_checkpoint_are_dropped(frames, tmp_path: Path):
    frame = pore_at(frames, from_step=300)
    first = FusionEventReporter(tmp_path, INTERVAL, 100.0, confirm=2)
    FakeSimulation(frame).run(first, 800)       # "killed" at step 800, last checkpoint at 600
    checkpoint(tmp_path, 600)
    again = FusionEventReporter(tmp_path, INTERVAL, 100.0, confirm=2)
    assert again.event == first.event and not again.stop_requested
    reported = FakeSimulation(frame, step=600).run(again, 5000)
    assert reported[-1] == 1300 and again.stop_requested  # 30 ps + 100 ps
    np.testing.assert_array_equal(csv_steps(tmp_path), np.arange(100, 1301, 100))  # no duplicated rows


def test_a_run_already_past_its_stop_requests_it_on_construction(frames, tmp_path: Path):
    FakeSimulation(pore_at(frames, from_step=300)).run(FusionEventReporter(tmp_path, INTERVAL, 10.0, confirm=2), 600)
    checkpoint(tmp_path, 500)
    assert FusionEventReporter(tmp_path, INTERVAL, 10.0, confirm=2).stop_requested
    assert not FusionEventReporter(tmp_path, INTERVAL, 1000.0, confirm=2).stop_requested  # a longer delay: go on


def test_an_event_confirmed_after_the_checkpoint_is_found_again_from_the_kept_rows(frames, tmp_path: Path):
    frame = pore_at(frames, from_step=300)
    FakeSimulation(frame).run(FusionEventReporter(tmp_path, INTERVAL, 1000.0, confirm=2), 600)
    checkpoint(tmp_path, 300)  # the pore was seen at 300 and confirmed at 400, after the checkpoint
    rep = FusionEventReporter(tmp_path, INTERVAL, 1000.0, confirm=2)
    assert rep.event is None
    FakeSimulation(frame, step=300).run(rep, 400)
    assert (rep.event.step, rep.event.confirmed_step) == (300, 400)  # the streak resumed from the row at 300
    np.testing.assert_array_equal(csv_steps(tmp_path), [100, 200, 300, 400])


# ------------------------------------------------------------------------------ real runs
def two_membrane_spec(**run: object):
    """The quickstart geometry without SNAREs, 200 lipids per bilayer (1,200 beads), on CPU."""
    o = {"system.bilayer.n_lipids": 200, "system.snares.n_complexes": 0, "run.platform": "CPU"}
    o.update({f"run.{k}": v for k, v in run.items()})
    return load_spec(example_spec_path("snare_two_bilayers")).with_overrides(o)


class _Kill(BaseException):
    """Stands for SIGKILL: ends the run between checkpoints, leaving its files as they are."""


class KillAt:
    def __init__(self, step: int):
        self.step = step

    def describeNextReport(self, simulation):  # noqa: N802
        return {"steps": max(self.step - simulation.currentStep, 0) or 10**9, "periodic": None, "include": []}

    def report(self, simulation, state: openmm.State) -> None:
        raise _Kill


def test_real_run_without_pore_logs_every_check_once_across_a_kill(tmp_path: Path):
    d = tmp_path / "run"
    build_system(two_membrane_spec(steps=400, report_interval=50, trajectory_interval=50,
                                   checkpoint_interval=100)).save(d)
    with pytest.raises(_Kill):
        run_simulation(d, steps=400, progress=False,
                       extra_reporters=[FusionEventReporter.from_run(d, "1 tau", confirm=2), KillAt(250)])
    assert json.loads((d / "checkpoint.json").read_text())["step"] == 200
    assert csv_steps(d)[-1] == 250
    rep = FusionEventReporter.from_run(d, "1 tau", confirm=2)
    r = run_simulation(d, steps=400, progress=False, extra_reporters=[rep])
    assert (r.status, r.step) == ("complete", 400)
    assert rep.event is None and not rep.stop_requested
    np.testing.assert_array_equal(csv_steps(d), np.arange(50, 401, 50))
    log = np.genfromtxt(d / "log.csv", delimiter=",", names=True)
    np.testing.assert_array_equal(log["step"], csv_steps(d))


def test_real_run_stops_at_the_first_chunk_boundary_after_the_delay(monkeypatch, tmp_path: Path):
    d = tmp_path / "run"
    spec = two_membrane_spec(steps=1000, report_interval=100, trajectory_interval=100, checkpoint_interval=500)
    build_system(spec).save(d)
    calls = itertools.count(1)
    # a fresh run checks every 50 steps: a pore from the third check (step 150) on
    monkeypatch.setattr(fusion_mod, "detect_pore", lambda *a, **k: (next(calls) >= 3, 2.0))
    args = ["run", str(d), "--no-progress", "--stop-after-pore", "0.7 tau", "--pore-check-every", "50",
            "--pore-confirm", "2"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    # pore at 150, confirmed at 200, stop requested at 150 + 70 = 220, chunk boundary 300
    assert "stopped-event at step 300/1000" in r.output and "fusion pore opened at step 150" in r.output
    assert json.loads((d / "checkpoint.json").read_text())["step"] == 300
    assert json.loads((d / "run.json").read_text())["status"] == "stopped-event"
    event = json.loads((d / EVENTS_JSON).read_text())
    assert (event["pore"]["step"], event["stop_requested_step"]) == (150, 220)
    np.testing.assert_allclose(event["stop_time_ps"], 220 * spec.run.timestep_ps)
    log_size = (d / "log.csv").stat().st_size
    r = CliRunner().invoke(main, args)  # the same command again: the event is remembered, no step is run
    assert r.exit_code == 0, r.output
    assert "stopped-event at step 300/1000" in r.output
    assert (d / "log.csv").stat().st_size == log_size
    assert json.loads((d / "checkpoint.json").read_text())["step"] == 300


def test_delay_units_resolve_through_the_run_spec(tmp_path: Path):
    d = tmp_path / "run"
    spec = two_membrane_spec()
    build_system(spec).save(d)
    np.testing.assert_allclose(FusionEventReporter.from_run(d, "100 tau").delay_ps, 100 * spec.model.units.tau_ps)
    np.testing.assert_allclose(FusionEventReporter.from_run(d, "5 ns").delay_ps, 5000.0)
    assert FusionEventReporter.from_run(d, 0).interval == spec.run.trajectory_interval
    with pytest.raises(SpecError, match="--stop-after-pore"):
        FusionEventReporter.from_run(d, "5 nm")


def test_single_membrane_run_is_refused_naming_the_option(small_built):
    _, d = small_built
    with pytest.raises(RunError, match="--stop-after-pore.*single membrane"):
        FusionEventReporter.from_run(d, "1 ns")
    r = CliRunner().invoke(main, ["run", str(d), "--stop-after-pore", "1 ns"])
    assert r.exit_code == 2 and "--stop-after-pore" in r.output and "single membrane" in r.output


def test_pore_options_need_stop_after_pore(small_built):
    _, d = small_built
    r = CliRunner().invoke(main, ["run", str(d), "--pore-check-every", "100"])
    assert r.exit_code == 2 and "only applies with --stop-after-pore" in r.output
