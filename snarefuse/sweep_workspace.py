"""A sweep's workspace on disk: its state points, their directories and what their files say.

:class:`Workspace` alone knows the workspace's layout: ``workspace/points/<spec key>/`` holds a point's
build, its resolved ``spec.yaml``, ``point.json`` (the varied parameters, the sweeps that share the point),
``task.json`` (the sweep's bookkeeping: one record per attempt to run it, the fusion event it was stopped after,
the state of its analysis), then the run's own files. ``workspace/index.csv`` lists every point of the workspace,
``workspace/.workspace.lock`` serialises ``sweep init``. A point's directory is a run directory: its build and run
files are read through :class:`~snarefuse.rundir.RunDirectory` (:attr:`Point.run_dir`); this module adds only the
sweep's own files.

The truth about a point is in its directory, never in the scheduler: :func:`point_status` reads it, and the
execution (:mod:`snarefuse.sweep_dask`) writes ``task.json`` under ``.sweep.lock``. An attempt ends in one of
``done``/``stopped``/``stopped-event`` (the runner's own statuses), ``failed`` (the point cannot be run as it
is: a blow-up, a build error; needs ``--retry-failed``) or ``interrupted`` (the worker, the scheduler or the
connection to it went away: the point resumes from its checkpoint on the next ``sweep run``).
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RunError
from .io import atomic_write_json, atomic_write_text, csv_cell, csv_text, file_lock, lock_holder
from .rundir import RunDirectory
from .spec import Spec

__all__ = ["STATES", "POINT_FILE", "TASK_FILE", "TASK_LOCK", "Workspace", "Point", "PointStatus", "point_status",
           "ensure_point", "update_index", "record_failure", "record_interruption", "checkpoint_step", "read_json"]

#: Point states reported by :func:`point_status`.
STATES = ("done", "running", "failed", "pending")
POINT_FILE, TASK_FILE, TASK_LOCK = "point.json", "task.json", ".sweep.lock"
#: The workspace's own names: the folder of point directories, the index, the lock of ``sweep init``.
POINTS_DIR, INDEX_CSV, WORKSPACE_LOCK = "points", "index.csv", ".workspace.lock"
#: How long ``sweep init`` waits for another one building into the same workspace (seconds).
INIT_LOCK_WAIT_S = 600.0
#: How long the driver waits for a point's ``.sweep.lock`` before leaving the record to the task holding it.
RECORD_LOCK_WAIT_S = 5.0
#: Errors recorded by versions that counted a lost scheduler as a failure; such points resume as interrupted.
_INTERRUPTION_TEXT = ("task cancelled", "FutureCancelledError", "CommClosedError", "scheduler-connection-lost")


class Workspace:
    """A sweep's workspace directory: where its point directories, index and lock are.

    Parameters
    ----------
    path : path
        The workspace (a sweep file's ``workspace``).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    points_dir = property(lambda self: self.path / POINTS_DIR, doc="``points/``: one directory per state point.")
    index_csv = property(lambda self: self.path / INDEX_CSV, doc="``index.csv``: every point of the workspace.")

    def point_dir(self, key: str) -> Path:
        """The directory of the point of spec key ``key``."""
        return self.points_dir / key

    @contextmanager
    def lock(self, timeout_s: float = INIT_LOCK_WAIT_S) -> Iterator[None]:
        """Hold the workspace's lock (one ``sweep init`` builds into it at a time); creates the workspace."""
        self.points_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path / WORKSPACE_LOCK, timeout_s=timeout_s):
            yield


@dataclass(frozen=True)
class Point:
    """One state point: a spec, the parameters that made it, and its directory."""

    key: str
    spec: Spec
    parameters: dict[str, Any]
    replica: int
    seed: int
    target_steps: int
    directory: Path

    @property
    def run_dir(self) -> RunDirectory:
        """The point's directory as a run directory (its build and run files)."""
        return RunDirectory(self.directory)


