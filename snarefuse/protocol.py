"""Timed run protocols (``run.protocol``): events that set OpenMM global parameters at given steps.

An event sets one or more Context parameters at a step, instantly or as a linear ramp over a duration::

    run:
      steps: 20000
      protocol:
        - at: 50 tau                 # or "2 ns", or a step count (integer or "5000 steps")
          set: {snare_contact_scale: 0.5}
        - at: 100 tau
          ramp: 20 tau               # linear, from the value in force at 'at' to the value given
          set: {MembraneMonteCarloSurfaceTension: "5 mN/m"}

The parameter values are a pure function of the step (:meth:`Protocol.values_at`), so a run needs no protocol
state of its own: the runner sets the values for the step it starts or resumes from, and again at each of
:meth:`Protocol.boundaries` (it ends its step chunks there). A ramp changes its value every
:func:`ramp_stride` steps (a fixed function of the ramp's length), identically in an uninterrupted run and in one
killed and resumed anywhere; an event therefore takes effect exactly once at its step whatever the kills.

The *trigger* (``run.trigger``) is one more event, marked as the moment the analysis times things from (the
Ca²⁺ signal of regulated exocytosis): by default it releases the SNARE clamp (``snare_clamp`` -> 1),
at once or as a ramp (the Ca²⁺ rise)::

    run:
      trigger: {at: 60 tau, ramp: 2 tau}          # set: {snare_clamp: 1} unless given

Which parameters a spec may set is decided from the spec itself (:func:`accepted_parameters`); the runner checks
them again against the System (:func:`initial_values`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from .errors import SpecError
from .quantities import Section, parse_quantity, show_value
from .units import ReducedUnits

__all__ = ["ProtocolEvent", "Protocol", "accepted_parameters", "parse_protocol", "ramp_stride", "initial_values",
           "SURFACE_TENSION", "RAMP_UPDATES", "CLAMP", "TRIGGER_DEFAULT_SET"]

#: The Context parameter of OpenMM's MonteCarloMembraneBarostat surface tension (bar*nm);
#: ``openmm.MonteCarloMembraneBarostat.SurfaceTension()``, written out so that reading a spec does not import OpenMM.
SURFACE_TENSION = "MembraneMonteCarloSurfaceTension"
#: A ramp changes its value this many times at most (every :func:`ramp_stride` steps): often enough to be a ramp,
#: rarely enough that splitting the step chunks there costs nothing measurable.
RAMP_UPDATES = 200

#: The global parameter of the clamped SNARE contacts (system.snares.clamp).
CLAMP = "snare_clamp"
#: What ``run.trigger`` sets when it names nothing: the clamp released.
TRIGGER_DEFAULT_SET = {CLAMP: 1.0}

#: parameter -> (dimension for parse_quantity or None for a plain number, what it is)
_PARAMETERS: dict[str, tuple[str | None, str]] = {
    "snare_contact_scale": (None, "factor on every SNARE native contact (1: as built, 0: off)"),
    "snare_anchor_eps": ("energy", "SNARE interfacial anchor depth per anchor-head pair"),
    SURFACE_TENSION: ("tension", "membrane barostat surface tension"),
    "snare_clamp": (None, "factor on the clamped SNARE native contacts (system.snares.clamp; 0: held, 1: released)"),
}


def accepted_parameters(has_snares: bool, has_anchor: bool, has_barostat: bool,
                        has_clamp: bool = False) -> dict[str, tuple[str | None, str]]:
    """The parameters a protocol may set in a system with these parts: name -> (dimension or None, description)."""
    out = {}
    if has_snares:
        out["snare_contact_scale"] = _PARAMETERS["snare_contact_scale"]
    if has_anchor:
        out["snare_anchor_eps"] = _PARAMETERS["snare_anchor_eps"]
    if has_barostat:
        out[SURFACE_TENSION] = _PARAMETERS[SURFACE_TENSION]
    if has_clamp:
        out["snare_clamp"] = _PARAMETERS["snare_clamp"]
    return out


def ramp_stride(duration: int) -> int:
    """Steps between the value updates of a ramp ``duration`` steps long (>= 1)."""
    return max(1, -(-duration // RAMP_UPDATES))


@dataclass(frozen=True)
class ProtocolEvent:
    """One event: from step ``step`` the parameters take ``values`` (MD units), reached linearly over
    ``ramp_steps`` steps (0: at once)."""

    step: int
    values: tuple[tuple[str, float], ...]
    ramp_steps: int = 0

    @property
    def end(self) -> int:
        return self.step + self.ramp_steps

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"at": self.step}
        if self.ramp_steps:
            d["ramp"] = self.ramp_steps
        d["set"] = {k: v for k, v in self.values}
        return d


@dataclass(frozen=True)
class Protocol:
    """The events of ``run.protocol``, in the order given, and the trigger (``run.trigger``), if any
    (steps; values in MD units). The trigger acts like any event; it is kept apart so that its step is known."""

    events: tuple[ProtocolEvent, ...] = ()
    trigger: ProtocolEvent | None = None

    def __bool__(self) -> bool:
        return bool(self.events) or self.trigger is not None

    @property
    def all_events(self) -> tuple[ProtocolEvent, ...]:
        """The events and the trigger."""
        return self.events + ((self.trigger,) if self.trigger is not None else ())

    @property
    def trigger_step(self) -> int | None:
        """The step of the trigger, or None without one."""
        return None if self.trigger is None else self.trigger.step

    @property
    def parameters(self) -> list[str]:
        """The parameters the protocol sets, sorted (the extra columns of log.csv)."""
        return sorted({k for e in self.all_events for k, _ in e.values})

    def to_dict(self) -> list[dict[str, Any]]:
        """``run.protocol`` (the trigger is ``run.trigger``: :meth:`trigger_dict`)."""
        return [e.to_dict() for e in self.events]

    def trigger_dict(self) -> dict[str, Any] | None:
        return None if self.trigger is None else self.trigger.to_dict()

    def _timeline(self, name: str) -> list[ProtocolEvent]:
        return sorted((e for e in self.all_events if name in dict(e.values)), key=lambda e: e.step)

    def value_at(self, name: str, step: int, initial: float) -> float:
        """The value of ``name`` in force for the dynamics from ``step`` on (until the next boundary)."""
        value = initial
        for e in self._timeline(name):
            if step < e.step:
                break
            target = dict(e.values)[name]
            if step >= e.end:
                value = target
            else:
                stride = ramp_stride(e.ramp_steps)
                done = (step - e.step) // stride * stride
                value = value + (target - value) * done / e.ramp_steps
                break
        return value

    def values_at(self, step: int, initial: dict[str, float]) -> dict[str, float]:
        """Every protocol parameter's value in force from ``step`` on; ``initial``: the values as built."""
        return {n: self.value_at(n, step, initial[n]) for n in self.parameters}

    def boundaries(self) -> list[int]:
        """The steps at which some value changes (sorted): the runner ends a step chunk at each."""
        out: set[int] = set()
        for e in self.all_events:
            out.add(e.step)
            if e.ramp_steps:
                out.update(range(e.step, e.end, ramp_stride(e.ramp_steps)))
                out.add(e.end)
        return sorted(out)

    def next_boundary(self, step: int) -> int | None:
        """The first boundary after ``step``, or None."""
        for b in self.boundaries():
            if b > step:
                return b
        return None


