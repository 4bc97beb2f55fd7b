"""Statistics of fusion outcomes over replicas: proportions with bootstrap CIs, Kaplan-Meier survival, and
the results table a sweep collects (:class:`SweepResults`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_write_text, csv_cell as _cell, csv_text as _csv_text

#: Fusion events a sweep can stop after or plot, and their column in the collected table.
EVENTS = {"pore": "pore_ps", "hemifusion": "hemifusion_ps"}


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


@dataclass
class SweepResults:
    """The collected table: one dict per point (parameters, state, flattened summary)."""

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

    def groups(self, parameter: str | None, event: str) -> dict[str, dict[Any, list[tuple[float, bool]]]]:
        """Analysed points as ``(time_ps, observed)`` (the event time, or the run end where the event
        was not reached), by the other varied parameters (a label), then by the value of ``parameter``."""
        others = [q for q in self.parameters if q != parameter]
        col = EVENTS[event]
        g: dict[str, dict[Any, list[tuple[float, bool]]]] = {}
        for r in self.rows:
            dur, t = r.get("duration_ps"), r.get(col)
            if col in r and isinstance(dur, (int, float)):
                label = ", ".join(f"{q}={_cell(r.get(q))}" for q in others)
                value = _cell(r.get(parameter)) if parameter else "all"
                g.setdefault(label, {}).setdefault(value, []).append((float(dur if t is None else t), t is not None))
        return {k: dict(sorted(v.items(), key=lambda kv: value_order(kv[0]))) for k, v in sorted(g.items())}

    def probability(self, parameter: str | None, event: str = "pore", n_boot: int = 2000,
                    seed: int = 0) -> list[dict[str, Any]]:
        """Per group and value of ``parameter``: n, probability of ``event`` within the run, bootstrap CI."""
        return [{"group": label, "value": v, "n": len(items), **dict(zip(("p", "low", "high"), bootstrap_proportion(
                    [seen for _, seen in items], n_boot=n_boot, seed=seed)))}
                for label, by_value in self.groups(parameter, event).items() for v, items in by_value.items()]


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
