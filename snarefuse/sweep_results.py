"""The results of a sweep: one table row per point (:func:`result_row`: varied parameters as numeric columns
with units, state, the flattened analysis summary, first-passage times in ps and tau), the table with its
statistics per level of a parameter (:class:`SweepResults`, on :mod:`snarefuse.analysis.stats`), and
:func:`collect`, which reads every point's ``analysis/summary.json`` and ``events.json`` and writes
``results.csv`` (``.parquet``), ``statistics.json``, ``levels.csv`` and the plots."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .analysis.stats import (CI_METHODS, DEFAULT_CONFIDENCE, DURATION, EVENT_STATES, EVENTS, EVENTS_TAU,
                             LOGRANK_DESIGN, SPEARMAN_DESIGN, holm, logrank_test, proportion_ci, spearman,
                             survival_estimate, value_order)
from .analysis.trigger import (TRIGGER_STATES, ZIPPED_STATE, delay_column, delay_statistics,
                               first_passage_from_trigger, trigger_info)
from .errors import SpecError
from .io import atomic_write_json, atomic_write_text, csv_cell as _cell, csv_text as _csv_text
from .quantities import show_value
from .spec import Spec
from .sweep_workspace import PointStatus, read_json


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def fusion_times(summary: Any) -> dict[str, float | None]:
    """The first-passage times of :data:`~snarefuse.analysis.stats.EVENTS` (``pore_ps``, ``hemifusion_ps``,
    ``stalk_ps``; None: not reached) and ``duration_ps`` of a ``summary.json``.

    Reads the flat form ``first_passage: {stalk_ps, hemifusion_ps, pore_ps, duration_ps}`` or the pipeline's
    ``fusion.first_passage.{stalk,hemifused,pore}: {frame, time_ps}`` with ``time_last.time_ps``; a time
    it cannot find (a single-membrane run, a flat summary without it) is left out, never guessed.
    """
    out: dict[str, float | None] = {}
    if not isinstance(summary, dict):
        return out
    flat = summary.get("first_passage")
    for k in [EVENTS[e] for e in EVENT_STATES] + [DURATION["ps"]]:  # along the pathway, then the run length
        if isinstance(flat, dict) and k in flat:
            out[k] = _num(flat[k])
    fusion = summary.get("fusion")
    nested = fusion.get("first_passage") if isinstance(fusion, dict) else None
    for event, state in EVENT_STATES.items():
        k = EVENTS[event]
        rec = nested.get(state) if isinstance(nested, dict) else None
        if k not in out and isinstance(rec, dict) and "frame" in rec:
            out[k] = None if rec["frame"] is None else _num(rec.get("time_ps"))
    last = summary.get("time_last")
    if "duration_ps" not in out and isinstance(last, dict) and _num(last.get("time_ps")) is not None:
        out["duration_ps"] = _num(last["time_ps"])
    return out


def format_statistics(stats: dict[str, Any]) -> list[str]:
    """``statistics.json`` (:meth:`SweepResults.statistics`) as a few lines of text: per level, for the stalk,
    hemifusion and the pore, k/n with the interval, and for the stalk and the pore the Kaplan-Meier median
    waiting time with its interval, then the hemifusion-first fraction; then Spearman and the log-rank
    p-values of the stalk and the pore. An event the table has no column for reads ``-``."""
    def frac(lv: dict[str, Any], pre: str, n: str = "n") -> str:
        if not lv.get(f"{pre}_{n}"):
            return "-"
        return f"{lv[f'{pre}_k']}/{lv[f'{pre}_{n}']} [{lv[f'{pre}_low']:.2f}, {lv[f'{pre}_high']:.2f}]"

    def when(x: Any) -> str:
        return "-" if x is None else f"{x:.4g}"

    u = stats["time_unit"]

    def median(lv: dict[str, Any], event: str) -> str:
        return (f"median {when(lv.get(f'{event}_median_{u}'))} {u} [{when(lv.get(f'{event}_median_low_{u}'))}, "
                f"{when(lv.get(f'{event}_median_high_{u}'))}]")

    lines = [f"{stats['parameter'] or 'all points'} ({stats['confidence']:.0%} intervals):"]
    for lv in stats["levels"]:
        group = f" [{lv['group']}]" if lv["group"] else ""
        lines.append(f"  {lv['value']}{group}: P(stalk) {frac(lv, 'stalk')}, {median(lv, 'stalk')}; "
                     f"P(hemifusion) {frac(lv, 'hemifusion')}; P(pore) {frac(lv, 'pore')}, {median(lv, 'pore')}; "
                     f"hemifusion first {frac(lv, 'hemifusion_first', 'n_fused')}")
    for event in ("stalk", "pore"):
        for r in stats["spearman"].get(event, []):
            rho = "-" if r["rho"] is None else f"{r['rho']:.2f} (p = {r['pvalue']:.2g}, n = {r['n']})"
            lines.append(f"  Spearman P({event}){' [' + r['group'] + ']' if r['group'] else ''}: {rho} "
                         f"{r.get('note', '')}".rstrip())
    for event in ("stalk", "pore"):
        for r in stats["logrank"].get(event, []):
            p = "-" if r["pvalue"] is None else f"{r['pvalue']:.2g} (Holm {r['pvalue_holm']:.2g})"
            lines.append(f"  log-rank {event} {r['value']} vs {r['reference']}: p = {p}")
    if stats.get("from_trigger"):
        lines.append("  from the trigger (no trigger: from the start), tau; Kaplan-Meier median [interval]:")
        for r in stats["from_trigger"]:
            if r["state"] in (*TRIGGER_STATES, ZIPPED_STATE) and r["n"]:
                lines.append(f"    {r['value']}: {r['state']} {r['k']}/{r['n']} [{r['low']:.2f}, {r['high']:.2f}], "
                             f"median {when(r['median_tau'])} [{when(r['median_low_tau'])}, "
                             f"{when(r['median_high_tau'])}]"
                             + (f", {r['before_trigger']} before the trigger" if r["before_trigger"] else ""))
    return lines


#: A resolved spec quantity: number and unit.
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s+(\S.*?)\s*$")


def parameter_columns(spec: Spec, parameters: dict[str, Any]) -> dict[str, Any]:
    """The varied parameters of a point as table columns: each path's value in the resolved spec, a number
    in MD units where it is a quantity, with its unit in a ``<path>_unit`` column (``system.cleft: 1.76``,
    ``system.cleft_unit: nm`` for a value given as ``2 sigma``); values that are not numbers stay as given."""
    resolved: Any = spec.to_dict()
    out: dict[str, Any] = {}
    for path, given in parameters.items():
        v: Any = resolved
        for part in path.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        m = _QUANTITY.match(v) if isinstance(v, str) else None
        if m:
            out[path], out[f"{path}_unit"] = float(m.group(1)), m.group(2)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[path] = v
        else:
            out[path] = given
    return out


def result_row(st: Any, summary: Any, in_run_pore: Any) -> dict[str, Any]:
    """One row of ``results.csv``.

    The row holds the numeric parameters, the state, the point's units (``tau_ps``, ``tau_diffusion_ns``), the
    flattened summary and the first-passage times in ps and in tau of the point's own spec.

    Parameters
    ----------
    st : snarefuse.sweep_workspace.PointStatus
        The point (key, replica, seed, spec, varied parameters) and its state.
    summary : dict or None
        Its ``analysis/summary.json``.
    in_run_pore : dict or None
        The ``pore`` entry of its ``events.json`` (the in-run reporter's pore).
    """
    p = st.point
    units = p.spec.model.units
    row: dict[str, Any] = {"key": p.key, "replica": p.replica, "seed": p.seed,
                           **parameter_columns(p.spec, p.parameters), "state": st.state, "step": st.step,
                           "target_steps": p.target_steps, "analysis": st.analysis, "reason": st.reason,
                           "tau_ps": units.tau_ps, "tau_diffusion_ns": units.tau_diffusion_ns}
    if isinstance(summary, dict):
        row.update({**flatten_summary(summary), **fusion_times(summary)})
        for ps, tau in [(EVENTS[e], EVENTS_TAU[e]) for e in EVENT_STATES] + [(DURATION["ps"], DURATION["tau"])]:
            if row.get(ps) is not None:
                row[tau] = row[ps] / units.tau_ps
    if isinstance(in_run_pore, dict) and _num(in_run_pore.get("time_ps")) is not None:
        row["in_run_pore_ps"] = _num(in_run_pore["time_ps"])  # beside the analysis' pore_ps
    row.update(trigger_columns(p.spec, summary, row.get("duration_tau")))
    return row


def trigger_columns(spec: Spec, summary: Any, duration_tau: Any) -> dict[str, Any]:
    """``trigger_tau`` (0 without a trigger: a constitutive run is timed from its start) and the delay from it
    to each fusion state and to the clamped layers zipped (``<state>_from_trigger_tau``, None: not reached)."""
    info = trigger_info(spec)
    t0 = info["time_tau"] if info else 0.0
    out: dict[str, Any] = {"trigger_tau": t0}
    if not isinstance(summary, dict):
        return out
    for state, delay in first_passage_from_trigger(summary.get("fusion"), t0).items():
        out[delay_column(state)] = delay
    clamped = (summary.get("trigger") or {}).get("clamped_layers") if isinstance(summary.get("trigger"), dict) else None
    if isinstance(clamped, dict):
        out[delay_column(ZIPPED_STATE)] = _num(clamped.get("all_zipped_from_trigger_tau"))
    return out


# ------------------------------------------------------------------------------ the collected table
def flatten_summary(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary -> flat dotted columns; short lists become JSON text, long arrays are left out."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_summary(v, name + "."))
        elif isinstance(v, list):
            if len(v) <= 8 and all(not isinstance(x, (list, dict)) for x in v):
                out[name] = json.dumps(v)
        else:
            out[name] = v
    return out


@dataclass(frozen=True)
class RunOutcome:
    """One analysed run as the statistics see it: its level, event time or run end, and whether it ended."""

    group: str
    value: Any
    time: float
    observed: bool
    finished: bool


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class SweepResults:
    """The collected table: one dict per point (parameters, state, flattened summary).

    The statistics read these columns of each row: ``state`` (``"done"``: the run reached its target or
    stopped after its event), ``duration_ps``, the first passages ``pore_ps``, ``hemifusion_ps``, ``stalk_ps``
    (None: not reached; :data:`~snarefuse.analysis.stats.EVENTS`) and, for times in tau, ``duration_tau``,
    ``pore_tau``, ``hemifusion_tau``, ``stalk_tau``. A table without an event's column (one collected before
    the stalk was tabulated, or from flat summaries without it) has no runs for that event.
    """

    rows: list[dict[str, Any]]
    parameters: list[str]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        cols: list[str] = []
        for r in self.rows:
            cols += [c for c in r if c not in cols]
        return cols

    def write_csv(self, path: Path) -> Path:
        atomic_write_text(path, _csv_text(self.columns, self.rows))
        return path

    def write_parquet(self, path: Path) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {c: _parquet_column([r.get(c) for r in self.rows]) for c in self.columns}
        pq.write_table(pa.table(columns), path)
        return path

    # ---------------------------------------------------------------- runs by level
    def _splitting(self, parameter: str | None) -> list[str]:
        """The varied parameters other than ``parameter`` that group the runs: those with more than one value
        (a grid axis of one value splits nothing, so it is left out of the group labels)."""
        return [q for q in self.parameters if q != parameter and len({_cell(r.get(q)) for r in self.rows}) > 1]

    def outcomes(self, parameter: str | None, event: str, time: str = "ps") -> list[RunOutcome]:
        """Every analysed run (a row with a run length and the event's column) as a :class:`RunOutcome`:
        the event time where reached, else the run's end (censored); ``time`` is ``"ps"`` or ``"tau"``."""
        if event not in EVENTS:
            raise ValueError(f"event: {event!r}; accepted {', '.join(EVENTS)}")
        if time not in DURATION:
            raise ValueError(f"time: {time!r}; accepted {', '.join(DURATION)}")
        col = EVENTS[event] if time == "ps" else EVENTS_TAU[event]
        others = self._splitting(parameter)
        out = []
        for r in self.rows:
            dur, t = r.get(DURATION[time]), r.get(col)
            if time == "tau" and dur is None and _is_number(r.get("tau_ps")) and _is_number(r.get(DURATION["ps"])):
                # a table with times in ps and its units only (an older results.csv)
                dur = r[DURATION["ps"]] / r["tau_ps"]
                t = None if r.get(EVENTS[event]) is None else r[EVENTS[event]] / r["tau_ps"]
            if EVENTS[event] in r and _is_number(dur):
                label = ", ".join(f"{q}={_cell(r.get(q))}" for q in others)
                value = _cell(r.get(parameter)) if parameter else "all"
                observed = t is not None
                out.append(RunOutcome(label, value, float(t if observed else dur), observed,
                                      r.get("state", "done") == "done"))
        return out

    def groups(self, parameter: str | None, event: str,
               time: str = "ps") -> dict[str, dict[Any, list[tuple[float, bool]]]]:
        """Analysed points as ``(time, observed)`` (the event time, or the run end where the event was not
        reached), by the other varied parameters (a label), then by the value of ``parameter``."""
        g: dict[str, dict[Any, list[tuple[float, bool]]]] = {}
        for o in self.outcomes(parameter, event, time):
            g.setdefault(o.group, {}).setdefault(o.value, []).append((o.time, o.observed))
        return {k: dict(sorted(v.items(), key=lambda kv: value_order(kv[0]))) for k, v in sorted(g.items())}

    def _levels(self, parameter: str | None, event: str, time: str = "ps") -> dict[str, dict[Any, list[RunOutcome]]]:
        g: dict[str, dict[Any, list[RunOutcome]]] = {}
        for o in self.outcomes(parameter, event, time):
            g.setdefault(o.group, {}).setdefault(o.value, []).append(o)
        return {k: dict(sorted(v.items(), key=lambda kv: value_order(kv[0]))) for k, v in sorted(g.items())}

    # ---------------------------------------------------------------- statistics
    def probability(self, parameter: str | None, event: str = "pore", ci_method: str = "wilson",
                    confidence: float = DEFAULT_CONFIDENCE) -> list[dict[str, Any]]:
        """Per group and value of ``parameter``: the probability of ``event`` within the run.

        A run counts when it reached the event, or finished (state ``done``) without it; a run still going
        without the event is left out (it may yet reach it). Rows: ``group, value, n, k, p, low, high,
        ci_method, confidence``.
        """
        rows = []
        for label, by_value in self._levels(parameter, event).items():
            for v, runs in by_value.items():
                counted = [o for o in runs if o.observed or o.finished]
                k = sum(o.observed for o in counted)
                p, lo, hi = proportion_ci(k, len(counted), confidence, ci_method)
                rows.append({"group": label, "value": v, "n": len(counted), "k": k, "p": p, "low": lo, "high": hi,
                             "ci_method": ci_method, "confidence": confidence})
        return rows

    def survival(self, parameter: str | None, event: str = "pore", time: str = "tau",
                 confidence: float = DEFAULT_CONFIDENCE, method: str = "log-log") -> list[dict[str, Any]]:
        """Per group and value: the Kaplan-Meier :class:`Survival` of the ``event`` time (every analysed run,
        those without the event censored at their end). Rows: ``group, value, estimate`` and the
        estimate's scalars (``n, n_events, median, median_low, median_high``) in ``time`` units."""
        rows = []
        for label, by_value in self._levels(parameter, event, time).items():
            for v, runs in by_value.items():
                est = survival_estimate([o.time for o in runs], [o.observed for o in runs], confidence, method)
                rows.append({"group": label, "value": v, **est.summary(), "estimate": est, "time_unit": time})
        return rows

    def logrank(self, parameter: str | None, event: str = "pore", time: str = "tau") -> list[dict[str, Any]]:
        """Log-rank tests of the ``event`` waiting time: each level against the lowest level of its group
        (see :data:`LOGRANK_DESIGN`). Rows: ``group, value, reference, n, n_reference, statistic, pvalue,
        pvalue_holm``."""
        rows: list[dict[str, Any]] = []
        for label, by_value in self._levels(parameter, event, time).items():
            levels = list(by_value)
            if len(levels) < 2:
                continue
            ref = by_value[levels[0]]
            family = []
            for v in levels[1:]:
                runs = by_value[v]
                stat, p = logrank_test([o.time for o in runs], [o.observed for o in runs],
                                       [o.time for o in ref], [o.observed for o in ref])
                family.append({"group": label, "value": v, "reference": levels[0], "n": len(runs),
                               "n_reference": len(ref), "statistic": _finite(stat), "pvalue": _finite(p)})
            for row, adj in zip(family, holm([math.nan if r["pvalue"] is None else r["pvalue"] for r in family])):
                row["pvalue_holm"] = _finite(adj)
            rows += family
        return rows

    def spearman(self, parameter: str | None, event: str = "pore") -> list[dict[str, Any]]:
        """Per group: Spearman's rank correlation of the per-run outcome (event within the run) against the
        numeric value of ``parameter`` (see :data:`SPEARMAN_DESIGN`); runs counted as in :meth:`probability`."""
        rows = []
        for label, by_value in self._levels(parameter, event).items():
            runs = [o for v, rs in by_value.items() for o in rs if o.observed or o.finished]
            if not all(_is_number(o.value) for o in runs):
                rows.append({"group": label, "rho": None, "pvalue": None, "n": len(runs),
                             "note": f"{parameter or 'the parameter'} is not numeric"})
                continue
            rows.append({"group": label, **spearman([o.value for o in runs], [o.observed for o in runs])})
        return rows

    def hemifusion_first(self, parameter: str | None, ci_method: str = "wilson",
                         confidence: float = DEFAULT_CONFIDENCE) -> list[dict[str, Any]]:
        """Per group and value: of the runs that reached a pore, the fraction whose hemifused state was
        reached strictly before the pore (``hemifusion_ps < pore_ps``).

        The analysis dates a state by the first frame where it *or a later one* holds, so a pore that opens
        straight from a stalk has ``hemifusion_ps == pore_ps``: strictly earlier means a hemifused
        diaphragm was seen first. Runs without a hemifusion time are counted as not first. Rows:
        ``group, value, n_fused, k, fraction, low, high``.
        """
        rows = []
        pore, hemi = EVENTS["pore"], EVENTS["hemifusion"]
        others = self._splitting(parameter)
        g: dict[str, dict[Any, list[bool]]] = {}
        for r in self.rows:
            tp, th = r.get(pore), r.get(hemi)
            if _is_number(tp):
                label = ", ".join(f"{q}={_cell(r.get(q))}" for q in others)
                value = _cell(r.get(parameter)) if parameter else "all"
                g.setdefault(label, {}).setdefault(value, []).append(_is_number(th) and th < tp)
        for label in sorted(g):
            for v in sorted(g[label], key=value_order):
                first = g[label][v]
                f, lo, hi = proportion_ci(sum(first), len(first), confidence, ci_method)
                rows.append({"group": label, "value": v, "n_fused": len(first), "k": sum(first), "fraction": f,
                             "low": lo, "high": hi})
        return rows

    def statistics(self, parameter: str | None, ci_method: str = "wilson", confidence: float = DEFAULT_CONFIDENCE,
                   time: str = "tau") -> dict[str, Any]:
        """Everything above for ``parameter`` (JSON-ready): per level the probabilities of the stalk,
        hemifusion and the pore, the median waiting times with their intervals, the hemifusion-first fraction;
        per group the Spearman correlations; the log-rank comparisons; and how each was computed."""
        levels: dict[tuple[str, Any], dict[str, Any]] = {}
        for event in EVENTS:
            for r in self.probability(parameter, event, ci_method, confidence):
                levels.setdefault((r["group"], r["value"]), {"group": r["group"], "value": r["value"]}).update(
                    {f"{event}_{k}": _finite(r[k]) for k in ("n", "k", "p", "low", "high")})
            for r in self.survival(parameter, event, time, confidence):
                levels.setdefault((r["group"], r["value"]), {"group": r["group"], "value": r["value"]}).update(
                    {f"{event}_median_{time}": r["median"], f"{event}_median_low_{time}": r["median_low"],
                     f"{event}_median_high_{time}": r["median_high"], f"{event}_n_events": r["n_events"]})
        for r in self.hemifusion_first(parameter, ci_method, confidence):
            levels.setdefault((r["group"], r["value"]), {"group": r["group"], "value": r["value"]}).update(
                {f"hemifusion_first_{k}": _finite(r[k]) for k in ("n_fused", "k", "fraction", "low", "high")})
        ordered = [levels[k] for k in sorted(levels, key=lambda k: (k[0], value_order(k[1])))]
        return {
            "parameter": parameter, "confidence": confidence, "time_unit": time,
            "methods": {
                "probability": f"{ci_method} interval of binomtest(k, n).proportion_ci (scipy); a run counts when "
                               "it reached the event or finished without it",
                "survival": "Kaplan-Meier (scipy.stats.ecdf on CensoredData), runs without the event censored at "
                            "their end; log-log Greenwood band; median interval where the band crosses 1/2 "
                            "(null: not bounded within the observed times)",
                "events": {e: f"fusion.first_passage.{state} of the analysis summary (the first frame from which "
                              f"the state or a later one holds for persist frames), or first_passage.{EVENTS[e]} "
                              "of a flat one" for e, state in EVENT_STATES.items()},
                "logrank": LOGRANK_DESIGN, "spearman": SPEARMAN_DESIGN,
                "hemifusion_first": "of the runs with a pore, hemifusion_ps < pore_ps (strictly: the analysis "
                                    "dates a state by the first frame where it or a later state holds)"},
            "levels": ordered,
            "spearman": {e: self.spearman(parameter, e) for e in EVENTS},
            "logrank": {e: self.logrank(parameter, e, time) for e in EVENTS},
        }


def _finite(x: Any) -> Any:
    """JSON-safe number: NaN and inf become None."""
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _parquet_column(values: list[Any]) -> list[Any]:
    """One typed column: missing cells are nulls; all-bool, all-numeric (int/float) columns keep their type;
    any other mix becomes text (lists and mappings as JSON), as in the CSV."""
    present = [v for v in values if v is not None and v != ""]
    if present and all(isinstance(v, bool) for v in present):
        return [None if v is None or v == "" else bool(v) for v in values]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        as_float = any(isinstance(v, float) for v in present)
        return [None if v is None or v == "" else (float(v) if as_float else int(v)) for v in values]
    return [None if v is None or v == "" else str(_cell(v)) for v in values]


# ------------------------------------------------------------------------------ collect
def collect(statuses: list[PointStatus], varied: list[str], output: Path, parameter: str | None = None,
            plots: bool = True, *, ci_method: str = "wilson", confidence: float = DEFAULT_CONFIDENCE) -> SweepResults:
    """Gather every point's parameters, state and ``analysis/summary.json`` into ``results.csv`` (and
    ``results.parquet`` when pyarrow is importable) in ``output``, the statistics against ``parameter``
    (default: the first of ``varied``) into ``statistics.json`` and ``levels.csv``, and plot them
    (``plots/fusion_probability.png``, ``plots/survival.png`` of the pore, ``plots/survival_stalk.png``)."""
    from .plot import plot_fusion_probability, plot_survival

    if ci_method not in CI_METHODS:
        raise SpecError("ci_method", f"{show_value(ci_method)} is not accepted; choose one of: {', '.join(CI_METHODS)}")
    if not 0 < confidence < 1:
        raise SpecError("confidence", f"{show_value(confidence)}: expected a level in (0, 1), e.g. 0.95")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    rows = [result_row(st, read_json(st.point.run_dir.summary_json),
                       (read_json(st.point.run_dir.events_json) or {}).get("pore"))
            for st in statuses]
    res = SweepResults(rows, varied)
    res.files["csv"] = res.write_csv(out / "results.csv")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        res.files["parquet"] = res.write_parquet(out / "results.parquet")
    if not any(r.get("duration_ps") is not None for r in rows):
        return res
    param = parameter or (varied[0] if varied else None)
    stats = res.statistics(param, ci_method, confidence)
    if any(r.get("trigger_tau") for r in rows):  # a sweep with a trigger: delays from it, per level
        stats["from_trigger"] = delay_statistics(rows, param, ci_method=ci_method, confidence=confidence)
        stats["methods"]["from_trigger"] = (
            "delay from run.trigger (0 without one) to each state: probability with the interval above, "
            "Kaplan-Meier median with runs without the state censored at their end; a state reached before the "
            "trigger counts at delay 0 and in before_trigger; runs that ended before their trigger left out")
    atomic_write_json(out / "statistics.json", stats)
    res.files["statistics"] = out / "statistics.json"
    atomic_write_text(out / "levels.csv", _csv_text(list(dict.fromkeys(k for r in stats["levels"] for k in r)),
                                                    stats["levels"]))
    res.files["levels"] = out / "levels.csv"
    if plots:
        from matplotlib.figure import Figure

        (out / "plots").mkdir(exist_ok=True)
        survival = {"survival": "pore", "survival_stalk": "stalk"}  # plot name -> event
        figs = {name: Figure(figsize=(5.5, 4.0), layout="constrained")
                for name in ("fusion_probability", *survival)}
        axes = {"fusion_probability": plot_fusion_probability(res, param, ax=figs["fusion_probability"].subplots(),
                                                              ci_method=ci_method, confidence=confidence)}
        for name, event in survival.items():
            axes[name] = plot_survival(res, param, event, ax=figs[name].subplots(), confidence=confidence)
        for name, ax in axes.items():
            # the legends sit below the axes: make room for one row per curve
            figs[name].set_size_inches(5.5, 3.4 + 0.2 * len(ax.get_legend_handles_labels()[0]))
        for name, fig in figs.items():
            res.files[name] = out / "plots" / f"{name}.png"
            fig.savefig(res.files[name], dpi=150)
    return res
