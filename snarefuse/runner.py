"""Run a built system on OpenMM: minimisation, Langevin dynamics, tension-free membrane barostat, trajectory +
CSV log + progress, atomic checkpoints, exact resume, blow-up detection and a wall-clock limit.

The files of a run directory, and the checks a directory passes before a run resumes on it, belong to
:class:`snarefuse.rundir.RunDirectory`; which platforms exist to :mod:`snarefuse.platforms`. ``run.json`` holds
the status: running / complete / stopped / stopped-event / interrupted / failed.

Resuming (running the same command again) loads the checkpoint, cuts the trajectory and log back
to their sizes at that checkpoint, and continues: the result has exactly the frames and rows of an
uninterrupted run. If the exact checkpoint cannot be loaded (another platform or OpenMM version, a
file whose checksum is not the recorded one), the portable state XML of the same step is used and the
run says so. A run killed at any point leaves a directory the next run resumes from (docs/faults.md).
SIGTERM and SIGINT (Ctrl-C) stop a run as the wall-time limit does: at the end of the current chunk, with a
checkpoint and ``run.json`` saying ``interrupted`` (:class:`StopSignals`).
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import openmm
from openmm import app, unit

from .errors import BlowUpError, PlatformError, RunError, RunInterrupted
from .forcefield import LEGACY_FENE_ENERGY, upgrade_fene
from .formulations import formulation_of
from .io import atomic_write_text
from .platforms import auto_order, available_platforms, platform_properties, unavailable
from .protocol import Protocol, initial_values
from .reporters import CSVLogReporter, ProgressReporter, TrajectoryReporter, log_columns, \
    planar_lipids_per_leaflet, worst_particles
from .rundir import RunDirectory
from .spec import RunSpec

log = logging.getLogger("snarefuse.runner")

def make_simulation(topology: app.Topology, system: openmm.System, make_integrator: Any, platform: str,
                    precision: str, device_index: str | None = None, threads: int | None = None,
                    formulation: str | None = None) -> app.Simulation:
    """Create a Simulation on ``platform`` (or the fastest that works, for ``auto``).

    ``make_integrator`` is called once per attempt (an integrator binds to one context only).
    ``formulation`` rewrites the Cooke pair force first (:mod:`snarefuse.formulations`): ``"auto"``
    the fastest measured one for the platform tried, a name that one, None leaves ``system`` as it
    is. ``system`` itself is never modified; ``simulation.system`` is the System that runs.
    """
    from .formulations import (DEFAULT_FORMULATION, FALLBACK_FORMULATION, NATIVE_FORMULATION, FormulationError,
                               apply_formulation, default_formulation)

    if platform != "auto" and platform not in available_platforms():
        raise unavailable(platform)
    names = auto_order() if platform == "auto" else [platform]
    errors = []
    if any(isinstance(f, openmm.CustomBondForce) and f.getEnergyFunction() == LEGACY_FENE_ENERGY
           for f in system.getForces()):
        system = copy.deepcopy(system)
        upgrade_fene(system)  # a run directory saved before: FENE +inf, not NaN, beyond r_inf
    current = formulation_of(system)
    for name in names:
        form = default_formulation(name) if formulation == "auto" else formulation
        try:
            run_system = system if form is None or form == current else apply_formulation(
                system, form, platform=name, copy=True)
        except FormulationError as e:
            if formulation != "auto" or form != NATIVE_FORMULATION:
                raise
            # the default native force refuses this System (a box under twice its cutoff): the pure default
            form = DEFAULT_FORMULATION.get(name, FALLBACK_FORMULATION)
            log.warning("%s; using the %r formulation instead", e, form)
            run_system = system if form == current else apply_formulation(system, form, platform=name, copy=True)
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


def add_barostat(system: openmm.System, run: RunSpec, temperature_k: float) -> None:
    """Tension-free MonteCarloMembraneBarostat: XY isotropic, Z fixed, zero pressure (no solvent)."""
    if not run.barostat.enabled:
        return
    baro = openmm.MonteCarloMembraneBarostat(
        0.0 * unit.bar, run.barostat.surface_tension_barnm * unit.bar * unit.nanometer, temperature_k * unit.kelvin,
        openmm.MonteCarloMembraneBarostat.XYIsotropic, openmm.MonteCarloMembraneBarostat.ZFixed,
        run.barostat.interval)
    system.addForce(baro)


def _restore(rd: RunDirectory, sim: app.Simulation, info: dict[str, Any], platform: str,
             formulation: str | None) -> str:
    """Load the checkpoint (exact) or fall back to the portable state of the same step."""
    chk = rd.fn(info["checkpoint"])
    reason = ""
    if info.get("platform") != platform:
        reason = f"it was written on {info.get('platform')} and this run uses {platform}"
    elif info.get("formulation", formulation) != formulation:
        reason = f"it was written with the {info.get('formulation')} pair formulation and this run uses {formulation}"
    elif info.get("openmm_version") != openmm.__version__:
        reason = f"it was written by OpenMM {info.get('openmm_version')}, this is {openmm.__version__}"
    else:
        try:
            data, intact = rd.read_checkpoint_file(info, "checkpoint")
            if not intact:
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
    state_path = rd.fn(info["state"])
    try:
        xml, intact = rd.read_checkpoint_file(info, "state")
        if not intact:
            raise ValueError(f"truncated or corrupt: {len(xml)} bytes whose checksum is not the recorded one")
        state = openmm.XmlSerializer.deserialize(xml.decode())
        sim.context.setState(state)
    except Exception as e:
        raise RunError(f"{chk}: cannot resume ({reason}) and the portable state {state_path} is unreadable "
                       f"({e}); the trajectory up to step {info['step']} is intact") from None
    sim.context.setStepCount(int(info["step"]))
    sim.context.setTime(state.getTime())
    log.warning("resumed step %s from the portable state %s, not the exact checkpoint (%s): the continuation "
                "is statistically equivalent but not bit-identical", info["step"], state_path.name, reason)
    return "state"


def _write_checkpoint(rd: RunDirectory, sim: app.Simulation, traj: TrajectoryReporter, logr: CSVLogReporter,
                      frames: int, record: dict[str, Any]) -> dict[str, Any]:
    """Flush the outputs and checkpoint the current step (``record``: entries every checkpoint carries)."""
    traj_size = traj.flush()
    log_size = logr.flush()
    chk_data = sim.context.createCheckpoint()
    state = sim.context.getState(getPositions=True, getVelocities=True, getParameters=True, getEnergy=True)
    return rd.write_checkpoint(sim.currentStep, chk_data, openmm.XmlSerializer.serialize(state), {
        **record, "time_ps": state.getTime().value_in_unit(unit.picosecond), "trajectory_bytes": traj_size,
        "trajectory_frames": frames, "log_bytes": log_size, "written": time.strftime("%Y-%m-%dT%H:%M:%S")})


def _close_quietly(*reporters: Any) -> None:
    for r in reporters:
        if r is not None:
            try:
                r.close()
            except (OSError, ValueError):
                pass


def _culprits(rd: RunDirectory, context: openmm.Context) -> tuple[list[int], str]:
    """Particles with the largest forces now, or, if the state is no longer finite, at the last
    checkpoint's portable state."""
    try:
        return worst_particles(context.getState(getForces=True)), "now"
    except openmm.OpenMMException:
        info = rd.checkpoint()
        if info is None:
            return [], "(unknown)"
        context.setState(openmm.XmlSerializer.deserialize(rd.read_checkpoint_file(info, "state")[0].decode()))
        return worst_particles(context.getState(getForces=True)), f"at the last good state (step {info['step']})"


