"""Crash consistency: ``snarefuse run`` killed with SIGKILL at random moments, and from inside at
exact points of every kind of write (a trajectory frame, a log row, each file of a checkpoint),
then run again, ends with exactly the files of an uninterrupted run: every frame once, no torn
frame, every log row once, a consistent checkpoint record and no stray files.

The runs use the Reference platform, where a run resumed from an exact checkpoint is bit-identical
to the uninterrupted one (on CPU the rebuilt neighbour list changes the summation order), so any
lost, repeated, shifted or torn frame shows. A 64-lipid bilayer keeps every test to a few seconds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import mdtraj
import numpy as np
import openmm
import pytest

from snarefuse.build import build_system
from snarefuse.runner import run_simulation

from .conftest import small_spec, without_wall_clock as _without_wall_clock

STEPS, TRAJ_EVERY, LOG_EVERY, CKPT_EVERY = 150, 10, 10, 50
SPEC = dict(system__bilayer__n_lipids=64, run__steps=STEPS, run__trajectory_interval=TRAJ_EVERY,
            run__report_interval=LOG_EVERY, run__checkpoint_interval=CKPT_EVERY, run__platform="Reference")
#: Seed of the kill delays of the random-kill test.
KILL_SEED = 20240611
_rng = np.random.default_rng(KILL_SEED)
_starts, _after_checkpoint = _rng.uniform(0.2, 0.9, size=2).round(3), _rng.uniform(0.0, 0.25, size=4).round(3)
#: (after, delay in s) of the random-kill test, in this order: killed ``delay`` after the start of
#: ``snarefuse run`` (a child takes ~0.7 s to import, create its context, minimise and write its
#: step-0 checkpoint, so these land in start-up), or ``delay`` after the child's first new
#: checkpoint (these land anywhere in the dynamics of the next checkpoint interval, a few tenths of
#: a second, its write included). The first kill after a checkpoint comes while 150 steps are left.
KILLS = [("start", 0.0), ("start", 0.05), ("checkpoint", float(_after_checkpoint[0])), ("start", float(_starts[0])),
         ("checkpoint", float(_after_checkpoint[1])), ("start", float(_starts[1])),
         *(("checkpoint", float(d)) for d in _after_checkpoint[2:])]
#: Seconds any single child may take before the test fails instead of hanging.
CHILD_TIMEOUT_S = 120

#: A ``snarefuse run`` that kills itself with SIGKILL at an exact point of a write.
#: argv: run_dir, what, nth, when. ``what``: the name prefix of a file written atomically
#: (the kill comes at its nth rename, ``before`` or ``after`` it), ``frame`` (the nth trajectory
#: frame is half written), ``row`` (the nth log row is half written) or ``unlink`` (right after the
#: nth removal of a superseded checkpoint or state file).
KILLER = r"""
import os, signal, sys
from pathlib import Path
from snarefuse import reporters
from snarefuse.cli import main

run_dir, what, nth, when = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
calls = 0

def hit():
    global calls
    calls += 1
    return calls == nth

def die():
    os.kill(os.getpid(), signal.SIGKILL)

