"""The table side of a sweep: what a point's ``summary.json`` says about its fusion times, varied parameters
as numeric columns with units, and the collected statistics as text. Pure functions of their inputs (no
run directory is read here); :meth:`snarefuse.sweep.Sweep.collect` puts them together."""

from __future__ import annotations

import math
import re
from typing import Any

from .analysis.stats import flatten_summary
from .spec import Spec


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def fusion_times(summary: Any) -> dict[str, float | None]:
    """``hemifusion_ps``, ``pore_ps`` (None: not reached) and ``duration_ps`` of a ``summary.json``.

    Reads the flat form ``first_passage: {hemifusion_ps, pore_ps, duration_ps}`` or the pipeline's
    ``fusion.first_passage.{hemifused,pore}: {frame, time_ps}`` with ``time_last.time_ps``; a time
    it cannot find (a single-membrane run, an older summary) is left out, never guessed.
    """
    out: dict[str, float | None] = {}
    if not isinstance(summary, dict):
        return out
    flat = summary.get("first_passage")
    for k in ("hemifusion_ps", "pore_ps", "duration_ps"):
        if isinstance(flat, dict) and k in flat:
            out[k] = _num(flat[k])
    fusion = summary.get("fusion")
    nested = fusion.get("first_passage") if isinstance(fusion, dict) else None
    for k, state in (("hemifusion_ps", "hemifused"), ("pore_ps", "pore")):
        rec = nested.get(state) if isinstance(nested, dict) else None
        if k not in out and isinstance(rec, dict) and "frame" in rec:
            out[k] = None if rec["frame"] is None else _num(rec.get("time_ps"))
    last = summary.get("time_last")
    if "duration_ps" not in out and isinstance(last, dict) and _num(last.get("time_ps")) is not None:
        out["duration_ps"] = _num(last["time_ps"])
    return out


def format_statistics(stats: dict[str, Any]) -> list[str]:
    """``statistics.json`` (:meth:`SweepResults.statistics`) as a few lines of text: per level k/n with the
    interval for hemifusion and pore, the median pore waiting time with its interval, the hemifusion-first
    fraction, then Spearman and the log-rank p-values of the pore."""
    def frac(lv: dict[str, Any], pre: str, n: str = "n") -> str:
        if not lv.get(f"{pre}_{n}"):
            return "-"
        return f"{lv[f'{pre}_k']}/{lv[f'{pre}_{n}']} [{lv[f'{pre}_low']:.2f}, {lv[f'{pre}_high']:.2f}]"

    def when(x: Any) -> str:
        return "-" if x is None else f"{x:.4g}"

    u = stats["time_unit"]
    lines = [f"{stats['parameter'] or 'all points'} ({stats['confidence']:.0%} intervals):"]
    for lv in stats["levels"]:
        group = f" [{lv['group']}]" if lv["group"] else ""
        median = (f"median {when(lv.get(f'pore_median_{u}'))} {u} [{when(lv.get(f'pore_median_low_{u}'))}, "
                  f"{when(lv.get(f'pore_median_high_{u}'))}]")
        lines.append(f"  {lv['value']}{group}: P(hemifusion) {frac(lv, 'hemifusion')}, P(pore) {frac(lv, 'pore')}, "
                     f"{median}, hemifusion first {frac(lv, 'hemifusion_first', 'n_fused')}")
    for r in stats["spearman"]["pore"]:
        rho = "-" if r["rho"] is None else f"{r['rho']:.2f} (p = {r['pvalue']:.2g}, n = {r['n']})"
        lines.append(f"  Spearman P(pore){' [' + r['group'] + ']' if r['group'] else ''}: {rho} {r.get('note', '')}"
                     .rstrip())
    for r in stats["logrank"]["pore"]:
        p = "-" if r["pvalue"] is None else f"{r['pvalue']:.2g} (Holm {r['pvalue_holm']:.2g})"
        lines.append(f"  log-rank pore {r['value']} vs {r['reference']}: p = {p}")
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

    Parameters
    ----------
    st : snarefuse.sweep.PointStatus
        The point (key, replica, seed, spec, varied parameters) and its state.
    summary : dict or None
        Its ``analysis/summary.json``.
    in_run_pore : dict or None
        The ``pore`` entry of its ``events.json`` (the in-run reporter's pore).

    The row holds the numeric parameters, the state, the point's units (``tau_ps``, ``tau_diffusion_ns``), the
    flattened summary and the first-passage times in ps and in tau of the point's own spec.
    """
    p = st.point
    units = p.spec.model.units
    row: dict[str, Any] = {"key": p.key, "replica": p.replica, "seed": p.seed,
                           **parameter_columns(p.spec, p.parameters), "state": st.state, "step": st.step,
                           "target_steps": p.target_steps, "analysis": st.analysis, "reason": st.reason,
                           "tau_ps": units.tau_ps, "tau_diffusion_ns": units.tau_diffusion_ns}
    if isinstance(summary, dict):
        row.update({**flatten_summary(summary), **fusion_times(summary)})
        for k in ("hemifusion_ps", "pore_ps", "duration_ps"):
            if row.get(k) is not None:
                row[k[:-3] + "_tau"] = row[k] / units.tau_ps
    if isinstance(in_run_pore, dict) and _num(in_run_pore.get("time_ps")) is not None:
        row["in_run_pore_ps"] = _num(in_run_pore["time_ps"])  # beside the analysis' pore_ps
    return row