def _protocol_start(protocol: Protocol, system: openmm.System, rd: RunDirectory) -> dict[str, float]:
    """The values as built of the parameters ``run.protocol`` sets (the System must have them)."""
    try:
        return initial_values(system, protocol.parameters)
    except KeyError as e:
        raise RunError(f"{rd.spec_yaml}: run.protocol: {e.args[0]}") from None


def _apply_protocol(protocol: Protocol, start: dict[str, float], context: openmm.Context, step: int) -> None:
    if protocol:
        for name, value in protocol.values_at(step, start).items():
            context.setParameter(name, value)


class _OpenMMStopped(Exception):
    """OpenMM raised during the dynamics for another reason than a non-finite state (a force's own check, a
    device error): the run fails with the message and the directory is left at its last checkpoint."""


def _stop_requested(reporters: Sequence[Any]) -> bool:
    return any(getattr(r, "stop_requested", False) for r in reporters)


def run_simulation(run_dir: str | Path, steps: int | None = None, platform: str | None = None,
                   precision: str | None = None, device_index: str | None = None, threads: int | None = None,
                   max_wall_time_s: float | None = None, progress: bool | None = None,
                   extra_reporters: Sequence[Any] = (), formulation: str | None = None) -> RunResult:
    """Run (or resume) the simulation in a built directory up to ``steps`` total steps.

    Resuming (running the same command again) loads the checkpoint, cuts the trajectory and log back to their
    sizes at that checkpoint, and continues: the result has exactly the frames and rows of an uninterrupted run.
    If the exact checkpoint cannot be loaded (another platform or OpenMM version, a file whose checksum is not
    the recorded one), the portable state XML of the same step is used and the run says so. A run killed at any
    point leaves a directory the next run resumes from (docs/faults.md). A directory that cannot be resumed
    without a wrong result (a changed spec or build, outputs shorter than recorded, a symbolic link among the
    outputs) is refused before anything is written. SIGTERM and SIGINT (Ctrl-C) stop a run as the wall-time
    limit does: at the end of the current chunk, with a checkpoint and ``run.json`` saying ``interrupted``
    (:class:`StopSignals`).

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
    RunDirectoryError
        The directory cannot be run or resumed as it is (the message names the file); nothing was changed.
    RunError, BlowUpError, PlatformError
        The run cannot start or go on; ``run.json`` says ``failed`` once the dynamics has started.
    """
    rd = RunDirectory(run_dir)
    if not rd.path.is_dir():
        raise RunError(f"{rd.path}: no such run directory; create it with 'snarefuse build SPEC -o {rd.path}'")
    try:
        with rd.lock(), StopSignals() as signals:
            return _run_locked(rd, steps, platform, precision, device_index, threads, max_wall_time_s,
                               progress, extra_reporters, formulation, signals)
    except OSError as e:
        # Raised before the dynamics starts (writes during it are handled in _run_locked): a read-only
        # directory, file or file system, a file without read permission. Nothing was written beyond
        # the last checkpoint.
        raise RunError(f"{e.filename or rd.path}: {e.strerror or e} (starting the run); the run directory and its "
                       "files must be readable and writable. Nothing was changed; fix the permissions or copy the "
                       "directory to a writable place and run the same command again to resume.") from None


