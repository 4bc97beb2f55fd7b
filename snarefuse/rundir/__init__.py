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
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .errors import RunDirectoryError
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text, file_lock, lock_holder
from .trajfile import dcd_set_frame_count, dcd_sizes, trajectory_header_problem

if TYPE_CHECKING:
    import mdtraj
    import numpy as np
    import openmm
    from openmm import app

    from .spec import Spec

SPEC_YAML = "spec.yaml"
MANIFEST_JSON = "manifest.json"
SYSTEM_XML = "system.xml"
SYSTEM_PDB = "system.pdb"
#: What a build past the PDB format's limits writes instead of system.pdb (snarefuse.structure)
SYSTEM_CIF = "system.cif"
SYSTEM_PSF = "system.psf"
FORCEFIELD_XML = "forcefield.xml"
RUN_JSON = "run.json"
LOG_CSV = "log.csv"
CHECKPOINT_JSON = "checkpoint.json"
FINAL_STATE_XML = "final_state.xml"
LOCK = ".lock"
EVENTS_CSV = "events.csv"
EVENTS_JSON = "events.json"
ANALYSIS_DIR = "analysis"
SUMMARY_JSON = "summary.json"
RENDER_DIR = "render"
EXPORT_DIR = "export"
#: Trajectory formats the runner writes, as ``trajectory.<format>``.
TRAJECTORY_FORMATS = ("dcd", "xtc")
#: Files every run needs from the build.
BUILD_FILES = (SPEC_YAML, MANIFEST_JSON, SYSTEM_XML, SYSTEM_PDB)
#: Build files whose checksums a checkpoint records: a run resumes only on the build it started on.
CHECKED_BUILD_FILES = (SYSTEM_XML, SYSTEM_PDB)
#: The only names a checkpoint record may give its files: plain names in this directory, of the step recorded.
CHECKPOINT_NAME = re.compile(r"checkpoint-(\d{12})\.chk")
STATE_NAME = re.compile(r"state-(\d{12})\.xml")
#: Name prefixes of the temporary files of the runner's own atomic writes (``.<name>.<random>.tmp``);
#: a run killed inside such a write leaves one, and the next run removes it.
OWN_TEMP_PREFIXES = (".checkpoint", ".state-", ".run.json.", ".final_state.xml.")
#: Spec fields (dotted) a resumed run may differ in from the run that was started: where and how long it runs,
#: not what it computes. Everything else (temperature, time step, seed, system, and also the trajectory and
#: report intervals and format, which would mix frame spacings in one file) must stay as it was.
RESUMABLE_FIELDS = ("name", "run.steps", "run.checkpoint_interval", "run.platform", "run.precision",
                    "run.device_index", "run.threads", "run.max_wall_time", "run.formulation")
#: How long a new run waits for the lock: longer than a status query holds it to test it.
LOCK_WAIT_S = 1.0
#: Keys of checkpoint.json that must be integers >= 0.
_RECORD_COUNTS = ("step", "trajectory_bytes", "trajectory_frames", "log_bytes")
_SHA256 = re.compile(r"[0-9a-f]{64}")
def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_flatten(v, path))
        else:
            out[path] = v
    return out


