"""Run a built system on OpenMM: platform choice, minimisation, Langevin dynamics, tension-free
membrane barostat, trajectory + CSV log + progress, atomic checkpoints, exact resume, blow-up
detection and a wall-clock limit.

Files in a run directory (besides the build files)::

    trajectory.dcd|xtc   frames every run.trajectory_interval steps (molecules whole, wrapped)
    log.csv              energies, temperature, box, area per lipid of the planar bilayer(s) (nan without one)
                         every run.report_interval (columns: snarefuse.reporters.LOG_COLUMNS)
    checkpoint.json      the last consistent checkpoint: step, file names and checksums, trajectory/log sizes
    checkpoint-<step>.chk  exact OpenMM checkpoint (same platform and OpenMM version)
    state-<step>.xml     portable State XML of the same step (any platform)
    final_state.xml      portable state at the end
    run.json             status (running / complete / stopped / stopped-event / interrupted / failed), platform,
                         speed
    events.csv, events.json  pore checks and the pore event, with a FusionEventReporter (snarefuse.events)
    .lock                held while a run is active (flock; released when the process dies)

Resuming (running the same command again) loads the checkpoint, cuts the trajectory and log back
to their sizes at that checkpoint, and continues: the result has exactly the frames and rows of an
uninterrupted run. If the exact checkpoint cannot be loaded (another platform or OpenMM version, a
file whose checksum is not the recorded one), the portable state XML of the same step is used and the
run says so. A run killed at any point leaves a directory the next run resumes from (docs/faults.md).
SIGTERM and SIGINT (Ctrl-C) stop a run as the wall-time limit does: at the end of the current chunk, with a
checkpoint and ``run.json`` saying ``interrupted`` (:class:`StopSignals`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Sequence

import numpy as np
import openmm
from openmm import app, unit

from .errors import BlowUpError, PlatformError, RunError, RunInterrupted
from .formulations import formulation_of
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text
from .reporters import (LOG_COLUMNS, CSVLogReporter, ProgressReporter, TrajectoryReporter, dcd_set_frame_count,
                        planar_lipids_per_leaflet, truncate_file, worst_particles)
from .spec import RunSpec, Spec, load_spec

log = logging.getLogger("snarefuse.runner")

#: Order in which ``platform: auto`` tries platforms (fastest first). An OpenCL platform whose only
#: devices are CPUs (POCL, Intel's CPU runtime) is tried after CPU: OpenMM's own CPU platform runs
#: the Cooke model ~1.8x faster than POCL on the same cores (BENCHMARKS.md).
AUTO_ORDER = ("CUDA", "HIP", "OpenCL", "CPU")
#: Name prefixes of the temporary files of the runner's own atomic writes (``.<name>.<random>.tmp``);
#: a run killed inside such a write leaves one, and the next run removes it.
OWN_TEMP_PREFIXES = (".checkpoint", ".state-", ".run.json.", ".final_state.xml.")


# ------------------------------------------------------------------------------ platforms
def available_platforms() -> list[str]:
    """Names of the OpenMM platforms that loaded."""
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


def platform_report() -> dict[str, Any]:
    """Loaded platforms with their default properties and speed, plus plugin load failures."""
    out: dict[str, Any] = {"openmm_version": openmm.__version__, "platforms": [], "load_failures":
                           list(openmm.Platform.getPluginLoadFailures())}
    for name in available_platforms():
        p = openmm.Platform.getPlatformByName(name)
        out["platforms"].append({"name": name, "speed": p.getSpeed(),
                                 "properties": {k: p.getPropertyDefaultValue(k) for k in p.getPropertyNames()}})
    return out


def opencl_has_accelerator() -> bool | None:
    """Whether any OpenCL device is a GPU or accelerator (None: the OpenCL library cannot be queried).

    Asks the OpenCL ICD loader directly (``clGetDeviceIDs``), which takes milliseconds, rather
    than creating an OpenMM context, which compiles kernels.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("OpenCL") or "libOpenCL.so.1"
    try:
        cl = ctypes.CDLL(name)
    except OSError:
        return None
    n = ctypes.c_uint32(0)
    if cl.clGetPlatformIDs(0, None, ctypes.byref(n)) != 0 or n.value == 0:
        return None
    ids = (ctypes.c_void_p * n.value)()
    cl.clGetPlatformIDs(n.value, ids, None)
    cl_device_type_gpu, cl_device_type_accelerator = 1 << 2, 1 << 3
    for pid in ids:
        count = ctypes.c_uint32(0)
        err = cl.clGetDeviceIDs(ctypes.c_void_p(pid), ctypes.c_uint64(cl_device_type_gpu | cl_device_type_accelerator),
                                0, None, ctypes.byref(count))
        if err == 0 and count.value > 0:
            return True
    return False


