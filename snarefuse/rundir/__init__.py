"""``RunDirectory``: the one owner of a build/run directory. Its file names, how each file is read, which checks
a directory must pass before a run resumes or an analysis reads it, and the lock live here; the runner, the
event reporter, the analysis pipeline and the command line ask it (in the spirit of signac's ``Job``).

Layout (``snarefuse build`` writes the first group, ``snarefuse run`` the rest)::

    system.pdb, system.psf, system.xml, forcefield.xml, spec.yaml, manifest.json   the build
    trajectory.dcd|xtc     frames every run.trajectory_interval steps (the format is run.trajectory_format)
    log.csv                energies, temperature, box every run.report_interval steps
    checkpoint.json        the last consistent checkpoint: step, file names and checksums, output sizes, the spec
                           the run was started with and checksums of the build it runs
    checkpoint-<step>.chk  exact OpenMM checkpoint
    state-<step>.xml       portable State XML of the same step
    final_state.xml        portable state at the end
    run.json               status, platform, speed
    events.csv, events.json  pore checks and the pore event (snarefuse.events)
    .lock                  held (flock) while a run is active
    analysis/              ``snarefuse analyze``: <table>.csv, summary.json, <figure>.png, render/ (pictures)
    export/<format>/       ``snarefuse export`` (default folder)

Every malformed directory raises :class:`~snarefuse.errors.RunDirectoryError`, whose message names the file at
fault and what would be accepted.

The file names are in :mod:`.names`, the checkpoint record and the checks before a resume in :mod:`.checkpoints`
(:class:`~snarefuse.rundir.checkpoints.CheckpointRecord`, the base class of :class:`RunDirectory`); both are
imported from here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RunDirectoryError
from ..io import atomic_write_json, file_lock, lock_holder
# the record and resume checks (checkpoints.py) and the names (names.py) are this package's API
from .checkpoints import RESUMABLE_FIELDS, CheckpointRecord, sha256, shrink_file, spec_changes  # noqa: F401
from .names import (ANALYSIS_DIR, BUILD_FILES, CHECKED_BUILD_FILES, CHECKPOINT_JSON, CHECKPOINT_NAME,  # noqa: F401
                    EVENTS_CSV, EVENTS_JSON, EXPORT_DIR, FINAL_STATE_XML, FORCEFIELD_XML, LOCK, LOG_CSV,
                    MANIFEST_JSON, OWN_TEMP_PREFIXES, RENDER_DIR, RUN_JSON, SPEC_YAML, STATE_NAME, SUMMARY_JSON,
                    SYSTEM_CIF, SYSTEM_PDB, SYSTEM_PSF, SYSTEM_XML, TRAJECTORY_FORMATS)

if TYPE_CHECKING:
    import mdtraj
    import numpy as np
    import openmm
    from openmm import app

    from ..spec import Spec

#: How long a new run waits for the lock: longer than a status query holds it to test it.
LOCK_WAIT_S = 1.0


class RunDirectory(CheckpointRecord):
    """A build/run directory: every file name, read and check of it.

    Parameters
    ----------
    path : path
        The directory (``snarefuse build SPEC -o PATH`` makes one).

    Examples
    --------
    >>> rd = RunDirectory("runs/bilayer")
    >>> rd.log_csv.name
    'log.csv'
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._manifest: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    def fn(self, name: str) -> Path:
        """The path of file ``name`` of this directory."""
        return self.path / name

    # ------------------------------------------------------------------ file names
    spec_yaml = property(lambda self: self.path / SPEC_YAML, doc="``spec.yaml``: the resolved spec of the build.")
    manifest_json = property(lambda self: self.path / MANIFEST_JSON, doc="``manifest.json``: what was built.")
    system_xml = property(lambda self: self.path / SYSTEM_XML, doc="``system.xml``: the serialised OpenMM System.")
    system_psf = property(lambda self: self.path / SYSTEM_PSF, doc="``system.psf``: topology for VMD and MDAnalysis.")
    forcefield_xml = property(lambda self: self.path / FORCEFIELD_XML, doc="``forcefield.xml``: the force field.")
    system_pdb = property(lambda self: self.path / (SYSTEM_CIF if (self.path / SYSTEM_CIF).exists() else SYSTEM_PDB),
                          doc="``system.pdb`` (``system.cif`` past the PDB's limits): topology and start positions.")
    run_json = property(lambda self: self.path / RUN_JSON, doc="``run.json``: the run's status.")
    log_csv = property(lambda self: self.path / LOG_CSV, doc="``log.csv``: energies, temperature, box.")
    checkpoint_json = property(lambda self: self.path / CHECKPOINT_JSON, doc="``checkpoint.json``: the record.")
    final_state_xml = property(lambda self: self.path / FINAL_STATE_XML, doc="``final_state.xml``.")
    lock_path = property(lambda self: self.path / LOCK, doc="``.lock``: flocked while a run is active.")
    events_csv = property(lambda self: self.path / EVENTS_CSV, doc="``events.csv``: pore checks.")
    events_json = property(lambda self: self.path / EVENTS_JSON, doc="``events.json``: the pore event.")
    analysis_dir = property(lambda self: self.path / ANALYSIS_DIR, doc="``analysis/``: ``snarefuse analyze``.")
    summary_json = property(lambda self: self.analysis().summary_json, doc="``analysis/summary.json``.")

    def analysis(self) -> "AnalysisDirectory":
        """``analysis/``, where ``snarefuse analyze`` writes by default."""
        return AnalysisDirectory(self.analysis_dir)

    def export_dir(self, fmt: str) -> Path:
        """``export/<fmt>/``, where ``snarefuse export`` writes by default."""
        return self.path / EXPORT_DIR / _plain_name(fmt, "export format")

    def structure_file(self, fmt: str) -> Path:
        """Where the build writes its structure in format ``fmt``: ``pdb`` (``system.pdb``) or ``cif``."""
        names = {"pdb": SYSTEM_PDB, "cif": SYSTEM_CIF}
        if fmt not in names:
            raise ValueError(f"structure format: {fmt!r}; accepted {', '.join(names)}")
        return self.path / names[fmt]

    def trajectory_file(self, fmt: str) -> Path:
        """``trajectory.<fmt>``, where the runner writes frames in format ``fmt``."""
        return self.path / f"trajectory.{fmt}"

    def output_files(self, fmt: str | None = None) -> list[Path]:
        """Files a run writes or appends to (``fmt``: the trajectory format; None: both)."""
        fixed = [self.log_csv, self.run_json, self.checkpoint_json, self.final_state_xml, self.lock_path,
                 self.events_csv, self.events_json]
        return [*(self.trajectory_file(f) for f in ((fmt,) if fmt else TRAJECTORY_FORMATS)), *fixed,
                *self.checkpoint_files()]

    def checkpoint_files(self) -> list[Path]:
        """Files in the directory named as the runner names exact checkpoints and portable states."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if CHECKPOINT_NAME.fullmatch(p.name) or STATE_NAME.fullmatch(p.name))

    def has_started(self) -> bool:
        """Whether a run has written anything here (a checkpoint record, a trajectory, a log or ``run.json``)."""
        return any(p.exists() for p in (self.checkpoint_json, *map(self.trajectory_file, TRAJECTORY_FORMATS),
                                        self.log_csv, self.run_json))

    # ------------------------------------------------------------------ build
    def is_built(self) -> bool:
        """Whether ``manifest.json``, written last by a build, is there."""
        return self.manifest_json.exists()

    def require(self, *names: str, hint: str | None = None) -> None:
        """Raise :class:`RunDirectoryError` naming the first of ``names`` that is missing."""
        for name in names or BUILD_FILES:
            p = self.system_pdb if name == SYSTEM_PDB else self.path / name
            if not p.exists():
                raise RunDirectoryError(p, "missing; " + (hint or f"build the system first with 'snarefuse build "
                                                                  f"SPEC -o {self.path}'"))

    def spec(self) -> "Spec":
        """The resolved spec of the build (``spec.yaml``)."""
        from ..spec import load_spec

        self.require(SPEC_YAML)
        return load_spec(self.spec_yaml)

    def manifest(self, required: bool = False) -> dict[str, Any]:
        """``manifest.json`` as a dict (``{}`` when it is missing and not ``required``)."""
        if self._manifest is not None:
            return self._manifest
        if not self.manifest_json.exists():
            if required:
                self.require(MANIFEST_JSON)
            return {}
        data = self._read_json(self.manifest_json)
        for key, kind in MANIFEST_FIELD_TYPES.items():
            if key in data and not isinstance(data[key], kind):
                raise RunDirectoryError(self.manifest_json, f"field {key!r} is {type(data[key]).__name__}, expected "
                                                            f"{kind.__name__} (this file was not written by a build)")
        if not all(isinstance(m, dict) for m in data.get("membranes", [])):
            raise RunDirectoryError(self.manifest_json, "field 'membranes' must hold one object per membrane")
        self._manifest = data
        return data

    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
        except ValueError as e:
            raise RunDirectoryError(path, f"not valid JSON ({e})") from None
        except OSError as e:
            raise RunDirectoryError(path, f"cannot be read ({e.strerror})") from None
        if not isinstance(data, dict):
            raise RunDirectoryError(path, f"expected a JSON object, found {type(data).__name__}")
        return data

    @staticmethod
    def peek_json(path: Path) -> Any:
        """The parsed JSON file ``path`` (one of this directory's, e.g. ``rd.run_json``), or None where it is
        missing or unreadable: for readers that report on a directory and must not refuse (a sweep's status of a
        point not yet that far). A run or an analysis reads through the checked readers instead."""
        try:
            return json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return None

    def units(self) -> dict[str, float]:
        """``tau_ps``, ``sigma_nm``, ``tau_diffusion_ns`` of the manifest's ``units`` (those present)."""
        units = self.manifest().get("units") or {}
        return {k: float(units[k]) for k in ("tau_ps", "sigma_nm", "tau_diffusion_ns")
                if isinstance(units, dict) and isinstance(units.get(k), (int, float))}

    def contact_xy(self) -> tuple[float, float] | None:
        """x, y of the builder's contact axis when it runs along z (``contact_axis.point_nm``)."""
        return manifest_contact_xy(self.manifest())

    def read_build(self) -> tuple["Spec", dict[str, Any], "openmm.System", "app.PDBFile"]:
        """Spec, manifest, System and PDB of the build, checked against each other: the System's particles, the
        PDB's atoms and the manifest's ``n_atoms`` agree."""
        from ..structure import read_openmm_structure

        self.require(*BUILD_FILES)
        spec = self.spec()
        manifest = self.manifest(required=True)
        system = read_system_xml(self.system_xml)
        try:
            pdb = read_openmm_structure(self.system_pdb)
        except Exception as e:  # OpenMM's PDB reader raises whatever the malformed line provokes
            raise RunDirectoryError(self.system_pdb, f"cannot be read as a PDB file ({e})") from None
        n_sys, n_pdb, n_man = system.getNumParticles(), pdb.topology.getNumAtoms(), manifest.get("n_atoms")
        if n_pdb != n_sys:
            raise RunDirectoryError(self.system_pdb, f"has {n_pdb} atoms but system.xml {n_sys} particles; both "
                                    "must come from the same build")
        if isinstance(n_man, int) and n_man != n_sys:
            raise RunDirectoryError(self.system_xml, f"has {n_sys} particles but manifest.json records n_atoms = "
                                    f"{n_man}: the build files come from different builds; rebuild the directory")
        return spec, manifest, system, pdb

    def build_checksums(self) -> dict[str, str]:
        """SHA-256 of the build files a checkpoint records (:data:`CHECKED_BUILD_FILES`)."""
        paths = [self.system_pdb if name == SYSTEM_PDB else self.path / name for name in CHECKED_BUILD_FILES]
        return {p.name: sha256(p.read_bytes()) for p in paths}

    # ------------------------------------------------------------------ trajectory
    def trajectory(self) -> Path:
        """The run's trajectory: ``trajectory.<run.trajectory_format>`` of ``spec.yaml``; without a spec, the one
        of ``trajectory.dcd`` / ``trajectory.xtc`` that exists (both: refused, the choice would be a guess)."""
        if self.spec_yaml.exists():
            p = self.trajectory_file(self.spec().run.trajectory_format)
            if not p.exists():
                raise RunDirectoryError(p, f"missing (spec.yaml's run.trajectory_format names it); run the system "
                                        f"first ('snarefuse run {self.path}')")
            return p
        found = [self.trajectory_file(f) for f in TRAJECTORY_FORMATS if self.trajectory_file(f).exists()]
        if len(found) == 1:
            return found[0]
        names = " and ".join(f"trajectory.{f}" for f in TRAJECTORY_FORMATS)
        if not found:
            raise RunDirectoryError(self.path, f"no trajectory; expected {names.replace(' and ', ' or ')}; run the "
                                    f"system first ('snarefuse run {self.path}')")
        raise RunDirectoryError(self.path, f"holds both {names} and no spec.yaml to say which is the run's; "
                                "move one away")

    def frame_times_ps(self, first_frame: int, n_frames: int) -> "np.ndarray":
        """Simulation time (ps) of frames ``first_frame ... first_frame + n_frames - 1``.

        Frames are written every ``run.trajectory_interval`` steps starting after step 0, so frame i is at step
        (i + 1) * interval. DCD headers store time in AKMA units that readers interpret differently; the run's
        resolved spec is the reliable source.
        """
        import numpy as np

        run = self.spec().run
        idx = np.arange(first_frame, first_frame + n_frames)
        return (idx + 1) * run.trajectory_interval * run.timestep_ps

    def topology(self) -> "mdtraj.Topology":
        """The mdtraj topology of the build (``system.pdb``) with the SNARE residues' real numbers (VAMP2 28-116,
        syntaxin 191-288, ...), so that ``top.select("chainid 2 and resSeq 56")`` is VAMP2 R56 of complex 0.

        The structure file (system.pdb, or system.cif past the PDB's limits) carries the real numbers; builds made
        before it did numbered each chain from 1, so the numbers of ``manifest.json`` are applied here too.
        """
        import mdtraj

        self.require(SYSTEM_PDB, hint=f"this is not a build directory ('snarefuse build SPEC -o {self.path}')")
        try:
            top = mdtraj.load_topology(str(self.system_pdb))
        except Exception as e:  # mdtraj raises whatever the malformed line provokes
            raise RunDirectoryError(self.system_pdb, f"cannot be read as a structure file ({e})") from None
        for k, cx in enumerate(self.manifest().get("snares") or []):
            try:
                first = int(cx["first_atom"])
                for i, resid in enumerate(cx["resid"]):  # one bead (the CA) per residue
                    top.atom(first + i).residue.resSeq = int(resid)
            except (KeyError, TypeError, ValueError, IndexError) as e:
                raise RunDirectoryError(self.manifest_json, f"snares[{k}]: {e.__class__.__name__}: {e}; accepted "
                                        "first_atom (an atom index) and resid (one residue number per bead), as "
                                        "the build writes them") from None
        return top

    def load_trajectory(self, stride: int | None = None) -> "mdtraj.Trajectory":
        """The whole trajectory with mdtraj, with frame times (ps) from the spec and :meth:`topology`."""
        import mdtraj

        from ..quiet import c_stdout_silenced

        top = self.topology()
        with c_stdout_silenced():  # mdtraj's dcdplugin prints to stdout when it opens the file
            t = mdtraj.load(str(self.trajectory()), top=top, stride=stride)
        t.time = self.frame_times_ps(0, t.n_frames * (stride or 1))[:: stride or 1][: t.n_frames]
        return t

    # ------------------------------------------------------------------ status and lock
    def status(self) -> dict[str, Any]:
        """``run.json`` (``{}`` before the first run)."""
        return self._read_json(self.run_json) if self.run_json.exists() else {}

    def write_status(self, status: dict[str, Any]) -> None:
        """Replace ``run.json`` atomically."""
        atomic_write_json(self.run_json, status)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory's lock (an exclusive ``flock`` of ``.lock``, released by the kernel when the
        process dies, so a killed run never blocks the next); refused while another process holds it."""
        with file_lock(self.lock_path, LOCK_WAIT_S,
                       busy=f"{self.path}: another run is active in this directory ({{holder}}); wait for it to "
                            "finish or stop it first"):
            yield

    def lock_holder(self) -> tuple[bool, str]:
        """Whether a process holds the lock now, and who it says it is (the lock file's text)."""
        return lock_holder(self.lock_path)

    def refuse_symlinked_outputs(self, fmt: str | None = None) -> None:
        """Refuse a symbolic link where the run writes: writing, appending or cutting back through it would change
        a file outside the directory."""
        for p in self.output_files(fmt):
            if p.is_symlink():
                raise RunDirectoryError(p, f"is a symbolic link (to {os.readlink(p)}); a run writes only regular "
                                        "files inside its directory. Replace the link by a copy of its target "
                                        "or move it away")


def _plain_name(name: str, what: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"{what}: {name!r}; accepted letters, digits and '_' (a plain file name)")
    return name


class AnalysisDirectory:
    """The folder ``snarefuse analyze`` writes (``analysis/`` of a run directory, or one given): a table
    ``<name>.csv`` per analysis, ``summary.json``, a figure ``<name>.png`` each, ``render/`` for pictures."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    summary_json = property(lambda self: self.path / SUMMARY_JSON, doc="``summary.json``: the summary.")
    render_dir = property(lambda self: self.path / RENDER_DIR, doc="``render/``: ``snarefuse render``'s pictures.")

    def table(self, name: str) -> Path:
        """``<name>.csv``: the per-frame table of analysis ``name`` (``fusion``, ``membranes``, ...)."""
        return self.path / f"{_plain_name(name, 'table')}.csv"

    def figure(self, name: str) -> Path:
        """``<name>.png``: figure ``name`` (``timeline``, ``separation``, ...)."""
        return self.path / f"{_plain_name(name, 'figure')}.png"


#: Types of the manifest fields the runner and the analysis read (the rest are records for people).
MANIFEST_FIELD_TYPES: dict[str, type] = {"membranes": list, "snares": list, "species": dict, "units": dict,
                                         "contact_axis": dict, "box_nm": list, "n_atoms": int, "n_gas": int,
                                         "n_lipids": int, "beads_per_lipid": int, "geometry": str}


def manifest_contact_xy(manifest: dict[str, Any]) -> tuple[float, float] | None:
    """x, y of a manifest's contact axis when it runs along z (``contact_axis.point_nm``)."""
    import numpy as np

    ax: Any = manifest.get("contact_axis")
    try:
        d = np.array(ax["direction"], dtype=np.float64)
        p = np.array(ax["point_nm"], dtype=np.float64)
    except (TypeError, KeyError, ValueError):
        return None
    if d.shape != (3,) or p.shape != (3,) or abs(abs(d[2]) - np.linalg.norm(d)) > 1e-6:
        return None
    return float(p[0]), float(p[1])


def read_system_xml(path: str | Path) -> "openmm.System":
    """The ``openmm.System`` serialised in ``path`` (a build's ``system.xml``); :class:`RunDirectoryError` naming the
    file when it is missing, not serialised XML, or holds something other than a System."""
    import openmm

    path = Path(path)
    if not path.exists():
        raise RunDirectoryError(path, "missing; build the system first with 'snarefuse build SPEC -o DIR'")
    try:
        system = openmm.XmlSerializer.deserialize(path.read_text())
    except Exception as e:  # OpenMM raises a generic exception for malformed XML
        raise RunDirectoryError(path, f"cannot be read as an OpenMM System ({e})") from None
    if not isinstance(system, openmm.System):
        raise RunDirectoryError(path, f"holds a serialised {type(system).__name__}, not the System the build writes; "
                                "rebuild the directory")
    return system


def load_trajectory(run_dir: str | Path, stride: int | None = None) -> "mdtraj.Trajectory":
    """``RunDirectory(run_dir).load_trajectory(stride)``: the run's trajectory with frame times and topology."""
    return RunDirectory(run_dir).load_trajectory(stride)


def load_run_topology(run_dir: str | Path) -> "mdtraj.Topology":
    """``RunDirectory(run_dir).topology()``: the build's topology with the SNARE residues' real numbers."""
    return RunDirectory(run_dir).topology()
