"""RunDirectory: the one owner of a run directory's files. Its checks of a checkpoint record, of outputs shorter
than recorded and of trajectories that are not the run's, the lock's liveness by flock (not the PID text), and
what ``sweep status`` makes of a dead point. No simulation runs here; runs that meet these checks are in
tests/test_faults.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from snarefuse.errors import RunDirectoryError, RunError
from snarefuse.rundir import RESUMABLE_FIELDS, RunDirectory, shrink_file, spec_changes
from snarefuse.trajfile import dcd_frame_counts, dcd_sizes, trajectory_header_problem
from snarefuse.sweep import Sweep

from .conftest import small_spec

#: A checkpoint record as the runner writes it (step 100), with made-up checksums.
RECORD = {"step": 100, "time_ps": 2.0, "checkpoint": "checkpoint-000000000100.chk", "state": "state-000000000100.xml",
          "checkpoint_sha256": "a" * 64, "state_sha256": "b" * 64, "trajectory_bytes": 0, "trajectory_frames": 0,
          "log_bytes": 0}


def _with_record(d: Path, **changes: object) -> RunDirectory:
    rec = {k: v for k, v in {**RECORD, **changes}.items() if v is not None}
    (d / "checkpoint.json").write_text(json.dumps(rec))
    return RunDirectory(d)


def test_a_record_as_the_runner_writes_it_is_accepted(tmp_path: Path):
    assert _with_record(tmp_path).checkpoint() == RECORD


@pytest.mark.parametrize("changes, named", [
    ({"state": "../../../etc/passwd"}, "state = '../../../etc/passwd'; accepted the plain name of a file"),
    ({"checkpoint": "/elsewhere/checkpoint-000000000100.chk"}, "checkpoint = '/elsewhere/"),
    ({"checkpoint": "sub/checkpoint-000000000100.chk"}, "checkpoint = 'sub/"),
    ({"state": "state-000000000050.xml"}, "for the recorded step 100"),
    ({"checkpoint_sha256": None}, "checkpoint_sha256 = None; accepted the 64 hex digits"),
    ({"state_sha256": "not a digest"}, "state_sha256 = 'not a digest'"),
    ({"log_bytes": -1}, "log_bytes = -1; accepted an integer >= 0"),
    ({"step": "100"}, "step = '100'; accepted an integer >= 0"),
], ids=["state-outside", "checkpoint-absolute", "checkpoint-in-subdirectory", "state-of-another-step",
        "checksum-missing", "checksum-malformed", "negative-size", "step-as-text"])
def test_a_forged_or_broken_record_is_refused_naming_the_field(changes: dict, named: str, tmp_path: Path):
    with pytest.raises(RunDirectoryError, match="checkpoint.json: .*" + re.escape(named)):
        _with_record(tmp_path, **changes).checkpoint()


def test_shrink_file_never_extends(tmp_path: Path):
    p = tmp_path / "log.csv"
    p.write_bytes(b"x" * 10)
    with pytest.raises(RunDirectoryError, match=r"log.csv: holds 10 bytes, fewer than the 30 .* not extended"):
        shrink_file(p, 30)
    assert p.read_bytes() == b"x" * 10
    shrink_file(p, 4)
    assert p.read_bytes() == b"x" * 4


def test_outputs_shorter_than_the_record_are_refused_with_both_sizes(tmp_path: Path):
    (tmp_path / "log.csv").write_bytes(b"step\n")
    rd = _with_record(tmp_path, log_bytes=300)
    with pytest.raises(RunDirectoryError, match=r"log.csv: holds 5 bytes, but checkpoint.json records 300 at step "
                                                r"100"):
        rd.check_outputs(rd.checkpoint(), "dcd", 10)


def test_a_trajectory_that_is_not_the_runs_is_named(tmp_path: Path):
    import mdtraj

    from snarefuse.analysis import testsystems as ts

    t = ts.bilayer(4, n_frames=2)
    t.save_dcd(str(tmp_path / "trajectory.dcd"))
    t.save_xtc(str(tmp_path / "trajectory.xtc"))
    assert trajectory_header_problem(tmp_path / "trajectory.dcd", "dcd", t.n_atoms) is None
    assert trajectory_header_problem(tmp_path / "trajectory.xtc", "xtc", t.n_atoms) is None
    assert trajectory_header_problem(tmp_path / "trajectory.dcd", "dcd", t.n_atoms + 1) == \
        f"holds frames of {t.n_atoms} atoms, the system has {t.n_atoms + 1}"
    (tmp_path / "garbage.dcd").write_bytes(os.urandom(4000))
    assert trajectory_header_problem(tmp_path / "garbage.dcd", "dcd", t.n_atoms) == "does not start with a DCD header"
    assert trajectory_header_problem(tmp_path / "trajectory.dcd", "xtc", t.n_atoms) == \
        "does not start with an XTC frame"
    assert mdtraj.load(str(tmp_path / "trajectory.dcd"), top=t.topology).n_frames == 2


def test_spec_changes_are_named_and_only_execution_fields_are_resumable():
    a = small_spec()
    b = small_spec(run__threads=2, run__steps=5000, model__temperature="400 K", run__trajectory_interval=200)
    changes = {k for k, _, _ in spec_changes(a.to_dict(), b.to_dict())}
    # the spec writes run.timestep and run.friction in tau, which the temperature sets: they change with it
    computed = {"model.temperature", "run.timestep", "run.friction", "run.trajectory_interval"}
    assert changes == {"run.threads", "run.steps"} | computed
    assert changes - set(RESUMABLE_FIELDS) == computed


def test_unrecorded_checkpoint_files_are_removed_and_nothing_else(tmp_path: Path):
    names = ["checkpoint-000000000050.chk", "state-000000000050.xml", "checkpoint-000000000100.chk",
             "state-000000000100.xml", ".checkpoint-000000000150.chk.abc.tmp", ".someone-elses.tmp", "notes.chk"]
    for n in names:
        (tmp_path / n).write_text("x")
    rd = _with_record(tmp_path)
    removed = rd.remove_unrecorded_checkpoints(rd.checkpoint())
    assert sorted(removed) == sorted(names[:2] + [names[4]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["checkpoint.json", *names[2:4], *names[5:]])


# ------------------------------------------------------------------------------ the lock
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


@pytest.mark.parametrize("text", [f"pid {os.getpid()} on {os.uname().nodename}\n", "pid 1 on another-host\n"],
                         ids=["reused-pid-on-this-host", "pid-on-another-host"])
def test_lock_liveness_is_the_flock_not_the_pid_text(text: str, tmp_path: Path):
    rd = RunDirectory(tmp_path)
    rd.lock_path.write_text(text)
    assert rd.lock_holder() == (False, text.strip())
    with rd.lock():
        alive, who = rd.lock_holder()
        assert alive and who == f"pid {os.getpid()} on {os.uname().nodename}"
        with pytest.raises(RunError, match="another run is active in this directory"):
            with rd.lock():
                pass
    assert rd.lock_holder()[0] is False


def test_a_symlinked_lock_is_refused_and_its_target_untouched(tmp_path: Path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    (tmp_path / "run").mkdir()
    rd = RunDirectory(tmp_path / "run")
    rd.lock_path.symlink_to(target)
    with pytest.raises(RunError, match=r"\.lock: is a symbolic link"):
        with rd.lock():
            pass
    assert target.read_text() == "precious\n"


@pytest.mark.parametrize("text", [f"pid {os.getpid()} on {os.uname().nodename}\n", "pid 1 on another-host\n"],
                         ids=["reused-pid-on-this-host", "pid-on-another-host"])
def test_sweep_status_shows_a_dead_point_as_not_running(text: str, tmp_path: Path):
    """run.json says running (a SIGKILL cannot be caught) and .lock names a live PID or another host, but no
    process holds the flock: the point is an interrupted one that the next 'sweep run' resumes."""
    sw = Sweep(small_spec(run__steps=1000), workspace=tmp_path / "ws")
    p = sw.init()[0]
    (p.directory / "run.json").write_text(json.dumps({"status": "running", "step": 200}))
    (p.directory / ".lock").write_text(text)
    st = sw.status()[0]
    assert st.state == "pending" and "interrupted at step" in st.reason
    todo, _ = sw.plan()
    assert [q.key for q in todo] == [p.key]


# ------------------------------------------------------------------------------ records that disagree with their files
def _openmm_dcd(path: Path, frames: int, n_atoms: int = 7) -> None:
    """A DCD written by OpenMM's DCDFile, as the runner writes it (periodic box, unit cell per frame)."""
    import numpy as np
    from openmm import app, unit

    top = app.Topology()
    res = top.addResidue("X", top.addChain())
    for _ in range(n_atoms):
        top.addAtom("A", None, res)
    box = np.eye(3) * 3.0 * unit.nanometer
    top.setPeriodicBoxVectors(box)
    with open(path, "wb") as f:
        dcd = app.DCDFile(f, top, 0.01, 10, 10)
        for _ in range(frames):
            dcd.writeModel(np.zeros((n_atoms, 3)) * unit.nanometer, periodicBoxVectors=box)


