"""Analysis framework: lipid index, result tables, streaming over frames, the ``*Analysis`` template.

Pattern of MDAnalysis ``analysis/base.py``: an analysis is constructed on a trajectory, ``run(start,
stop, step)`` calls ``_prepare()``, then ``_single_frame(frame)`` for every frame, then ``_conclude()``,
and returns ``self``; results go to ``self.results`` and the per-frame table to ``self.table``.
Frames are streamed with :func:`mdtraj.iterload` in chunks of ``chunk`` frames, so memory stays bounded
whatever the trajectory length. Several analyses can share one pass (and one per-frame cache of
leaflets, membrane geometry, contact frame) with :func:`run_analyses`.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import mdtraj
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import SnarefuseError
from ..io import atomic_write_text
from ..lumen import GAS_RESNAME
from ..quiet import c_stdout_silenced

#: Residue name of content-marker beads: the gas beads the builder puts into each vesicle's lumen
#: (:mod:`snarefuse.lumen`) are the vesicle's content, so content mixing follows them.
MARKER_RESNAME = GAS_RESNAME
#: Conversion of the DCD header time step (AKMA units) to ps, as written by OpenMM's DCDFile.
AKMA_TIME_PS = 0.04888821

T = TypeVar("T", bound="AnalysisBase")


class AnalysisError(SnarefuseError, ValueError):
    """An analysis cannot run on this input (missing file, no lipids, unknown option...)."""


# ---------------------------------------------------------------------------------------------
# lipid index
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LipidIndex:
    """Which atoms are lipid heads and tails, and which membrane each lipid was built in.

    A lipid is a residue whose atoms are named ``H`` then ``T1, T2[, T3...]``; its membrane is its
    chain (chains holding lipids are numbered ``0, 1, ...`` in chain order). Residues named
    :data:`MARKER_RESNAME` (``GAS``, the lumen's gas beads) are content markers. Everything else (proteins) is ignored.

    Attributes
    ----------
    head : ndarray of int64, shape (n_lipids,)
        Atom index of each head bead.
    tails : ndarray of int64, shape (n_lipids, max_tail)
        Atom indices of the tail beads, ``-1``-padded for shorter lipids.
    membrane : ndarray of int64, shape (n_lipids,)
        Membrane (build-time chain) of each lipid.
    markers : ndarray of int64, shape (n_markers,)
        Atom indices of marker beads.
    n_atoms : int
    """

    head: NDArray[np.int64]
    tails: NDArray[np.int64]
    membrane: NDArray[np.int64]
    markers: NDArray[np.int64]
    n_atoms: int
    resname: tuple[str, ...] = ()

    @classmethod
    def from_arrays(cls, head: ArrayLike, tails: Sequence[Sequence[int]] | NDArray[np.int64], membrane: ArrayLike,
                    n_atoms: int, markers: ArrayLike = ()) -> "LipidIndex":
        """Build from plain index lists (what an OpenMM reporter can precompute)."""
        m = max((len(t) for t in tails), default=0)
        tl = np.full((len(tails), m), -1, dtype=np.int64)
        for i, t in enumerate(tails):
            tl[i, : len(t)] = t
        return cls(np.asarray(head, dtype=np.int64), tl, np.asarray(membrane, dtype=np.int64),
                   np.asarray(markers, dtype=np.int64), int(n_atoms))

    @classmethod
    def from_topology(cls, topology: Any) -> "LipidIndex":
        """From an ``mdtraj.Topology`` or an ``openmm.app.Topology``."""
        residues = topology.residues() if callable(topology.residues) else topology.residues
        heads: list[int] = []
        tails: list[list[int]] = []
        chains: list[int] = []
        names: list[str] = []
        markers: list[int] = []
        for res in residues:
            atoms = list(res.atoms() if callable(res.atoms) else res.atoms)
            if res.name == MARKER_RESNAME:
                markers.extend(a.index for a in atoms)
                continue
            an = [a.name for a in atoms]
            if len(an) >= 3 and an[0] == "H" and an[1:] == [f"T{i}" for i in range(1, len(an))]:
                heads.append(atoms[0].index)
                tails.append([a.index for a in atoms[1:]])
                chains.append(res.chain.index)
                names.append(res.name)
        n_atoms = topology.getNumAtoms() if hasattr(topology, "getNumAtoms") else topology.n_atoms
        uniq, membrane = np.unique(np.asarray(chains, dtype=np.int64), return_inverse=True)
        idx = cls.from_arrays(heads, tails, membrane, n_atoms, markers)
        return cls(idx.head, idx.tails, idx.membrane, idx.markers, idx.n_atoms, tuple(names))

    @property
    def n_lipids(self) -> int:
        return int(len(self.head))

    @property
    def n_membranes(self) -> int:
        return int(self.membrane.max()) + 1 if len(self.membrane) else 0

    @property
    def last_tail(self) -> NDArray[np.int64]:
        """Atom index of the last tail bead of each lipid."""
        n = (self.tails >= 0).sum(axis=1)
        return self.tails[np.arange(len(n)), n - 1]

    @property
    def tail_atoms(self) -> NDArray[np.int64]:
        """All tail-bead atom indices (lipid by lipid)."""
        return self.tails[self.tails >= 0]

    @property
    def tail_lipid(self) -> NDArray[np.int64]:
        """Lipid of each entry of :attr:`tail_atoms`."""
        return np.nonzero(self.tails >= 0)[0]

    def atoms_of(self, membrane: int) -> NDArray[np.int64]:
        """All lipid-bead atom indices of one membrane."""
        sel = self.membrane == membrane
        t = self.tails[sel]
        return np.concatenate([self.head[sel], t[t >= 0]])


def as_lipid_index(info: LipidIndex | Mapping[str, Any] | Any) -> LipidIndex:
    """Accept a :class:`LipidIndex`, a mapping with ``head``, ``tails``, ``membrane`` (and optionally
    ``n_atoms``, ``markers``), or a topology."""
    if isinstance(info, LipidIndex):
        return info
    if isinstance(info, Mapping):
        n_atoms = info.get("n_atoms")
        if n_atoms is None:
            n_atoms = 1 + max(int(np.max(info["head"])), max(int(np.max(t)) for t in info["tails"]))
        return LipidIndex.from_arrays(info["head"], info["tails"], info["membrane"], n_atoms,
                                      info.get("markers", ()))
    if hasattr(info, "residues"):
        return LipidIndex.from_topology(info)
    raise AnalysisError("lipid_index_info: expected a LipidIndex, a topology, or a mapping with keys "
                        f"'head', 'tails', 'membrane'; got {type(info).__name__}")


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
class Table(dict):  # type: ignore[type-arg]
    """A pandas-free table: an insertion-ordered ``dict`` of equal-length 1-D numpy arrays.

    Examples
    --------
    >>> t = Table(frame=np.arange(3), gap_nm=np.array([1.0, 0.5, 0.25]))
    >>> t.columns, t.n_rows
    (['frame', 'gap_nm'], 3)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def __setitem__(self, key: str, value: Any) -> None:
        arr = np.asarray(value)
        if arr.ndim != 1:
            raise AnalysisError(f"table column {key!r}: expected a 1-D array, got shape {arr.shape}")
        if len(self) and len(arr) != self.n_rows:
            raise AnalysisError(f"table column {key!r}: {len(arr)} rows, the table has {self.n_rows}")
        super().__setitem__(key, arr)

    @property
    def columns(self) -> list[str]:
        return list(self.keys())

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.values()))) if len(self) else 0

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> "Table":
        """Columns from a list of per-frame dicts (keys of the first row, in order)."""
        if not rows:
            return cls()
        return cls({k: np.array([r[k] for r in rows]) for k in rows[0]})

    def to_csv(self, path: str | Path) -> None:
        """Write as CSV (header row, ``%.10g`` floats, bools as 0/1), atomically."""
        buf = io.StringIO()
        buf.write(",".join(self.columns) + "\n")
        cols = []
        for v in self.values():
            if v.dtype.kind == "b":
                cols.append([str(int(x)) for x in v])
            elif v.dtype.kind == "f":
                cols.append([f"{x:.10g}" for x in v])
            else:
                cols.append([str(x) for x in v])
        for row in zip(*cols):
            buf.write(",".join(row) + "\n")
        atomic_write_text(path, buf.getvalue())

    @classmethod
    def from_csv(cls, path: str | Path) -> "Table":
        """Read a table written by :meth:`to_csv` (ints, floats and strings recovered by column)."""
        lines = Path(path).read_text().splitlines()
        if not lines:
            return cls()
        names = lines[0].split(",")
        raw = list(zip(*[ln.split(",") for ln in lines[1:]])) if len(lines) > 1 else [()] * len(names)
        out = cls()
        for name, col in zip(names, raw):
            for conv in (int, float):
                try:
                    out[name] = np.array([conv(x) for x in col])
                    break
                except ValueError:
                    continue
            else:
                out[name] = np.array(col, dtype=str)
        return out


