"""Statistics of fusion outcomes over replicas: proportions with bootstrap CIs, Kaplan-Meier survival."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def bootstrap_proportion(outcomes: Any, n_boot: int = 2000, ci: float = 0.95,
                         seed: int = 0) -> tuple[float, float, float]:
    """Proportion of true ``outcomes`` (shape (n,), bool) with a percentile-bootstrap CI.

    Returns ``(p, low, high)``; NaNs for no outcomes. With all outcomes equal the interval
    collapses onto ``p`` (a known limit of the percentile bootstrap: report n beside it).
    """
    x = np.asarray(outcomes, dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return float(x.mean()), float(lo), float(hi)


def kaplan_meier(times: Any, observed: Any) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival of event times with right censoring.

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
    t = np.asarray(times, dtype=float)
    e = np.asarray(observed, dtype=bool)
    ev = np.unique(t[e])
    at_risk = (t[None, :] >= ev[:, None]).sum(axis=1)
    deaths = ((t[None, :] == ev[:, None]) & e[None, :]).sum(axis=1)
    return np.r_[0.0, ev], np.r_[1.0, np.cumprod(1.0 - deaths / at_risk)]