def spec_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Dotted fields that differ between two ``Spec.to_dict()`` mappings: ``(field, old, new)``, sorted."""
    a, b = _flatten(old), _flatten(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _describe(changes: list[tuple[str, Any, Any]]) -> str:
    return ", ".join(f"{k} ({a!r} -> {b!r})" for k, a, b in changes)


class RunDirectory:
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
        from .spec import load_spec

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
        import openmm

        from .structure import read_openmm_structure

        self.require(*BUILD_FILES)
        spec = self.spec()
        manifest = self.manifest(required=True)
        try:
            system = openmm.XmlSerializer.deserialize(self.system_xml.read_text())
        except Exception as e:  # OpenMM raises a generic exception for malformed XML
            raise RunDirectoryError(self.system_xml, f"cannot be read as an OpenMM System ({e})") from None
        if not isinstance(system, openmm.System):
            raise RunDirectoryError(self.system_xml, f"holds a serialised {type(system).__name__}, not the System "
                                    "the build writes; rebuild the directory")
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

        from .quiet import c_stdout_silenced

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

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint record, checked: counts are integers >= 0; file names are this directory's checkpoint
        and state of the recorded step; both checksums are present. None: no run has checkpointed yet."""
        p = self.checkpoint_json
        if not p.exists():
            return None
        lost = ("the trajectory and log are intact, but where to resume them is lost. To start again from step 0, "
                "move checkpoint.json, the trajectory and log.csv out of the directory")
        try:
            info = json.loads(p.read_text())
            if not isinstance(info, dict):
                raise TypeError(f"expected a JSON object, found {type(info).__name__}")
            for key in _RECORD_COUNTS:
                if not isinstance(info[key], int) or isinstance(info[key], bool) or info[key] < 0:
                    raise ValueError(f"{key} = {info[key]!r}; accepted an integer >= 0")
        except (ValueError, KeyError, TypeError) as e:
            raise RunDirectoryError(p, f"unreadable checkpoint record ({e.__class__.__name__}: {e}); {lost}") from None
        for key, pattern, example in (("checkpoint", CHECKPOINT_NAME, "checkpoint-000000000100.chk"),
                                      ("state", STATE_NAME, "state-000000000100.xml")):
            name = info.get(key)
            m = pattern.fullmatch(name) if isinstance(name, str) else None
            if m is None or int(m.group(1)) != info["step"]:
                raise RunDirectoryError(p, f"{key} = {name!r}; accepted the plain name of a file in this directory "
                                        f"for the recorded step {info['step']} (e.g. {example}); {lost}")
            digest = info.get(f"{key}_sha256")
            if not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
                raise RunDirectoryError(p, f"{key}_sha256 = {digest!r}; accepted the 64 hex digits of the file's "
                                        f"SHA-256, which every checkpoint records; {lost}")
        return info

    def checkpoint_progress(self) -> tuple[int, float]:
        """Step and time (ps) of the last checkpoint, for readers that report progress and must not refuse:
        (0, 0.0) without a record or with one that has no readable step. A run refuses a malformed record
        (:meth:`checkpoint`) before it uses it."""
        try:
            info = json.loads(self.checkpoint_json.read_text())
            return int(info["step"]), float(info.get("time_ps", 0.0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return 0, 0.0

    def read_checkpoint_file(self, info: dict[str, Any], key: str) -> tuple[bytes, bool]:
        """The bytes of the record's ``checkpoint`` or ``state`` file, and whether they have the recorded checksum."""
        data = (self.path / info[key]).read_bytes()
        return data, sha256(data) == info[f"{key}_sha256"]

    def write_checkpoint(self, step: int, checkpoint: bytes, state_xml: str, record: dict[str, Any]) -> dict[str, Any]:
        """Write the exact checkpoint and portable state of ``step``, then the record naming them (with their
        checksums and ``record``'s entries), then remove every other checkpoint file. Each write is atomic and
        the record goes last, so a kill at any point leaves the previous record valid or the new one complete."""
        chk_name, state_name = f"checkpoint-{step:012d}.chk", f"state-{step:012d}.xml"
        atomic_write_bytes(self.path / chk_name, checkpoint)
        atomic_write_text(self.path / state_name, state_xml)
        info = {**record, "step": step, "checkpoint": chk_name, "state": state_name,
                "checkpoint_sha256": sha256(checkpoint), "state_sha256": sha256(state_xml.encode())}
        atomic_write_json(self.checkpoint_json, info)
        self.remove_unrecorded_checkpoints(info)
        return info

    def remove_unrecorded_checkpoints(self, info: dict[str, Any] | None) -> list[str]:
        """Remove checkpoint and state files the record does not name (a killed run leaves those written but
        never recorded, or recorded over but not yet removed) and the temporary files of the runner's own
        atomic writes. Best effort: what cannot be removed now goes next time. Returns the names removed."""
        keep = {info["checkpoint"], info["state"]} if info else set()
        removed = []
        for p in [*self.checkpoint_files(), *self.path.glob(".*.tmp")]:
            if p.name in keep or (p.suffix == ".tmp" and not p.name.startswith(OWN_TEMP_PREFIXES)):
                continue
            try:
                p.unlink()
                removed.append(p.name)
            except OSError:
                pass
        return removed

    def check_resume(self, info: dict[str, Any], spec: "Spec", n_atoms: int) -> list[str]:
        """Everything a run checks before it touches a directory it resumes. Refuses (naming the file) a changed
        build, a spec that differs in a field outside :data:`RESUMABLE_FIELDS`, and outputs that are shorter than
        the record says or are not a trajectory; returns the resumable spec changes, described."""
        recorded = info.get("build_sha256")
        if isinstance(recorded, dict):
            for name, digest in self.build_checksums().items():
                if recorded.get(name) not in (None, digest):
                    raise RunDirectoryError(self.path / name, f"is not the file the run started with (its SHA-256 "
                                            f"differs from the one checkpoint.json recorded at step {info['step']}): "
                                            "the build was replaced. Put the original build back, or start the new "
                                            "build in a new directory")
        described: list[str] = []
        if isinstance(info.get("spec"), dict):
            changes = spec_changes(info["spec"], json.loads(json.dumps(spec.to_dict())))
            physical = [c for c in changes if c[0] not in RESUMABLE_FIELDS]
            if physical:
                raise RunDirectoryError(self.spec_yaml, f"differs from the spec the run was started with in "
                                        f"{_describe(physical)}; a resumed run must compute what was started. Only "
                                        f"{', '.join(RESUMABLE_FIELDS)} may change; restore the other fields, or "
                                        "build the new spec in a new directory")
            described = [f"{k}: {a!r} -> {b!r}" for k, a, b in changes]
        fmt = spec.run.trajectory_format
        self.check_outputs(info, fmt, n_atoms, spec.run.protocol.parameters)
        return described

    def check_outputs(self, info: dict[str, Any], fmt: str, n_atoms: int, parameters: Sequence[str] = ()) -> None:
        """Refuse outputs the record cannot be resumed on: shorter than it records (a partial copy: cutting back
        would extend them with zeros), or a trajectory whose header is not a ``fmt`` file of ``n_atoms`` atoms.
        Extra bytes after the recorded size are normal (written after the checkpoint) and are cut back.
        ``parameters``: those the run's protocol logs (columns after the standard ones)."""
        from .reporters import log_columns

        for path, key in ((self.trajectory_file(fmt), "trajectory_bytes"), (self.log_csv, "log_bytes")):
            want = int(info[key])
            have = path.stat().st_size if path.exists() else None
            if have is None and want > 0:
                raise RunDirectoryError(path, f"missing, but checkpoint.json records {want} bytes of it at step "
                                        f"{info['step']}; put the file back (a run never recreates lost output)")
            if have is not None and have < want:
                raise RunDirectoryError(path, f"holds {have} bytes, but checkpoint.json records {want} at step "
                                        f"{info['step']}: it is shorter than the run wrote (a partial copy?). "
                                        "Nothing was changed; copy the whole file, or start a new run directory")
        traj = self.trajectory_file(fmt)
        if fmt == "dcd":
            expected = dcd_sizes(int(info["trajectory_frames"]), n_atoms)
            if int(info["trajectory_bytes"]) not in expected:
                raise RunDirectoryError(self.checkpoint_json, f"trajectory_frames = {info['trajectory_frames']} and "
                                        f"trajectory_bytes = {info['trajectory_bytes']} disagree: that many frames "
                                        f"of {n_atoms} atoms take {' or '.join(map(str, sorted(expected)))} bytes "
                                        "of DCD; the record was edited or belongs to another run. Nothing was "
                                        "changed")
        if int(info["trajectory_bytes"]) > 0:
            problem = trajectory_header_problem(traj, fmt, n_atoms)
            if problem:
                raise RunDirectoryError(traj, f"{problem}; it is not this run's trajectory. Nothing was changed; put "
                                        "the run's trajectory back, or start a new run directory")
        header = (",".join(log_columns(parameters)) + "\n").encode()
        if int(info["log_bytes"]) >= len(header):
            with open(self.log_csv, "rb") as f:
                if f.read(len(header)) != header:
                    raise RunDirectoryError(self.log_csv, "does not start with the header line this version of "
                                            f"snarefuse writes ({header.decode().strip()!r}): it is another run's "
                                            "log or has other columns, and rows appended to it would not match. "
                                            "Nothing was changed; put the run's log back, or start a new run "
                                            "directory")

    def cut_back(self, info: dict[str, Any], fmt: str) -> None:
        """Cut the trajectory and the log back to their sizes in ``info`` (never longer: a file shorter than
        recorded is refused, see :meth:`check_outputs`) and set the DCD header's frame count."""
        traj = self.trajectory_file(fmt)
        for path, size in ((traj, int(info["trajectory_bytes"])), (self.log_csv, int(info["log_bytes"]))):
            shrink_file(path, size)
        if fmt == "dcd" and traj.exists():
            dcd_set_frame_count(traj, int(info["trajectory_frames"]))

    def close_killed_run(self, info: dict[str, Any]) -> bool:
        """A run killed after its last checkpoint but before its closing writes left ``run.json`` saying
        "running" (no run is: the caller holds the lock) and no or an older ``final_state.xml``: write them from
        that checkpoint's portable state (checked against its checksum). Whether it did."""
        try:
            rec = self.status()
            killed_at_target = rec.get("status") == "running" and int(info["step"]) >= int(rec["target_steps"])
        except (RunDirectoryError, KeyError, TypeError, ValueError):
            return False
        if not killed_at_target:
            return False
        data, ok = self.read_checkpoint_file(info, "state")
        if not ok:
            raise RunDirectoryError(self.path / info["state"], "its checksum is not the one checkpoint.json records; "
                                    "final_state.xml was not written from it")
        atomic_write_bytes(self.final_state_xml, data)
        self.write_status({**rec, "status": "complete", "step": int(info["step"])})
        return True


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


def shrink_file(path: Path, size: int) -> None:
    """Cut ``path`` back to ``size`` bytes; a missing file or one of that size is left alone, a shorter one is
    refused (extending would append zeros that look like data)."""
    if not path.exists():
        return
    have = path.stat().st_size
    if have < size:
        raise RunDirectoryError(path, f"holds {have} bytes, fewer than the {size} it should be cut back to; "
                                "it was not extended")
    if have != size:
        with open(path, "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())


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


def load_trajectory(run_dir: str | Path, stride: int | None = None) -> "mdtraj.Trajectory":
    """``RunDirectory(run_dir).load_trajectory(stride)``: the run's trajectory with frame times and topology."""
    return RunDirectory(run_dir).load_trajectory(stride)


def load_run_topology(run_dir: str | Path) -> "mdtraj.Topology":
    """``RunDirectory(run_dir).topology()``: the build's topology with the SNARE residues' real numbers."""
    return RunDirectory(run_dir).topology()