def auto_order() -> list[str]:
    """Loaded platforms in the order ``platform: auto`` tries them."""
    names = [p for p in AUTO_ORDER if p in available_platforms()]
    if "OpenCL" in names and "CPU" in names and opencl_has_accelerator() is False:
        names.remove("OpenCL")
        names.insert(names.index("CPU") + 1, "OpenCL")
    return names


def platform_properties(name: str, precision: str, device_index: str | None, threads: int | None) -> dict[str, str]:
    """OpenMM platform properties for a platform name."""
    props: dict[str, str] = {}
    if name in ("CUDA", "OpenCL", "HIP"):
        props["Precision"] = precision
        if device_index is not None:
            props["DeviceIndex"] = str(device_index)
    elif name == "CPU" and threads is not None:
        props["Threads"] = str(threads)
    return props


def _unavailable(name: str) -> PlatformError:
    failures = "\n  ".join(openmm.Platform.getPluginLoadFailures()) or "(none reported)"
    return PlatformError(f"OpenMM platform {name!r} is not available. Loaded platforms: "
                         f"{', '.join(available_platforms())}. Plugin load failures:\n  {failures}\n"
                         "For CUDA install the matching extra (pip install 'snarefuse[cuda12]' or [cuda13]); "
                         "for OpenCL an ICD (e.g. apt-get install ocl-icd-libopencl1 pocl-opencl-icd).")


def make_simulation(topology: app.Topology, system: openmm.System, make_integrator: Any, platform: str,
                    precision: str, device_index: str | None = None, threads: int | None = None,
                    formulation: str | None = None) -> app.Simulation:
    """Create a Simulation on ``platform`` (or the fastest that works, for ``auto``).

    ``make_integrator`` is called once per attempt (an integrator binds to one context only).
    ``formulation`` rewrites the Cooke pair force first (:mod:`snarefuse.formulations`): ``"auto"``
    the fastest measured one for the platform tried, a name that one, None leaves ``system`` as it
    is. ``system`` itself is never modified; ``simulation.system`` is the System that runs.
    """
    from .formulations import apply_formulation, default_formulation

    if platform != "auto" and platform not in available_platforms():
        raise _unavailable(platform)
    names = auto_order() if platform == "auto" else [platform]
    errors = []
    current = formulation_of(system)
    for name in names:
        form = default_formulation(name) if formulation == "auto" else formulation
        run_system = system if form is None or form == current else apply_formulation(
            system, form, platform=name, copy=True)
        try:
            plat = openmm.Platform.getPlatformByName(name)
            return app.Simulation(topology, run_system, make_integrator(), plat,
                                  platform_properties(name, precision, device_index, threads))
        except openmm.OpenMMException as e:
            errors.append(f"{name}: {e}")
    raise PlatformError("could not create an OpenMM context on " + ("any platform" if platform == "auto" else
                        platform) + ":\n  " + "\n  ".join(errors))


