"""Silence what C libraries print on the process's standard output.

mdtraj's DCD reader (the VMD molfile ``dcdplugin``) prints ``dcdplugin) detected standard 32-bit DCD file ...``
with C ``printf`` each time it opens a file; that lands on the stdout of ``snarefuse analyze`` and of sweeps,
between the command's own lines. Python's ``sys.stdout`` cannot catch it: the file descriptor has to be
pointed elsewhere while the C code runs.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_LIBC = ctypes.CDLL(None)


@contextmanager
def c_stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to ``/dev/null`` for the duration of the block (C-level writes included), then
    restore it. Python's own ``sys.stdout`` is flushed first so that nothing written before is lost."""
    try:
        sys.stdout.flush()
    except (AttributeError, ValueError):  # no stdout, or closed
        pass
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (e.g. a daemon): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        _LIBC.fflush(None)  # what the C code buffered goes to /dev/null, not to the restored stdout
        os.dup2(saved, 1)
        os.close(saved)
