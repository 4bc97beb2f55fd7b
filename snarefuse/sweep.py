"""Parameter sweeps: grid -> specs -> run directories -> results table, executed on Dask.

A sweep spec (YAML; every key checked, unknown keys are errors)::

    name: nlipids                  # optional (default: the file name)
    base: bilayer_small            # spec file relative to this file, a shipped example, or a mapping
    grid:                          # dotted spec paths -> lists; Cartesian product
      system.bilayer.n_lipids: [200, 400, 800]
    zip:                           # dotted spec paths -> equal-length lists, varied together
      model.kT_over_epsilon: [1.0, 1.1]
      model.wc: [1.5 sigma, 1.6 sigma]
    conditions:                    # named overlays of the base spec (dotted path -> value; null unsets an
      free: {system.snares.clamp: null, run.trigger: null}    # optional section): one more axis, 'condition'
      late: {run.trigger.at: 80 tau}
    replicas: 3                    # seeds: replica 0 keeps the point's seed, others derive from it
    workspace: ../runs/nlipids     # relative to this file
    steps: 20000                   # target steps per point (default: run.steps of the point's spec)
    analysis: {enabled: true, options: {}}   # options go to analyze_run(run_dir, **options)
    stop_after_fusion: {event: pore, check_every: 500, confirm: 3, delay: 0 tau}   # all optional

Conditions vary what one dotted path cannot (a whole section, several fields at once, a field of one
condition only): each is applied to the base spec before the grid, and the points carry ``condition: <name>``
as their first varied parameter, so the results are compared per condition.

Each state point is the base spec with the varied fields and a replica seed applied; it lives in
``workspace/points/<spec key>/`` (the built system, its resolved ``spec.yaml``, ``point.json`` with
the varied parameters, ``task.json`` with the sweep's bookkeeping, then the run's own files). A
point's key is :meth:`Spec.key`, so two sweeps that share a state point share its directory and
its run. ``workspace/index.csv`` lists every point of the workspace.

The truth about a point is in its run directory (``checkpoint.json``, ``run.json``), never in the
scheduler: a task that dies resumes from the last checkpoint, a finished point is never rerun, and
two tasks for one point serialise on a lock file (``.sweep.lock``) and then on the runner's own.

This module is the sweep file's schema and the points it makes; the other jobs live beside it:
:mod:`snarefuse.sweep_workspace` (point directories, ``index.csv``, what a point's files say about its state),
:mod:`snarefuse.sweep_dask` (the Dask task and the driver that survives a lost scheduler) and
:mod:`snarefuse.sweep_results` (the results table, its statistics and plots).
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import sweep_dask
from .analysis.stats import DEFAULT_CONFIDENCE, EVENTS
from .errors import BuildError, SpecError
from .quantities import Section as _Section, show_value
from .spec import Spec, example_spec_path, load_spec, load_yaml
from .sweep_dask import DEFAULT_RECONNECT_TIMEOUT_S, SchedulerLostError, SweepRunReport, run_point
from .sweep_results import SweepResults, collect, format_statistics, fusion_times
from .sweep_workspace import STATES, Point, PointStatus, Workspace, ensure_point, point_status, update_index

__all__ = ["Sweep", "load_sweep", "replica_seed", "Point", "PointStatus", "STATES", "SweepRunReport",
           "SchedulerLostError", "SweepResults", "run_point", "format_statistics", "fusion_times", "SWEEP_KEYS",
           "STOP_EVENTS", "MAX_REPLICAS"]

SWEEP_KEYS = ["name", "base", "grid", "zip", "replicas", "workspace", "steps", "analysis", "stop_after_fusion",
              "conditions"]
#: The varied parameter that names a point's condition (``conditions``).
CONDITION = "condition"
#: Fusion events a sweep can stop after: those the in-run reporter (:mod:`snarefuse.events`) detects.
STOP_EVENTS = ("pore",)
STOP_KEYS = ["event", "check_every", "confirm", "delay"]
#: Most replicas per point: replica seeds are 31-bit hashes, so beyond a few thousand two replicas of
#: a point start to share a seed (and a directory), and a mistyped huge number should not hang.
MAX_REPLICAS = 10_000


def replica_seed(seed: int, replica: int) -> int:
    """Seed of replica ``replica`` of a point whose spec has ``seed``.

    Replica 0 keeps ``seed`` (so a one-replica sweep runs the base spec itself); the others hash
    ``(seed, replica)`` into ``[0, 2**31)``, so seeds of neighbouring base seeds do not overlap.
    """
    if replica == 0:
        return seed
    digest = hashlib.sha256(f"snarefuse-replica:{seed}:{replica}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 2**31


# ------------------------------------------------------------------------------ the sweep
class Sweep:
    """A parameter sweep over a base spec (see the module docstring for the YAML form).

    Parameters
    ----------
    base : Spec, path, example name or mapping
    grid, zip : mapping of dotted spec path -> list of values
    replicas : int
    workspace : path
        Directory of the sweep's points (relative to ``root``).
    steps : int, optional
        Target steps per point (default: ``run.steps`` of each point's spec).
    analysis : bool or mapping ``{enabled, options}``, optional
    stop_after_fusion : bool or mapping ``{event: pore, check_every: steps, confirm: checks, delay: time}``, optional
        End each run once the in-run reporter (:class:`snarefuse.events.FusionEventReporter`) has seen a
        fusion pore (see docs/sweeps.md for the defaults).
    conditions : mapping of name -> mapping of dotted spec path -> value, optional
        Named overlays of the base spec, one more (first) axis of the sweep: the parameter ``condition``.
    root : path, optional
        Directory relative paths are resolved against (the sweep file's; default: the working directory).

    Examples
    --------
    >>> sw = Sweep("bilayer_small", grid={"system.bilayer.n_lipids": [200, 400]}, replicas=2,
    ...            workspace="/tmp/sweep-doc", steps=1000)
    >>> len(sw.points)
    4
    """

    def __init__(self, base: Any, *, grid: dict[str, list[Any]] | None = None,
                 zip: dict[str, list[Any]] | None = None, replicas: int = 1,  # noqa: A002
                 workspace: str | Path, steps: int | None = None, analysis: Any = None,
                 stop_after_fusion: Any = None, name: str | None = None, root: str | Path | None = None,
                 source: str | None = None, conditions: dict[str, dict[str, Any]] | None = None):
        self.source = source
        try:
            self.conditions = _conditions(conditions)
            self._setup(base, grid, zip, replicas, workspace, steps, analysis, stop_after_fusion, name, root)
        except SpecError as e:
            if source and e.source is None:
                raise SpecError(e.field, e.message, source) from None
            raise

    def _setup(self, base: Any, grid: Any, zipped: Any, replicas: Any, workspace: Any, steps: Any,
               analysis: Any, stop: Any, name: str | None, root: Any) -> None:
        self.root = Path(root if root is not None else Path.cwd()).resolve()
        self.base = _resolve_base(base, self.root)
        self.name = name or self.base.name
        top = _Section({"replicas": replicas, "steps": steps, "workspace": workspace}, "",
                       ["replicas", "steps", "workspace"])
        self.replicas = top.integer("replicas", 1, minimum=1)
        if self.replicas > MAX_REPLICAS:
            raise SpecError("replicas", f"at most {MAX_REPLICAS} replicas per point, got {self.replicas}")
        self.steps = top.opt_integer("steps", minimum=1)
        if not isinstance(workspace, (str, Path)) or not str(workspace):
            raise SpecError("workspace", "required: the directory for the sweep's points, relative to the sweep file")
        self.workspace = _user_path(self.root, workspace, "workspace")
        self.grid = _varied(grid, "grid")
        self.zip = _varied(zipped, "zip")
        for path in self.zip:
            if path in self.grid:
                raise SpecError(f"zip.{path}", "is also in grid; vary a field in one of them")
        lengths = {p: len(v) for p, v in self.zip.items()}
        if len(set(lengths.values())) > 1:
            first, n0 = next(iter(lengths.items()))
            bad = next(p for p, n in lengths.items() if n != n0)
            raise SpecError(f"zip.{bad}", f"has {lengths[bad]} values but zip.{first} has {n0}; zip lists are "
                                          "varied together and must have equal lengths")
        for cname, overlay in self.conditions.items():
            for path in overlay:
                if path in self.grid or path in self.zip:
                    raise SpecError(f"conditions.{cname}.{path}", f"is also in {'grid' if path in self.grid else 'zip'}; "
                                                                  "vary a field in one place")
        if self.steps is not None and "run.steps" in {**self.grid, **self.zip}:
            raise SpecError("steps", "conflicts with a varied run.steps; give the run length in one place")
        a = _Section(analysis if not isinstance(analysis, bool) else {"enabled": analysis}, "analysis",
                     ["enabled", "options"])
        self.analysis_enabled = a.boolean("enabled", True)
        self.analysis_options = a.raw("options", {})
        if not isinstance(self.analysis_options, dict):
            raise SpecError("analysis.options", "expected a mapping of keyword arguments for analyze_run")
        analyzer = sweep_dask.resolve_analyzer()[0] if self.analysis_options else None
        if analyzer is not None:  # checked where the pipeline is importable, else when it runs
            accepted = list(inspect.signature(analyzer).parameters.values())[1:]
            names = [q.name for q in accepted if q.kind in (q.POSITIONAL_OR_KEYWORD, q.KEYWORD_ONLY)]
            for k in self.analysis_options:
                if k not in names and not any(q.kind is q.VAR_KEYWORD for q in accepted):
                    raise SpecError(f"analysis.options.{k}", f"not an option of analyze_run; accepted: {', '.join(names)}")
        self.stop_event: str | None = None
        self.check_every: int | None = None
        self.stop_confirm: int | None = None
        self.stop_delay: Any = None
        if stop not in (None, False):
            s = _Section({} if stop is True else stop, "stop_after_fusion", STOP_KEYS)
            if s.raw("event", None) in set(EVENTS) - set(STOP_EVENTS):
                raise SpecError("stop_after_fusion.event", f"{show_value(s.raw('event'))} cannot be detected during the run; "
                                f"the in-run reporter (snarefuse.events) detects: {', '.join(STOP_EVENTS)}. "
                                "The stalk and hemifusion are measured by the analysis after the run")
            self.stop_event = s.string("event", "pore", list(STOP_EVENTS))
            self.check_every = s.opt_integer("check_every", minimum=1)
            self.stop_confirm = s.opt_integer("confirm", minimum=1)
            if s.raw("delay", None) is not None:  # resolved per point (a delay in tau follows each point's units)
                s.qty("delay", "time", units=self.base.model.units, allow_zero=True)
                self.stop_delay = s.raw("delay")
        self.points = self._make_points()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | Path, workspace: str | Path | None = None) -> "Sweep":
        """Load a sweep file; ``workspace`` (relative to the working directory) overrides its own."""
        p = Path(path)
        data = load_yaml(p)
        if workspace is not None and isinstance(data, dict):
            data = {**data, "workspace": str(Path(workspace).resolve())}
        return cls.from_dict(data, root=p.parent, source=str(p), default_name=p.stem)

    @classmethod
    def from_dict(cls, data: Any, root: str | Path | None = None, source: str | None = None,
                  default_name: str | None = None) -> "Sweep":
        try:
            s = _Section(data, "", SWEEP_KEYS)
            name = s.string("name", default_name or "sweep")
            return cls(s.raw("base"), grid=s.raw("grid", None), zip=s.raw("zip", None),
                       replicas=s.raw("replicas", 1), workspace=s.raw("workspace"), steps=s.raw("steps", None),
                       analysis=s.raw("analysis", None), stop_after_fusion=s.raw("stop_after_fusion", None),
                       name=name, root=root, source=source, conditions=s.raw("conditions", None))
        except SpecError as e:
            if source and e.source is None:
                raise SpecError(e.field, e.message, source) from None
            raise

    @property
    def varied(self) -> list[str]:
        """Varied parameters: ``condition`` (with conditions), then the grid's spec paths, then zip's."""
        return [*([CONDITION] if self.conditions else []), *self.grid, *self.zip]

    def _combinations(self) -> Iterator[dict[str, Any]]:
        zrows = [dict(zip(self.zip, vals)) for vals in zip(*self.zip.values())] if self.zip else [{}]
        for cname in self.conditions or [None]:
            for gvals in itertools.product(*self.grid.values()):
                for zrow in zrows:
                    yield {**({CONDITION: cname} if cname is not None else {}), **dict(zip(self.grid, gvals)), **zrow}

    def _condition_base(self, name: str | None) -> Spec:
        """The base spec with condition ``name``'s overlay applied (the base itself without conditions)."""
        if name is None:
            return self.base
        try:
            return self.base.with_overrides(self.conditions[name])
        except SpecError as e:
            raise SpecError(f"conditions.{name}", f"does not make a valid spec from the base: {e.field}: "
                                                  f"{e.message}") from None

    def _make_points(self) -> list[Point]:
        points: list[Point] = []
        seen: dict[str, dict[str, Any]] = {}
        bases: dict[str | None, Spec] = {}
        for params in self._combinations():
            cname = params.get(CONDITION)
            if cname not in bases:
                bases[cname] = self._condition_base(cname)
            fields = {k: v for k, v in params.items() if k != CONDITION}
            try:
                spec0 = bases[cname].with_overrides(fields) if fields else bases[cname]
            except SpecError as e:
                raise _attribute(e, fields, self.grid) from None
            for r in range(self.replicas):
                seed = replica_seed(spec0.seed, r)
                spec = spec0.with_overrides({"seed": seed}) if seed != spec0.seed else spec0
                key = spec.key()
                label = {**params, "replica": r}
                if key in seen and seen[key]["replica"] != r and \
                        {k: v for k, v in seen[key].items() if k != "replica"} == params:
                    raise SpecError("replicas", f"replicas {seen[key]['replica']} and {r} of the point {show_value(params)} "
                                                f"got the same seed ({seed}); use fewer replicas")
                if key in seen:
                    raise SpecError("grid" if self.grid else "zip",
                                    f"points {show_value(seen[key])} and {show_value(label)} are the same system (spec key {key}); the "
                                    "values mean the same thing, or the field does not change the physics (name, "
                                    "run.platform, device_index, threads, max_wall_time are not part of the key)")
                seen[key] = label
                target = self.steps if self.steps is not None else spec.run.steps
                points.append(Point(key, spec, dict(params), r, seed, target, Workspace(self.workspace).point_dir(key)))
        return points

    # ------------------------------------------------------------------ workspace
    def init(self) -> list[Point]:
        """Create the workspace: build every point that is not built yet, write ``point.json`` and
        merge this sweep's rows into ``index.csv``. Idempotent."""
        with Workspace(self.workspace).lock():
            for p in self.points:
                try:
                    ensure_point(p, self.name)
                except BuildError as e:
                    raise BuildError(f"{self.source or 'sweep'}: point {show_value(p.parameters)} replica {p.replica} "
                                     f"cannot be built: {e}") from None
            update_index(self.workspace, self.points, self.varied)
        return self.points

    def status(self) -> list[PointStatus]:
        """The state of every point, from its run directory."""
        return [point_status(p, self.stop_event, self.analysis_enabled) for p in self.points]

    # ------------------------------------------------------------------ execution
    def plan(self, retry_failed: bool = False) -> tuple[list[Point], dict[str, str]]:
        """Points that need work (run or analysis), and the others with the reason they are left alone.

        The points come replica-major: replica 0 of every combination, then replica 1 of every
        combination, and so on (combinations in grid order within a replica), so a sweep stopped part way
        has covered every combination with as many replicas as it could, instead of every replica of the
        first combinations and none of the last."""
        todo, skipped = [], {}
        available = sweep_dask.resolve_analyzer()[0] is not None
        for st in self.status():
            if st.state == "pending" or (st.state == "failed" and retry_failed):
                todo.append(st.point)
            elif st.state == "done" and self.analysis_enabled and available and (
                    st.analysis in ("pending", "stale") or st.analysis.startswith("unavailable")
                    or (retry_failed and st.analysis.startswith("failed"))):
                todo.append(st.point)
            else:
                skipped[st.key] = {"done": "done", "running": f"running ({st.reason})",
                                   "failed": f"failed ({st.reason}); use retry_failed / --retry-failed"}[st.state]
        todo.sort(key=lambda p: p.replica)  # stable: grid order within a replica
        return todo, skipped

    def task_args(self, p: Point, platform: str | None = None, threads: int | None = None,
                  max_wall_time_s: float | None = None) -> dict[str, Any]:
        """Keyword arguments of :func:`run_point` for point ``p`` (execution settings from its spec
        unless given; ``threads`` only where the spec leaves run.threads unset)."""
        run = p.spec.run
        return dict(point_dir=str(p.directory), target_steps=p.target_steps, platform=platform or run.platform,
                    precision=run.precision, device_index=run.device_index,
                    threads=run.threads if run.threads is not None else threads, max_wall_time_s=max_wall_time_s,
                    analysis=self.analysis_enabled, analysis_options=self.analysis_options,
                    stop_event=self.stop_event, check_every=self.check_every, stop_confirm=self.stop_confirm,
                    stop_delay=self.stop_delay)

    def run(self, client: Any = None, n_workers: int = 2, scheduler: str | None = None, *, retries: int = 2,
            max_wall_time_s: float | None = None, platform: str | None = None,
            resources: dict[str, float] | None = None, retry_failed: bool = False, timeout_s: float | None = None,
            reconnect_timeout_s: float = DEFAULT_RECONNECT_TIMEOUT_S,
            on_update: Callable[[Point, dict[str, Any]], None] | None = None) -> SweepRunReport:
        """Run every point that needs work on Dask, and wait for them (:func:`snarefuse.sweep_dask.run_on_dask`).

        Parameters
        ----------
        client : distributed.Client, optional
            Use this client (left open). Otherwise ``scheduler`` (an address such as
            ``tcp://10.0.0.1:8786`` or a scheduler JSON file) is connected to, or a
            ``LocalCluster(n_workers, threads_per_worker=1, processes=True)`` is started here.
        retries : int
            Dask retries of a task that raised (a lost worker is rescheduled by the scheduler,
            up to ``distributed.scheduler.allowed-failures`` times). Each retry resumes.
        max_wall_time_s : float, optional
            Each task stops cleanly with a checkpoint after this long and the point is submitted
            again (it resumes), e.g. to stay inside a batch job's wall time.
        platform : str, optional
            OpenMM platform for every point (default: each point's run.platform).
        resources : mapping, optional
            Dask resources each task needs, e.g. ``{"GPU": 1}`` with workers started with
            ``--resources GPU=1``.
        retry_failed : bool
            Also rerun failed points (blow-ups resume from their last checkpoint). Points interrupted by a
            lost scheduler or worker are not failed: they always resume.
        timeout_s : float, optional
            Give up waiting after this long (``TimeoutError``); points keep their checkpoints.
        reconnect_timeout_s : float
            How long to wait for a lost scheduler to come back (then the interrupted points are
            resubmitted) before raising :class:`~snarefuse.sweep_dask.SchedulerLostError`.
        """
        self.init()
        todo, skipped = self.plan(retry_failed)
        report = SweepRunReport(skipped=skipped)
        if not todo:
            return report
        return sweep_dask.run_on_dask(
            todo, lambda p, threads: self.task_args(p, platform, threads, max_wall_time_s), report, client=client,
            scheduler=scheduler, n_workers=n_workers, retries=retries, resources=resources, timeout_s=timeout_s,
            reconnect_timeout_s=reconnect_timeout_s, on_update=on_update)

    # ------------------------------------------------------------------ results
    def collect(self, parameter: str | None = None, plots: bool = True, n_boot: int | None = None,
                seed: int | None = None, output: str | Path | None = None, *, ci_method: str = "wilson",
                confidence: float = DEFAULT_CONFIDENCE) -> "SweepResults":
        """Gather every point's parameters, state and ``analysis/summary.json`` into ``results.csv`` (and
        ``results.parquet`` when pyarrow is importable) in ``output`` (default: the workspace), the
        statistics against ``parameter`` (default: the first varied one) into ``statistics.json`` and
        ``levels.csv``, and plot them (``plots/fusion_probability.png``, ``plots/survival.png``).

        Parameters
        ----------
        ci_method : {"wilson", "clopper-pearson"}
            Interval of the probabilities (see :func:`snarefuse.analysis.stats.proportion_ci`).
        confidence : float
            Level of every interval.
        n_boot, seed
            Ignored (the intervals need no resampling); a DeprecationWarning says so when given.
        """
        if n_boot is not None or seed is not None:
            warnings.warn("Sweep.collect: n_boot and seed are ignored; probabilities now have Wilson or "
                          "Clopper-Pearson intervals (ci_method), which need no resampling", DeprecationWarning,
                          stacklevel=2)
        return collect(self.status(), self.varied, Path(output) if output is not None else self.workspace,
                       parameter, plots, ci_method=ci_method, confidence=confidence)


def load_sweep(sweep: str | Path, workspace: str | Path | None = None) -> Sweep:
    """A sweep from a file, or from a shipped example name (then ``workspace`` is required)."""
    p = Path(sweep)
    if p.exists() or str(sweep).endswith((".yaml", ".yml")):
        return Sweep.from_yaml(p, workspace)
    path = example_spec_path(str(sweep))
    if workspace is None:
        raise SpecError("workspace", f"{show_value(str(sweep))} is a shipped example; give --workspace DIR so its points are not "
                                     "written into the installed package")
    return Sweep.from_yaml(path, workspace)


# ------------------------------------------------------------------------------ validation helpers
def _resolve_base(base: Any, root: Path) -> Spec:
    if isinstance(base, Spec):
        return base
    if isinstance(base, dict):
        try:
            return Spec.from_dict(base)
        except SpecError as e:
            raise SpecError(f"base.{e.field}" if e.field else "base", e.message) from None
    if isinstance(base, (str, Path)) and str(base):
        p = _user_path(root, base, "base")
        if p.is_file():
            return load_spec(p)  # its errors name that file and the field in it
        if p.exists():
            raise SpecError("base", f"{p} is a directory; give a spec file, a shipped example name or a mapping")
        if not str(base).endswith((".yaml", ".yml")) and "/" not in str(base):
            try:
                example = example_spec_path(str(base))
            except SpecError as e:
                raise SpecError("base", f"{show_value(base)} is neither a file (looked for {p}) nor a shipped example; "
                                        f"{e.message}") from None
            return load_spec(example)
        raise SpecError("base", f"no such spec file: {p}")
    raise SpecError("base", f"expected a spec file path, a shipped example name or a mapping, got {show_value(base)}")


def _user_path(root: Path, value: str | Path, field: str) -> Path:
    """``root / value`` (``~`` expanded) resolved; a :class:`SpecError` naming ``field`` where that fails."""
    try:
        return (root / Path(value).expanduser()).resolve()
    except (RuntimeError, ValueError, OSError) as e:  # ~unknown-user, an embedded NUL byte, a symlink loop
        raise SpecError(field, f"{show_value(str(value))} is not a usable path ({e})") from None


def _check_path(section: str, path: Any, example: str) -> None:
    """A key of ``section`` must be a dotted spec path (non-empty parts)."""
    if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
        raise SpecError(f"{section}.{path}", f"expected a dotted spec path such as {example}")


def _varied(data: Any, section: str) -> dict[str, list[Any]]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(section, "expected a mapping of dotted spec paths to lists, e.g. "
                                 "{system.bilayer.n_lipids: [200, 400]}")
    out = {}
    for path, values in data.items():
        _check_path(section, path, "system.bilayer.n_lipids")
        if not isinstance(values, list):
            raise SpecError(f"{section}.{path}", f"expected a list of values, e.g. [{show_value(values)}], got {show_value(values)}")
        if not values:
            raise SpecError(f"{section}.{path}", "empty list; give at least one value")
        out[path] = list(values)
    return out


def _conditions(data: Any) -> dict[str, dict[str, Any]]:
    """``conditions``: name -> overlay (dotted spec path -> value), checked for form; the values are checked
    when the overlay is applied to the base spec."""
    if data is None:
        return {}
    if not isinstance(data, dict) or not data:
        raise SpecError("conditions", "expected a mapping of condition names to overlays, e.g. "
                                      "{constitutive: {system.snares.clamp: null}, late: {run.trigger.at: 80 tau}}")
    out = {}
    for name, overlay in data.items():
        if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
            raise SpecError(f"conditions.{name}", "a condition name is letters, digits, '_' and '-'")
        if overlay is None:
            overlay = {}
        if not isinstance(overlay, dict):
            raise SpecError(f"conditions.{name}", f"expected a mapping of dotted spec paths to values (empty: the "
                                                  f"base as it is), got {show_value(overlay)}")
        for path in overlay:
            _check_path(f"conditions.{name}", path, "run.trigger.at")
        out[name] = dict(overlay)
    return out


def _attribute(e: SpecError, params: dict[str, Any], grid: dict[str, Any]) -> SpecError:
    """Name the sweep field a spec error at one point comes from."""
    for path in sorted(params, key=lambda p: (e.field != p, -len(p))):
        if e.field == path or e.field.startswith(path + ".") or path.startswith(e.field + "."):
            section = "grid" if path in grid else "zip"
            if "unknown key" in e.message or "no such spec field" in e.message or "not a section" in e.message:
                return SpecError(f"{section}.{path}", f"not a field of the base spec ({e.field}: {e.message})")
            return SpecError(f"{section}.{path}", f"value {show_value(params[path])} is invalid: {e.field}: {e.message}")
    return SpecError("grid" if grid else "zip", f"the point {show_value(params)} is not a valid system: {e}")