def minimize(context: openmm.Context, system: openmm.System, tolerance: float, max_iterations: int = 5000) -> None:
    """L-BFGS energy minimisation of ``context`` (tolerance in kJ/mol/nm).

    On OpenCL the minimisation runs in a temporary CPU context and the positions are copied
    back: OpenMM 8.6's LocalEnergyMinimizer crashes (segmentation fault) on the POCL OpenCL
    implementation.
    """
    if context.getPlatform().getName() != "OpenCL":
        openmm.LocalEnergyMinimizer.minimize(context, tolerance, max_iterations)
        return
    state = context.getState(getPositions=True)
    cpu = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU"))
    cpu.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
    cpu.setPositions(state.getPositions())
    openmm.LocalEnergyMinimizer.minimize(cpu, tolerance, max_iterations)
    context.setPositions(cpu.getState(getPositions=True).getPositions())
    del cpu


# ------------------------------------------------------------------------------ run directory
@dataclass
class RunResult:
    """What a call of :func:`run_simulation` did."""

    run_dir: Path
    status: str          # complete | stopped (wall-time limit) | stopped-event | nothing-to-do | interrupted
                         # (by a signal: only in RunInterrupted.result)
    step: int
    target_steps: int
    platform: str
    resumed_from: str | None
    steps_per_second: float
    formulation: str | None = None   # the Cooke pair formulation that ran (snarefuse.formulations)


class RunLock:
    """An exclusive ``flock`` on ``DIR/.lock``; the kernel releases it when the process dies, so a
    stale lock from a killed run never blocks a new one."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self._f: IO[str] | None = None

    def __enter__(self) -> "RunLock":
        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise RunError(f"{self.path.parent}: another run is active in this directory ({holder}); "
                           "wait for it to finish or stop it first") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        f.flush()
        self._f = f
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._f is not None:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
            self._f.close()


class StopSignals:
    """While active, SIGTERM and SIGINT ask the run to stop instead of ending the process.

    The handler only records the first signal (``signum``); the run loop sees it at the end of the chunk in
    progress (a chunk is one ``Simulation.step`` call, at most ``min(report_interval, trajectory_interval)``
    steps: OpenMM's C++ step loop is not interrupted), writes a checkpoint and ``run.json`` (status
    ``interrupted``) and raises :class:`~snarefuse.errors.RunInterrupted`. A further signal, e.g. while that
    checkpoint is written, changes nothing but a note on stderr, so it cannot leave a half-written file;
    SIGKILL still ends the process at once, and the run then resumes from its last checkpoint. The previous
    handlers come back on exit. Signal handlers can only be set in the main thread: elsewhere (a sweep worker
    thread) this does nothing and the process's own handling applies.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signum is None:
            self.signum = signum
            note = f"snarefuse run: {name} received; stopping with a checkpoint at the end of the current chunk\n"
        else:
            note = f"snarefuse run: {name} received; already stopping, the checkpoint is being written\n"
        # os.write, not sys.stderr: the handler may run while the main thread is inside a buffered write
        try:
            os.write(2, note.encode())
        except OSError:
            pass

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            # None: the previous handler was not set from Python; the default is the nearest that can be restored
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()


def _read_build(run_dir: Path) -> tuple[Spec, dict[str, Any], openmm.System, app.PDBFile]:
    for name in ("spec.yaml", "manifest.json", "system.xml", "system.pdb"):
        if not (run_dir / name).exists():
            raise RunError(f"{run_dir / name}: missing; build the system first with "
                           f"'snarefuse build SPEC -o {run_dir}'")
    spec = load_spec(run_dir / "spec.yaml")
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except ValueError as e:
        raise RunError(f"{run_dir / 'manifest.json'}: not valid JSON ({e})") from None
    try:
        system = openmm.XmlSerializer.deserialize((run_dir / "system.xml").read_text())
    except Exception as e:  # OpenMM raises a generic exception for malformed XML
        raise RunError(f"{run_dir / 'system.xml'}: cannot be read as an OpenMM System ({e})") from None
    pdb = app.PDBFile(str(run_dir / "system.pdb"))
    if pdb.topology.getNumAtoms() != system.getNumParticles():
        raise RunError(f"{run_dir}: system.pdb has {pdb.topology.getNumAtoms()} atoms but system.xml "
                       f"{system.getNumParticles()} particles")
    return spec, manifest, system, pdb


