"""Statistics of fusion outcomes over replicas, and the results table a sweep collects (:class:`SweepResults`).

A fusion sweep typically ends with 0 of n or n of n runs fused at some levels, so every interval here stays
honest there:

* the probability of an event within the run is a binomial proportion with a Wilson score interval (or
  Clopper-Pearson, exact and conservative), from :func:`scipy.stats.binomtest`; 0/8 gives [0, 0.32] (Wilson)
  and [0, 0.37] (Clopper-Pearson), never a collapsed [0, 0];
* waiting times are right-censored by the end of each run: Kaplan-Meier survival from :func:`scipy.stats.ecdf`
  on :class:`scipy.stats.CensoredData`, with a pointwise confidence band (Greenwood's variance, log-log
  transformed by default so the band stays inside [0, 1]) and the median waiting time with the interval read
  off the band (Brookmeyer & Crowley 1982: the times where the band crosses 1/2);
* two conditions are compared with the log-rank test (:func:`scipy.stats.logrank`);
* a trend of the outcome with a numeric parameter is Spearman's rank correlation of the per-run outcome (0/1)
  against the parameter value (:func:`scipy.stats.spearmanr`): every run is one observation, so the replica
  counts weigh in and ties are ranked as ties.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_write_text, csv_cell as _cell, csv_text as _csv_text

#: Fusion events a sweep can plot, and their first-passage column (MD time, ps) in the collected table.
EVENTS = {"pore": "pore_ps", "hemifusion": "hemifusion_ps"}
#: The same first-passage times in reduced time (tau of each point's spec), and the run length in both.
EVENTS_TAU = {"pore": "pore_tau", "hemifusion": "hemifusion_tau"}
DURATION = {"ps": "duration_ps", "tau": "duration_tau"}
#: Interval methods for a proportion: option name -> :meth:`scipy.stats.BinomTestResult.proportion_ci` method.
CI_METHODS = {"wilson": "wilson", "clopper-pearson": "exact"}
#: Pointwise confidence band of a Kaplan-Meier curve (:meth:`scipy.stats.EmpiricalDistributionFunction.confidence_interval`).
KM_CI_METHODS = ("log-log", "linear")
DEFAULT_CONFIDENCE = 0.95
#: How the log-rank comparisons are paired, as written into the statistics.
LOGRANK_DESIGN = ("each level of the parameter against its lowest level (within each combination of the other "
                  "varied parameters); raw p-values, and Holm-adjusted over the comparisons of that combination")
SPEARMAN_DESIGN = ("Spearman rank correlation of the per-run outcome (1: event reached within the run, 0: run "
                   "finished without it) against the parameter value; n is the number of runs")


# ------------------------------------------------------------------------------ proportions
def proportion_ci(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE,
                  method: str = "wilson") -> tuple[float, float, float]:
    """Proportion ``k / n`` with its confidence interval.

    Parameters
    ----------
    k, n : int
        Runs with the event, runs in all (0 <= k <= n).
    confidence : float
        Confidence level in (0, 1).
    method : {"wilson", "clopper-pearson"}
        Wilson score interval (good coverage at small n, the default) or the exact Clopper-Pearson interval
        (never below the nominal coverage, wider).

    Returns
    -------
    p, low, high : float
        NaNs for ``n = 0``.

    Examples
    --------
    >>> [round(x, 2) for x in proportion_ci(0, 8)]
    [0.0, 0.0, 0.32]
    >>> [round(x, 2) for x in proportion_ci(0, 8, method="clopper-pearson")]
    [0.0, 0.0, 0.37]
    """
    from scipy.stats import binomtest

    if method not in CI_METHODS:
        raise ValueError(f"ci_method: {method!r}; accepted {', '.join(CI_METHODS)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: {confidence}; accepted a level in (0, 1), e.g. 0.95")
    k, n = int(k), int(n)
    if not 0 <= k <= n:
        raise ValueError(f"proportion of {k} in {n}: need 0 <= k <= n")
    if n == 0:
        return math.nan, math.nan, math.nan
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method=CI_METHODS[method])
    return k / n, float(ci.low), float(ci.high)


# ------------------------------------------------------------------------------ survival
@dataclass(frozen=True)
class Survival:
    """A Kaplan-Meier estimate: the step function, its pointwise band and the median waiting time.

    ``survival[i]`` holds from ``time[i]`` until ``time[i + 1]`` (``time[0] = 0``, ``survival[0] = 1``,
    then one step per distinct event time); ``low``/``high`` are the band at the same times (NaN where the
    formula is undefined: no event yet with the log-log band, or S = 0). ``median`` is the first time with
    S <= 1/2 (None: not reached), ``median_low``/``median_high`` the first times where the lower / upper
    band reaches 1/2 (None: not within the observed times, i.e. unbounded by these data).
    """

    time: np.ndarray
    survival: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: int
    n_events: int
    median: float | None
    median_low: float | None
    median_high: float | None
    confidence: float
    method: str

    def summary(self) -> dict[str, Any]:
        """The scalars (JSON-ready)."""
        return {"n": self.n, "n_events": self.n_events, "median": self.median, "median_low": self.median_low,
                "median_high": self.median_high, "confidence": self.confidence, "band": self.method}


def _censored(times: Any, observed: Any) -> Any:
    from scipy.stats import CensoredData

    t = np.asarray(times, dtype=float)
    e = np.asarray(observed, dtype=bool)
    if t.shape != e.shape or t.ndim != 1:
        raise ValueError(f"times {t.shape} and observed {e.shape} must be 1-D arrays of the same length")
    if t.size == 0:
        raise ValueError("no runs: a survival estimate needs at least one time")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("times must be finite and >= 0 (event time, or the run's end where not observed)")
    return CensoredData(uncensored=t[e], right=t[~e])


def survival_estimate(times: Any, observed: Any, confidence: float = DEFAULT_CONFIDENCE,
                      method: str = "log-log") -> Survival:
    """Kaplan-Meier survival of event times with right censoring, with its band and median.

    Parameters
    ----------
    times : array (n,), float
        Event time where ``observed``, else the censoring time (the end of the run).
    observed : array (n,), bool
    confidence : float
        Level of the pointwise band and of the median's interval.
    method : {"log-log", "linear"}
        Band of :meth:`scipy.stats.EmpiricalDistributionFunction.confidence_interval`: Greenwood's variance
        on the log(-log S) scale (inside [0, 1], the default) or on S itself.
    """
    from scipy.stats import ecdf

    if method not in KM_CI_METHODS:
        raise ValueError(f"km band method: {method!r}; accepted {', '.join(KM_CI_METHODS)}")
    data = _censored(times, observed)
    e = np.asarray(observed, dtype=bool)
    ev = np.unique(np.asarray(times, dtype=float)[e])
    t = np.r_[0.0, ev]
    if ev.size == 0:  # no event: S = 1 throughout, and no band can be computed from these data
        ones = np.ones(1)
        return Survival(t, ones, np.full(1, np.nan), np.full(1, np.nan), int(e.size), 0, None, None, None,
                        confidence, method)
    sf = ecdf(data).sf
    with warnings.catch_warnings():  # the band is undefined at S = 1 (log-log) and S = 0: NaN, said above
        warnings.simplefilter("ignore", RuntimeWarning)
        band = sf.confidence_interval(confidence_level=confidence, method=method)
        low, high = band.low.evaluate(ev), band.high.evaluate(ev)
    s = np.r_[1.0, sf.evaluate(ev)]
    low, high = np.r_[np.nan, low], np.r_[np.nan, high]

    def first(curve: np.ndarray) -> float | None:
        hit = np.flatnonzero(curve <= 0.5)
        return float(t[hit[0]]) if hit.size else None

    # at S = 0 the lower band is 0 (nothing survives); the upper one is left undefined there
    return Survival(t, s, low, high, int(e.size), int(e.sum()), first(s), first(np.where(s == 0, 0.0, low)),
                    first(np.where(np.isnan(high), np.inf, high)), confidence, method)


def kaplan_meier(times: Any, observed: Any) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival of event times with right censoring (the step function of
    :func:`survival_estimate`).

    Parameters
    ----------
    times : array (n,), float
        Event time where ``observed``, else the censoring time (the end of the run).
    observed : array (n,), bool

    Returns
    -------
    t, s : arrays (m + 1,), float
        ``s[i]`` is the survival from ``t[i]`` until ``t[i + 1]``; ``t[0] = 0``, ``s[0] = 1``. A
        censoring at an event time is counted at risk at that time.
    """
    est = survival_estimate(times, observed)
    return est.time, est.survival


