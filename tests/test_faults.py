"""Faults that lose nothing: a full disk (simulated with RLIMIT_FSIZE) mid-run leaves files cut
back to the last checkpoint, a clear message, and a run that resumes to the uninterrupted result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mdtraj
import numpy as np

from snarefuse.build import build_system
from snarefuse.runner import run_simulation

from .conftest import small_spec

#: Per-file size limit (bytes) for the "disk full" child: more than the state XML and a few
#: hundred log rows, less than the trajectory of the whole run.
FILE_SIZE_LIMIT = 300_000

CHILD = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes past the limit fail with EFBIG instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from snarefuse.cli import main
sys.argv = ["snarefuse", "run", {run_dir!r}, "--no-progress"]
main()
"""


def test_disk_full_mid_run_loses_nothing(tmp_path: Path):
    spec = small_spec(run__steps=1500, run__trajectory_interval=25, run__report_interval=25,
                      run__checkpoint_interval=250, run__platform="Reference")
    build_system(spec).save(tmp_path / "ref")
    build_system(spec).save(tmp_path / "full")
    run_simulation(tmp_path / "ref", progress=False)

    child = CHILD.format(limit=FILE_SIZE_LIMIT, run_dir=str(tmp_path / "full"))
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=600)
    assert out.returncode == 2, out.stderr
    assert "write failed" in out.stderr and "File too large" in out.stderr
    assert "Traceback" not in out.stderr
    info = json.loads((tmp_path / "full" / "checkpoint.json").read_text())
    assert 0 < info["step"] < 1500
    # files are consistent with the checkpoint: no torn frame, no extra row
    t = mdtraj.load(str(tmp_path / "full" / "trajectory.dcd"), top=str(tmp_path / "full" / "system.pdb"))
    assert t.n_frames == info["trajectory_frames"] == info["step"] // 25
    assert (tmp_path / "full" / "log.csv").stat().st_size == info["log_bytes"]
    assert json.loads((tmp_path / "full" / "run.json").read_text())["status"] == "failed"

    # space is back: the same command resumes to the uninterrupted result
    subprocess.run([sys.executable, "-m", "snarefuse.cli", "run", str(tmp_path / "full"), "--no-progress"],
                   check=True, capture_output=True, timeout=600)
    ta = mdtraj.load(str(tmp_path / "ref" / "trajectory.dcd"), top=str(tmp_path / "ref" / "system.pdb"))
    tb = mdtraj.load(str(tmp_path / "full" / "trajectory.dcd"), top=str(tmp_path / "full" / "system.pdb"))
    assert ta.n_frames == tb.n_frames == 60
    np.testing.assert_array_equal(ta.xyz, tb.xyz)
    assert (tmp_path / "ref" / "log.csv").read_text() == (tmp_path / "full" / "log.csv").read_text()
