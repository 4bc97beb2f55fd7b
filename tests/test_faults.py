"""Faults that lose nothing: a full disk (simulated with RLIMIT_FSIZE) or a directory turning
read-only mid-run leaves files cut back to the last checkpoint, a clear message, and a run that
resumes to the uninterrupted result; a read-only directory is refused without changing a file;
checkpoints of another OpenMM version, corrupt or truncated ones, and a truncated record are
detected, explained, and resumed from the portable state where that is safe.

(SIGKILL at random moments and inside every kind of write: tests/test_crash.py.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mdtraj
import numpy as np
import openmm
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snarefuse.analysis import analyze_run
from snarefuse.build import build_system
from snarefuse.errors import RunDirectoryError, RunError, SnarefuseError
from snarefuse.runner import run_simulation
from snarefuse.spec import load_spec
from snarefuse.sweep_workspace import STATES, Point, point_status

from .conftest import small_spec, without_wall_clock as _without_wall_clock
from .test_crash import SPEC as CRASH_SPEC
from .test_crash import assert_same_as_uninterrupted, reference  # noqa: F401  (reference is a fixture)

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
    assert _without_wall_clock((tmp_path / "ref" / "log.csv").read_text()) == \
        _without_wall_clock((tmp_path / "full" / "log.csv").read_text())


# ------------------------------------------------------------------------------ foreign and broken checkpoints
CKPT = dict(run__steps=200, run__trajectory_interval=50, run__report_interval=50, run__checkpoint_interval=100,
            run__platform="CPU")


def _half_run(tmp_path: Path) -> Path:
    """A run stopped at its step-100 checkpoint (target 200)."""
    build_system(small_spec(**CKPT)).save(tmp_path / "r")
    run_simulation(tmp_path / "r", steps=100, progress=False)
    return tmp_path / "r"


def _files(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.name != ".lock"}


def test_checkpoint_of_another_openmm_version_resumes_from_the_portable_state(tmp_path: Path, caplog):
    run_dir = _half_run(tmp_path)
    info = json.loads((run_dir / "checkpoint.json").read_text())
    (run_dir / "checkpoint.json").write_text(json.dumps({**info, "openmm_version": "7.7.0"}))
    r = run_simulation(run_dir, progress=False)
    assert r.resumed_from == "state" and r.status == "complete" and r.step == 200
    assert "written by OpenMM 7.7.0" in caplog.text and "portable state" in caplog.text
    t = mdtraj.load(str(run_dir / "trajectory.dcd"), top=str(run_dir / "system.pdb"))
    assert t.n_frames == 4
    steps = np.genfromtxt(run_dir / "log.csv", delimiter=",", names=True)["step"]
    np.testing.assert_array_equal(steps, [50, 100, 150, 200])


def test_corrupt_checkpoint_of_the_right_size_is_not_loaded(tmp_path: Path, caplog):
    run_dir = _half_run(tmp_path)
    chk = run_dir / json.loads((run_dir / "checkpoint.json").read_text())["checkpoint"]
    data = bytearray(chk.read_bytes())
    data[len(data) // 2: len(data) // 2 + 16] = bytes(16)
    chk.write_bytes(bytes(data))
    r = run_simulation(run_dir, progress=False)
    assert r.resumed_from == "state" and r.step == 200
    assert "truncated or corrupt" in caplog.text


def test_truncated_checkpoint_record_is_explained_and_nothing_touched(tmp_path: Path):
    run_dir = _half_run(tmp_path)
    record = run_dir / "checkpoint.json"
    record.write_bytes(record.read_bytes()[: record.stat().st_size // 2])
    before = _files(run_dir)
    with pytest.raises(RunError, match="checkpoint.json: unreadable checkpoint record .*trajectory and log are intact"):
        run_simulation(run_dir, progress=False)
    assert _files(run_dir) == before


def test_checkpoint_and_portable_state_both_truncated_is_explained_and_nothing_touched(tmp_path: Path):
    run_dir = _half_run(tmp_path)
    info = json.loads((run_dir / "checkpoint.json").read_text())
    for name in (info["checkpoint"], info["state"]):
        (run_dir / name).write_bytes((run_dir / name).read_bytes()[:200])
    before = _files(run_dir)
    with pytest.raises(RunError, match=r"cannot resume \(it is truncated or corrupt.*\) and the portable state "
                                      r".* is unreadable \(truncated"):
        run_simulation(run_dir, progress=False)
    assert _files(run_dir) == before


# ------------------------------------------------------------------------------ read-only output
#: ``snarefuse run .`` in the run directory, as an unprivileged user: root ignores file permissions,
#: so a root parent hands the directory to ``nobody`` and the child drops to it (after its imports
#: and the data files OpenMM reads lazily: the interpreter may live where only root can read).
#: argv: run_dir, and N > 0 to make the directory read-only right after the Nth checkpoint record.
NOBODY = 65534
READ_ONLY_CHILD = r"""
import os, sys
from pathlib import Path
import openmm.app, snarefuse.runner
from snarefuse.cli import main

