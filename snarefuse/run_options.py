"""What the command line changes in a spec: ``--set PATH=VALUE`` overrides (``build``, ``quickstart``) and the
output intervals of a run (``run``, ``quickstart``), so that a short run leaves frames to analyse.

Intervals live in the run directory's ``spec.yaml`` (frame times, the pore checks and resuming read them there), so
they are changed there, and only before the run's first step: a run that has started keeps the intervals its
trajectory was written with (resuming refuses a changed ``run.trajectory_interval``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError
from .rundir import RunDirectory
from .spec import Spec, example_spec_path, load_spec, load_yaml

#: Frames a run shorter than its trajectory interval gets when the intervals are scaled to its length.
SHORT_RUN_FRAMES = 10
INTERVAL_FIELDS = ("trajectory_interval", "report_interval", "checkpoint_interval")


# ------------------------------------------------------------------------------------------- --set
def parse_set(raw: str) -> tuple[str, Any]:
    """``"system.snares.n_complexes=3"`` -> ``("system.snares.n_complexes", 3)``; the value is read as YAML (numbers,
    booleans, lists; ``"310 K"`` stays a string), as it would be in a spec file."""
    path, sep, text = raw.partition("=")
    path = path.strip()
    if not sep or not path:
        raise SpecError("", f"--set {raw!r}: expected PATH=VALUE with a dotted spec path, e.g. "
                            "--set system.snares.n_complexes=3 or --set 'model.temperature=310 K'")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as e:
        raise SpecError(path, f"--set {raw!r}: the value is not valid YAML ({str(e).splitlines()[0]})") from None
    return path, value


def apply_sets(spec: Spec, sets: tuple[str, ...] | list[str]) -> Spec:
    """``spec`` with each ``--set PATH=VALUE`` applied in order and validated as a sweep's grid values are
    (:meth:`Spec.with_overrides`); an error names the override, not the YAML file the spec came from."""
    for raw in sets:
        path, value = parse_set(raw)
        try:
            spec = spec.with_overrides({path: value})
        except SpecError as e:
            raise SpecError(e.field, e.message, f"--set {raw}") from None
    return spec


# ------------------------------------------------------------------------------------------- spec arguments
def resolve_spec_argument(arg: str) -> Path:
    """A SPEC argument: a YAML file, or the name of a shipped example. Unknown names get the closest examples;
    a sweep file is named as one, with the command that uses it."""
    path = Path(arg)
    if not path.exists() and not arg.endswith((".yaml", ".yml")):
        try:
            path = example_spec_path(arg)
        except SpecError:
            names = sorted(p.stem for p in example_spec_path("quickstart").parent.glob("*.yaml"))
            close = difflib.get_close_matches(arg, names, n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise SpecError("", f"no example system {arg!r} and no such file; {hint}available: {', '.join(names)}") \
                from None
    if path.exists():
        try:
            data = load_yaml(path)  # only a regular file of sane size is read: a FIFO or /dev/zero is refused
        except SpecError:
            data = None  # load_spec reports it with the file's name
        if isinstance(data, dict) and "base" in data and ("grid" in data or "replicas" in data):
            base = path.parent / str(data["base"])
            shipped = base.parent == example_spec_path("quickstart").parent and base.suffix == ".yaml"
            base_arg = base.stem if shipped else str(base)
            raise SpecError("", f"{path} is a sweep file (base + grid), not a system spec: build every point of it "
                                f"with 'snarefuse sweep init {arg}' (then 'snarefuse sweep run {arg}'), or build one "
                                f"variant with 'snarefuse build {base_arg} --set PATH=VALUE -o DIR'")
    return path


def load_spec_with_sets(arg: str, sets: tuple[str, ...] | list[str] = ()) -> Spec:
    """:func:`resolve_spec_argument`, :func:`~snarefuse.spec.load_spec`, then :func:`apply_sets`."""
    return apply_sets(load_spec(resolve_spec_argument(arg)), sets)


# ------------------------------------------------------------------------------------------- intervals
@dataclass
class IntervalChange:
    """What :func:`set_run_intervals` did: the new intervals and why (None: nothing changed)."""

    changed: dict[str, int]
    reason: str | None

    def message(self, run_dir: str | Path) -> str | None:
        if not self.changed:
            return None
        what = ", ".join(f"run.{k} = {v}" for k, v in self.changed.items())
        return f"{run_dir}: {what} in spec.yaml ({self.reason})"


def set_run_intervals(run_dir: str | Path, steps: int | None, trajectory_interval: int | None = None,
                      report_interval: int | None = None, checkpoint_interval: int | None = None) -> IntervalChange:
    """Set the output intervals of a run that has not started, in its ``spec.yaml``.

    Given intervals are written as they are. Without them, a run whose ``steps`` are fewer than its trajectory or
    report interval gets both scaled to ``steps // SHORT_RUN_FRAMES`` (at least 1), so that it leaves frames and
    log rows to analyse. A run that has started keeps its intervals: given ones are then refused (naming
    spec.yaml), and nothing is scaled.
    """
    rd = RunDirectory(run_dir)
    given = {k: v for k, v in zip(INTERVAL_FIELDS, (trajectory_interval, report_interval, checkpoint_interval))
             if v is not None}
    spec = load_spec(rd.spec_yaml)
    run = spec.run
    target = steps if steps is not None else run.steps
    if rd.has_started():
        current = {k: getattr(run, k) for k in given}
        if given and given != current:
            opts = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items())
            raise SpecError("", f"{rd.spec_yaml}: {opts}: this run has started with "
                                   f"{', '.join(f'{k} {v}' for k, v in current.items())}; intervals change only "
                                   "before the first step (build into a new directory for other intervals)")
        return IntervalChange({}, None)
    changed = {k: v for k, v in given.items() if getattr(run, k) != v}
    reason = "as given on the command line"
    if not given and target < max(run.trajectory_interval, run.report_interval) and target > 0:
        scaled = max(1, target // SHORT_RUN_FRAMES)
        changed = {k: scaled for k in ("trajectory_interval", "report_interval") if getattr(run, k) > scaled}
        reason = (f"scaled for a run of {target} steps, shorter than its trajectory interval "
                  f"{run.trajectory_interval}: {target // scaled} frames, and the same intervals if the run is "
                  "extended later; set them with --trajectory-interval, --report-interval")
    if not changed:
        return IntervalChange({}, None)
    new = spec.with_overrides({f"run.{k}": v for k, v in changed.items()})
    new.dump(rd.spec_yaml)
    return IntervalChange(changed, reason)
