"""Running a sweep's points on Dask: the task (:func:`run_point`) and the driver (:func:`run_on_dask`).

The task brings one point to its target step, resuming from its checkpoint, and analyses it; it keeps its
bookkeeping in the point's ``task.json`` (:mod:`snarefuse.sweep_workspace`), so that nothing depends on the
scheduler remembering anything. The driver submits the points and classifies what comes back:

* a result: the point's new state;
* an exception a retry cannot cure (:data:`DETERMINISTIC_ERRORS`) comes back from the task as ``failed``;
  other exceptions are retried by Dask and then recorded as failed;
* a cancelled future or a lost connection (the scheduler was killed or restarted, the network dropped) is an
  *interruption*: the point is recorded as interrupted and resumes from its checkpoint. The driver waits up to
  ``reconnect_timeout_s`` for the scheduler to come back and resubmits the interrupted points; if it does not
  come back, :class:`SchedulerLostError` says so, and the next ``sweep run`` resumes them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BlowUpError, BuildError, RunError, RunInterrupted, SpecError
from .io import atomic_write_json, file_lock
from .rundir import RunDirectory
from .sweep_workspace import (TASK_FILE, TASK_LOCK, Point, analysis_state, checkpoint_step, event_record, now,
                              read_json, record_failure, record_interruption)

__all__ = ["DETERMINISTIC_ERRORS", "SchedulerLostError", "SweepRunReport", "run_point", "run_on_dask",
           "resolve_analyzer", "DEFAULT_RECONNECT_TIMEOUT_S"]

#: Exceptions that a retry cannot cure; a task returns them as a failed point instead of raising.
DETERMINISTIC_ERRORS = (BlowUpError, SpecError, BuildError)
#: How long the driver waits for a lost scheduler to come back before giving up (seconds).
DEFAULT_RECONNECT_TIMEOUT_S = 60.0
#: Most times one driver resubmits its interrupted points after the scheduler came back.
MAX_RECONNECTS = 10


class SchedulerLostError(RunError):
    """The driver lost its Dask scheduler and it did not come back; the points it was running are recorded
    as interrupted and resume on the next ``sweep run``."""


@dataclass
class SweepRunReport:
    """What a sweep run did: keys submitted, each task's outcome, points left alone and why, and how many
    times the scheduler was lost and came back."""

    submitted: list[str] = field(default_factory=list)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    reconnects: int = 0

    def count(self, state: str) -> int:
        return sum(o.get("state") == state for o in self.outcomes.values())


# ------------------------------------------------------------------------------ the task
def resolve_analyzer() -> tuple[Callable[..., Any] | None, str]:
    """The post-run analysis (:func:`snarefuse.analysis.pipeline.analyze_run`), or ``(None, why not)``.
    A hook: tests put a recording analyser here."""
    try:
        from .analysis.pipeline import analyze_run
    except ImportError as e:
        return None, f"snarefuse.analysis.pipeline.analyze_run is not importable ({e})"
    return analyze_run, ""


def _analyse(d: Path, step: int, options: dict[str, Any]) -> dict[str, Any]:
    analyzer, why = resolve_analyzer()
    if analyzer is None:
        return {"state": "unavailable", "detail": why, "step": step}
    try:
        analyzer(d, **options)
    except Exception as e:  # analysis must not cost the run; the record says what happened
        return {"state": "failed", "detail": f"{type(e).__name__}: {e}", "step": step}
    summary = RunDirectory(d).summary_json
    if not isinstance(read_json(summary), dict):
        return {"state": "failed", "detail": f"no readable {summary}", "step": step}
    return {"state": "done", "step": step}


def _stop_reporter(d: Path, check_every: int | None, confirm: int | None, delay: Any,
                   analysis_options: dict[str, Any]) -> tuple[Any, str]:
    """The in-run reporter that ends a point's run after its fusion pore, or ``(None, why not)``.

    Without a ``delay`` the run goes on until the trajectory holds as many frames from the pore on as the
    analysis' flicker rule needs (``persist`` analysed frames, default :data:`~snarefuse.events.DEFAULT_CONFIRM`),
    so that the analysis after the run can call the pore the run was stopped for.
    """
    from .events import DEFAULT_CONFIRM, FusionEventReporter

    if delay is None:
        run = RunDirectory(d).spec().run
        frames = int(analysis_options.get("persist") or DEFAULT_CONFIRM) - 1
        delay = max(0, frames) * int(analysis_options.get("step") or 1) * run.trajectory_interval * run.timestep_ps
    try:
        return FusionEventReporter.from_run(d, delay, check_every, confirm=confirm or DEFAULT_CONFIRM,
                                            option="stop_after_fusion"), ""
    except RunError as e:  # a single membrane: no fusion pore can open, so the run goes to its end
        return None, f"{e}; ran to the end"


def run_point(point_dir: str, target_steps: int, *, platform: str | None = None, precision: str | None = None,
              device_index: str | None = None, threads: int | None = None, max_wall_time_s: float | None = None,
              analysis: bool = True, analysis_options: dict[str, Any] | None = None, stop_event: str | None = None,
              check_every: int | None = None, stop_confirm: int | None = None, stop_delay: Any = None,
              lock_timeout_s: float = 7 * 86400.0) -> dict[str, Any]:
    """The Dask task: bring one point to ``target_steps`` (resuming), then analyse it.

    With ``stop_event`` (``"pore"``) a :class:`~snarefuse.events.FusionEventReporter` rides along the run,
    looking for a pore every ``check_every`` steps (default: ``run.trajectory_interval``); the run stops
    at the first chunk boundary after ``max(t_pore + stop_delay, confirmation at stop_confirm checks)``
    and the point is done. The analysis runs once, after the run.

    Serialised per point by ``.sweep.lock``; a point already at its target (or stopped after its event)
    is not run again. Deterministic failures (blow-ups, invalid specs) come back as ``state: failed``;
    others raise, so that Dask retries them (each retry resumes from the checkpoint).
    """
    from .runner import run_simulation

    d = Path(point_dir)
    with file_lock(d / TASK_LOCK, lock_timeout_s):
        task = read_json(d / TASK_FILE) or {}
        attempts = task.setdefault("attempts", [])
        step = checkpoint_step(d)
        out = {"key": d.name, "step": step, "target_steps": target_steps, "resumed_from": None, "ran": False}
        event = task.get("event") if stop_event and (task.get("event") or {}).get("event") == stop_event else None
        if step < target_steps and not event:
            for a in attempts:
                if a.get("state") == "running":
                    a["state"] = "interrupted"
            me = {"state": "running", "worker": f"{os.uname().nodename}:{os.getpid()}", "started": now(),
                  "from_step": step}
            attempts.append(me)
            atomic_write_json(d / TASK_FILE, task)
            try:
                reporter, why = None, ""
                if stop_event is not None:
                    reporter, why = _stop_reporter(d, check_every, stop_confirm, stop_delay, analysis_options or {})
                    if why:
                        me["note"] = why
                r = run_simulation(d, steps=target_steps, platform=platform, precision=precision,
                                   device_index=device_index, threads=threads, max_wall_time_s=max_wall_time_s,
                                   progress=False, extra_reporters=[reporter] if reporter is not None else ())
            except DETERMINISTIC_ERRORS as e:
                me.update(state="failed", error=f"{type(e).__name__}: {e}", ended=now(), to_step=checkpoint_step(d))
                atomic_write_json(d / TASK_FILE, task)
                return {**out, "state": "failed", "error": me["error"], "step": checkpoint_step(d)}
            except RunInterrupted as e:  # SIGTERM/SIGINT: checkpointed, resumes; not a failure of the point
                me.update(state="interrupted", note=str(e), ended=now(), to_step=checkpoint_step(d))
                atomic_write_json(d / TASK_FILE, task)
                raise
            except BaseException as e:
                me.update(state="failed", error=f"{type(e).__name__}: {e}", ended=now(), to_step=checkpoint_step(d))
                atomic_write_json(d / TASK_FILE, task)
                raise
            step = r.step
            out.update(ran=True, resumed_from=r.resumed_from, status=r.status)
            if r.status == "stopped-event" and reporter is not None and reporter.event is not None:
                task["event"] = event = event_record(stop_event, reporter.event, step)
            me.update(state=r.status, to_step=step, resumed_from=r.resumed_from, ended=now())
        done = step >= target_steps or bool(event)
        if done and analysis and analysis_state(d, task, step, True) != "done":
            task["analysis"] = _analyse(d, step, analysis_options or {})
        elif not analysis and done:
            task["analysis"] = {"state": "disabled", "step": step}
        atomic_write_json(d / TASK_FILE, task)
        out.update(state="done" if done else "pending", step=step, event=event,
                   analysis=analysis_state(d, task, step, analysis))
        return out


# ------------------------------------------------------------------------------ the driver
@contextmanager
def dask_client(client: Any, scheduler: str | None, n_workers: int, resources: dict[str, float] | None,
                reconnect_timeout_s: float = DEFAULT_RECONNECT_TIMEOUT_S) -> Iterator[tuple[Any, bool]]:
    """``(client, local)``: the given client, one connected to ``scheduler`` (an address or a scheduler JSON
    file; it reconnects for up to ``reconnect_timeout_s`` when the connection drops), or a local cluster."""
    if client is not None:
        yield client, False
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        kw = {"scheduler_file": scheduler} if scheduler.endswith(".json") else {"address": scheduler}
        with Client(**kw, timeout=reconnect_timeout_s) as c:
            yield c, False
        return
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      resources=resources) as cluster, Client(cluster) as c:
        yield c, True


def _interruption(fut: Any) -> str | None:
    """Why a finished-but-not-successful future was interrupted (not failed), or None if it failed.

    A cancelled future (the client lost its scheduler, or the scheduler cancelled the task) and a lost
    connection are interruptions; an exception raised by the task, or ``KilledWorker`` (the task took down
    more workers than ``distributed.scheduler.allowed-failures`` allows), is a failure.
    """
    if fut.status == "cancelled":
        try:
            fut.result(timeout=0)
        except BaseException as e:  # noqa: BLE001 - only read for its message
            text = str(e)
            return "scheduler connection lost" if "connection-lost" in text else f"task cancelled ({text})"
        return "task cancelled"
    if fut.status == "error":
        exc = fut.exception()
        from distributed.comm.core import CommClosedError

        if isinstance(exc, (CommClosedError, ConnectionError)):
            return f"connection lost ({type(exc).__name__}: {exc})"
    return None


def _wait_connected(client: Any, timeout_s: float) -> bool:
    """Whether the client is (again) connected to a scheduler within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.status == "running":
            return True
        if client.status in ("closed", "closing", "failed"):
            return False
        time.sleep(0.2)
    return client.status == "running"