def logrank_test(times_a: Any, observed_a: Any, times_b: Any, observed_b: Any) -> tuple[float, float]:
    """Two-sided log-rank test that two samples of censored waiting times share one survival function.

    Returns ``(statistic, p-value)`` (:func:`scipy.stats.logrank`); NaNs where neither sample has an event.
    """
    from scipy.stats import logrank

    if not (np.any(observed_a) or np.any(observed_b)):
        return math.nan, math.nan
    with warnings.catch_warnings():  # zero variance (e.g. every event at one time in both): NaN, no test
        warnings.simplefilter("ignore", RuntimeWarning)
        r = logrank(_censored(times_a, observed_a), _censored(times_b, observed_b))
    return float(r.statistic), float(r.pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaNs are left out of the family and kept)."""
    p = np.asarray(pvalues, dtype=float)
    ok = np.flatnonzero(np.isfinite(p))
    out = p.copy()
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return [float(x) for x in out]


def spearman(values: Any, outcomes: Any) -> dict[str, Any]:
    """Spearman's rank correlation of per-run outcomes against numeric parameter values.

    Returns ``{rho, pvalue, n, note}``; ``rho`` and ``pvalue`` are None (with the reason in ``note``) when
    there are fewer than two levels or every run has the same outcome (no ranks to correlate).
    """
    from scipy.stats import spearmanr

    x = np.asarray(values, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    out: dict[str, Any] = {"rho": None, "pvalue": None, "n": int(x.size), "note": ""}
    if np.unique(x).size < 2:
        out["note"] = "fewer than two levels of the parameter"
    elif np.unique(y).size < 2:
        out["note"] = "every run has the same outcome: no rank correlation"
    else:
        r = spearmanr(x, y)
        out.update(rho=float(r.statistic), pvalue=float(r.pvalue))
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
    stopped after its event), ``duration_ps``, ``pore_ps``, ``hemifusion_ps`` (None: not reached) and, for
    times in tau, ``duration_tau``, ``pore_tau``, ``hemifusion_tau``.
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
    def outcomes(self, parameter: str | None, event: str, time: str = "ps") -> list[RunOutcome]:
        """Every analysed run (a row with a run length and the event's column) as a :class:`RunOutcome`:
        the event time where reached, else the run's end (censored); ``time`` is ``"ps"`` or ``"tau"``."""
        if event not in EVENTS:
            raise ValueError(f"event: {event!r}; accepted {', '.join(EVENTS)}")
        if time not in DURATION:
            raise ValueError(f"time: {time!r}; accepted {', '.join(DURATION)}")
        col = EVENTS[event] if time == "ps" else EVENTS_TAU[event]
        others = [q for q in self.parameters if q != parameter]
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
        others = [q for q in self.parameters if q != parameter]
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
        """Everything above for ``parameter`` (JSON-ready): per level the probabilities of hemifusion and
        pore, the median waiting times with their intervals, the hemifusion-first fraction; per group the
        Spearman correlations; the log-rank comparisons; and how each was computed."""
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


def value_order(v: Any) -> tuple[int, Any]:
    """Sort key of parameter values: numbers by value first, then anything else by its text."""
    return (0, float(v)) if isinstance(v, (int, float)) else (1, str(v))


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
