"""The checkpoint record of a run directory and the checks a run passes before it resumes on one: a part of
:class:`~snarefuse.rundir.RunDirectory` (its base class), kept apart because it is one job of its own.

A checkpoint is written as exact OpenMM checkpoint, portable state, then the record naming both with their
checksums and the sizes of the outputs at that step (``checkpoint.json``), so that a kill at any point leaves the
previous record valid or the new one complete; a resumed run refuses a changed build, a spec changed in what it
computes, and outputs shorter than recorded or not this run's, and cuts longer ones back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import RunDirectoryError
from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..trajfile import dcd_set_frame_count, dcd_sizes, trajectory_header_problem
from .names import CHECKPOINT_NAME, OWN_TEMP_PREFIXES, STATE_NAME

if TYPE_CHECKING:
    from ..spec import Spec

#: Spec fields (dotted) a resumed run may differ in from the run that was started: where and how long it runs,
#: not what it computes. Everything else (temperature, time step, seed, system, and also the trajectory and
#: report intervals and format, which would mix frame spacings in one file) must stay as it was.
RESUMABLE_FIELDS = ("name", "run.steps", "run.checkpoint_interval", "run.platform", "run.precision",
                    "run.device_index", "run.threads", "run.max_wall_time", "run.formulation")
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


class CheckpointRecord:
    """The checkpoint methods of :class:`~snarefuse.rundir.RunDirectory` (which supplies the paths they use:
    ``path``, ``checkpoint_json``, ``log_csv``, ``final_state_xml``, ``spec_yaml``, ``trajectory_file()``,
    ``checkpoint_files()``, ``build_checksums()``, ``status()``, ``write_status()``)."""

    path: Path
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
        from ..reporters import log_columns

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
