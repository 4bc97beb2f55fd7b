"""A sweep on a real Dask deployment whose scheduler is killed mid-sweep (issue: a lost scheduler is an
interruption, not a failure).

``dask scheduler`` and ``dask worker`` are started as processes from their command lines and the driver is
``snarefuse sweep run --scheduler`` in its own process, as a user runs them. The scheduler is SIGKILLed while a
point is running, twice: once with a driver that gives up quickly (it must say that it lost the scheduler,
exit 3, and leave no point failed) and once with a driver that waits (it must carry on when the scheduler and
workers are back). Then every point was run to its end exactly once: log steps strictly increasing with no
gap or repeat, the right number of frames, one completed attempt per point.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mdtraj
import numpy as np
import pytest
import yaml

from snarefuse.sweep import Sweep

from .conftest import small_spec

#: Steps per point, and the output intervals: frames and log rows every 50 steps, checkpoints every 100.
STEPS, EVERY, CHECKPOINT = 2000, 50, 100
#: Seconds any single wait may take before the test fails instead of hanging.
WAIT_S = 180
DRIVER = [sys.executable, "-c", "from snarefuse.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    """A scheduler and one single-threaded worker process started from the dask CLI, restartable."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, "OPENMM_CPU_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.scheduler: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.starts = 0

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.root / f"{name}-{self.starts}.log", "w")
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.root)

    def start(self) -> None:
        self.starts += 1
        self.scheduler = self._spawn(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--no-dashboard"], "scheduler")
        _wait_for(lambda: _listening(self.port), "the scheduler to listen")
        # no nanny: the worker is one process, so that killing it kills the task it runs
        self.worker = self._spawn(["dask", "worker", self.address, "--no-nanny", "--nthreads", "1",
                                   "--no-dashboard", "--name", f"w{self.starts}"], "worker")

    def kill(self) -> None:
        """SIGKILL the scheduler, then the worker with its running task (as the end of a batch job would; a
        worker left alone shuts itself down a few seconds after losing its scheduler, and its task with it)."""
        assert self.scheduler is not None and self.worker is not None
        self.scheduler.send_signal(signal.SIGKILL)
        self.scheduler.wait(WAIT_S)
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(WAIT_S)

    def stop(self) -> None:
        for proc in (self.worker, self.scheduler):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(cond, what: str, timeout: float = WAIT_S) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _steps(p) -> tuple[str | None, int]:
    try:
        rj = json.loads((p.directory / "run.json").read_text())
    except (OSError, ValueError):
        rj = {}
    try:
        ck = json.loads((p.directory / "checkpoint.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        ck = 0
    return rj.get("status"), int(ck)


def _driver(sweep_file: Path, address: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*DRIVER, "sweep", "run", str(sweep_file), "--scheduler", address, "--retries", "0",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OPENMM_CPU_THREADS": "1"})


def _kill_while_running(dep: Deployment, sw: Sweep, past: dict[str, int]) -> tuple[str, int]:
    """SIGKILL the scheduler and worker once some point is running with a checkpoint beyond ``past`` (and before its end)."""
    caught: list[tuple[str, int]] = []

    def running() -> bool:
        for p in sw.points:
            status, step = _steps(p)
            if status == "running" and past.get(p.key, 0) < step < STEPS - CHECKPOINT:
                caught.append((p.key, step))
                return True
        return False

    _wait_for(running, "a point to run past a checkpoint")
    dep.kill()
    return caught[0]


@pytest.mark.soak  # ~45 s alone, 2 min on two loaded cores: three driver and three dask start-ups
def test_scheduler_killed_and_restarted_mid_sweep_every_point_done_exactly_once(tmp_path: Path) -> None:
    root = tmp_path / "deploy"
    root.mkdir()
    small_spec(run__platform="CPU", run__steps=STEPS, run__trajectory_interval=EVERY,
               run__report_interval=EVERY, run__checkpoint_interval=CHECKPOINT, run__threads=1).dump(root / "base.yaml")
    sweep_file = root / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump({"name": "deploy", "base": "base.yaml", "workspace": "ws",
                                          "grid": {"lipids.CKL.tail_attraction": [1.0, 0.95]},
                                          "analysis": {"enabled": False}}))
    sw = Sweep.from_yaml(sweep_file)
    sw.init()
    dep = Deployment(root)
    try:
        # 1. a driver that gives up after 2 s without its scheduler: says so, exit 3, nothing failed
        dep.start()
        d1 = _driver(sweep_file, dep.address, "--reconnect-timeout", "2 s")
        key1, step1 = _kill_while_running(dep, sw, {})
        out1, err1 = d1.communicate(timeout=WAIT_S)
        assert d1.returncode == 3, (out1, err1)
        assert "lost the Dask scheduler" in err1 and "resume" in err1
        states = {st.key: st for st in sw.status()}
        assert not [k for k, st in states.items() if st.state == "failed"], {k: st.reason for k, st in states.items()}
        assert states[key1].state == "pending" and states[key1].step >= step1 and "interrupted" in states[key1].reason

        # 2. scheduler and worker back; a plain rerun (no --retry-failed) resumes; the scheduler is killed
        #    again mid-run and restarted, and this driver waits for it and carries on
        dep.start()
        d2 = _driver(sweep_file, dep.address, "--reconnect-timeout", "120 s")
        past = {p.key: _steps(p)[1] for p in sw.points}
        _kill_while_running(dep, sw, past)
        dep.start()
        out2, err2 = d2.communicate(timeout=3 * WAIT_S)
        assert d2.returncode == 0, (out2, err2)
        assert "came back 1 times" in out2, out2

        # 3. a third run finds nothing to do
        d3 = _driver(sweep_file, dep.address)
        out3, err3 = d3.communicate(timeout=WAIT_S)
        assert d3.returncode == 0 and "nothing to do" in out3, (out3, err3)
    finally:
        dep.stop()

    assert [st.state for st in sw.status()] == ["done"] * len(sw.points)
    for p in sw.points:
        np.testing.assert_array_equal(np.genfromtxt(p.directory / "log.csv", delimiter=",", names=True)["step"],
                                      np.arange(EVERY, STEPS + 1, EVERY))  # strictly increasing, no gap, no repeat
        traj = mdtraj.load(str(p.directory / "trajectory.dcd"), top=str(p.directory / "system.pdb"))
        assert traj.n_frames == STEPS // EVERY
        attempts = json.loads((p.directory / "task.json").read_text())["attempts"]
        states = [a["state"] for a in attempts]
        assert states.count("complete") == 1, attempts  # run to its end exactly once
        assert "failed" not in states, attempts
    attempts = json.loads((sw.workspace / "points" / key1 / "task.json").read_text())["attempts"]
    assert attempts[-1]["state"] == "complete" and attempts[-1]["from_step"] >= step1  # resumed, not restarted
