"""The bytes of the trajectory files the runner writes (OpenMM's ``DCDFile`` and ``XTCFile``): header checks, sizes
and frame counts, so that a run directory can be checked before a file is cut back, appended to or analysed."""

from __future__ import annotations

import os
from pathlib import Path

#: DCD: the first record is 84 bytes long and starts with ``CORD``; the atom count is at byte 268 (after the
#: 84-byte header record, the 2-line title record and the atom-count record's length).
_DCD_ATOMS_OFFSET = 268
#: DCD: bytes before the first frame, and of a frame's unit-cell record; each coordinate block is 4 N + 8 bytes.
_DCD_HEADER_BYTES = 276
_DCD_CELL_BYTES = 56
#: XTC: every frame starts with this big-endian magic number and the atom count.
_XTC_MAGIC = 1995


def dcd_sizes(frames: int, n_atoms: int) -> set[int]:
    """Byte sizes of an OpenMM DCD file with ``frames`` frames of ``n_atoms`` atoms, with or without unit cells
    (0 before the first frame: the runner creates the file with it)."""
    if frames == 0:
        return {0, _DCD_HEADER_BYTES}
    coords = 3 * (4 * n_atoms + 8)
    return {_DCD_HEADER_BYTES + frames * (coords + cell) for cell in (0, _DCD_CELL_BYTES)}


def dcd_frame_counts(path: Path, n_atoms: int) -> tuple[int, int]:
    """Frames a DCD file's header counts, and complete frames of ``n_atoms`` atoms its size holds."""
    with open(path, "rb") as f:
        head = f.read(52)
    counted = int.from_bytes(head[8:12], "little", signed=True)
    cell = _DCD_CELL_BYTES if int.from_bytes(head[48:52], "little") else 0  # the header's unit-cell flag
    return counted, max(path.stat().st_size - _DCD_HEADER_BYTES, 0) // (3 * (4 * n_atoms + 8) + cell)


def trajectory_header_problem(path: Path, fmt: str, n_atoms: int) -> str | None:
    """What is wrong with the start of a ``fmt`` trajectory of ``n_atoms`` atoms (None: nothing)."""
    with open(path, "rb") as f:
        head = f.read(_DCD_ATOMS_OFFSET + 4)
    if fmt == "dcd":
        if len(head) < _DCD_ATOMS_OFFSET + 4 or head[:8] != (84).to_bytes(4, "little") + b"CORD":
            return "does not start with a DCD header"
        atoms = int.from_bytes(head[_DCD_ATOMS_OFFSET:_DCD_ATOMS_OFFSET + 4], "little", signed=True)
    else:
        if len(head) < 8 or int.from_bytes(head[:4], "big", signed=True) != _XTC_MAGIC:
            return "does not start with an XTC frame"
        atoms = int.from_bytes(head[4:8], "big", signed=True)
    if atoms != n_atoms:
        return f"holds frames of {atoms} atoms, the system has {n_atoms}"
    return None


def dcd_set_frame_count(path: Path, frames: int) -> None:
    """Patch the frame count in a DCD header (after truncating the file to ``frames`` frames).

    An empty file (cut back to before its first frame) has no header yet and is left empty.
    """
    if path.stat().st_size == 0:
        return
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(int(frames).to_bytes(4, "little", signed=True))
        f.flush()
        os.fsync(f.fileno())
