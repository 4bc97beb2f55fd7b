"""Safe file output: atomic writes (temp file + fsync + rename) so that nothing already
written is lost or left half-written, whatever kills the process.

Pattern from OpenMM's ``app/internal/safesave.py``.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import RunError

#: Most characters of a lock file's text that are read (it names its holder in one short line).
_LOCK_TEXT_MAX = 200


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
def file_lock(path: Path, timeout_s: float, poll_s: float = 0.1, busy: str | None = None) -> Iterator[None]:
    """Exclusive ``flock`` on ``path``, waiting up to ``timeout_s``; the kernel releases it when the process dies.

    The file's text (``pid N on HOST``, written once the lock is held) only describes the holder; whether the
    lock is held is the flock itself (:func:`lock_holder`). ``busy``: the message when the wait runs out, with
    ``{holder}`` for that text. A symbolic link is refused: the text would be written through it.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RunError(f"{path}: is a symbolic link; a lock file must be a regular file. Move the link away"
                           ) from None
        raise
    with os.fdopen(fd, "r+") as f:
        t0 = time.monotonic()
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() - t0 >= timeout_s:
                    f.seek(0)
                    holder = f.read(_LOCK_TEXT_MAX).strip() or "another process"
                    msg = busy or f"{path}: still held by {{holder}} after {timeout_s:g} s"
                    raise RunError(msg.format(holder=holder)) from None
                time.sleep(poll_s)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def lock_holder(lock: Path) -> tuple[bool, str]:
    """Whether a process holds ``lock`` (a :func:`file_lock`) now, and the text it wrote there.

    Tested with a non-blocking shared ``flock``, not by the process id in the text: a dead holder's id may be
    reused, and a holder on another host has an id that means nothing here. A lock file on a network file
    system answers for holders on other hosts where that file system supports ``flock`` (NFS emulates it with
    byte-range locks). Holding the probe for an instant can delay a starting run, which waits for the lock a
    little longer (``snarefuse.rundir.LOCK_WAIT_S``).
    """
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False, ""
    with os.fdopen(fd, "r") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True, f.read(_LOCK_TEXT_MAX).strip() or "another process"
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False, f.read(_LOCK_TEXT_MAX).strip()