class Results(dict):  # type: ignore[type-arg]
    """Results container: a dict with attribute access (``results.table``, ``results.first_passage``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


# ---------------------------------------------------------------------------------------------
# frames and trajectory sources
# ---------------------------------------------------------------------------------------------
@dataclass
class Frame:
    """One frame handed to ``_single_frame``.

    ``xyz`` (n_atoms, 3) and ``box`` (3,) are float64 in nm; ``cache`` is shared by all analyses run in
    the same pass and lives for this frame only.
    """

    index: int
    time_ps: float
    xyz: NDArray[np.float64]
    box: NDArray[np.float64]
    lipids: LipidIndex
    cache: dict[Any, Any] = field(default_factory=dict)


def read_dcd_times(path: str | Path) -> tuple[float, float] | None:
    """``(t0_ps, dt_ps)`` of the frames of a CHARMM/OpenMM DCD from its header, or None if it has none.

    OpenMM writes ``ISTART`` (first step), ``NSAVC`` (steps between frames) and the time step in AKMA
    units; frame ``i`` is at ``(ISTART + i * NSAVC) * delta``. mdtraj itself numbers DCD frames 0, 1, 2...
    """
    with open(path, "rb") as f:
        head = f.read(48)
    if len(head) < 48 or head[4:8] != b"CORD":
        return None
    istart, nsavc = struct.unpack("<2i", head[12:20])
    (delta,) = struct.unpack("<f", head[44:48])
    if nsavc <= 0 or not delta > 0 or (istart, nsavc, delta) == (0, 1, 1.0):
        return None  # no time information (mdtraj and VMD write these defaults)
    dt = float(delta) * AKMA_TIME_PS
    return istart * dt, nsavc * dt


class TrajectorySource:
    """Frames from an in-memory ``mdtraj.Trajectory`` or from a file streamed with ``mdtraj.iterload``.

    Parameters
    ----------
    trajectory : mdtraj.Trajectory or path
        The trajectory, or a DCD/XTC/... file.
    top : path or mdtraj.Topology, optional
        Topology (needed for files without one), e.g. ``system.pdb``.
    dt_ps : float, optional
        Time between stored frames in ps; overrides the file's times (frame ``i`` at ``i * dt_ps``).
    """

    def __init__(self, trajectory: mdtraj.Trajectory | str | Path, top: str | Path | mdtraj.Topology | None = None,
                 dt_ps: float | None = None):
        if dt_ps is not None and not dt_ps > 0:
            raise AnalysisError(f"dt_ps: {dt_ps}; accepted a time between frames > 0 ps, or None")
        self._traj: mdtraj.Trajectory | None = None
        self.path: Path | None = None
        self.dt_ps = dt_ps
        if isinstance(trajectory, mdtraj.Trajectory):
            self._traj = trajectory
            self.topology = trajectory.topology
        else:
            self.path = Path(trajectory)
            if not self.path.exists():
                raise AnalysisError(f"{self.path}: trajectory file not found")
            if top is None:
                raise AnalysisError(f"{self.path}: a topology is needed (top='system.pdb')")
            if isinstance(top, mdtraj.Topology):
                self.topology = top
            else:
                if not Path(top).exists():
                    raise AnalysisError(f"{top}: topology file not found")
                self.topology = mdtraj.load_topology(str(top))
            self._top_arg = self.topology
        self.lipids = LipidIndex.from_topology(self.topology)
        self._dcd_times = read_dcd_times(self.path) if (self.path and self.path.suffix.lower() == ".dcd") else None
        #: Where frame times come from: 'dt_ps', 'dcd_header', 'file' (XTC / in-memory), or 'frame_index'.
        self.time_source = ("dt_ps" if dt_ps is not None else "dcd_header" if self._dcd_times is not None
                            else "frame_index" if (self.path and self.path.suffix.lower() == ".dcd") else "file")

    def _time(self, index: int, file_time: float) -> float:
        if self.dt_ps is not None:
            return index * self.dt_ps
        if self._dcd_times is not None:
            return self._dcd_times[0] + index * self._dcd_times[1]
        return float(file_time)

    def iter_frames(self, start: int | None = None, stop: int | None = None, step: int | None = None,
                    chunk: int = 100) -> Iterator[Frame]:
        """Yield :class:`Frame` objects ``start:stop:step``, reading at most ``chunk`` frames at once."""
        start = int(start or 0)
        step = int(step or 1)
        if start < 0 or step < 1 or (stop is not None and stop < 0):
            raise AnalysisError(f"frames: start={start}, stop={stop}, step={step}; accepted start >= 0, "
                                "stop >= 0 or None, step >= 1")
        index = start
        for xyz, boxes, times in self._chunks(start, step, max(1, int(chunk))):
            if boxes is None:
                raise AnalysisError("trajectory has no periodic box; snarefuse analyses need an orthorhombic box")
            for i in range(len(xyz)):
                if stop is not None and index >= stop:
                    return
                yield Frame(index, self._time(index, times[i]), xyz[i].astype(np.float64),
                            boxes[i].astype(np.float64), self.lipids)
                index += step

    def _chunks(self, start: int, step: int, chunk: int) -> Iterator[tuple[Any, Any, Any]]:
        """``(xyz, box_lengths, times)`` arrays of successive chunks (no Trajectory slicing: it copies the
        topology, seconds for 10^5 atoms)."""
        if self._traj is not None:
            t = self._traj
            idx = np.arange(start, t.n_frames, step)
            boxes = t.unitcell_lengths
            for a in range(0, len(idx), chunk):
                sel = idx[a:a + chunk]
                yield t.xyz[sel], (boxes[sel] if boxes is not None else None), t.time[sel]
            return
        assert self.path is not None
        chunks = mdtraj.iterload(str(self.path), chunk=chunk, top=self._top_arg, skip=start, stride=step)
        while True:
            with c_stdout_silenced():  # mdtraj's dcdplugin prints to stdout when it opens the file
                ch = next(chunks, None)
            if ch is None:
                return
            yield ch.xyz, ch.unitcell_lengths, ch.time


# ---------------------------------------------------------------------------------------------
# the analysis template
# ---------------------------------------------------------------------------------------------
class AnalysisBase:
    """Base of every ``*Analysis``: ``run()`` streams the frames through ``_single_frame``.

    Parameters
    ----------
    trajectory : mdtraj.Trajectory, path, or TrajectorySource
    top : path or mdtraj.Topology, optional
        Topology for trajectory files (``system.pdb``).
    chunk : int
        Frames read at once (memory ~ chunk x n_atoms x 12 bytes).
    dt_ps : float, optional
        Time between stored frames in ps, overriding the file's times.
    """

    def __init__(self, trajectory: mdtraj.Trajectory | str | Path | TrajectorySource,
                 top: str | Path | mdtraj.Topology | None = None, *, chunk: int = 100,
                 dt_ps: float | None = None):
        self.source = trajectory if isinstance(trajectory, TrajectorySource) else TrajectorySource(
            trajectory, top, dt_ps=dt_ps)
        self.chunk = chunk
        self.results = Results()
        self._rows: list[dict[str, Any]] = []

    @property
    def lipids(self) -> LipidIndex:
        return self.source.lipids

    # template ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        self._rows = []

    def _single_frame(self, frame: Frame) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _single_frame (AnalysisBase is a template)")

    def _conclude(self) -> None:
        self.results.table = Table.from_rows(self._rows)

    def run(self: T, start: int | None = None, stop: int | None = None, step: int | None = None) -> T:
        """Analyse frames ``start:stop:step`` and return ``self``."""
        run_analyses([self], start=start, stop=stop, step=step, chunk=self.chunk)
        return self

    # results ---------------------------------------------------------------------------------
    @property
    def table(self) -> Table:
        """The per-frame results table (after :meth:`run`)."""
        if "table" not in self.results:
            raise AnalysisError(f"{type(self).__name__}: call run() before reading results")
        return self.results.table

    def to_csv(self, path: str | Path) -> None:
        """Write :attr:`table` as CSV."""
        self.table.to_csv(path)

    def plot(self, ax: Any = None) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError(f"{type(self).__name__} must define plot (AnalysisBase is a template)")


def run_analyses(analyses: Sequence[AnalysisBase], start: int | None = None, stop: int | None = None,
                 step: int | None = None, chunk: int | None = None) -> list[AnalysisBase]:
    """Run several analyses of the same trajectory in one pass, sharing the per-frame cache.

    All analyses must have been built on the same :class:`TrajectorySource` object (or sources of the
    same number of atoms; frames come from the first).
    """
    if not analyses:
        return []
    src = analyses[0].source
    for a in analyses[1:]:
        if a.source.lipids.n_atoms != src.lipids.n_atoms:
            raise AnalysisError(f"{type(a).__name__}: built on a trajectory of {a.source.lipids.n_atoms} "
                                f"atoms, the first analysis on {src.lipids.n_atoms}")
    for a in analyses:
        a._prepare()
    for frame in src.iter_frames(start, stop, step, chunk or analyses[0].chunk):
        for a in analyses:
            a._single_frame(frame)
    for a in analyses:
        a._conclude()
    return list(analyses)