def run_on_dask(points: list[Point], task_args: Callable[[Point, int | None], dict[str, Any]], report: SweepRunReport,
                *, client: Any = None, scheduler: str | None = None, n_workers: int = 2, retries: int = 2,
                resources: dict[str, float] | None = None, timeout_s: float | None = None,
                reconnect_timeout_s: float = DEFAULT_RECONNECT_TIMEOUT_S,
                on_update: Callable[[Point, dict[str, Any]], None] | None = None) -> SweepRunReport:
    """Run ``points`` as :func:`run_point` tasks and wait for them (see the module docstring for what counts as
    failed and what as interrupted).

    ``task_args(point, threads)`` gives a point's task arguments (``threads``: the local cluster's share of
    the cores per worker, None on an external scheduler). A point stopped by its wall-time limit is submitted
    again at once (it resumes). ``timeout_s`` bounds the whole wait (``TimeoutError``; points keep their
    checkpoints).
    """
    from distributed import as_completed

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with dask_client(client, scheduler, n_workers, resources, reconnect_timeout_s) as (c, local):
        threads = max(1, (os.cpu_count() or 1) // max(1, n_workers)) if local else None

        def submit(p: Point) -> Any:
            # A lower replica goes first whatever the scheduler's tie-breaking (submission order within one)
            return c.submit(run_point, **task_args(p, threads), pure=False,
                            key=f"snarefuse-point-{p.key}-{uuid.uuid4().hex[:8]}", retries=retries,
                            resources=resources, priority=-p.replica)

        todo = list(points)
        report.submitted = [p.key for p in points]
        while todo:
            futures = {submit(p): p for p in todo}
            todo = []
            lost: list[Point] = []
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            pending = as_completed(list(futures), timeout=left)
            for fut in pending:
                p = futures.pop(fut)
                why = None if fut.status == "finished" else _interruption(fut)
                if fut.status == "finished":
                    out = fut.result()
                elif why is not None:
                    record_interruption(p.directory, why)
                    out = {"key": p.key, "state": "interrupted", "error": why, "step": checkpoint_step(p.directory)}
                    lost.append(p)
                else:
                    exc = fut.exception() if fut.status == "error" else None
                    err = f"{type(exc).__name__}: {exc}" if exc is not None else f"task {fut.status}"
                    record_failure(p.directory, err)
                    out = {"key": p.key, "state": "failed", "error": err}
                report.outcomes[p.key] = out
                if on_update is not None:
                    on_update(p, out)
                if out.get("status") == "stopped" and out.get("state") == "pending":  # wall-time limit: go on
                    nxt = submit(p)
                    futures[nxt] = p
                    pending.add(nxt)
            if lost:
                where = scheduler or getattr(c, "scheduler", None) and c.scheduler.address or "the local cluster"
                wait = reconnect_timeout_s if deadline is None else min(reconnect_timeout_s,
                                                                        max(0.0, deadline - time.monotonic()))
                if local or report.reconnects >= MAX_RECONNECTS or not _wait_connected(c, wait):
                    raise SchedulerLostError(
                        f"lost the Dask scheduler ({where}) and it did not come back within {wait:.0f} s; "
                        f"{len(lost)} points were interrupted and resume from their checkpoints on the next "
                        "'sweep run' (no --retry-failed needed)")
                report.reconnects += 1
                todo = lost
    return report