@pytest.mark.parametrize("frames", [1, 3])
def test_dcd_sizes_are_those_of_openmms_writer(frames: int, tmp_path: Path):
    _openmm_dcd(tmp_path / "t.dcd", frames)
    assert (tmp_path / "t.dcd").stat().st_size in dcd_sizes(frames, 7)
    assert trajectory_header_problem(tmp_path / "t.dcd", "dcd", 7) is None


def test_a_record_whose_frames_and_bytes_disagree_is_refused(tmp_path: Path):
    _openmm_dcd(tmp_path / "trajectory.dcd", 3)
    size = (tmp_path / "trajectory.dcd").stat().st_size
    rd = _with_record(tmp_path, trajectory_bytes=size, trajectory_frames=3)
    rd.check_outputs(rd.checkpoint(), "dcd", 7)
    rd = _with_record(tmp_path, trajectory_bytes=size, trajectory_frames=2)
    with pytest.raises(RunDirectoryError, match=rf"checkpoint.json: trajectory_frames = 2 and trajectory_bytes = "
                                                rf"{size} disagree"):
        rd.check_outputs(rd.checkpoint(), "dcd", 7)


@pytest.mark.filterwarnings("ignore:Need to guess atom number")
def test_a_malformed_snare_record_in_the_manifest_is_named(tmp_path: Path):
    from snarefuse.analysis import testsystems as ts

    ts.bilayer(4)[0].save_pdb(str(tmp_path / "system.pdb"))
    (tmp_path / "manifest.json").write_text(json.dumps({"snares": [{"first_atom": 0}]}))
    with pytest.raises(RunDirectoryError, match=r"manifest.json: snares\[0\]: KeyError: 'resid'; accepted"):
        RunDirectory(tmp_path).topology()
    (tmp_path / "system.pdb").write_text("ATOM  garbage\n" * 3)
    with pytest.raises(RunDirectoryError, match="system.pdb: cannot be read as a structure file"):
        RunDirectory(tmp_path).topology()