def _steps(value: Any, path: str, units: ReducedUnits, timestep_ps: float) -> int:
    """A time ("50 tau", "2 ns") or a step count (an integer, "5000 steps") -> steps."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().lower().endswith(("steps", "step")):
        head = value.strip().lower().removesuffix("steps").removesuffix("step").strip()
        if not head.isdigit():
            raise SpecError(path, f"expected a step count like '5000 steps', got {show_value(value)}")
        n = int(head)
    else:
        t = parse_quantity(value, "time", path, units)
        exact = t / timestep_ps
        n = round(exact)
        if not math.isclose(n, exact, rel_tol=1e-9, abs_tol=1e-6):
            raise SpecError(path, f"{show_value(value)} is {exact:.6g} time steps of {timestep_ps:g} ps; give a "
                                  "whole number of steps (a time that is a multiple of run.timestep, or 'N steps')")
    if n < 0:
        raise SpecError(path, f"must be >= 0, got {show_value(value)}")
    return int(n)


def _parse_event(raw: Any, where: str, units: ReducedUnits, timestep_ps: float, run_steps: int,
                 accepted: dict[str, tuple[str | None, str]], default_set: dict[str, float] | None = None
                 ) -> ProtocolEvent:
    s = Section(raw, where, ["at", "set", "ramp"])
    if s.raw("at", None) is None:
        raise SpecError(f"{where}.at", "missing: the time of the event ('50 tau', '2 ns' or a step count)")
    step = _steps(s.raw("at"), f"{where}.at", units, timestep_ps)
    ramp_raw = s.raw("ramp", None)
    ramp = 0 if ramp_raw is None else _steps(ramp_raw, f"{where}.ramp", units, timestep_ps)
    if step > run_steps:
        raise SpecError(f"{where}.at", f"step {step} is beyond the run (run.steps = {run_steps})")
    if step + ramp > run_steps:
        raise SpecError(f"{where}.ramp", f"the ramp ends at step {step + ramp}, beyond the run "
                                         f"(run.steps = {run_steps})")
    sets = s.raw("set", None)
    if sets is None and default_set is not None:
        if not set(default_set) <= set(accepted):
            raise SpecError(f"{where}.set", f"defaults to {show_value(default_set)}, which this system does not "
                                            "have (the trigger releases system.snares.clamp: set one, or name the "
                                            "parameters the trigger sets)")
        sets = dict(default_set)
    if not isinstance(sets, dict) or not sets:
        raise SpecError(f"{where}.set", f"expected a mapping parameter -> value, got {show_value(sets)}")
    values = []
    for name, v in sets.items():
        path = f"{where}.set.{name}"
        if name not in accepted:
            ok = ", ".join(sorted(accepted)) or "none (this system exposes no protocol parameter)"
            raise SpecError(path, f"unknown parameter {show_value(name)}; this system accepts: {ok}")
        dim = accepted[name][0]
        if dim is None:
            if (isinstance(v, bool) or not isinstance(v, (int, float))
                    or (isinstance(v, int) and abs(v) >= 2**1023) or not math.isfinite(v)):
                raise SpecError(path, f"expected a finite number, got {show_value(v)}")
            values.append((str(name), float(v)))
        else:
            values.append((str(name), parse_quantity(v, dim, path, units)))
    return ProtocolEvent(step, tuple(sorted(values)), ramp)


def parse_protocol(data: Any, units: ReducedUnits, timestep_ps: float, run_steps: int,
                   accepted: dict[str, tuple[str | None, str]], trigger: Any = None) -> Protocol:
    """Parse and check ``run.protocol`` (a list of events) and ``run.trigger`` (one event; by default it sets
    :data:`TRIGGER_DEFAULT_SET`); every error names ``run.protocol[i]...`` or ``run.trigger...``."""
    if data is not None and not isinstance(data, list):
        raise SpecError("run.protocol", f"expected a list of events like [{{at: 50 tau, set: {{...}}}}], "
                                        f"got {show_value(data)}")
    events = [(f"run.protocol[{i}]", _parse_event(raw, f"run.protocol[{i}]", units, timestep_ps, run_steps, accepted))
              for i, raw in enumerate(data or [])]
    trig = None
    if trigger is not None:
        trig = _parse_event(trigger, "run.trigger", units, timestep_ps, run_steps, accepted, TRIGGER_DEFAULT_SET)
    # one parameter: an event may not start while an earlier one (a ramp) is still running, nor at the same step
    by_name: dict[str, list[tuple[int, str, ProtocolEvent]]] = {}
    for i, (where, e) in enumerate(events + ([("run.trigger", trig)] if trig is not None else [])):
        for name, _ in e.values:
            by_name.setdefault(name, []).append((i, where, e))
    for name, timeline in by_name.items():
        timeline.sort(key=lambda x: (x[2].step, x[0]))
        for (_, w0, e0), (_, w1, e1) in zip(timeline, timeline[1:]):
            if e1.step < e0.end or e1.step == e0.step:
                span = f"its ramp runs over steps {e0.step}-{e0.end}" if e0.ramp_steps else f"at step {e0.step}"
                raise SpecError(f"{w1}.set.{name}",
                                f"overlaps {w0}, which sets {name} too ({span}); this event starts "
                                f"at step {e1.step}: start it at or after step {max(e0.end, e0.step + 1)}")
    return Protocol(tuple(e for _, e in events), trig)


def initial_values(system: Any, names: Sequence[str]) -> dict[str, float]:
    """The values as built of ``names`` in an ``openmm.System`` (global parameter defaults; the membrane
    barostat's default surface tension in bar*nm). Raises KeyError naming a parameter the System lacks."""
    found: dict[str, float] = {}
    for f in system.getForces():
        if hasattr(f, "getDefaultSurfaceTension"):
            found[SURFACE_TENSION] = f.getDefaultSurfaceTension().value_in_unit(_bar_nm())
        for k in range(getattr(f, "getNumGlobalParameters", lambda: 0)()):
            found[f.getGlobalParameterName(k)] = f.getGlobalParameterDefaultValue(k)
    missing = [n for n in names if n not in found]
    if missing:
        raise KeyError(f"the System has no global parameter {', '.join(missing)} (it has: {', '.join(sorted(found))})")
    return {n: float(found[n]) for n in names}


def _bar_nm() -> Any:
    from openmm import unit  # only when a System is at hand; reading a spec does not import OpenMM

    return unit.bar * unit.nanometer
