"""In-run fusion events: stop a run a set time after a fusion pore opens.

:class:`FusionEventReporter` is an OpenMM reporter (``describeNextReport`` / ``report``) that looks for
a pore between the two membranes every ``interval`` steps with
:func:`snarefuse.analysis.zone.detect_pore`, and sets ``stop_requested = True`` once the simulation
time has reached ``t_pore + delay``; :func:`snarefuse.runner.run_simulation` then writes a checkpoint
and stops with status ``stopped-event`` at the end of that chunk.

Flicker rule
------------
Each check applies the analysis' hold rule (:func:`snarefuse.analysis.zone.check_pore`): a fusion pore of
``HOLD_AFTER_FRAMES`` consecutive checks stays one while its rim seal stays at least ``HOLD_RIM_SEAL``, so a
pore whose seal flickers about the 0.5 threshold is not reset. A pore counts as open once it is detected at ``confirm``
consecutive checks; a check without a pore resets the count. Its step, time and radius are those of the
*first* check of that run of checks (``t_pore``), the same convention as the analysis' first-passage times
(``snarefuse analyze --persist``). The run stops at the first check or chunk boundary at or after
``max(t_pore + delay, t_confirmed)``: it cannot stop before the pore is confirmed, so ``delay = 0`` stops at
the confirming check.

Files (in the run directory)
----------------------------
``events.csv``
    One row per check: ``step, time_ps, has_pore, pore_radius_nm`` (radius 0 without a pore).
``events.json``
    The settings (rule, confirm, check interval, delay), the pore event once confirmed
    (``pore: {step, time_ps, radius_nm, confirmed_step, confirmed_time_ps}``), the planned stop
    (``stop_time_ps``, ``stop_step``), once requested ``stop_requested_step``, and ``pore_cells``: per check
    with a fusion pore (by step), its pores' cells as ``[u, v, checks]`` (lateral centre in nm, consecutive
    checks the pore has been one), which the next check may hold.
    Written atomically.

Resume
------
The reporter is consistent with the runner's checkpoint of step ``C``: rows of ``events.csv`` after ``C``
are dropped (they belong to the part of the run that a resume repeats) and an event confirmed after ``C``
is forgotten (the repeated part finds it again). The pore event of ``events.json`` confirmed at or before
``C`` is kept, an unconfirmed run of pore checks is rebuilt from the kept rows, the pore held at the last
kept check is restored from ``pore_cells``, and a run already past
``t_pore + delay`` requests the stop as soon as the reporter is constructed, so the runner does not step
at all. Construction only reads files; they are rewritten at the first ``describeNextReport``, inside
the runner's lock. Rows are flushed as they are written, so a killed process loses none.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import openmm
from openmm import unit

from .errors import RunDirectoryError, RunError, SpecError
from .io import atomic_write_json, atomic_write_text
from .rundir import EVENTS_CSV, EVENTS_JSON, RunDirectory  # noqa: F401  (the names of the files written)

#: Columns of ``events.csv``.
EVENT_COLUMNS = ["step", "time_ps", "has_pore", "pore_radius_nm"]
#: Default number of consecutive checks with a pore that confirm it (as ``snarefuse analyze --persist``).
DEFAULT_CONFIRM = 3
#: Geometries with two membranes, between which a fusion pore can open.
TWO_MEMBRANE_GEOMETRIES = ("two_bilayers", "vesicle_planar", "vesicle_vesicle")
#: Tolerance (in steps) when converting the delay into steps: 0.7 tau / 0.01 tau is 70 steps, not 71.
STEP_TOLERANCE = 1e-6


def flicker_rule(confirm: int) -> str:
    """The flicker rule in words, as recorded in ``events.json``."""
    from .analysis.zone import HOLD_AFTER_FRAMES, HOLD_RIM_SEAL, MIN_RIM_SEAL

    return (f"a pore counts as open once detected at {confirm} consecutive checks (a check without a pore resets "
            "the count); its step, time and radius are those of the first check of that run; the run stops at "
            "the first check or chunk boundary at or after max(t_pore + delay, confirmation); a fusion pore needs "
            f"a rim seal >= {MIN_RIM_SEAL}, or >= {HOLD_RIM_SEAL} where it overlaps a fusion pore of the check "
            f"before that had been one for {HOLD_AFTER_FRAMES} consecutive checks")


@dataclass(frozen=True)
class PoreEvent:
    """A confirmed fusion pore: the first check of the confirming run of checks, and the confirming one."""

    step: int
    time_ps: float
    radius_nm: float
    confirmed_step: int
    confirmed_time_ps: float

    @classmethod
    def from_dict(cls, d: Any) -> "PoreEvent | None":
        """From the ``pore`` entry of ``events.json`` (None if absent or malformed)."""
        try:
            return cls(int(d["step"]), float(d["time_ps"]), float(d["radius_nm"]), int(d["confirmed_step"]),
                       float(d["confirmed_time_ps"]))
        except (TypeError, KeyError, ValueError):
            return None


@dataclass(frozen=True)
class _Check:
    step: int
    time_ps: float
    has_pore: bool
    radius_nm: float

    def row(self) -> str:
        return f"{self.step},{self.time_ps:.10g},{int(self.has_pore)},{self.radius_nm:.6g}\n"


def _read_checks(path: Path) -> list[_Check]:
    """Rows of ``events.csv`` (a malformed line, e.g. cut by a kill, is skipped), one per step, in step order."""
    if not path.exists():
        return []
    by_step: dict[int, _Check] = {}
    for line in path.read_text().splitlines()[1:]:
        parts = line.split(",")
        if len(parts) != len(EVENT_COLUMNS):
            continue
        try:
            c = _Check(int(parts[0]), float(parts[1]), parts[2].strip() == "1", float(parts[3]))
        except ValueError:
            continue
        by_step[c.step] = c
    return [by_step[s] for s in sorted(by_step)]


def _read_pore_cells(saved: Any, step: int) -> dict[int, list[list[float]]]:
    """``pore_cells`` of ``events.json`` at checks up to ``step`` (malformed entries are skipped)."""
    out: dict[int, list[list[float]]] = {}
    if not isinstance(saved, dict):
        return out
    for k, v in saved.items():
        try:
            s = int(k)
        except (TypeError, ValueError):
            continue
        if s <= step and isinstance(v, list):
            out[s] = v
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class FusionEventReporter:
    """Stop a run ``delay_ps`` after a fusion pore opens between two membranes (see the module docstring).

    Parameters
    ----------
    run_dir : path
        The run directory: ``events.csv`` and ``events.json`` are written there, and its
        ``checkpoint.json`` (if any) is the step a resumed run starts from.
    interval : int
        Check for a pore every this many steps.
    delay_ps : float or openmm Quantity
        Stop once the simulation time reaches ``t_pore + delay_ps`` (ps); 0 stops at the confirmed pore.
    confirm : int
        Consecutive checks with a pore that confirm it (flicker rule).
    membranes, contact_xy, geometry, min_radius, block_radius, sigma_nm
        Passed to :func:`~snarefuse.analysis.zone.detect_pore`; :meth:`from_run` takes ``contact_xy``
        and ``geometry`` from the run's ``manifest.json`` and ``sigma_nm`` from its spec's model.

    Attributes
    ----------
    stop_requested : bool
        Read by :func:`snarefuse.runner.run_simulation` after each chunk.
    event : PoreEvent or None
        The confirmed pore.
    """

    def __init__(self, run_dir: str | Path, interval: int, delay_ps: Any = 0.0, *, confirm: int = DEFAULT_CONFIRM,
                 membranes: tuple[int, int] = (0, 1), contact_xy: tuple[float, float] | None = None,
                 geometry: tuple[str | None, ...] | None = None, min_radius: float | None = None,
                 block_radius: float | None = None, sigma_nm: float | None = None):
        if hasattr(delay_ps, "value_in_unit"):
            delay_ps = delay_ps.value_in_unit(unit.picosecond)
        if int(interval) < 1:
            raise ValueError(f"interval: the pore check interval must be >= 1 step, got {interval}")
        if not (math.isfinite(float(delay_ps)) and float(delay_ps) >= 0):
            raise ValueError(f"delay_ps: must be a finite time >= 0 ps, got {delay_ps}")
        if int(confirm) < 1:
            raise ValueError(f"confirm: must be >= 1 consecutive checks, got {confirm}")
        self.run_dir = Path(run_dir)
        self._rd = RunDirectory(run_dir)
        self.interval = int(interval)
        self.delay_ps = float(delay_ps)
        self.confirm = int(confirm)
        self.detect_options: dict[str, Any] = {"membranes": tuple(membranes), "contact_xy": contact_xy,
                                               "geometry": geometry}
        if min_radius is not None:
            self.detect_options["min_radius"] = float(min_radius)
        if block_radius is not None:
            self.detect_options["block_radius"] = float(block_radius)
        if sigma_nm is not None:
            self.detect_options["sigma_nm"] = float(sigma_nm)
        self.stop_requested = False
        self.stop_requested_step: int | None = None
        self.event: PoreEvent | None = None
        self.n_checks = 0
        self._checks: list[_Check] = []          # the kept rows, as loaded
        self._streak_first: _Check | None = None  # first check of the current run of pore checks
        self._streak = 0
        self._pore_cells: dict[int, list[list[float]]] = {}  # fusion-pore cells of the kept checks, by step
        self._memory: Any = None                   # analysis.zone.PoreMemory: the pore the next check holds
        self._sim: Any = None
        self._dt_ps: float | None = None
        self._lipids: Any = None
        self._topology: Any = None
        step, time_ps = self._checkpoint()
        if step > 0:
            self._dt_ps = time_ps / step
        self._load(step)

    # ---------------------------------------------------------------- construction from a run directory
    @classmethod
    def from_run(cls, run_dir: str | Path, delay: Any, interval: int | None = None, *,
                 confirm: int = DEFAULT_CONFIRM, option: str = "--stop-after-pore") -> "FusionEventReporter":
        """A reporter for a built run directory: geometry and contact axis from ``manifest.json``.

        Parameters
        ----------
        delay : float, str or Quantity
            ``"5 ns"``, ``"100 tau"`` (the run's reduced units), or a number in ps.
        interval : int, optional
            Check interval in steps (default: the spec's ``run.trajectory_interval``).
        option : str
            The name used in error messages (the CLI option).

        Raises
        ------
        RunError
            The directory is not built, or holds a single membrane.
        SpecError
            ``delay`` is not a time >= 0.
        """
        from .spec import parse_quantity

        rd = RunDirectory(run_dir)
        d = rd.path
        try:
            rd.require(rd.spec_yaml.name, rd.manifest_json.name)
        except RunDirectoryError as e:
            raise RunError(f"{option}: {e}") from None
        spec = rd.spec()
        manifest = rd.manifest(required=True)
        rd.refuse_symlinked_outputs(spec.run.trajectory_format)
        membranes = manifest.get("membranes") or []
        geometry = manifest.get("geometry", "?")
        if len(membranes) < 2:
            raise RunError(f"{option}: {d} holds a single membrane (geometry {geometry}); a fusion pore needs two "
                           f"membranes (geometry {', '.join(TWO_MEMBRANE_GEOMETRIES)})")
        if hasattr(delay, "value_in_unit"):
            delay_ps = float(delay.value_in_unit(unit.picosecond))
        else:
            delay_ps = parse_quantity(delay, "time", option, spec.model.units)
        if delay_ps < 0:
            raise SpecError(option, f"the delay after the pore must be >= 0, got {delay!r}")
        every = spec.run.trajectory_interval if interval is None else int(interval)
        if every < 1:
            raise SpecError("--pore-check-every", f"must be >= 1 step, got {interval}")
        kinds = tuple(str(m.get("kind")) if isinstance(m, dict) and m.get("kind") else None for m in membranes)
        return cls(d, every, delay_ps, confirm=confirm, contact_xy=rd.contact_xy(), geometry=kinds,
                   sigma_nm=spec.model.sigma_nm)

    # ---------------------------------------------------------------- state and files
    @property
    def stop_time_ps(self) -> float | None:
        """Simulation time (ps) at which the run stops: ``max(t_pore + delay, confirmation)``."""
        if self.event is None:
            return None
        return max(self.event.time_ps + self.delay_ps, self.event.confirmed_time_ps)

    def _checkpoint(self) -> tuple[int, float]:
        return self._rd.checkpoint_progress()

    def _load(self, step: int) -> None:
        """Restore the state at ``step`` (read-only): kept rows, the event, the streak, the stop flag."""
        from .analysis.zone import PoreMemory

        self._checks = [c for c in _read_checks(self._rd.events_csv) if c.step <= step]
        self.n_checks = len(self._checks)
        record = _read_json(self._rd.events_json)
        saved = PoreEvent.from_dict(record.get("pore"))
        self.event = saved if saved is not None and saved.confirmed_step <= step else None
        self._pore_cells = _read_pore_cells(record.get("pore_cells"), step)
        last = self._checks[-1] if self._checks else None
        self._memory = PoreMemory.from_list(self._pore_cells.get(last.step) if last and last.has_pore else None)
        self._streak_first, self._streak = None, 0
        for c in self._checks:
            self._advance(c)
        self.stop_requested = False
        self.stop_requested_step = None
        self._update_stop(step)

    def _advance(self, c: _Check) -> bool:
        """Apply one check to the flicker rule; True when it confirms the pore."""
        if not c.has_pore:
            self._streak_first, self._streak = None, 0
            return False
        if self._streak_first is None:
            self._streak_first = c
        self._streak += 1
        if self.event is None and self._streak >= self.confirm:
            first = self._streak_first
            self.event = PoreEvent(first.step, first.time_ps, first.radius_nm, c.step, c.time_ps)
            return True
        return False

    def _update_stop(self, step: int) -> bool:
        stop = self.stop_step
        if self.stop_requested or stop is None or step < stop:
            return False
        self.stop_requested = True
        self.stop_requested_step = step
        return True

    def _record(self) -> dict[str, Any]:
        return {"event": "pore", "rule": flicker_rule(self.confirm), "confirm": self.confirm,
                "check_interval_steps": self.interval, "delay_ps": self.delay_ps,
                "detect_options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.detect_options.items()},
                "pore": asdict(self.event) if self.event is not None else None,
                "stop_time_ps": self.stop_time_ps, "stop_step": self.stop_step,
                "stop_requested_step": self.stop_requested_step,
                "pore_cells": {str(k): v for k, v in sorted(self._pore_cells.items())}}

    def _write_json(self) -> None:
        atomic_write_json(self._rd.events_json, self._record())

    def _sync(self, simulation: Any) -> None:
        """At the first report of a Simulation: restore the state at its step and rewrite the files to match."""
        self._sim = simulation
        self._dt_ps = float(simulation.integrator.getStepSize().value_in_unit(unit.picosecond))
        step = int(simulation.currentStep)
        self._load(step)
        text = ",".join(EVENT_COLUMNS) + "\n" + "".join(c.row() for c in self._checks)
        path = self._rd.events_csv
        if not path.exists() or path.read_text() != text:
            atomic_write_text(path, text)
        self._write_json()

    @property
    def stop_step(self) -> int | None:
        """Step at which the stop is requested: the first at or after ``max(t_pore + delay, confirmation)``.

        Decided in steps, not by comparing floating-point times, so that a run resumed exactly at its stop
        step stops and one a step short does not."""
        if self.event is None or not self._dt_ps:
            return None
        delay_steps = max(0, math.ceil(self.delay_ps / self._dt_ps - STEP_TOLERANCE))
        return max(self.event.step + delay_steps, self.event.confirmed_step)

    # ---------------------------------------------------------------- OpenMM reporter protocol
    def describeNextReport(self, simulation: Any) -> dict[str, Any]:  # noqa: N802
        if simulation is not self._sim:
            self._sync(simulation)
        step = int(simulation.currentStep)
        steps = self.interval - step % self.interval
        stop_step = self.stop_step
        if stop_step is not None and not self.stop_requested and stop_step > step:
            steps = min(steps, stop_step - step)
        return {"steps": steps, "periodic": True, "include": ["positions"]}

    def report(self, simulation: Any, state: openmm.State) -> None:
        from .analysis.base import LipidIndex
        from .analysis.fusion import detect_pore

        step = int(simulation.currentStep)
        time_ps = float(state.getTime().value_in_unit(unit.picosecond))
        changed = False
        if step % self.interval == 0:
            if self._lipids is None or simulation.topology is not self._topology:
                self._topology = simulation.topology
                self._lipids = LipidIndex.from_topology(simulation.topology)
            has, radius = detect_pore(state.getPositions(asNumpy=True), state.getPeriodicBoxVectors(asNumpy=True),
                                      self._lipids, memory=self._memory, **self.detect_options)
            check = _Check(step, time_ps, bool(has), float(radius) if has else 0.0)
            with open(self._rd.events_csv, "a") as f:  # closed, hence flushed: a kill loses no row
                f.write(check.row())
            self.n_checks += 1
            changed = self._advance(check)
            if len(self._memory.cells):  # saved before the next check can use it: a resume at this step holds it
                self._pore_cells[step] = self._memory.to_list()
                changed = True
        changed = self._update_stop(step) or changed
        if changed:
            self._write_json()

    # ---------------------------------------------------------------- reading a run directory
    @staticmethod
    def read_event(run_dir: str | Path) -> PoreEvent | None:
        """The pore event recorded in ``run_dir/events.json`` (None: none yet)."""
        return PoreEvent.from_dict(_read_json(RunDirectory(run_dir).events_json).get("pore"))