class Tear:
    # forwards to a file; its (skip + 1)th write is cut in half, flushed to disk, and the process dies
    def __init__(self, f, skip):
        self._f, self._skip = f, skip
    def write(self, data):
        if self._skip == 0:
            self._f.write(data[: len(data) // 2])
            self._f.flush()
            os.fsync(self._f.fileno())
            die()
        self._skip -= 1
        return self._f.write(data)
    def __getattr__(self, name):
        return getattr(self._f, name)

if what == "frame":
    real_frame = reporters.TrajectoryReporter.report
    def report_frame(self, simulation, state):
        if hit():
            if self._writer is None:
                self._open(simulation)
            # DCDFile.writeModel: frame count, last step, box, then x/y/z blocks: tear the x block
            self._writer._file = Tear(self._writer._file, 4)
        return real_frame(self, simulation, state)
    reporters.TrajectoryReporter.report = report_frame
elif what == "row":
    real_row = reporters.CSVLogReporter.report
    def report_row(self, simulation, state):
        if hit():
            self._f = Tear(self._f, 0)
        return real_row(self, simulation, state)
    reporters.CSVLogReporter.report = report_row
elif what == "unlink":
    real_unlink = os.unlink
    def unlink(path, *args, **kwargs):
        real_unlink(path, *args, **kwargs)
        if Path(path).name.startswith(("checkpoint-", "state-")) and hit():
            die()
    os.unlink = unlink
else:
    real_replace = os.replace
    def replace(src, dst, *args, **kwargs):
        if Path(dst).name.startswith(what) and hit():
            if when == "before":
                die()
            real_replace(src, dst, *args, **kwargs)
            die()
        return real_replace(src, dst, *args, **kwargs)
    os.replace = replace

sys.argv = ["snarefuse", "run", run_dir, "--no-progress"]
main()
"""

#: (what, nth, when) for the in-process kills, and what each one hits. Checkpoints are written at
#: steps 0, 50, 100, ...: the 3rd is step 100; run.json is first written after the log header.
KILL_POINTS = {
    "startup-after-log-header": ("run.json", 1, "before"),
    "step0-checkpoint-before-state": ("checkpoint-", 1, "after"),
    "checkpoint-file-half-done": ("checkpoint-", 3, "before"),
    "state-written-record-not": ("state-", 3, "after"),
    "record-not-yet-renamed": ("checkpoint.json", 3, "before"),
    "record-renamed-old-files-kept": ("checkpoint.json", 3, "after"),
    "first-frame-torn": ("frame", 1, "-"),
    "frame-torn-mid-run": ("frame", 8, "-"),
    "log-row-torn": ("row", 7, "-"),
    "last-checkpoint-written-run-not-closed": ("final_state.xml", 1, "before"),
    # each point of the last checkpoint (step 150, the target): a run killed here finds the target reached and
    # does not step again, so only its start-up can remove what the kill left behind
    "last-checkpoint-file-written": ("checkpoint-", 4, "after"),
    "last-state-written-record-not": ("state-", 4, "after"),
    "last-record-not-yet-renamed": ("checkpoint.json", 4, "before"),
    "last-record-renamed-old-files-kept": ("checkpoint.json", 4, "after"),
    "last-old-checkpoint-removed-old-state-kept": ("unlink", 5, "-"),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run."""
    d = tmp_path_factory.mktemp("crash") / "ref"
    build_system(small_spec(**SPEC)).save(d)
    assert run_simulation(d, progress=False).status == "complete"
    return d


def _run_cli(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snarefuse.cli", "run", str(run_dir), "--no-progress"],
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)


def _dcd_header_frames(path: Path) -> int:
    with open(path, "rb") as f:
        f.seek(8)
        return int.from_bytes(f.read(4), "little", signed=True)


def assert_same_as_uninterrupted(run_dir: Path, ref: Path) -> None:
    """Frames, rows and the checkpoint record of ``run_dir`` are exactly those of ``ref``."""
    n = STEPS // TRAJ_EVERY
    ta = mdtraj.load(str(ref / "trajectory.dcd"), top=str(ref / "system.pdb"))
    tb = mdtraj.load(str(run_dir / "trajectory.dcd"), top=str(run_dir / "system.pdb"))
    assert ta.n_frames == tb.n_frames == n
    np.testing.assert_array_equal(tb.xyz, ta.xyz)
    np.testing.assert_array_equal(tb.unitcell_lengths, ta.unitcell_lengths)
    # no torn or extra bytes after the last frame, and the header counts the frames that are there
    assert (run_dir / "trajectory.dcd").stat().st_size == (ref / "trajectory.dcd").stat().st_size
    assert _dcd_header_frames(run_dir / "trajectory.dcd") == n

    rows = _without_wall_clock((run_dir / "log.csv").read_text())
    assert rows == _without_wall_clock((ref / "log.csv").read_text())
    steps = [int(r.split(",")[0]) for r in rows[1:]]
    assert steps == list(range(LOG_EVERY, STEPS + 1, LOG_EVERY))  # strictly increasing, none missing

    info = json.loads((run_dir / "checkpoint.json").read_text())
    assert info["step"] == STEPS and info["trajectory_frames"] == n
    assert info["trajectory_bytes"] == (run_dir / "trajectory.dcd").stat().st_size
    assert info["log_bytes"] == (run_dir / "log.csv").stat().st_size
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    final, final_ref = (openmm.XmlSerializer.deserialize((d / "final_state.xml").read_text()) for d in (run_dir, ref))
    np.testing.assert_array_equal(final.getPositions(asNumpy=True), final_ref.getPositions(asNumpy=True))
    np.testing.assert_array_equal(final.getVelocities(asNumpy=True), final_ref.getVelocities(asNumpy=True))
    # only the checkpoint the record names is kept, and no temporary file of an atomic write is left
    assert sorted(p.name for p in run_dir.glob("checkpoint-*.chk")) == [info["checkpoint"]]
    assert sorted(p.name for p in run_dir.glob("state-*.xml")) == [info["state"]]
    assert list(run_dir.glob(".*.tmp")) == []


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _start_and_kill(run_dir: Path, after: str, delay: float) -> bool:
    """Start ``snarefuse run``, kill it with SIGKILL ``delay`` s after its start or after its first
    new checkpoint; whether it was still running to be killed."""
    record = run_dir / "checkpoint.json"
    before = _mtime(record)
    proc = subprocess.Popen([sys.executable, "-m", "snarefuse.cli", "run", str(run_dir), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while after == "checkpoint" and _mtime(record) == before and proc.poll() is None:
        assert time.monotonic() - t0 < CHILD_TIMEOUT_S, "the run wrote no checkpoint in time"
        time.sleep(0.005)
    time.sleep(delay)
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=CHILD_TIMEOUT_S)
    assert proc.returncode in (0, -signal.SIGKILL), err
    return alive


def test_sigkill_at_random_moments_loses_and_repeats_nothing(reference: Path, tmp_path: Path):
    run_dir = tmp_path / "killed"
    build_system(small_spec(**SPEC)).save(run_dir)
    killed = [after for after, delay in KILLS if _start_and_kill(run_dir, after, delay)]
    assert killed[:2] == ["start", "start"] and "checkpoint" in killed, killed
    out = _run_cli(run_dir)
    assert out.returncode == 0, out.stderr
    assert_same_as_uninterrupted(run_dir, reference)


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_inside_a_write_loses_and_repeats_nothing(point: str, reference: Path, tmp_path: Path):
    what, nth, when = KILL_POINTS[point]
    run_dir = tmp_path / "killed"
    build_system(small_spec(**SPEC)).save(run_dir)
    out = subprocess.run([sys.executable, "-c", KILLER, str(run_dir), what, str(nth), when],
                         capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert out.returncode == -signal.SIGKILL, f"the child was not killed where intended: {out.stderr}"
    r = run_simulation(run_dir, progress=False)
    assert r.status in ("complete", "nothing-to-do") and r.step == STEPS
    assert_same_as_uninterrupted(run_dir, reference)