@dataclass(frozen=True)
class PointStatus:
    """Where a point stands: ``state`` is one of :data:`STATES`; ``reason`` says why (failures from
    ``run.json``/``task.json``); ``analysis`` is done / stale / pending / failed / unavailable / disabled."""

    point: Point
    state: str
    step: int
    reason: str
    analysis: str

    @property
    def key(self) -> str:
        return self.point.key


#: The parsed JSON file, or None where it is missing or unreadable (a point not yet that far).
read_json = RunDirectory.peek_json


def checkpoint_step(d: Path) -> int:
    """The step of a point's last checkpoint (0: none, or a record without a readable step)."""
    return RunDirectory(d).checkpoint_progress()[0]


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


# ------------------------------------------------------------------------------ building the workspace
def ensure_point(p: Point, sweep_name: str) -> None:
    """Build point ``p`` into its directory unless it is built, and merge ``sweep_name`` into its ``point.json``."""
    d, rd = p.directory, p.run_dir
    manifest = read_json(rd.manifest_json)
    if manifest is None:
        if d.exists() and any(d.iterdir()):
            raise RunError(f"{d}: holds files but no manifest.json (an interrupted or foreign build); remove it "
                           "and run 'sweep init' again")
        from .build import build_system

        tmp = d.parent / f".build-{p.key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        build_system(p.spec).save(tmp)
        if d.exists():
            d.rmdir()
        os.replace(tmp, d)
    elif manifest.get("spec_key") != p.key:
        raise RunError(f"{d}: holds a build of spec key {manifest.get('spec_key')}, expected {p.key}")
    old = read_json(d / POINT_FILE) or {}
    info = {"key": p.key, "replica": p.replica, "seed": p.seed,
            "parameters": {**old.get("parameters", {}), **p.parameters},
            "sweeps": sorted({*old.get("sweeps", []), sweep_name})}
    if info != old:
        atomic_write_json(d / POINT_FILE, info)


def update_index(workspace: Path, points: list[Point], varied: list[str]) -> None:
    """Merge ``points`` into ``workspace/index.csv`` (one row per point of every sweep sharing the workspace)."""
    path = Workspace(workspace).index_csv
    rows: dict[str, dict[str, Any]] = {}
    columns = ["key", "replica", "seed"]
    if path.exists():
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            columns += [c for c in reader.fieldnames or [] if c not in columns]
            rows = {r["key"]: r for r in reader}
    columns += [c for c in varied if c not in columns]
    for p in points:
        rows.setdefault(p.key, {}).update({"key": p.key, "replica": p.replica, "seed": p.seed,
                                           **{k: csv_cell(v) for k, v in p.parameters.items()}})
    atomic_write_text(path, csv_text(columns, rows.values()))


# ------------------------------------------------------------------------------ status
def is_interruption(attempt: dict[str, Any]) -> bool:
    """Whether a ``task.json`` attempt ended because its worker or scheduler went away (it resumes)."""
    if attempt.get("state") == "interrupted":
        return True
    return attempt.get("state") == "failed" and attempt.get("worker") == "scheduler" and \
        any(t in str(attempt.get("error", "")) for t in _INTERRUPTION_TEXT)