def _holds_output(path: Path, columns: Sequence[str]) -> bool:
    """Whether ``path`` holds output that a fresh start would overwrite. A log holding no more than
    its header of ``columns`` (a run killed before its first checkpoint) holds none."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    header = (",".join(columns) + "\n").encode()
    return path.stat().st_size > len(header) or not header.startswith(path.read_bytes())


def _run_locked(rd: RunDirectory, steps: int | None, platform: str | None, precision: str | None,
                device_index: str | None, threads: int | None, max_wall_time_s: float | None,
                progress: bool | None, extra_reporters: Sequence[Any], formulation: str | None,
                signals: StopSignals) -> RunResult:
    # Every check that can refuse the directory comes before the first write.
    spec, manifest, system, pdb = rd.read_build()
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
    rd.refuse_symlinked_outputs(run.trajectory_format)
    info = rd.checkpoint()
    changes = rd.check_resume(info, spec, system.getNumParticles()) if info is not None else []
    rd.remove_unrecorded_checkpoints(info)
    if info is not None and info["step"] >= target:
        # the record is the truth here too: bytes after it (a kill, an append) are not frames of this run
        rd.cut_back(info, run.trajectory_format)
        rd.close_killed_run(info)
        return RunResult(rd.path, "nothing-to-do", int(info["step"]), target, str(info.get("platform")), None, 0.0,
                         info.get("formulation"))
    if changes:
        log.warning("%s: resuming with execution fields changed since the run started: %s", rd.spec_yaml,
                    "; ".join(changes))

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
    traj_path = rd.trajectory_file(run.trajectory_format)
    log_path = rd.log_csv
    resumed_from = None
    frames = 0
    protocol = run.protocol
    columns = log_columns(protocol.parameters)
    protocol_start = _protocol_start(protocol, system, rd)
    _apply_protocol(protocol, protocol_start, context, 0)  # a fresh run minimises with the values of step 0
    if info is None:
        for p in (traj_path, log_path):
            if _holds_output(p, columns):
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
        resumed_from = _restore(rd, sim, info, used_platform, used_formulation)
        frames = int(info["trajectory_frames"])
        rd.cut_back(info, run.trajectory_format)
    # the protocol's values are a function of the step: set those of the step the run starts or resumes from
    # (after loading the checkpoint), then again at each of its boundaries, where the step chunks end
    _apply_protocol(protocol, protocol_start, context, sim.currentStep)

    logr = CSVLogReporter(log_path, run.report_interval, units, system.getNumParticles(),
                          planar_lipids_per_leaflet(manifest), append=info is not None,
                          parameters=protocol.parameters)
    traj = TrajectoryReporter(traj_path, run.trajectory_format, run.trajectory_interval, pdb.topology,
                              run.timestep_ps, append=info is not None)
    sim.reporters.extend([logr, traj, *extra_reporters])
    show = sys.stderr.isatty() if progress is None else progress
    prog = None
    if show:
        prog = ProgressReporter(run.report_interval, target, run.timestep_ps, units)
        sim.reporters.append(prog)

    base_status = {"spec_key": spec.key(), "platform": used_platform, "formulation": used_formulation,
                   "precision": precision,
                   "openmm_version": openmm.__version__, "target_steps": target, "units": units.as_dict(),
                   "resumed_from": resumed_from, "pid": os.getpid(), **({"spec_changes": changes} if changes else {})}
    rd.write_status({**base_status, "status": "running", "step": sim.currentStep})
    # what every checkpoint records besides its step and files: where it ran, the spec it computes and the
    # build it runs, which a resumed run must match (RunDirectory.check_resume)
    record = {"platform": used_platform, "formulation": used_formulation, "openmm_version": openmm.__version__,
              "spec": spec.to_dict(), "build_sha256": rd.build_checksums(), "n_particles": system.getNumParticles()}
    if info is None:
        info = _write_checkpoint(rd, sim, traj, logr, frames, record)

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
                    _write_checkpoint(rd, sim, traj, logr, frames, record)
                status = "interrupted"
                break
            ckpt_next = (sim.currentStep // run.checkpoint_interval + 1) * run.checkpoint_interval
            n = min(target, ckpt_next, (sim.currentStep // chunk + 1) * chunk,
                    protocol.next_boundary(sim.currentStep) or target) - sim.currentStep
            before = sim.currentStep
            try:
                sim.step(n)
            except openmm.OpenMMException as e:
                if "nan" not in str(e).lower():
                    raise _OpenMMStopped(f"{rd.path}: OpenMM stopped the run between steps {before} and {before + n} "
                                         f"on {used_platform} ({used_formulation} pair formulation): "
                                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}. The trajectory "
                                         f"and log are cut back to the last checkpoint (step {ckpt_step}).") from None
                step = context.getStepCount()
                bad, where = _culprits(rd, context)
                raise BlowUpError(f"simulation blew up between steps {before} and {before + n} "
                                  f"({str(e).splitlines()[0]}); particles with the largest forces {where}: {bad}. "
                                  "The time step may be too large or the start overlapping; the last good state "
                                  "is the last checkpoint.", step=step, particles=bad) from None
            frames += sim.currentStep // run.trajectory_interval - before // run.trajectory_interval
            _apply_protocol(protocol, protocol_start, context, sim.currentStep)
            stop_early = _stop_requested(extra_reporters)
            # a run that reached its target in this chunk is complete, however long the chunk took
            over_time = max_wall is not None and time.perf_counter() - t0 > max_wall and sim.currentStep < target
            if sim.currentStep % run.checkpoint_interval == 0 or sim.currentStep >= target or over_time or stop_early:
                _write_checkpoint(rd, sim, traj, logr, frames, record)
                ckpt_step = sim.currentStep
            if over_time:
                status = "stopped"
                break
            if stop_early:
                status = "stopped-event"
                break
    except BlowUpError as e:
        rd.write_status({**base_status, "status": "failed", "step": e.step, "error": str(e)})
        raise
    except _OpenMMStopped as e:
        _close_quietly(logr, traj, prog)
        rd.cut_back(rd.checkpoint() or info, run.trajectory_format)
        rd.write_status({**base_status, "status": "failed", "step": ckpt_step, "error": str(e)})
        raise RunError(str(e)) from None
    except (OSError, RunError) as e:
        # Disk full, quota, read-only file system...: cut the outputs back to the last consistent
        # checkpoint so that no partial frame or row is left looking complete.
        _close_quietly(logr, traj, prog)
        try:
            last = rd.checkpoint()
            if last is not None:
                rd.cut_back(last, run.trajectory_format)
        except (OSError, RunError):
            last = None
        what = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        where = f" ({e.filename})" if isinstance(e, OSError) and e.filename else ""
        try:
            rd.write_status({**base_status, "status": "failed", "step": sim.currentStep,
                             "error": f"write failed: {what}"})
        except RunError:
            pass
        raise RunError(f"{rd.path}: write failed at step {sim.currentStep}{where}: {what}. The trajectory and log "
                       f"were cut back to the last checkpoint (step {last['step'] if last else 0}); free space or "
                       "fix permissions and run the same command again to resume.") from None
    finally:
        _close_quietly(logr, traj, prog)
    elapsed = time.perf_counter() - t0
    speed = (sim.currentStep - s0) / elapsed if elapsed > 0 else 0.0
    if status == "complete":
        state = context.getState(getPositions=True, getVelocities=True, getParameters=True)
        atomic_write_text(rd.final_state_xml, openmm.XmlSerializer.serialize(state))
    by_signal = {"signal": signal.Signals(signals.signum).name} if status == "interrupted" and signals.signum else {}
    rd.write_status({**base_status, "status": status, "step": sim.currentStep, "steps_per_second": speed,
                     "particle_steps_per_second": speed * system.getNumParticles(), **by_signal})
    result = RunResult(rd.path, status, sim.currentStep, target, used_platform, resumed_from, speed, used_formulation)
    if status == "interrupted" and signals.signum is not None:
        raise RunInterrupted(f"interrupted by {by_signal['signal']} at step {sim.currentStep}/{target}, checkpoint "
                             "written; run the same command again to resume", signals.signum, result)
    return result
