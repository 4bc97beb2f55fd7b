"""Sweeps: strict sweep specs, content-addressed workspace, Dask execution that survives a killed
worker without losing or repeating a point, status, collection and the statistics behind the plots."""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import mdtraj
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from snarefuse import sweep_dask, sweep_workspace
from snarefuse.build import build_system
from snarefuse.cli_sweep import sweep as sweep_cli
from snarefuse.errors import BuildError, SpecError
from snarefuse.rundir import RunDirectory
from snarefuse.runner import run_simulation
from snarefuse.spec import load_spec
from snarefuse.analysis import fusion as fusion_mod
from snarefuse.plot import plot_survival
from snarefuse.spec import example_spec_path
from snarefuse.analysis.stats import proportion_ci
from snarefuse.sweep import Sweep, fusion_times, load_sweep, replica_seed, run_point
from snarefuse.sweep_results import format_statistics

from .conftest import small_spec

#: Seconds any wait in this file may take before the test fails instead of hanging.
WAIT_S = 150
#: Run settings of the points run on Dask: exact resume on Reference, frames every 50 steps.
RUN = dict(run__trajectory_interval=50, run__report_interval=50, run__checkpoint_interval=200, run__threads=1)


def write_sweep(root: Path, base_overrides: dict, **sweep: object) -> Path:
    """A base spec file and a sweep file over it in ``root``; returns the sweep file."""
    root.mkdir(parents=True, exist_ok=True)
    small_spec(**base_overrides).dump(root / "base.yaml")
    data = {"name": root.name, "base": "base.yaml", "workspace": "ws", "analysis": {"enabled": False}, **sweep}
    (root / "sweep.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root / "sweep.yaml"


def log_steps(point_dir: Path) -> np.ndarray:
    return np.genfromtxt(point_dir / "log.csv", delimiter=",", names=True)["step"].astype(int)


def mtimes(sw: Sweep) -> dict[str, float]:
    return {f"{p.key}/{n}": (p.directory / n).stat().st_mtime_ns for p in sw.points
            for n in ("checkpoint.json", "run.json", "log.csv", "task.json")}


@pytest.fixture(scope="module")
def cluster():
    """A real scheduler and two real worker processes (nannies restart a killed one) on loopback."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as lc, Client(lc) as client:
        client.wait_for_workers(2, timeout=60)
        yield lc, client


# ------------------------------------------------------------------------------ execution on Dask
def test_killed_worker_loses_no_point_and_repeats_none(cluster, tmp_path: Path):
    _, client = cluster
    path = write_sweep(tmp_path / "kill", dict(run__platform="Reference", run__steps=600, **RUN),
                       grid={"lipids.CKL.tail_attraction": [1.0, 0.95]}, replicas=2)
    sw = Sweep.from_yaml(path)
    worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(report=sw.run(client=client, timeout_s=WAIT_S)))
    runner.start()
    killed = None
    t0 = time.monotonic()
    while killed is None and time.monotonic() - t0 < WAIT_S and runner.is_alive():
        for p in sw.points:
            rj = sweep_workspace.read_json(p.directory / "run.json") or {}
            step = sweep_workspace.checkpoint_step(p.directory)
            if rj.get("status") == "running" and rj.get("pid") in worker_pids and 200 <= step < 400:
                os.kill(rj["pid"], signal.SIGKILL)
                killed = (p, step)
                break
        time.sleep(0.05)
    runner.join(WAIT_S)
    assert not runner.is_alive(), "the sweep did not finish in time"
    assert killed is not None, "no point was caught mid-run to kill its worker"
    report = result["report"]
    assert sorted(report.submitted) == sorted(p.key for p in sw.points)
    assert {o["state"] for o in report.outcomes.values()} == {"done"}
    assert [st.state for st in sw.status()] == ["done"] * 4
    frames_expected = 600 // 50
    for p in sw.points:
        np.testing.assert_array_equal(log_steps(p.directory), np.arange(50, 601, 50))  # no duplicated rows
        traj = mdtraj.load(str(p.directory / "trajectory.dcd"), top=str(p.directory / "system.pdb"))
        assert traj.n_frames == frames_expected
        attempts = json.loads((p.directory / "task.json").read_text())["attempts"]
        assert [a["state"] for a in attempts].count("complete") == 1  # run to completion exactly once
    # the killed point resumed from its checkpoint, not from step 0 ...
    p, step_at_kill = killed
    attempts = json.loads((p.directory / "task.json").read_text())["attempts"]
    assert [a["state"] for a in attempts] == ["interrupted", "complete"]
    assert attempts[1]["resumed_from"] == "checkpoint" and attempts[1]["from_step"] >= step_at_kill >= 200
    # ... and its trajectory is the uninterrupted one (Reference resumes bit for bit)
    ref = tmp_path / "uninterrupted"
    build_system(load_spec(p.directory / "spec.yaml")).save(ref)
    run_simulation(ref, platform="Reference", progress=False)
    resumed = mdtraj.load(str(p.directory / "trajectory.dcd"), top=str(p.directory / "system.pdb"))
    uninterrupted = mdtraj.load(str(ref / "trajectory.dcd"), top=str(ref / "system.pdb"))
    np.testing.assert_array_equal(resumed.xyz, uninterrupted.xyz)


def test_rerun_does_nothing_and_a_new_grid_value_runs_only_new_points(cluster, tmp_path: Path):
    lc, client = cluster
    path = write_sweep(tmp_path / "grow", dict(run__platform="CPU", run__steps=200, **RUN),
                       grid={"lipids.CKL.tail_attraction": [1.0]}, replicas=2, analysis={"enabled": True})
    cli = CliRunner()
    first = cli.invoke(sweep_cli, ["run", str(path), "--scheduler", lc.scheduler_address, "--timeout", f"{WAIT_S} s"])
    assert first.exit_code == 0, first.output
    assert "ran 2 points: 2 done" in first.output
    old = Sweep.from_yaml(path)
    before = mtimes(old)
    again = cli.invoke(sweep_cli, ["run", str(path), "--scheduler", lc.scheduler_address])
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output
    assert mtimes(old) == before
    data = yaml.safe_load(path.read_text())
    data["grid"]["lipids.CKL.tail_attraction"].append(0.95)
    path.write_text(yaml.safe_dump(data))
    grown = Sweep.from_yaml(path)
    report = grown.run(client=client, timeout_s=WAIT_S)
    new = {p.key for p in grown.points} - {p.key for p in old.points}
    assert len(new) == 2 and set(report.submitted) == new
    assert mtimes(old) == before
    assert [st.state for st in grown.status()] == ["done"] * 4
    assert all(st.analysis == "done" or st.analysis.startswith("unavailable") for st in grown.status())


def test_wall_time_limited_tasks_are_resubmitted_and_resume(cluster, tmp_path: Path):
    _, client = cluster
    # 1,000 steps of the pure 'poly' formulation take well over the 0.2 s limit on any CPU (the native kernel
    # could finish them within it, and the test would then see one attempt)
    sw = Sweep(small_spec(run__platform="CPU", run__steps=1000, run__formulation="poly", **RUN),
               workspace=tmp_path / "ws", analysis=False)
    report = sw.run(client=client, max_wall_time_s=0.2, timeout_s=WAIT_S)
    p = sw.points[0]
    assert report.outcomes[p.key]["state"] == "done"
    attempts = json.loads((p.directory / "task.json").read_text())["attempts"]
    assert len(attempts) >= 2 and [a["state"] for a in attempts] == ["stopped"] * (len(attempts) - 1) + ["complete"]
    assert all(a["resumed_from"] == "checkpoint" for a in attempts[1:])
    np.testing.assert_array_equal(log_steps(p.directory), np.arange(50, 1001, 50))



def _replica_major(sw: Sweep) -> list[str]:
    return [p.key for r in range(sw.replicas) for p in sw.points if p.replica == r]


def test_plan_covers_every_combination_before_a_second_replica(tmp_path: Path):
    sw = Sweep(small_spec(), grid={"lipids.CKL.tail_attraction": [0.9, 1.0, 1.1]}, replicas=3,
               workspace=tmp_path / "ws", analysis=False)
    assert [p.replica for p in sw.points] == [0, 1, 2] * 3  # built combination-major
    todo, _ = sw.plan()
    assert [p.key for p in todo] == _replica_major(sw)
    assert [p.replica for p in todo] == [0] * 3 + [1] * 3 + [2] * 3


#: Point keys in the order the fake task below ran them (in-process workers share this list).
_RAN: list[str] = []


def _recording_task(point_dir: str, target_steps: int, **_: object) -> dict:
    _RAN.append(Path(point_dir).name)
    time.sleep(0.3)  # the first task holds the only worker until every other one is queued
    return {"key": Path(point_dir).name, "state": "done"}


def test_one_worker_runs_lower_replicas_first_whatever_the_submission_order(monkeypatch, tmp_path: Path):
    from distributed import Client, LocalCluster

    sw = Sweep(small_spec(), grid={"lipids.CKL.tail_attraction": [0.9, 1.0, 1.1]}, replicas=3,
               workspace=tmp_path / "ws", analysis=False)
    monkeypatch.setattr(sweep_dask, "run_point", _recording_task)
    _RAN.clear()
    report = sweep_dask.SweepRunReport(skipped={})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as lc, \
            Client(lc) as client:
        # submitted combination-major, as the points are built
        sweep_dask.run_on_dask(sw.points, lambda p, threads: {"point_dir": str(p.directory),
                                                              "target_steps": p.target_steps},
                               report, client=client, timeout_s=WAIT_S)
    label = {p.key: (p.parameters["lipids.CKL.tail_attraction"], p.replica) for p in sw.points}
    ran = [label[k] for k in _RAN]
    assert sorted(ran) == sorted(label.values()) and ran[0] == (0.9, 0)
    # at most the first two submitted reach the idle worker before the scheduler holds a queue to order (too
    # few tasks of their group yet); from then on every replica-0 point overtakes the replicas 1 and 2
    # submitted before it (submission order alone runs (0.9, 2) third)
    assert [r for _, r in ran[2:]] == sorted(r for _, r in ran[2:])

# ------------------------------------------------------------------------------ sweep spec validation
INVALID = {
    "unknown field path": ({"grid": {"system.bilayer.nlipids": [200]}}, "grid.system.bilayer.nlipids",
                           "not a field of the base spec.*accepted keys here"),
    "unknown section": ({"grid": {"sytem.bilayer.n_lipids": [200]}}, "grid.sytem.bilayer.n_lipids",
                        "no such spec field"),
    "empty grid list": ({"grid": {"system.bilayer.n_lipids": []}}, "grid.system.bilayer.n_lipids", "empty list"),
    "grid value not a list": ({"grid": {"system.bilayer.n_lipids": 200}}, "grid.system.bilayer.n_lipids",
                              "expected a list"),
    "mismatched zip lengths": ({"zip": {"model.kT_over_epsilon": [1.0, 1.1], "model.wc": ["1.6 sigma"]}},
                               "zip.model.wc", "has 1 values but zip.model.kT_over_epsilon has 2"),
    "unknown path in zip": ({"zip": {"run.stepz": [1, 2]}}, "zip.run.stepz", "not a field"),
    "invalid value": ({"grid": {"system.bilayer.n_lipids": [200, 1]}}, "grid.system.bilayer.n_lipids",
                      "value 1 is invalid.*at least 2 lipids"),
    "unknown top-level key": ({"replica": 3}, "replica", "unknown key; accepted keys here: name, base, grid"),
    "replicas below one": ({"replicas": 0}, "replicas", "must be >= 1"),
    "same system twice": ({"grid": {"name": ["a", "b"]}}, "grid", "are the same system"),
    "path in grid and zip": ({"grid": {"seed": [1]}, "zip": {"seed": [2]}}, "zip.seed", "also in grid"),
    "missing base file": ({"base": "nowhere.yaml"}, "base", "no such spec file"),
    "bad stop event": ({"stop_after_fusion": {"event": "kiss"}}, "stop_after_fusion.event", "choose one of"),
    "stop event not seen in the run": ({"stop_after_fusion": {"event": "hemifusion"}}, "stop_after_fusion.event",
                                       "cannot be detected during the run"),
    "stalk as stop event": ({"stop_after_fusion": {"event": "stalk"}}, "stop_after_fusion.event",
                            "cannot be detected during the run.*stalk and hemifusion are measured by the analysis"),
    "bad stop delay": ({"stop_after_fusion": {"delay": "-1 tau"}}, "stop_after_fusion.delay", "must be >= 0"),
    "unknown stop key": ({"stop_after_fusion": {"check": 5}}, "stop_after_fusion.check", "unknown key"),
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_invalid_sweep_specs_name_the_field(case, tmp_path: Path):
    extra, field, message = INVALID[case]
    path = write_sweep(tmp_path, {}, **extra)
    with pytest.raises(SpecError, match=message) as err:
        Sweep.from_yaml(path)
    assert err.value.field == field
    assert err.value.source == str(path)


def test_cli_reports_an_invalid_sweep_with_its_field(tmp_path: Path):
    path = write_sweep(tmp_path, {}, grid={"system.bilayer.n_lipids": []})
    out = CliRunner().invoke(sweep_cli, ["init", str(path)])
    assert out.exit_code == 2
    assert "grid.system.bilayer.n_lipids: empty list" in out.output


# ------------------------------------------------------------------------------ workspace
def test_shipped_example_initialises_idempotently(tmp_path: Path):
    sw = load_sweep("sweep_nlipids", workspace=tmp_path / "ws")
    assert len(sw.init()) == 9
    built = {p.key: (p.directory / "system.xml").stat().st_mtime_ns for p in sw.points}
    sw.init()
    assert {p.key: (p.directory / "system.xml").stat().st_mtime_ns for p in sw.points} == built
    with open(tmp_path / "ws" / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["system.bilayer.n_lipids"]) for r in rows) == [200] * 3 + [400] * 3 + [800] * 3
    for p in sw.points:
        assert load_spec(p.directory / "spec.yaml").key() == p.key
        assert json.loads((p.directory / "point.json").read_text())["replica"] == p.replica
    with pytest.raises(SpecError, match="--workspace"):
        load_sweep("sweep_nlipids")


def test_shipped_snare_sweep_is_valid(tmp_path: Path):
    sw = load_sweep("sweep_snares", workspace=tmp_path / "ws")
    assert sorted({p.parameters["system.snares.n_complexes"] for p in sw.points}) == [0, 2, 4, 6, 8]
    assert len(sw.points) == 40 and sw.stop_event == "pore"
    # every level builds (complexes pointing at each other across the periodic boundary stay clear)
    from snarefuse.build import build_system

    for n in (0, 2, 4, 6, 8):
        p = next(p for p in sw.points if p.parameters["system.snares.n_complexes"] == n)
        built = build_system(p.spec)
        assert len(built.manifest.get("snares") or []) == n
    demo = load_sweep("sweep_snares_demo", workspace=tmp_path / "demo")
    assert sorted({p.parameters["system.snares.n_complexes"] for p in demo.points}) == [1, 2, 4]
    assert len(demo.points) == 6


def test_init_names_the_point_that_cannot_be_built(tmp_path: Path):
    sw = Sweep("snare_two_bilayers", grid={"system.snares.n_complexes": [8]}, workspace=tmp_path / "ws")
    with pytest.raises(BuildError, match=r"point \{'system.snares.n_complexes': 8\} replica 0 cannot be built.*overlap"):
        sw.init()


def test_sweeps_sharing_parameters_share_points(tmp_path: Path):
    a = write_sweep(tmp_path / "a", {}, grid={"lipids.CKL.tail_attraction": [1.0, 0.9]}, workspace="../ws")
    b = write_sweep(tmp_path / "b", {}, grid={"lipids.CKL.tail_attraction": [0.9, 0.8]}, workspace="../ws")
    pa, pb = Sweep.from_yaml(a).init(), Sweep.from_yaml(b).init()
    shared = {p.key for p in pa} & {p.key for p in pb}
    assert len(shared) == 1
    assert len(list((tmp_path / "ws" / "points").iterdir())) == 3
    with open(tmp_path / "ws" / "index.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 3
    info = json.loads((tmp_path / "ws" / "points" / shared.pop() / "point.json").read_text())
    assert info["sweeps"] == ["a", "b"]


def test_replica_seeds_are_deterministic_and_distinct(tmp_path: Path):
    seeds = [replica_seed(2024, r) for r in range(50)]
    assert seeds[0] == 2024 and len(set(seeds)) == 50 and all(0 <= s < 2**31 for s in seeds)
    assert seeds == [replica_seed(2024, r) for r in range(50)]
    sw = Sweep(small_spec(), replicas=3, workspace=tmp_path / "ws")
    assert [p.spec.seed for p in sw.points] == seeds[:3]
    assert [p.key for p in sw.points] == [p.key for p in Sweep(small_spec(), replicas=3, workspace=tmp_path).points]


# ------------------------------------------------------------------------------ status
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=WAIT_S)
    return proc.pid


@pytest.mark.parametrize("case", ["failed", "running", "interrupted", "stopped"])
def test_status_reads_the_run_directory(case, tmp_path: Path):
    sw = Sweep(small_spec(run__steps=1000), workspace=tmp_path / "ws")
    p = sw.init()[0]
    node = os.uname().nodename
    run_json = {"failed": {"status": "failed", "step": 300, "error": "simulation blew up between steps 200 and 300"},
                "running": {"status": "running", "step": 200},
                "interrupted": {"status": "running", "step": 200},
                "stopped": {"status": "stopped", "step": 400}}[case]
    (p.directory / "run.json").write_text(json.dumps(run_json))
    (p.directory / "checkpoint.json").write_text(json.dumps({"step": run_json["step"]}))
    pid = os.getpid() if case == "running" else _dead_pid()
    (p.directory / ".lock").write_text(f"pid {pid} on {node}\n")
    with contextlib.ExitStack() as held:
        if case == "running":  # a live run holds the flock of its .lock (which writes the same text)
            held.enter_context(RunDirectory(p.directory).lock())
        st = sw.status()[0]
        todo, skipped = sw.plan()
    expected = {"failed": ("failed", "blew up between steps 200 and 300"), "running": ("running", f"pid {pid}"),
                "interrupted": ("pending", "interrupted at step 200"), "stopped": ("pending", "wall-time limit")}[case]
    assert (st.state, st.step) == (expected[0], run_json["step"])
    assert expected[1] in st.reason
    assert [q.key for q in todo] == ([p.key] if expected[0] == "pending" else [])


def test_cli_status_shows_failure_reason(tmp_path: Path):
    path = write_sweep(tmp_path, {}, replicas=2)
    sw = Sweep.from_yaml(path)
    p = sw.init()[1]
    (p.directory / "run.json").write_text(json.dumps({"status": "failed", "step": 0, "error": "boom at step 0"}))
    out = CliRunner().invoke(sweep_cli, ["status", str(path)])
    assert out.exit_code == 0, out.output
    assert "failed" in out.output and "boom at step 0" in out.output
    assert "0 done, 0 running, 1 failed, 1 pending" in out.output


# ------------------------------------------------------------------------------ the task, in-process
def _fake_analyzer(pore_after_step: int | None):
    def analyze_run(run_dir, **options):
        d = Path(run_dir)
        step = sweep_workspace.checkpoint_step(d)
        dt = load_spec(d / "spec.yaml").run.timestep_ps
        fp = {"hemifusion_ps": None, "pore_ps": None, "duration_ps": step * dt}
        if pore_after_step is not None and step >= pore_after_step:
            fp.update(hemifusion_ps=0.5 * pore_after_step * dt, pore_ps=pore_after_step * dt)
        (d / "analysis").mkdir(exist_ok=True)
        (d / "analysis" / "summary.json").write_text(json.dumps({"first_passage": fp, "options": options}))
        return d / "analysis"
    return analyze_run


def test_task_runs_analysis_after_the_run(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(sweep_dask, "resolve_analyzer", lambda: (_fake_analyzer(None), ""))
    sw = Sweep(small_spec(run__platform="CPU", run__steps=100, **RUN), workspace=tmp_path / "ws",
               analysis={"options": {"stride": 2}})
    p = sw.init()[0]
    out = run_point(**sw.task_args(p))
    assert (out["state"], out["step"], out["analysis"]) == ("done", 100, "done")
    assert json.loads((p.directory / "analysis" / "summary.json").read_text())["options"] == {"stride": 2}
    assert sw.plan()[0] == []
    again = run_point(**sw.task_args(p))
    assert not again["ran"]


def test_task_runs_the_real_analysis_pipeline(tmp_path: Path):
    sw = Sweep(small_spec(run__platform="CPU", run__steps=100, **RUN), workspace=tmp_path / "ws")
    p = sw.init()[0]
    out = run_point(**sw.task_args(p))
    assert out["analysis"] == "done"
    res = sw.collect(plots=False)
    assert res.rows[0]["state"] == "done" and "n_frames" in res.rows[0]


def test_task_records_unavailable_analysis(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(sweep_dask, "resolve_analyzer", lambda: (None, "no pipeline here"))
    sw = Sweep(small_spec(run__platform="CPU", run__steps=100, **RUN), workspace=tmp_path / "ws")
    p = sw.init()[0]
    out = run_point(**sw.task_args(p))
    assert out["analysis"] == "unavailable: no pipeline here"
    st = sw.status()[0]
    assert (st.state, st.analysis) == ("done", "unavailable: no pipeline here")
    assert sw.plan()[0] == []  # nothing to do while the analysis stays unavailable


def two_membrane_spec(**run: object):
    """The quickstart geometry without SNAREs, 200 lipids per bilayer (1,200 beads), on CPU with one thread."""
    o = {"system.bilayer.n_lipids": 200, "system.snares.n_complexes": 0, "run.platform": "CPU", "run.threads": 1}
    o.update({f"run.{k}": v for k, v in run.items()})
    return load_spec(example_spec_path("snare_two_bilayers")).with_overrides(o)


def _recording_analyzer(calls: list[int]):
    """A fake analyze_run that records the checkpoint step it was called at."""
    fake = _fake_analyzer(None)

    def analyze_run(run_dir, **options):
        calls.append(sweep_workspace.checkpoint_step(Path(run_dir)))
        return fake(run_dir, **options)
    return analyze_run


def test_stop_after_fusion_stops_within_one_check_of_the_pore_and_analyses_once(monkeypatch, tmp_path: Path):
    # the in-run detector sees a pore from its 4th check on (step 400 with a check every 100 steps)
    checks = itertools.count(1)
    monkeypatch.setattr(fusion_mod, "detect_pore", lambda *a, **k: (next(checks) >= 4, 2.0))
    analysed: list[int] = []
    monkeypatch.setattr(sweep_dask, "resolve_analyzer", lambda: (_recording_analyzer(analysed), ""))
    spec = two_membrane_spec(steps=2000, report_interval=50, trajectory_interval=50, checkpoint_interval=500)
    interval, delay_steps = 100, 30
    sw = Sweep(spec, workspace=tmp_path / "ws", stop_after_fusion={
        "event": "pore", "check_every": interval, "confirm": 1, "delay": f"{delay_steps * spec.run.timestep_ps} ps"})
    p = sw.init()[0]
    out = run_point(**sw.task_args(p))
    pore = json.loads((p.directory / "events.json").read_text())["pore"]
    run = json.loads((p.directory / "run.json").read_text())
    assert pore["step"] == 400 and run["status"] == "stopped-event"
    assert pore["step"] + delay_steps <= run["step"] <= pore["step"] + delay_steps + interval
    assert (out["state"], out["step"]) == ("done", run["step"])
    assert analysed == [run["step"]]  # the analysis ran once, after the run: no analyse-and-resume loop
    np.testing.assert_array_equal(log_steps(p.directory), np.arange(50, run["step"] + 1, 50))
    st = sw.status()[0]
    assert st.state == "done" and st.reason == f"pore at step 400 ({pore['time_ps']:.0f} ps), stopped after fusion"
    assert not run_point(**sw.task_args(p))["ran"]
    # the run directory alone says the point is done, when the task died before writing task.json
    task = json.loads((p.directory / "task.json").read_text())
    del task["event"]
    (p.directory / "task.json").write_text(json.dumps(task))
    assert sw.status()[0].state == "done" and sw.plan()[0] == []


def test_stop_after_fusion_defaults_keep_the_pore_frames_the_analysis_needs(monkeypatch, tmp_path: Path):
    """Defaults: a check per trajectory frame, 3 confirming checks, and a delay of (persist - 1) frames, so the
    trajectory ends with the `persist` frames from the pore on that the analysis' flicker rule needs."""
    checks = itertools.count(1)
    monkeypatch.setattr(fusion_mod, "detect_pore", lambda *a, **k: (next(checks) >= 4, 2.0))
    analysed: list[int] = []
    monkeypatch.setattr(sweep_dask, "resolve_analyzer", lambda: (_recording_analyzer(analysed), ""))
    spec = two_membrane_spec(steps=2000, report_interval=50, trajectory_interval=50, checkpoint_interval=500)
    sw = Sweep(spec, workspace=tmp_path / "ws", stop_after_fusion=True, analysis={"options": {"persist": 4}})
    p = sw.init()[0]
    out = run_point(**sw.task_args(p))
    pore = json.loads((p.directory / "events.json").read_text())["pore"]
    assert (pore["step"], pore["confirmed_step"]) == (200, 300)
    assert out["step"] == 200 + 3 * 50 and analysed == [out["step"]]
    traj = mdtraj.load(str(p.directory / "trajectory.dcd"), top=str(p.directory / "system.pdb"))
    assert traj.n_frames == out["step"] // 50 and traj.n_frames - 200 // 50 + 1 == 4


def test_stop_after_fusion_with_the_real_detector_and_analysis_runs_an_unfused_point_to_its_end(tmp_path: Path):
    spec = two_membrane_spec(steps=300, report_interval=50, trajectory_interval=50, checkpoint_interval=100)
    sw = Sweep(spec, workspace=tmp_path / "ws", stop_after_fusion=True, analysis={"options": {"figures": False}})
    for p in sw.init():
        out = run_point(**sw.task_args(p))
        assert (out["state"], out["step"], out["analysis"], out["event"]) == ("done", 300, "done", None)
        checks = np.genfromtxt(p.directory / "events.csv", delimiter=",", names=True)
        np.testing.assert_array_equal(checks["step"], np.arange(50, 301, 50))
        assert not checks["has_pore"].any()  # two intact bilayers 3.5 nm apart
    res = sw.collect(plots=False)
    stats = json.loads(res.files["statistics"].read_text())
    (level,) = stats["levels"]
    assert (level["pore_k"], level["pore_n"]) == (0, 1)
    np.testing.assert_allclose(level["pore_high"], proportion_ci(0, 1)[2])
    assert all(r["duration_tau"] == pytest.approx(300 * spec.run.timestep_ps / r["tau_ps"]) for r in res.rows)


def test_stop_after_fusion_on_a_single_membrane_runs_to_the_end_and_says_why(tmp_path: Path):
    sw = Sweep(small_spec(run__platform="CPU", run__steps=100, **RUN), workspace=tmp_path / "ws",
               stop_after_fusion={"event": "pore"}, analysis=False)
    p = sw.init()[0]
    out = run_point(**sw.task_args(p))
    assert (out["state"], out["step"]) == ("done", 100)
    attempt = json.loads((p.directory / "task.json").read_text())["attempts"][-1]
    assert "single membrane" in attempt["note"] and "ran to the end" in attempt["note"]


def test_a_signal_stopped_task_leaves_its_point_pending_not_failed(monkeypatch, tmp_path: Path):
    """SIGTERM (a batch job's end) stops a run with a checkpoint and run.json 'interrupted' (runner.StopSignals):
    the point resumes at the next 'sweep run', it is not failed."""
    from snarefuse import runner as runner_mod
    from snarefuse.errors import RunInterrupted

    sw = Sweep(small_spec(run__steps=1000), workspace=tmp_path / "ws", analysis=False)
    p = sw.init()[0]

    def stopped_by_sigterm(run_dir, **kw):
        (Path(run_dir) / "checkpoint.json").write_text(json.dumps({"step": 200}))
        (Path(run_dir) / "run.json").write_text(json.dumps({"status": "interrupted", "step": 200,
                                                             "signal": "SIGTERM"}))
        raise RunInterrupted("stopped by SIGTERM at step 200", signal.SIGTERM, None)

    monkeypatch.setattr(runner_mod, "run_simulation", stopped_by_sigterm)
    with pytest.raises(RunInterrupted):
        run_point(**sw.task_args(p))
    assert json.loads((p.directory / "task.json").read_text())["attempts"][-1]["state"] == "interrupted"
    st = sw.status()[0]
    assert (st.state, st.step) == ("pending", 200) and "SIGTERM" in st.reason
    assert [q.key for q in sw.plan()[0]] == [p.key]


# ------------------------------------------------------------------------------ collection and statistics
def finish(p) -> None:
    """Mark a point's run as having reached its target (as the runner's checkpoint.json says)."""
    (p.directory / "checkpoint.json").write_text(json.dumps({"step": p.target_steps}))


def test_collect_tables_and_plots_fusion_statistics(tmp_path: Path):
    sw = Sweep(small_spec(), grid={"lipids.CKL.tail_attraction": [1.0, 0.9]}, replicas=4, workspace=tmp_path / "ws")
    sw.init()
    pores = {1.0: [10.0, 20.0, None, None], 0.9: [5.0, None, None, None]}
    for p in sw.points:
        pore = pores[p.parameters["lipids.CKL.tail_attraction"]][p.replica]
        (p.directory / "analysis").mkdir()
        summary = {"first_passage": {"hemifusion_ps": pore, "pore_ps": pore, "duration_ps": 100.0}, "n_frames": 10}
        if p.replica == 3:
            del summary["first_passage"]["hemifusion_ps"]  # missing keys are tolerated
        (p.directory / "analysis" / "summary.json").write_text(json.dumps(summary))
        finish(p)
    res = sw.collect()
    prob = {r["value"]: r for r in res.probability("lipids.CKL.tail_attraction", "pore")}
    np.testing.assert_allclose([prob[1.0]["p"], prob[0.9]["p"]], [0.5, 0.25])
    np.testing.assert_allclose([prob[1.0]["low"], prob[1.0]["high"]], proportion_ci(2, 4)[1:])
    assert prob[1.0]["n"] == 4 and prob[1.0]["k"] == 2
    hemi = res.probability("lipids.CKL.tail_attraction", "hemifusion")
    assert [r["n"] for r in hemi] == [3, 3]  # the summaries without hemifusion_ps are left out
    with open(res.files["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {"key", "lipids.CKL.tail_attraction", "state", "first_passage.pore_ps",
                               "n_frames", "pore_tau", "tau_ps"} <= set(rows[0])
    tau_ps = small_spec().model.units.tau_ps
    fused = [r for r in rows if r["pore_ps"]]
    np.testing.assert_allclose([float(r["pore_tau"]) for r in fused], [float(r["pore_ps"]) / tau_ps for r in fused])
    for name in ("fusion_probability", "survival"):
        assert res.files[name].stat().st_size > 1000
    stats = json.loads(res.files["statistics"].read_text())
    assert stats["parameter"] == "lipids.CKL.tail_attraction" and stats["time_unit"] == "tau"
    assert [lv["value"] for lv in stats["levels"]] == [0.9, 1.0]
    assert [(lv["pore_k"], lv["pore_n"]) for lv in stats["levels"]] == [(1, 4), (2, 4)]
    assert [r["reference"] for r in stats["logrank"]["pore"]] == [0.9]
    with open(res.files["levels"], newline="") as f:
        assert [r["pore_k"] for r in csv.DictReader(f)] == ["1", "2"]
    # the same table as Parquet (pyarrow is in the test extra): same columns, same rows, same values
    import pyarrow.parquet as pq

    table = pq.read_table(res.files["parquet"]).to_pylist()
    assert len(table) == 8 and list(table[0]) == list(rows[0])
    by_key = {r["key"]: r for r in rows}
    for r in table:
        assert str(r["lipids.CKL.tail_attraction"]) == by_key[r["key"]]["lipids.CKL.tail_attraction"]
        assert ("" if r["first_passage.pore_ps"] in (None, "") else str(r["first_passage.pore_ps"])) \
            == by_key[r["key"]]["first_passage.pore_ps"]


def test_collect_keeps_its_old_keywords_and_selects_the_interval(tmp_path: Path):
    sw = Sweep(small_spec(), replicas=8, workspace=tmp_path / "ws")
    sw.init()
    for p in sw.points:
        (p.directory / "analysis").mkdir()
        (p.directory / "analysis" / "summary.json").write_text(json.dumps(
            {"first_passage": {"hemifusion_ps": None, "pore_ps": None, "duration_ps": 100.0}}))
        finish(p)
    with pytest.warns(DeprecationWarning, match="n_boot and seed are ignored"):
        sw.collect(None, False, 500, 1)
    (lv,) = json.loads(sw.collect(plots=False, ci_method="clopper-pearson").files["statistics"].read_text())["levels"]
    assert (lv["pore_k"], lv["pore_n"], lv["pore_low"]) == (0, 8, 0.0)
    np.testing.assert_allclose(lv["pore_high"], 0.3694, atol=5e-5)  # 0/8 is not [0, 0]
    with pytest.raises(SpecError, match="ci_method"):
        sw.collect(ci_method="bootstrap")


def test_results_have_numeric_parameter_columns_with_units(tmp_path: Path):
    sw = Sweep(small_spec(), grid={"model.wc": ["1.5 sigma", "1.4 nm"]}, workspace=tmp_path / "ws")
    sw.init()
    res = sw.collect(plots=False)
    with open(res.files["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    np.testing.assert_allclose(sorted(float(r["model.wc"]) for r in rows), [1.32, 1.4])
    assert {r["model.wc_unit"] for r in rows} == {"nm"}
    assert sorted(r["model.wc"] for r in res.rows) == [1.32, 1.4]


def test_survival_plot_is_in_tau_with_the_calibrated_axis_and_a_band(tmp_path: Path):
    from matplotlib.figure import Figure

    from snarefuse.sweep_results import SweepResults

    rows = [{"n": n, "state": "done", "pore_ps": t, "duration_ps": 100.0, "pore_tau": None if t is None else t / 2,
             "duration_tau": 50.0, "tau_diffusion_ns": 8.0}
            for n, times in ((2, [None, 40.0, 60.0, None]), (4, [10.0, 20.0, 30.0, 90.0])) for t in times]
    fig = Figure()
    ax = plot_survival(SweepResults(rows, ["n"]), "n", ax=fig.subplots())
    fig.savefig(tmp_path / "survival.png")
    assert ax.get_xlabel() == "time (τ)"
    (top,) = [c for c in ax.child_axes if c.get_xlabel()]
    assert "diffusion-calibrated" in top.get_xlabel()
    np.testing.assert_allclose(top.get_xlim(), np.array(ax.get_xlim()) * 8.0)  # 8 ns per tau
    assert len(ax.collections) >= 2  # one shaded band per level
    xs = np.concatenate([line.get_xdata() for line in ax.get_lines()])
    assert xs.max() <= 50.0  # in tau (the runs are 50 tau = 100 ps long)



def test_survival_legend_names_the_field_and_sits_below_the_curves(tmp_path: Path):
    from matplotlib.figure import Figure

    from snarefuse.sweep_results import SweepResults

    key = "system.snares.n_complexes"
    rows = [{key: n, "state": "done", "pore_ps": t, "duration_ps": 100.0, "pore_tau": None if t is None else t / 2,
             "duration_tau": 50.0} for n in (0, 2, 4, 6, 8) for t in (None, 40.0, 60.0)]
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = plot_survival(SweepResults(rows, [key]), key, ax=fig.subplots())
    fig.savefig(tmp_path / "survival.png")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("n_complexes=0 ") and not any("system." in s for s in labels)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    legend, axes = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.y1 <= axes.y0  # no curve or band is hidden behind it


def test_probability_is_split_by_the_other_varied_parameters(tmp_path: Path):
    sw = Sweep(small_spec(), grid={"lipids.CKL.tail_attraction": [1.0, 0.9], "lipids.CKL.head_size": [0.95, 0.9]},
               replicas=2, workspace=tmp_path / "ws")
    sw.init()
    for p in sw.points:
        fused = p.parameters["lipids.CKL.head_size"] == 0.9 or p.replica == 0
        (p.directory / "analysis").mkdir()
        (p.directory / "analysis" / "summary.json").write_text(json.dumps(
            {"first_passage": {"hemifusion_ps": 1.0, "pore_ps": 2.0 if fused else None, "duration_ps": 10.0}}))
        finish(p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. constrained layout collapsing the axes under a long legend
        res = sw.collect(parameter="lipids.CKL.tail_attraction")
    prob = {(r["group"], r["value"]): r["p"] for r in res.probability("lipids.CKL.tail_attraction")}
    assert prob == {("lipids.CKL.head_size=0.9", 0.9): 1.0, ("lipids.CKL.head_size=0.9", 1.0): 1.0,
                    ("lipids.CKL.head_size=0.95", 0.9): 0.5, ("lipids.CKL.head_size=0.95", 1.0): 0.5}


def test_a_varied_parameter_with_one_value_does_not_split_or_label_the_levels(tmp_path: Path):
    sw = Sweep(small_spec(), grid={"lipids.CKL.tail_attraction": [1.0, 0.9], "lipids.CKL.head_size": [0.9]},
               replicas=2, workspace=tmp_path / "ws")
    sw.init()
    for p in sw.points:
        (p.directory / "analysis").mkdir()
        (p.directory / "analysis" / "summary.json").write_text(json.dumps(
            {"first_passage": {"hemifusion_ps": 1.0, "pore_ps": 2.0 if p.replica == 0 else None,
                               "duration_ps": 10.0}}))
        finish(p)
    res = sw.collect(parameter="lipids.CKL.tail_attraction")
    assert {(r["group"], r["value"], r["k"], r["n"]) for r in res.probability("lipids.CKL.tail_attraction")} == \
        {("", 0.9, 1, 2), ("", 1.0, 1, 2)}
    stats = json.loads((sw.workspace / "statistics.json").read_text())
    assert [r["group"] for r in stats["spearman"]["pore"]] == [""] and stats["spearman"]["pore"][0]["n"] == 4
    assert all("head_size" not in line for line in format_statistics(stats))


def test_fusion_times_read_the_pipeline_summary_and_tolerate_missing_keys():
    pipeline = {"time_last": {"time_ps": 900.0},
                "fusion": {"first_passage": {"hemifused": {"frame": 3, "time_ps": 300.0},
                                             "pore": {"frame": None, "time_ps": None}}}}
    assert fusion_times(pipeline) == {"hemifusion_ps": 300.0, "pore_ps": None, "duration_ps": 900.0}
    assert fusion_times({"first_passage": {"pore_ps": 5.0}}) == {"pore_ps": 5.0}
    assert fusion_times({"fusion": {"skipped": "single membrane"}, "time_last": {"time_ps": 9.0}}) == {"duration_ps": 9.0}
    assert fusion_times(None) == {}


def test_collect_without_summaries_writes_the_table_only(tmp_path: Path):
    path = write_sweep(tmp_path, {}, replicas=2)
    out = CliRunner().invoke(sweep_cli, ["collect", str(path)])
    assert out.exit_code == 0, out.output
    assert "0 with analysis summaries" in out.output and "plots skipped" in out.output
    assert (tmp_path / "ws" / "results.csv").exists() and not (tmp_path / "ws" / "plots").exists()


def test_cli_collect_prints_the_statistics_with_the_chosen_interval(tmp_path: Path):
    path = write_sweep(tmp_path, {}, replicas=3)
    for p in Sweep.from_yaml(path).init():
        (p.directory / "analysis").mkdir()
        (p.directory / "analysis" / "summary.json").write_text(json.dumps(
            {"first_passage": {"hemifusion_ps": None, "pore_ps": None, "duration_ps": 100.0}}))
        finish(p)
    out = CliRunner().invoke(sweep_cli, ["collect", str(path), "--ci-method", "clopper-pearson", "--no-plots"])
    assert out.exit_code == 0, out.output
    assert "P(pore) 0/3 [0.00, 0.71]" in out.output  # 1 - 0.025^(1/3)
    assert (tmp_path / "ws" / "statistics.json").exists() and (tmp_path / "ws" / "levels.csv").exists()


def test_collect_plots_runs_whose_summaries_have_no_fusion_times(tmp_path: Path):
    """A single-membrane analysis has a run length but no fusion times: the table and empty plots, no error."""
    sw = Sweep(small_spec(), replicas=2, workspace=tmp_path / "ws")
    for p in sw.init():
        (p.directory / "analysis").mkdir()
        (p.directory / "analysis" / "summary.json").write_text(json.dumps(
            {"fusion": {"skipped": "single membrane"}, "time_last": {"time_ps": 9.0}}))
        finish(p)
    res = sw.collect()
    assert res.files["survival"].exists() and json.loads(res.files["statistics"].read_text())["levels"] == []


# ------------------------------------------------------------------------------ the stalk beside hemifusion and pore
N_KEY = "system.snares.n_complexes"
#: Wilson 95 % intervals of 0/4 and 4/4: z^2 / (n + z^2) = 3.8415 / 7.8415 from the boundary.
WILSON_0_OF_4 = (0.0, 0.0, 0.4899)
WILSON_4_OF_4 = (1.0, 0.5101, 1.0)


def stalk_rows(stalk_column: bool = True) -> list[dict]:
    """A results table as the SNARE sweeps give it: no run of N = 0 stalks in its 300 tau, every run of N > 0
    stalks (20-95 tau); no hemifusion or pore anywhere. Without ``stalk_column``: the table as collected
    before the stalk was tabulated (read back from its CSV: no stalk columns at all)."""
    stalks = {0: [None] * 4, 2: [95.0, 60.0, 80.0, 45.0], 6: [20.0, 35.0, 25.0, 30.0]}
    rows = []
    for n, times in stalks.items():
        for t in times:
            r = {N_KEY: n, "state": "done", "tau_ps": 10.0, "duration_ps": 3000.0, "duration_tau": 300.0,
                 "hemifusion_ps": None, "hemifusion_tau": None, "pore_ps": None, "pore_tau": None}
            if stalk_column:
                r.update(stalk_ps=None if t is None else 10.0 * t, stalk_tau=t)
            rows.append(r)
    return rows


def test_stalk_probability_median_logrank_and_trend_per_level():
    from snarefuse.sweep_results import SweepResults

    res = SweepResults(stalk_rows(), [N_KEY])
    stats = res.statistics(N_KEY)
    lv = {r["value"]: r for r in stats["levels"]}
    assert [(lv[n]["stalk_k"], lv[n]["stalk_n"]) for n in (0, 2, 6)] == [(0, 4), (4, 4), (4, 4)]
    np.testing.assert_allclose([lv[0]["stalk_p"], lv[0]["stalk_low"], lv[0]["stalk_high"]], WILSON_0_OF_4, atol=5e-5)
    np.testing.assert_allclose([lv[6]["stalk_p"], lv[6]["stalk_low"], lv[6]["stalk_high"]], WILSON_4_OF_4, atol=5e-5)
    # Kaplan-Meier median: the second of four event times (S drops to 1/2 there); none at N = 0
    assert lv[0]["stalk_median_tau"] is None and lv[0]["stalk_n_events"] == 0
    np.testing.assert_allclose([lv[2]["stalk_median_tau"], lv[6]["stalk_median_tau"]], [60.0, 25.0])
    # the hemifusion and pore keys are all still there, at 0 of 4
    assert all((lv[n]["pore_k"], lv[n]["pore_n"], lv[n]["hemifusion_k"]) == (0, 4, 0) for n in (0, 2, 6))
    logrank = {r["value"]: r for r in stats["logrank"]["stalk"]}
    assert set(logrank) == {2, 6} and {r["reference"] for r in logrank.values()} == {0}
    assert all(r["pvalue"] < 0.01 and r["pvalue_holm"] < 0.02 for r in logrank.values())
    assert stats["logrank"]["pore"][0]["pvalue"] is None  # no pore anywhere: nothing to test
    (rho,) = stats["spearman"]["stalk"]
    assert rho["n"] == 12 and rho["rho"] > 0.8 and rho["pvalue"] < 0.01
    assert set(stats["spearman"]) == set(stats["logrank"]) == {"pore", "hemifusion", "stalk"}


def test_printed_summary_has_the_stalk_per_level_and_its_tests():
    from snarefuse.sweep_results import SweepResults

    lines = format_statistics(SweepResults(stalk_rows(), [N_KEY]).statistics(N_KEY))
    (n0,) = [s for s in lines if s.startswith("  0:")]
    (n6,) = [s for s in lines if s.startswith("  6:")]
    assert "P(stalk) 0/4 [0.00, 0.49], median - tau [-, -]" in n0 and "P(pore) 0/4 [0.00, 0.49]" in n0
    assert "P(stalk) 4/4 [0.51, 1.00], median 25 tau [20, " in n6
    assert any(s.startswith("  Spearman P(stalk): 0.") for s in lines)
    assert any(s.startswith("  log-rank stalk 6 vs 0: p = ") for s in lines)


def test_a_table_without_stalk_columns_still_gives_its_statistics_and_plot(tmp_path: Path):
    """A results.csv collected before the stalk was tabulated, read back: the stalk is absent, not an error."""
    from matplotlib.figure import Figure

    from snarefuse.plot import plot_fusion_probability
    from snarefuse.sweep_results import SweepResults

    res = SweepResults(stalk_rows(stalk_column=False), [N_KEY])
    stats = res.statistics(N_KEY)
    assert all("stalk_n" not in lv and lv["pore_n"] == 4 for lv in stats["levels"])
    assert stats["spearman"]["stalk"] == [] and stats["logrank"]["stalk"] == []
    assert all("P(stalk) -, median - tau [-, -]" in s for s in format_statistics(stats) if s.startswith("  6:"))
    fig = Figure(layout="constrained")
    ax = plot_fusion_probability(res, N_KEY, ax=fig.subplots())
    fig.savefig(tmp_path / "p.png")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 2 and not any(s.startswith("stalk") for s in labels)


def test_collect_reads_the_stalk_from_the_pipeline_summary_into_every_output(tmp_path: Path):
    sw = Sweep(small_spec(), grid={"lipids.CKL.tail_attraction": [0.9, 1.0]}, replicas=3, workspace=tmp_path / "ws")
    tau_ps = small_spec().model.units.tau_ps
    for p in sw.init():
        stalked = p.parameters["lipids.CKL.tail_attraction"] == 1.0
        t = (20.0 + 10 * p.replica) * tau_ps if stalked else None
        fp = {"stalk": {"frame": 4 if stalked else None, "time_ps": t},
              "hemifused": {"frame": None, "time_ps": None}, "pore": {"frame": None, "time_ps": None}}
        (p.directory / "analysis").mkdir()
        (p.directory / "analysis" / "summary.json").write_text(json.dumps(
            {"fusion": {"first_passage": fp}, "time_last": {"time_ps": 300.0 * tau_ps}}))
        finish(p)
    res = sw.collect()
    with open(res.files["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    stalked = sorted(float(r["stalk_tau"]) for r in rows if r["stalk_tau"])
    np.testing.assert_allclose(stalked, [20.0, 30.0, 40.0])
    assert sum(r["stalk_ps"] == "" for r in rows) == 3 and {"hemifusion_ps", "pore_ps", "duration_tau"} <= set(rows[0])
    with open(res.files["levels"], newline="") as f:
        levels = list(csv.DictReader(f))
    assert [(r["stalk_k"], r["stalk_n"], r["stalk_median_tau"]) for r in levels] == [("0", "3", ""), ("3", "3", "30.0")]
    stats = json.loads(res.files["statistics"].read_text())
    assert stats["logrank"]["stalk"][0]["pvalue"] < 0.05 and stats["spearman"]["stalk"][0]["rho"] > 0
    assert res.files["survival_stalk"].stat().st_size > 1000