run_dir, read_only_after = sys.argv[1], int(sys.argv[2])
openmm.app.PDBFile(os.path.join(run_dir, "system.pdb"))  # loads the data files OpenMM reads lazily
# ... and the stdlib modules and package data snarefuse reads lazily (importlib.resources imports
# importlib.readers on first use; the interpreter's stdlib may be readable by root only)
import importlib.readers, importlib.resources.readers  # noqa: E401
from snarefuse import formulations
from snarefuse.forcefield import forcefield_file
for model in ("cooke3", "cooke4"):
    forcefield_file(model)
formulations._xml_expression()
os.chdir(run_dir)
if os.geteuid() == 0:
    try:
        os.setgid(65534)
        os.setuid(65534)
    except PermissionError:
        sys.exit(77)
if read_only_after:
    real_replace, records = os.replace, []
    def replace(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        if Path(dst).name == "checkpoint.json":
            records.append(dst)
            if len(records) == read_only_after:
                os.chmod(".", 0o555)
    os.replace = replace
sys.argv = ["snarefuse", "run", ".", "--no-progress"]
main()
"""


@pytest.fixture
def reachable_tmp() -> Iterator[Path]:
    """A temporary directory an unprivileged user can reach (pytest's tmp_path lies in a directory
    only its owner may enter, and Python's tempfile makes paths absolute)."""
    d = Path(tempfile.mkdtemp(prefix="snarefuse-read-only-"))
    d.chmod(0o711)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _run_unprivileged(run_dir: Path, read_only_after: int = 0) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        for p in [run_dir, *run_dir.rglob("*")]:
            os.chown(p, NOBODY, NOBODY)
    out = subprocess.run([sys.executable, "-c", READ_ONLY_CHILD, str(run_dir), str(read_only_after)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode == 77:
        pytest.skip("running as root without the right to switch to an unprivileged user: root ignores file "
                    "permissions, so read-only output cannot be tested here")
    return out


@pytest.mark.parametrize("files_too", [True, False], ids=["directory-and-files", "directory-only"])
def test_read_only_run_directory_is_refused_clearly_and_left_unchanged(files_too: bool, reachable_tmp: Path):
    run_dir = _half_run(reachable_tmp)
    before = _files(run_dir)
    if files_too:
        for p in run_dir.iterdir():
            p.chmod(0o444)
    run_dir.chmod(0o555)
    try:
        out = _run_unprivileged(run_dir)
    finally:
        run_dir.chmod(0o755)
        for p in run_dir.iterdir():
            p.chmod(0o644)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("Error:") and "Permission denied" in out.stderr and "Traceback" not in out.stderr
    assert "must be readable and writable" in out.stderr if files_too else "run.json: cannot write" in out.stderr
    assert _files(run_dir) == before
    # writable again: the same command resumes
    r = run_simulation(run_dir, progress=False)
    assert r.status == "complete" and r.resumed_from == "checkpoint"
    assert mdtraj.load(str(run_dir / "trajectory.dcd"), top=str(run_dir / "system.pdb")).n_frames == 4


def test_directory_turning_read_only_mid_run_cuts_back_to_the_last_checkpoint(reference: Path, reachable_tmp: Path):
    run_dir = reachable_tmp / "r"
    build_system(small_spec(**CRASH_SPEC)).save(run_dir)
    out = _run_unprivileged(run_dir, read_only_after=2)  # read-only once the step-50 checkpoint is recorded
    run_dir.chmod(0o755)
    assert out.returncode == 2, out.stderr
    assert "write failed at step 100" in out.stderr and "Permission denied" in out.stderr
    assert "cut back to the last checkpoint (step 50)" in out.stderr and "Traceback" not in out.stderr
    info = json.loads((run_dir / "checkpoint.json").read_text())
    assert info["step"] == 50
    assert (run_dir / "trajectory.dcd").stat().st_size == info["trajectory_bytes"]
    assert mdtraj.load(str(run_dir / "trajectory.dcd"), top=str(run_dir / "system.pdb")).n_frames == 5
    assert (run_dir / "log.csv").stat().st_size == info["log_bytes"]
    assert list(run_dir.glob(".*.tmp")) == []
    # writable again: the same command resumes to the uninterrupted result
    assert run_simulation(run_dir, progress=False).resumed_from == "checkpoint"
    assert_same_as_uninterrupted(run_dir, reference)


# ------------------------------------------------------------------------------ directories that would give a wrong result
def _status(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["status"]


def test_outputs_shorter_than_the_record_are_refused_not_zero_extended(tmp_path: Path):
    """A partial copy of a run: trajectory and log shorter than checkpoint.json records. Cutting back would
    extend them with zeros (all-zero frames, NUL rows); the run refuses and names the file and both sizes."""
    run_dir = _half_run(tmp_path)
    info = json.loads((run_dir / "checkpoint.json").read_text())
    for name in ("trajectory.dcd", "log.csv"):
        (run_dir / name).write_bytes((run_dir / name).read_bytes()[: (run_dir / name).stat().st_size * 2 // 3])
    before = _files(run_dir)
    short = before["trajectory.dcd"]
    with pytest.raises(RunDirectoryError, match=rf"trajectory.dcd: holds {len(short)} bytes, but checkpoint.json "
                                                rf"records {info['trajectory_bytes']} at step 100"):
        run_simulation(run_dir, progress=False)
    assert _files(run_dir) == before


def _edit_spec(run_dir: Path, **changes: object) -> None:
    data = yaml.safe_load((run_dir / "spec.yaml").read_text())
    for path, value in changes.items():
        *parents, key = path.split("__")
        d = data
        for p in parents:
            d = d[p]
        d[key] = value
    (run_dir / "spec.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def test_resume_after_a_physical_spec_change_is_refused_naming_the_fields(tmp_path: Path):
    run_dir = _half_run(tmp_path)
    _edit_spec(run_dir, model__temperature="400 K", run__trajectory_interval=100)
    before = _files(run_dir)
    with pytest.raises(RunDirectoryError, match=r"spec.yaml: differs from the spec the run was started with in "
                                                r"model.temperature \('310(\.0)? K' -> '400(\.0)? K'\), run.trajectory_interval "
                                                r"\(50 -> 100\).* Only name, run.steps, "):
        run_simulation(run_dir, progress=False)
    assert _files(run_dir) == before


def test_resume_after_an_execution_field_changed_goes_on_and_says_what_changed(tmp_path: Path, caplog):
    run_dir = _half_run(tmp_path)
    _edit_spec(run_dir, run__threads=1, run__steps=250)
    r = run_simulation(run_dir, progress=False)
    assert (r.status, r.step, r.resumed_from) == ("complete", 250, "checkpoint")
    assert "run.steps: 200 -> 250" in caplog.text and "run.threads: None -> 1" in caplog.text
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["spec_changes"] == ["run.steps: 200 -> 250", "run.threads: None -> 1"]
    assert mdtraj.load(str(run_dir / "trajectory.dcd"), top=str(run_dir / "system.pdb")).n_frames == 5


@pytest.mark.parametrize("field, value", [("state", "../../../etc/passwd"), ("checkpoint", "/etc/passwd")],
                         ids=["state-outside-the-directory", "checkpoint-absolute"])
def test_file_names_from_the_record_must_be_its_own_plain_names(field: str, value: str, tmp_path: Path):
    """A record naming a file elsewhere (its checksum removed) is refused before any file is read or written:
    the named file is never copied into final_state.xml nor loaded."""
    run_dir = _half_run(tmp_path)
    info = json.loads((run_dir / "checkpoint.json").read_text())
    info[field] = value
    del info[f"{field}_sha256"]
    (run_dir / "checkpoint.json").write_text(json.dumps(info))
    rec = json.loads((run_dir / "run.json").read_text())
    # as if killed after its last checkpoint, before its closing writes: the next run would write final_state.xml
    (run_dir / "run.json").write_text(json.dumps({**rec, "status": "running", "target_steps": 100}))
    (run_dir / "final_state.xml").unlink()
    before = _files(run_dir)
    with pytest.raises(RunDirectoryError, match=rf"checkpoint.json: {field} = '{re.escape(value)}'; accepted the "
                                                "plain name of a file in this directory"):
        run_simulation(run_dir, steps=100, progress=False)
    assert _files(run_dir) == before and not (run_dir / "final_state.xml").exists()


@pytest.mark.parametrize("name", ["log.csv", "trajectory.dcd", ".lock", "run.json"])
def test_symlinked_outputs_are_refused_and_their_targets_untouched(name: str, tmp_path: Path):
    run_dir = _half_run(tmp_path)
    target = tmp_path / f"elsewhere-{name.lstrip('.')}"
    shutil.move(run_dir / name, target)
    with open(target, "ab") as f:
        f.write(b"data written after the checkpoint, which a cut-back would remove\n")
    (run_dir / name).symlink_to(target)
    content = target.read_bytes()
    with pytest.raises(RunError, match=rf"{re.escape(name)}: is a symbolic link"):
        run_simulation(run_dir, progress=False)
    assert target.read_bytes() == content


def test_a_garbage_trajectory_is_refused_before_it_is_touched(tmp_path: Path):
    run_dir = _half_run(tmp_path)
    size = (run_dir / "trajectory.dcd").stat().st_size
    (run_dir / "trajectory.dcd").write_bytes(np.random.default_rng(7).bytes(size + 100))
    before, status = _files(run_dir), _status(run_dir)
    with pytest.raises(RunDirectoryError, match="trajectory.dcd: does not start with a DCD header; it is not this "
                                                "run's trajectory. Nothing was changed"):
        run_simulation(run_dir, progress=False)
    assert _files(run_dir) == before and _status(run_dir) == status != "running"
    out = subprocess.run([sys.executable, "-m", "snarefuse.cli", "run", str(run_dir), "--no-progress"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"Error: {run_dir / 'trajectory.dcd'}: does not start with a DCD header")


@pytest.fixture(scope="module")
def other_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Builds to copy over a run's: one with other lipids (another particle count), one of another seed (the
    same count, other positions)."""
    d = tmp_path_factory.mktemp("other")
    build_system(small_spec(**{**CKPT, "system__bilayer__n_lipids": 100})).save(d / "count")
    build_system(small_spec(**{**CKPT, "seed": 99})).save(d / "seed")
    return {"count": d / "count", "seed": d / "seed"}


@pytest.mark.parametrize("other, named", [
    ("count", r"system.xml: has 300 particles but manifest.json records n_atoms = 600"),
    ("seed", r"system.(xml|pdb): is not the file the run started with"),
], ids=["another-particle-count", "same-count-another-build"])
def test_a_build_replaced_by_another_is_named(other: str, named: str, other_builds: dict, tmp_path: Path):
    run_dir = _half_run(tmp_path)
    for name in ("system.xml", "system.pdb"):
        shutil.copy(other_builds[other] / name, run_dir / name)
    before = _files(run_dir)
    with pytest.raises(RunDirectoryError, match=named):
        run_simulation(run_dir, progress=False)
    assert _files(run_dir) == before


# ------------------------------------------------------------------------------ a finished run mutated at random
#: Files of the finished run of tests/test_crash.py (150 steps, a frame and a log row every 10, checkpoint at 150).
RUN_FILES = ["trajectory.dcd", "log.csv", "checkpoint.json", "run.json", "manifest.json", "spec.yaml", "system.xml",
             "system.pdb", "final_state.xml", "checkpoint-000000000150.chk", "state-000000000150.xml"]
#: Steps the mutated run is asked to reach: one log row and frame past the finished run.
STEPS_FUZZ = 160
JSON_FILES = ["checkpoint.json", "run.json", "manifest.json"]
SPEC_PATHS = ["seed", "model.temperature", "run.steps", "run.threads", "run.platform", "run.trajectory_interval",
              "run.timestep", "system.bilayer.n_lipids"]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                     st.text(max_size=20))
_values = st.one_of(_scalars, st.lists(_scalars, max_size=3))
MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.sampled_from(RUN_FILES), st.floats(0.0, 0.999)),
    st.tuples(st.just("extend"), st.sampled_from(RUN_FILES), st.binary(min_size=1, max_size=200)),
    st.tuples(st.just("replace"), st.sampled_from(RUN_FILES), st.binary(max_size=400)),
    st.tuples(st.just("symlink"), st.sampled_from(RUN_FILES), st.none()),
    st.tuples(st.just("delete"), st.sampled_from(RUN_FILES), st.none()),
    st.tuples(st.just("rename"), st.sampled_from(RUN_FILES), st.sampled_from(RUN_FILES + ["trajectory.xtc"])),
    st.tuples(st.just("json"), st.sampled_from(JSON_FILES), st.tuples(st.text(max_size=12), _values)),
    st.tuples(st.just("json-field"), st.sampled_from(JSON_FILES), _values),
    st.tuples(st.just("spec"), st.sampled_from(SPEC_PATHS), _values),
)


def _edit_json(path: Path, key: str | None, value: object) -> None:
    """Set ``key`` (None: the existing key picked by ``value``'s text) of a JSON object file to ``value``."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict):
        if key is None:
            key = sorted(data)[len(str(value)) % len(data)] if data else "x"
        data[key] = value
        path.write_text(json.dumps(data))


def _edit_yaml(path: Path, dotted: str, value: object) -> None:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return
    node = data
    *parents, key = dotted.split(".")
    for k in parents:
        node = node.get(k) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node[key] = value
        path.write_text(yaml.safe_dump(data))


def _mutate(d: Path, outside: Path, kind: str, name: str, arg: object) -> None:
    p = d / name
    if (d / "spec.yaml" if kind == "spec" else p).is_symlink() and kind not in ("delete", "rename"):
        return  # the mutation itself would write through the link, outside the directory
    if kind == "json":
        _edit_json(p, *arg)  # type: ignore[misc]
    elif kind == "json-field":
        _edit_json(p, None, arg)
    elif kind == "spec":
        _edit_yaml(d / "spec.yaml", name, arg)
    elif not p.exists() and not p.is_symlink():
        return
    elif kind == "truncate":
        p.write_bytes(p.read_bytes()[: int(p.stat().st_size * float(arg))])  # type: ignore[arg-type]
    elif kind == "extend":
        with open(p, "ab") as f:
            f.write(arg)  # type: ignore[arg-type]
    elif kind == "replace":
        p.write_bytes(arg)  # type: ignore[arg-type]
    elif kind == "symlink":
        p.unlink()
        p.symlink_to(outside)
    elif kind == "delete":
        p.unlink()
    elif kind == "rename":
        p.replace(d / str(arg))


@settings(max_examples=int(os.environ.get("SNAREFUSE_FUZZ_EXAMPLES", "30")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(MUTATIONS, min_size=1, max_size=2))
def test_a_mutated_finished_run_resumes_correctly_or_is_refused_naming_a_file(mutations: list, reference: Path):
    """Read as a sweep point, then run 10 steps past a finished run after random changes to its files: the status
    is one of the sweep's states; the result is the uninterrupted run's frames and rows plus the new ones, or a
    SnarefuseError naming a file of the directory; never a traceback, a zero-filled output, or a change to a file
    outside the directory."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "run"
        shutil.copytree(reference, d, ignore=shutil.ignore_patterns(".lock"))
        outside = Path(tmp) / "outside.bin"
        outside.write_bytes(b"a file outside the run directory\n" * 40)
        before_outside = outside.read_bytes()
        for kind, name, arg in mutations:
            _mutate(d, outside, kind, name, arg)
        status = point_status(Point("fuzz", load_spec(reference / "spec.yaml"), {}, 0, 0, STEPS_FUZZ, d))
        assert status.state in STATES and status.step >= 0
        try:
            r = run_simulation(d, steps=STEPS_FUZZ, progress=False)
        except SnarefuseError as e:
            assert str(d) in str(e), str(e)
        else:
            assert r.step == STEPS_FUZZ
            ta = mdtraj.load(str(reference / "trajectory.dcd"), top=str(reference / "system.pdb"))
            tb = mdtraj.load(str(d / "trajectory.dcd"), top=str(reference / "system.pdb"))
            assert tb.n_frames == ta.n_frames + 1
            np.testing.assert_array_equal(tb.xyz[: ta.n_frames], ta.xyz)
            assert (np.abs(tb.xyz).reshape(tb.n_frames, -1).max(axis=1) > 0).all()
            log_text = (d / "log.csv").read_text()
            assert "\x00" not in log_text
            assert [int(row.split(",")[0]) for row in log_text.splitlines()[1:]] == list(range(10, STEPS_FUZZ + 1, 10))
        try:
            summary = analyze_run(d, Path(tmp) / "analysis", figures=False)
        except SnarefuseError as e:
            assert str(d) in str(e), str(e)
        else:
            assert summary["n_frames"] > 0
        assert outside.read_bytes() == before_outside


def test_an_openmm_error_during_the_dynamics_fails_the_run_cleanly(tmp_path: Path, monkeypatch):
    """OpenMM raising for another reason than NaN (a force's own check, a device error) mid-run: a RunError with
    OpenMM's message, run.json 'failed' (not left 'running'), outputs at the last checkpoint; the run resumes."""
    from openmm import app

    run_dir = _half_run(tmp_path)
    real_step = app.Simulation.step
    calls = []

    def failing_step(self, steps):  # type: ignore[no-untyped-def]
        calls.append(steps)
        if len(calls) == 2:
            raise openmm.OpenMMException("SomeForce: a check of its own failed\nsecond line")
        return real_step(self, steps)

    monkeypatch.setattr(app.Simulation, "step", failing_step)
    with pytest.raises(RunError, match=r"OpenMM stopped the run between steps 150 and 200 on CPU .*: SomeForce: a "
                                       r"check of its own failed\. .*last checkpoint \(step 100\)"):
        run_simulation(run_dir, progress=False)
    info = json.loads((run_dir / "checkpoint.json").read_text())
    assert info["step"] == 100 and (run_dir / "log.csv").stat().st_size == info["log_bytes"]
    assert (run_dir / "trajectory.dcd").stat().st_size == info["trajectory_bytes"]
    assert _status(run_dir) == "failed"
    monkeypatch.setattr(app.Simulation, "step", real_step)
    r = run_simulation(run_dir, progress=False)
    assert (r.status, r.step) == ("complete", 200)