def add_barostat(system: openmm.System, run: RunSpec, temperature_k: float) -> None:
    """Tension-free MonteCarloMembraneBarostat: XY isotropic, Z fixed, zero pressure (no solvent)."""
    if not run.barostat.enabled:
        return
    baro = openmm.MonteCarloMembraneBarostat(
        0.0 * unit.bar, run.barostat.surface_tension_barnm * unit.bar * unit.nanometer, temperature_k * unit.kelvin,
        openmm.MonteCarloMembraneBarostat.XYIsotropic, openmm.MonteCarloMembraneBarostat.ZFixed,
        run.barostat.interval)
    system.addForce(baro)


def _checkpoint_info(run_dir: Path) -> dict[str, Any] | None:
    p = run_dir / "checkpoint.json"
    if not p.exists():
        return None
    try:
        info = json.loads(p.read_text())
        for key in ("step", "trajectory_bytes", "trajectory_frames", "log_bytes"):
            int(info[key])
        if not (isinstance(info["checkpoint"], str) and isinstance(info["state"], str)):
            raise TypeError("'checkpoint' and 'state' must be file names")
        return info
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(f"{p}: unreadable checkpoint record ({e.__class__.__name__}: {e}); the trajectory and log "
                       "are intact, but where to resume them is lost. To start again from step 0, move "
                       "checkpoint.json, the trajectory and log.csv out of the directory") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_checkpoint(run_dir: Path, sim: app.Simulation, traj: TrajectoryReporter, logr: CSVLogReporter,
                      frames: int, platform: str, formulation: str | None) -> dict[str, Any]:
    step = sim.currentStep
    traj_size = traj.flush()
    log_size = logr.flush()
    chk_name, state_name = f"checkpoint-{step:012d}.chk", f"state-{step:012d}.xml"
    chk_data = sim.context.createCheckpoint()
    atomic_write_bytes(run_dir / chk_name, chk_data)
    state = sim.context.getState(getPositions=True, getVelocities=True, getParameters=True, getEnergy=True)
    state_xml = openmm.XmlSerializer.serialize(state)
    atomic_write_text(run_dir / state_name, state_xml)
    info = {"step": step, "time_ps": state.getTime().value_in_unit(unit.picosecond), "checkpoint": chk_name,
            "state": state_name, "checkpoint_sha256": _sha256(chk_data), "state_sha256": _sha256(state_xml.encode()),
            "trajectory_bytes": traj_size, "trajectory_frames": frames,
            "log_bytes": log_size, "platform": platform, "formulation": formulation,
            "openmm_version": openmm.__version__,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_json(run_dir / "checkpoint.json", info)
    # Only the checkpoint the record names is kept. Besides the previous one this removes those
    # a killed run left behind: written but never recorded, or recorded over but not yet removed.
    # Best effort: the record is already safe, a file left now goes at the next checkpoint.
    for p in [*run_dir.glob("checkpoint-*.chk"), *run_dir.glob("state-*.xml")]:
        if p.name not in (chk_name, state_name):
            try:
                p.unlink()
            except OSError:
                pass
    return info


def _restore(run_dir: Path, sim: app.Simulation, info: dict[str, Any], platform: str, formulation: str | None) -> str:
    """Load the checkpoint (exact) or fall back to the portable state of the same step."""
    chk = run_dir / info["checkpoint"]
    reason = ""
    if info.get("platform") != platform:
        reason = f"it was written on {info.get('platform')} and this run uses {platform}"
    elif info.get("formulation", formulation) != formulation:
        reason = f"it was written with the {info.get('formulation')} pair formulation and this run uses {formulation}"
    elif info.get("openmm_version") != openmm.__version__:
        reason = f"it was written by OpenMM {info.get('openmm_version')}, this is {openmm.__version__}"
    else:
        try:
            data = chk.read_bytes()
            if info.get("checkpoint_sha256") not in (None, _sha256(data)):
                # never handed to OpenMM: on a truncated checkpoint loadCheckpoint may read garbage sizes
                # and spend minutes allocating before it fails
                reason = f"it is truncated or corrupt ({len(data)} bytes whose checksum is not the recorded one)"
            else:
                sim.context.loadCheckpoint(data)
                if sim.context.getStepCount() == info["step"]:
                    return "checkpoint"
                reason = f"it holds step {sim.context.getStepCount()}, the record says {info['step']}"
        except (OSError, openmm.OpenMMException, Exception) as e:  # corrupt or truncated file
            reason = f"it cannot be loaded ({e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    state_path = run_dir / info["state"]
    try:
        xml = state_path.read_bytes()
        if info.get("state_sha256") not in (None, _sha256(xml)):
            raise ValueError(f"truncated or corrupt: {len(xml)} bytes whose checksum is not the recorded one")
        state = openmm.XmlSerializer.deserialize(xml.decode())
    except Exception as e:
        raise RunError(f"{chk}: cannot resume ({reason}) and the portable state {state_path} is unreadable "
                       f"({e}); the trajectory up to step {info['step']} is intact") from None
    sim.context.setState(state)
    sim.context.setStepCount(int(info["step"]))
    sim.context.setTime(state.getTime())
    log.warning("resumed step %s from the portable state %s, not the exact checkpoint (%s): the continuation "
                "is statistically equivalent but not bit-identical", info["step"], state_path.name, reason)
    return "state"


def _close_quietly(*reporters: Any) -> None:
    for r in reporters:
        if r is not None:
            try:
                r.close()
            except (OSError, ValueError):
                pass


def _culprits(run_dir: Path, context: openmm.Context) -> tuple[list[int], str]:
    """Particles with the largest forces now, or, if the state is no longer finite, at the last
    checkpoint's portable state."""
    try:
        return worst_particles(context.getState(getForces=True)), "now"
    except openmm.OpenMMException:
        info = _checkpoint_info(run_dir)
        if info is None:
            return [], "(unknown)"
        context.setState(openmm.XmlSerializer.deserialize((run_dir / info["state"]).read_text()))
        return worst_particles(context.getState(getForces=True)), f"at the last good state (step {info['step']})"


def _stop_requested(reporters: Sequence[Any]) -> bool:
    return any(getattr(r, "stop_requested", False) for r in reporters)


def run_simulation(run_dir: str | Path, steps: int | None = None, platform: str | None = None,
                   precision: str | None = None, device_index: str | None = None, threads: int | None = None,
                   max_wall_time_s: float | None = None, progress: bool | None = None,
                   extra_reporters: Sequence[Any] = (), formulation: str | None = None) -> RunResult:
    """Run (or resume) the simulation in a built directory up to ``steps`` total steps.

    Parameters
    ----------
    run_dir : path
        A directory written by ``snarefuse build``.
    steps : int, optional
        Total number of MD steps the run should reach (default: ``run.steps`` of the spec). Running
        again with a larger number extends the run; with the same number it does nothing.
    platform, precision, device_index, threads, formulation : optional
        Override the spec's run section (``formulation``: ``auto`` or a name from
        :data:`snarefuse.formulations.FORMULATIONS`).
    max_wall_time_s : float, optional
        Stop cleanly (with a checkpoint) after this many seconds of wall time.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    extra_reporters : sequence
        Further OpenMM reporters (e.g. :class:`snarefuse.events.FusionEventReporter`). A reporter may
        stop the run early by setting an attribute ``stop_requested = True``: the run writes a checkpoint
        at the end of the chunk and stops with status ``stopped-event``; a reporter that requests the
        stop before the first step (a resumed run already past its event) stops it without stepping.

    Raises
    ------
    RunInterrupted
        SIGTERM or SIGINT arrived (in the main thread; :class:`StopSignals`): the run stopped at the end of the
        chunk in progress with a checkpoint and ``run.json`` status ``interrupted``; ``.result`` says where.
    RunError, BlowUpError, PlatformError
        The run cannot start or go on; ``run.json`` says ``failed`` once the dynamics has started.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory; create it with 'snarefuse build SPEC -o {run_dir}'")
    try:
        with RunLock(run_dir), StopSignals() as signals:
            return _run_locked(run_dir, steps, platform, precision, device_index, threads, max_wall_time_s,
                               progress, extra_reporters, formulation, signals)
    except OSError as e:
        # Raised before the dynamics starts (writes during it are handled in _run_locked): a read-only
        # directory, file or file system, a file without read permission. Nothing was written beyond
        # the last checkpoint.
        raise RunError(f"{e.filename or run_dir}: {e.strerror or e} (starting the run); the run directory and its "
                       "files must be readable and writable. Nothing was changed; fix the permissions or copy the "
                       "directory to a writable place and run the same command again to resume.") from None


def _holds_output(path: Path) -> bool:
    """Whether ``path`` holds output that a fresh start would overwrite. A log holding no more than
    its header (a run killed before its first checkpoint) holds none."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    header = (",".join(LOG_COLUMNS) + "\n").encode()
    return path.stat().st_size > len(header) or not header.startswith(path.read_bytes())


def _finish_closing_writes(run_dir: Path, info: dict[str, Any]) -> None:
    """A run killed after its last checkpoint but before its closing writes left ``run.json`` saying
    "running" (no run is, the caller holds the lock) and no or an older ``final_state.xml``: write
    them from that checkpoint."""
    status_path = run_dir / "run.json"
    try:
        rec = json.loads(status_path.read_text())
        killed_at_target = rec.get("status") == "running" and int(info["step"]) >= int(rec["target_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if killed_at_target:
        atomic_write_text(run_dir / "final_state.xml", (run_dir / info["state"]).read_text())
        atomic_write_json(status_path, {**rec, "status": "complete", "step": int(info["step"])})


def _run_locked(run_dir: Path, steps: int | None, platform: str | None, precision: str | None,
                device_index: str | None, threads: int | None, max_wall_time_s: float | None,
                progress: bool | None, extra_reporters: Sequence[Any], formulation: str | None,
                signals: StopSignals) -> RunResult:
    spec, manifest, system, pdb = _read_build(run_dir)
    run = spec.run
    target = run.steps if steps is None else int(steps)
    if target < 0:
        raise RunError(f"--steps must be >= 0, got {target}")
    platform = platform or run.platform
    precision = precision or run.precision
    device_index = device_index if device_index is not None else run.device_index
    threads = threads if threads is not None else run.threads
    formulation = formulation or run.formulation
    max_wall = max_wall_time_s if max_wall_time_s is not None else run.max_wall_time_s
    units = spec.model.units
    for p in run_dir.glob(".*.tmp"):
        if p.name.startswith(OWN_TEMP_PREFIXES):
            p.unlink(missing_ok=True)
    info = _checkpoint_info(run_dir)
    if info is not None and info["step"] >= target:
        _finish_closing_writes(run_dir, info)
        return RunResult(run_dir, "nothing-to-do", int(info["step"]), target, str(info.get("platform")), None, 0.0,
                         info.get("formulation"))

    add_barostat(system, run, spec.model.temperature_k)
    for f in system.getForces():
        if isinstance(f, openmm.MonteCarloMembraneBarostat):
            f.setRandomNumberSeed((spec.seed * 7919 + 1) % 2**31)

    def make_integrator() -> openmm.Integrator:
        integrator = openmm.LangevinMiddleIntegrator(spec.model.temperature_k * unit.kelvin,
                                                     run.friction_per_ps / unit.picosecond,
                                                     run.timestep_ps * unit.picosecond)
        integrator.setRandomNumberSeed(spec.seed % 2**31)
        return integrator

    sim = make_simulation(pdb.topology, system, make_integrator, platform, precision, device_index, threads,
                          formulation)
    context = sim.context
    system = sim.system
    used_platform = context.getPlatform().getName()
    used_formulation = formulation_of(system)
    traj_path = run_dir / f"trajectory.{run.trajectory_format}"
    log_path = run_dir / "log.csv"
    resumed_from = None
    frames = 0
    if info is None:
        for p in (traj_path, log_path):
            if _holds_output(p):
                raise RunError(f"{p}: exists but there is no checkpoint.json to resume from; this file would be "
                               "overwritten. Move it away or use a new run directory")
        context.setPositions(pdb.getPositions(asNumpy=True))
        context.setPeriodicBoxVectors(*system.getDefaultPeriodicBoxVectors())
        if run.minimize:
            minimize(context, system, 10.0 * units.epsilon_kjmol / units.sigma_nm)
        context.setVelocitiesToTemperature(spec.model.temperature_k * unit.kelvin, spec.seed % 2**31)
        context.setStepCount(0)
        context.setTime(0.0)
    else:
        resumed_from = _restore(run_dir, sim, info, used_platform, used_formulation)
        frames = int(info["trajectory_frames"])
        truncate_file(traj_path, int(info["trajectory_bytes"]))
        if run.trajectory_format == "dcd" and traj_path.exists():
            dcd_set_frame_count(traj_path, frames)
        truncate_file(log_path, int(info["log_bytes"]))

    logr = CSVLogReporter(log_path, run.report_interval, units, system.getNumParticles(),
                          planar_lipids_per_leaflet(manifest), append=info is not None)
    traj = TrajectoryReporter(traj_path, run.trajectory_format, run.trajectory_interval, pdb.topology,
                              run.timestep_ps, append=info is not None)
    sim.reporters.extend([logr, traj, *extra_reporters])
    show = sys.stderr.isatty() if progress is None else progress
    prog = None
    if show:
        prog = ProgressReporter(run.report_interval, target, run.timestep_ps, units)
        sim.reporters.append(prog)

    status_path = run_dir / "run.json"
    base_status = {"spec_key": spec.key(), "platform": used_platform, "formulation": used_formulation,
                   "precision": precision,
                   "openmm_version": openmm.__version__, "target_steps": target, "units": units.as_dict(),
                   "resumed_from": resumed_from, "pid": os.getpid()}
    atomic_write_json(status_path, {**base_status, "status": "running", "step": sim.currentStep})
    if info is None:
        info = _write_checkpoint(run_dir, sim, traj, logr, frames, used_platform, used_formulation)

    chunk = min(run.trajectory_interval, run.report_interval)
    t0 = time.perf_counter()
    s0 = sim.currentStep
    # a reporter may ask to stop before any step (a resumed run already past its event)
    status = "stopped-event" if _stop_requested(extra_reporters) else "complete"
    ckpt_step = sim.currentStep  # the run starts from a checkpoint: written above, or the one it resumed
    try:
        while status == "complete" and sim.currentStep < target:
            # checked here, before each chunk, so that a signal received during start-up or during a
            # checkpoint write stops the run too
            if signals.signum is not None:
                if ckpt_step != sim.currentStep:
                    _write_checkpoint(run_dir, sim, traj, logr, frames, used_platform, used_formulation)
                status = "interrupted"
                break
            ckpt_next = (sim.currentStep // run.checkpoint_interval + 1) * run.checkpoint_interval
            n = min(target, ckpt_next, (sim.currentStep // chunk + 1) * chunk) - sim.currentStep
            before = sim.currentStep
            try:
                sim.step(n)
            except openmm.OpenMMException as e:
                if "nan" not in str(e).lower():
                    raise
                step = context.getStepCount()
                bad, where = _culprits(run_dir, context)
                raise BlowUpError(f"simulation blew up between steps {before} and {before + n} "
                                  f"({str(e).splitlines()[0]}); particles with the largest forces {where}: {bad}. "
                                  "The time step may be too large or the start overlapping; the last good state "
                                  "is the last checkpoint.", step=step, particles=bad) from None
            frames += sim.currentStep // run.trajectory_interval - before // run.trajectory_interval
            stop_early = _stop_requested(extra_reporters)
            # a run that reached its target in this chunk is complete, however long the chunk took
            over_time = max_wall is not None and time.perf_counter() - t0 > max_wall and sim.currentStep < target
            if sim.currentStep % run.checkpoint_interval == 0 or sim.currentStep >= target or over_time or stop_early:
                _write_checkpoint(run_dir, sim, traj, logr, frames, used_platform, used_formulation)
                ckpt_step = sim.currentStep
            if over_time:
                status = "stopped"
                break
            if stop_early:
                status = "stopped-event"
                break
    except BlowUpError as e:
        atomic_write_json(status_path, {**base_status, "status": "failed", "step": e.step, "error": str(e)})
        raise
    except (OSError, RunError) as e:
        # Disk full, quota, read-only file system...: cut the outputs back to the last consistent
        # checkpoint so that no partial frame or row is left looking complete.
        last = _checkpoint_info(run_dir)
        _close_quietly(logr, traj, prog)
        if last is not None:
            try:
                truncate_file(traj_path, int(last["trajectory_bytes"]))
                if run.trajectory_format == "dcd" and traj_path.exists():
                    dcd_set_frame_count(traj_path, int(last["trajectory_frames"]))
                truncate_file(log_path, int(last["log_bytes"]))
            except OSError:
                pass
        what = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        where = f" ({e.filename})" if isinstance(e, OSError) and e.filename else ""
        try:
            atomic_write_json(status_path, {**base_status, "status": "failed", "step": sim.currentStep,
                                            "error": f"write failed: {what}"})
        except RunError:
            pass
        raise RunError(f"{run_dir}: write failed at step {sim.currentStep}{where}: {what}. The trajectory and log "
                       f"were cut back to the last checkpoint (step {last['step'] if last else 0}); free space or "
                       "fix permissions and run the same command again to resume.") from None
    finally:
        _close_quietly(logr, traj, prog)
    elapsed = time.perf_counter() - t0
    speed = (sim.currentStep - s0) / elapsed if elapsed > 0 else 0.0
    if status == "complete":
        state = context.getState(getPositions=True, getVelocities=True, getParameters=True)
        atomic_write_text(run_dir / "final_state.xml", openmm.XmlSerializer.serialize(state))
    by_signal = {"signal": signal.Signals(signals.signum).name} if status == "interrupted" and signals.signum else {}
    atomic_write_json(status_path, {**base_status, "status": status, "step": sim.currentStep,
                                    "steps_per_second": speed,
                                    "particle_steps_per_second": speed * system.getNumParticles(), **by_signal})
    result = RunResult(run_dir, status, sim.currentStep, target, used_platform, resumed_from, speed, used_formulation)
    if status == "interrupted" and signals.signum is not None:
        raise RunInterrupted(f"interrupted by {by_signal['signal']} at step {sim.currentStep}/{target}, checkpoint "
                             "written; run the same command again to resume", signals.signum, result)
    return result


def read_positions(run_dir: str | Path) -> np.ndarray:
    """Positions (N, 3) nm of the build's PDB."""
    pdb = app.PDBFile(str(Path(run_dir) / "system.pdb"))
    return np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