@pytest.mark.parametrize("frames", [0, 1, 3])
def test_dcd_frame_counts_of_openmms_writer(frames: int, tmp_path: Path):
    _openmm_dcd(tmp_path / "t.dcd", frames)
    assert dcd_frame_counts(tmp_path / "t.dcd", 7) == (frames, frames)
    data = (tmp_path / "t.dcd").read_bytes()
    (tmp_path / "t.dcd").write_bytes(data[:-1])
    assert dcd_frame_counts(tmp_path / "t.dcd", 7) == (frames, max(frames - 1, 0))


@pytest.mark.parametrize("field, value", [("membranes", -100000), ("membranes", [1, 2]), ("units", "nm"),
                                          ("n_atoms", "1200")])
def test_a_manifest_field_of_the_wrong_type_is_named(small_built, field: str, value: object):
    _, d = small_built
    data = json.loads((d / "manifest.json").read_text())
    data[field] = value
    (d / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(RunDirectoryError, match=rf"manifest\.json.*'{field}'"):
        RunDirectory(d).manifest()


# ------------------------------------------------------------------------------ one owner of the file names
PACKAGE = Path(__file__).resolve().parents[1] / "snarefuse"
#: Modules allowed to write a run directory's file names: the owner (the package snarefuse/rundir/), and
#: snarefuse.structure, which chooses between the build's two structure formats (system.pdb, or system.cif past the
#: PDB's limits) before any directory exists.
OWNER = "rundir/"
NAME_OWNERS = {"structure.py": {"system.pdb", "system.cif"}}
#: Folder names of a run directory, checked where they are joined onto a path (as words they mean other things).
FOLDERS = {"analysis", "render", "export"}


def _run_directory_names() -> set[str]:
    """Every file name RunDirectory defines (its module's string constants that name a file), and the trajectories."""
    import snarefuse.rundir as R

    names = {v for k, v in vars(R).items()
             if k.isupper() and isinstance(v, str) and re.fullmatch(r"\.?[\w-]+\.\w+|\.lock", v)}
    return names | {f"trajectory.{fmt}" for fmt in R.TRAJECTORY_FORMATS}


def _uses_of_names(source: str, names: set[str]) -> list[str]:
    """``line: text`` of each string constant that is one of ``names`` and each ``path / "<folder>"`` join."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            found.append(f"{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) and \
                re.match(r"(trajectory\.|checkpoint-|state-)$", str(node.values[0].value)):
            found.append(f"{node.lineno}: f-string {node.values[0].value!r}...")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) \
                and node.right.value in FOLDERS:
            found.append(f"{node.lineno}: / {node.right.value!r}")
    return found


def test_the_names_are_read_from_rundir():
    names = _run_directory_names()
    assert {"manifest.json", "run.json", "checkpoint.json", "log.csv", "summary.json", "spec.yaml", "system.xml",
            "trajectory.dcd", "trajectory.xtc", ".lock"} <= names


def test_the_check_finds_a_name_a_format_and_a_folder():
    src = ('p = d / "manifest.json"\nq = d / f"trajectory.{fmt}"\nr = d / "analysis" / x\n'
           'msg = "no manifest.json here"\n')
    assert [u.split(":")[0] for u in _uses_of_names(src, _run_directory_names())] == ["1", "2", "3"]


def test_only_the_rundir_package_writes_the_run_directory_s_file_names():
    """A module that joins ``"manifest.json"`` (or any name RunDirectory defines) onto a directory knows the layout
    itself; it asks RunDirectory instead (docs/architecture.md). Names inside messages are not uses."""
    assert (PACKAGE / OWNER / "names.py").is_file()
    names = _run_directory_names()
    offenders = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        rel = f.relative_to(PACKAGE).as_posix()
        if rel.startswith(OWNER):
            continue
        uses = _uses_of_names(f.read_text(), names - (NAME_OWNERS.get(rel) or set()))
        if uses:
            offenders[rel] = uses
    assert not offenders, f"run-directory file names outside snarefuse/rundir/: {offenders}"
