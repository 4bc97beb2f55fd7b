"""Statistics of fusion outcomes over replicas (the sweep's results table that uses them is
:class:`snarefuse.sweep_results.SweepResults`).

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

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np


#: Fusion events a sweep can plot, and their first-passage column (MD time, ps) in the collected table.
EVENTS = {"pore": "pore_ps", "hemifusion": "hemifusion_ps", "stalk": "stalk_ps"}
#: The same first-passage times in reduced time (tau of each point's spec), and the run length in both.
EVENTS_TAU = {"pore": "pore_tau", "hemifusion": "hemifusion_tau", "stalk": "stalk_tau"}
#: The fusion analysis' state that dates each event (its ``fusion.first_passage`` entry), along the pathway
#: stalk -> hemifused diaphragm -> pore (Chernomordik & Kozlov, Nat Struct Mol Biol 15, 675, 2008).
EVENT_STATES = {"stalk": "stalk", "hemifusion": "hemifused", "pore": "pore"}
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


def value_order(v: Any) -> tuple[int, Any]:
    """Sort key of parameter values: numbers by value first, then anything else by its text."""
    return (0, float(v)) if isinstance(v, (int, float)) else (1, str(v))