def point_status(p: Point, stop_event: str | None = None, analysis_enabled: bool = True) -> PointStatus:
    """Classify a point as done / running / failed / pending from its directory."""
    d, rd = p.directory, p.run_dir
    if not rd.is_built():
        return PointStatus(p, "pending", 0, "not built (run 'sweep init')", "pending")
    step = checkpoint_step(d)
    rj = read_json(rd.run_json) or {}
    task = read_json(d / TASK_FILE) or {}
    attempts = task.get("attempts") or [{}]
    last = attempts[-1]
    event = task.get("event") or {}
    if not event and stop_event is not None and rj.get("status") == "stopped-event":
        event = event_from_run(d, stop_event, int(rj.get("step", step)))  # the task died before recording it
    done = step >= p.target_steps or (stop_event is not None and event.get("event") == stop_event)
    analysis = analysis_state(d, task, step, analysis_enabled)
    if rj.get("status") == "failed":
        return PointStatus(p, "failed", int(rj.get("step", step)), str(rj.get("error", "failed")), analysis)
    for lock, running in ((d / TASK_LOCK, last.get("state") == "running"),
                          (rd.lock_path, rj.get("status") == "running")):
        if running:
            alive, who = lock_holder(lock)
            if alive:
                return PointStatus(p, "running", step, who, analysis)
    if done:
        why = ""
        if event and step < p.target_steps:
            t = event.get("time_ps")
            when = f"step {event.get('step')}" + (f" ({t:.0f} ps)" if isinstance(t, (int, float)) else "")
            why = f"{event['event']} at {when}, stopped after fusion"
        return PointStatus(p, "done", step, why, analysis)
    if is_interruption(last):
        why = last.get("note") or last.get("error") or "worker or scheduler lost"
        reason = f"interrupted at step {step} ({why}); resumes from its checkpoint"
    elif last.get("state") == "failed":
        return PointStatus(p, "failed", step, str(last.get("error", "failed")), analysis)
    elif last.get("state") == "running" or rj.get("status") == "running":
        reason = f"interrupted at step {step} (worker lost); resumes from its checkpoint"
    elif rj.get("status") == "interrupted":
        reason = f"stopped by {rj.get('signal', 'a signal')} at step {step}; resumes from its checkpoint"
    elif rj.get("status") == "stopped":
        reason = f"stopped by the wall-time limit at step {step}; resumes from its checkpoint"
    else:
        reason = "not started" if step == 0 else f"at step {step}"
    return PointStatus(p, "pending", step, reason, analysis)


def event_record(name: str, ev: Any, stop_step: int) -> dict[str, Any]:
    """``task.json``'s record of the event a run was stopped after (a :class:`~snarefuse.events.PoreEvent`)."""
    return {"event": name, "time_ps": ev.time_ps, "step": ev.step, "radius_nm": ev.radius_nm,
            "confirmed_step": ev.confirmed_step, "stop_step": stop_step}


def event_from_run(d: Path, name: str, stop_step: int) -> dict[str, Any]:
    from .events import FusionEventReporter

    ev = FusionEventReporter.read_event(d)
    return event_record(name, ev, stop_step) if ev is not None else {}


def analysis_state(d: Path, task: dict[str, Any], step: int, enabled: bool) -> str:
    rec = task.get("analysis") or {}
    if not enabled:
        return "disabled"
    if rec.get("state") == "done" or (not rec and RunDirectory(d).summary_json.exists()):
        return "done" if rec.get("step", step) == step else "stale"
    if rec.get("state") in ("failed", "unavailable"):
        return f"{rec['state']}: {rec.get('detail', '')}"
    return "pending"


# ------------------------------------------------------------------------------ records from the driver
def _record(point_dir: Path, entry: dict[str, Any]) -> bool:
    """Append ``entry`` to a point's attempts, closing any attempt still marked running. Skipped (False) where
    a task holds the point again: that task writes its own record."""
    d = Path(point_dir)
    try:
        with file_lock(d / TASK_LOCK, timeout_s=RECORD_LOCK_WAIT_S):
            task = read_json(d / TASK_FILE) or {}
            attempts = task.setdefault("attempts", [])
            for a in attempts:
                if a.get("state") == "running":
                    a["state"] = "interrupted"
            attempts.append({**entry, "ended": now(), "to_step": checkpoint_step(d)})
            atomic_write_json(d / TASK_FILE, task)
            return True
    except RunError:
        return False


def record_failure(point_dir: Path, error: str) -> bool:
    """Record, from the driver, a task that failed without saying so itself (it raised on a worker that died
    with it, or kept killing workers). The point is then failed until ``--retry-failed``."""
    return _record(Path(point_dir), {"state": "failed", "error": error, "worker": "scheduler"})


def record_interruption(point_dir: Path, why: str) -> bool:
    """Record, from the driver, a task whose scheduler, worker or connection went away: not a failure of the
    point, which resumes from its checkpoint on the next run without ``--retry-failed``."""
    return _record(Path(point_dir), {"state": "interrupted", "note": why, "worker": "driver"})
