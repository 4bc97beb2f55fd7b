"""Safe file output: atomic writes (temp file + fsync + rename) so that nothing already
written is lost or left half-written, whatever kills the process.

Pattern from OpenMM's ``app/internal/safesave.py``.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RunError

if TYPE_CHECKING:
    import mdtraj
    import numpy as np


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never a part."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise RunError(f"{path}: cannot write ({e.strerror}); check the directory exists and is writable") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise RunError(f"{path}: write failed ({e.strerror}); the previous version, if any, is intact") from None


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomic JSON write, indented and key-sorted for readable diffs."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def trajectory_path(run_dir: str | Path) -> Path:
    """The trajectory file of a run directory (``trajectory.dcd`` or ``trajectory.xtc``)."""
    d = Path(run_dir)
    for ext in ("dcd", "xtc"):
        p = d / f"trajectory.{ext}"
        if p.exists():
            return p
    raise RunError(f"{d}: no trajectory.dcd or trajectory.xtc; run the system first ('snarefuse run {d}')")


def frame_times_ps(run_dir: str | Path, first_frame: int, n_frames: int) -> "np.ndarray":
    """Simulation time (ps) of frames ``first_frame ... first_frame + n_frames - 1`` of a run.

    Frames are written every ``run.trajectory_interval`` steps starting after step 0, so frame i
    is at step (i + 1) * interval. DCD headers store time in AKMA units that readers interpret
    differently; the run's resolved spec is the reliable source.
    """
    import numpy as np

    from .spec import load_spec

    run = load_spec(Path(run_dir) / "spec.yaml").run
    idx = np.arange(first_frame, first_frame + n_frames)
    return (idx + 1) * run.trajectory_interval * run.timestep_ps


def load_trajectory(run_dir: str | Path, stride: int | None = None) -> "mdtraj.Trajectory":
    """Load a run's whole trajectory with mdtraj, with frame times in ps set from the run's spec and the
    topology of :func:`load_run_topology`."""
    import mdtraj

    d = Path(run_dir)
    t = mdtraj.load(str(trajectory_path(d)), top=load_run_topology(d), stride=stride)
    t.time = frame_times_ps(d, 0, t.n_frames * (stride or 1))[:: stride or 1][: t.n_frames]
    return t


def load_run_topology(run_dir: str | Path, manifest: dict[str, Any] | None = None) -> "mdtraj.Topology":
    """The mdtraj topology of a built run (system.pdb) with the SNARE residues' real numbers (VAMP2 28-116,
    syntaxin 191-288, ...), so that ``top.select("chainid 2 and resSeq 56")`` is VAMP2 R56 of complex 0.

    system.pdb numbers the residues of each chain from 1 (OpenMM's PDB writer, ``keepIds=False``, which keeps
    lipid numbering within the PDB format's four digits); the real numbers are in system.psf and in
    ``manifest.json`` (read here unless ``manifest``, its parsed content, is given).
    """
    import mdtraj

    d = Path(run_dir)
    top = mdtraj.load_topology(str(d / "system.pdb"))
    if manifest is None:
        try:
            manifest = json.loads((d / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = {}
    for cx in (manifest or {}).get("snares") or []:
        first = int(cx["first_atom"])
        for i, resid in enumerate(cx["resid"]):  # one bead (the CA) per residue
            top.atom(first + i).residue.resSeq = int(resid)
    return top


def csv_cell(v: Any) -> Any:
    """A CSV cell: None -> empty, scalars as they are, anything else as JSON."""
    return "" if v is None else v if isinstance(v, (str, int, float, bool)) else json.dumps(v)


def csv_text(columns: list[str], rows: Any) -> str:
    """CSV text of ``rows`` (mappings) with ``columns``; missing cells empty, extra keys ignored."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: csv_cell(r.get(c)) for c in columns})
    return buf.getvalue()


@contextmanager
def file_lock(path: Path, timeout_s: float, poll_s: float = 0.2) -> Iterator[None]:
    """Exclusive ``flock`` on ``path``, waiting up to ``timeout_s``; released when the process dies."""
    f = open(path, "a+")
    try:
        t0 = time.monotonic()
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() - t0 > timeout_s:
                    f.seek(0)
                    raise RunError(f"{path}: still held by {f.read().strip() or 'another process'} after "
                                   f"{timeout_s:g} s") from None
                time.sleep(poll_s)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    finally:
        f.close()


def lock_holder(lock: Path) -> tuple[bool | None, str]:
    """Whether the process named in a lock file lives: True/False on this host, None elsewhere."""
    try:
        words = lock.read_text().split()
        pid, host = int(words[1]), words[3]
    except (OSError, ValueError, IndexError):
        return False, ""
    if host != os.uname().nodename:
        return None, f"pid {pid} on {host}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, f"pid {pid}"
    except PermissionError:
        pass
    return True, f"pid {pid} on {host}"
