"""Times relative to the trigger of regulated exocytosis (``run.trigger``), for one run and across a sweep.

A regulated run holds its SNARE complexes clamped half-zipped until the trigger (the Ca²⁺ signal) releases the
clamp; what matters is the delay from the trigger to each fusion state, and how fast the clamped layers zip.

* :func:`trigger_info`: the trigger of a spec (step, time in ps and tau, ramp, what it sets); None without one.
* :func:`first_passage_from_trigger`: the fusion analysis' first passages (``summary["fusion"]["first_passage"]``)
  minus the trigger time. A state reached before the trigger keeps its negative delay (a clamp that did not
  hold shows as such, never as zero).
* :func:`clamped_zipping`: from the SNARE table (:class:`~snarefuse.analysis.snare.SnareAnalysis`, one row per
  frame and complex), for each complex the first time from the trigger at which its clamped layers are zipped
  in ``persist`` consecutive frames (the fusion analysis' flicker rule). Zipped means by native contacts when
  the table has them (``q_clamped``, VAMP2's contacts in the clamped layers formed, at least
  :data:`ZIPPED_Q`); the geometric count (layer distances ``d_layer_*_nm`` under the zipping cutoff, at least
  ``fraction`` of the layers) is reported beside it, and is the rule only for a table without contacts. The
  geometry cannot tell a helix lying by the groove with its contacts off from a zipped one: a clamped
  half-zipped build reads 2-4 of 8 layers "zipped" while none of its clamped contacts is formed.
* :func:`delay_statistics`: across the runs of a sweep (rows of the results table), per level of a parameter,
  the probability of reaching each state after the trigger (Wilson or Clopper-Pearson interval: honest at 0/n
  and n/n) and the Kaplan-Meier median delay with its interval, runs without the state censored at their end.
  A run without a trigger (constitutive) is timed from its start: its trigger time is 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .kernels import first_passage_indices
from .snare_geometry import LAYERS, ZIP_CUTOFF_NM, layer_label
from .stats import DEFAULT_CONFIDENCE, proportion_ci, survival_estimate, value_order

__all__ = ["TRIGGER_STATES", "ZIPPED_STATE", "ZIPPED_FRACTION", "ZIPPED_Q", "PERSIST_FRAMES", "trigger_info",
           "first_passage_from_trigger", "clamped_zipping", "trigger_summary", "delay_statistics", "delay_column"]

#: Fusion states whose delay from the trigger is reported (those of the fusion analysis' first passages).
TRIGGER_STATES = ("docked", "stalk", "hemifused", "pore", "expanded_pore")
#: The name of the "clamped layers zipped" state in the delay tables.
ZIPPED_STATE = "clamped_zipped"
#: A complex's clamped layers count as zipped when at least this fraction of them is (the most
#: membrane-proximal layers fray at the bundle's end even in a fully zipped complex).
ZIPPED_FRACTION = 0.75
#: Consecutive analysed frames a zipped state must hold (as the fusion analysis' states).
PERSIST_FRAMES = 3
#: A complex's clamped layers count as zipped when at least this fraction of VAMP2's native contacts there is
#: formed (``q_clamped``): half of what a fully zipped complex holds in dynamics. Measured on the
#: vesicle-planar system of docs/regulated.md (five complexes, 1.4 kT contacts): constitutive runs hold 0.60-0.62
#: on average (10th percentile of complex-frames 0.49); clamped complexes before the trigger 0.02-0.03 (at most
#: 0.16 in any complex and frame), so the threshold sits well clear of both.
ZIPPED_Q = 0.3


def delay_column(state: str) -> str:
    """The results-table column of the delay from the trigger to ``state``, in tau."""
    return f"{state}_from_trigger_tau"


def trigger_info(spec: Any) -> dict[str, Any] | None:
    """The trigger of a :class:`~snarefuse.spec.Spec`: ``step, time_ps, time_tau, ramp_steps, ramp_tau, set``
    (values in MD units); None when the spec has none."""
    run = spec.run
    trig = run.protocol.trigger
    if trig is None:
        return None
    tau_ps = spec.model.units.tau_ps
    return {"step": trig.step, "time_ps": trig.step * run.timestep_ps, "time_tau": trig.step * run.timestep_ps / tau_ps,
            "ramp_steps": trig.ramp_steps, "ramp_tau": trig.ramp_steps * run.timestep_ps / tau_ps,
            "set": dict(trig.values)}


def first_passage_from_trigger(fusion_summary: Any, trigger_tau: float) -> dict[str, float | None]:
    """``{state: delay in tau or None}`` for :data:`TRIGGER_STATES` from ``summary["fusion"]``."""
    fp = fusion_summary.get("first_passage") if isinstance(fusion_summary, Mapping) else None
    out: dict[str, float | None] = {}
    for state in TRIGGER_STATES:
        rec = fp.get(state) if isinstance(fp, Mapping) else None
        t = rec.get("time_tau") if isinstance(rec, Mapping) else None
        out[state] = float(t) - trigger_tau if isinstance(t, (int, float)) and math.isfinite(t) else None
    return out


def clamped_zipping(table: Mapping[str, Any], clamp_layers: Sequence[int], trigger_tau: float, tau_ps: float,
                    zip_cutoff_nm: float = ZIP_CUTOFF_NM, fraction: float = ZIPPED_FRACTION,
                    persist: int = PERSIST_FRAMES, zipped_q: float = ZIPPED_Q) -> dict[str, Any]:
    """The zippering of the clamped layers over time, from the SNARE table.

    Returns ``layers`` (the clamped layers), ``time_tau`` (the frames' times), ``measure`` (``"contacts"`` when
    the table has ``q_clamped``, else ``"geometry"``) and, per complex, ``zipped_from_trigger_tau``: the delay
    from the trigger to the first of ``persist`` frames after it with the clamped layers zipped by that measure
    (None: not reached), and ``all_zipped_from_trigger_tau`` (the last of those; None unless every complex got
    there).

    Geometry (always): ``n_zipped`` (frames x complexes: clamped layers whose layer distance is under
    ``zip_cutoff_nm``), ``mean_before`` / ``mean_after`` (their mean over frames up to / after the trigger, all
    complexes) and ``geometric_zipped_from_trigger_tau`` (at least ``fraction`` of the layers). Contacts (with
    ``q_clamped``): ``q_clamped`` (frames x complexes), ``q_mean_before`` / ``q_mean_after``, ``q_max_before``
    and ``contacts_zipped_from_trigger_tau`` (``q_clamped >= zipped_q``).
    """
    lo, hi = int(clamp_layers[0]), int(clamp_layers[1])
    layers = [L for L in LAYERS if lo <= L <= hi]
    frames = np.asarray(table["frame"])
    cx = np.asarray(table["complex"])
    uf, uc = np.unique(frames), np.unique(cx)
    fi, ci = np.searchsorted(uf, frames), np.searchsorted(uc, cx)
    times = np.full(uf.size, np.nan)
    times[fi] = np.asarray(table["time_ps"], dtype=float) / tau_ps
    d = np.stack([np.asarray(table[f"d_layer_{layer_label(L)}_nm"], dtype=float) for L in layers], axis=1)
    count = (np.nan_to_num(d, nan=np.inf) < zip_cutoff_nm).sum(axis=1)
    n_zipped = np.zeros((uf.size, uc.size), dtype=int)
    n_zipped[fi, ci] = count
    need = math.ceil(fraction * len(layers) - 1e-9)
    after = times > trigger_tau  # a frame at the trigger's step shows the state the trigger acted on

    def delays(zipped: np.ndarray) -> list[float | None]:
        out: list[float | None] = []
        for k in range(uc.size):
            first = int(first_passage_indices((after & zipped[:, k]).astype(np.int64), persist, 2)[1])
            out.append(None if first < 0 else float(times[first] - trigger_tau))
        return out

    def mean(a: np.ndarray, m: np.ndarray) -> float | None:
        return float(np.nanmean(a[m])) if m.any() and np.isfinite(a[m]).any() else None

    geometric = delays(n_zipped >= need)
    out: dict[str, Any] = {
        "layers": [lo, hi], "n_layers": len(layers), "persist_frames": persist, "measure": "geometry",
        "time_tau": times.tolist(), "zip_cutoff_nm": zip_cutoff_nm, "zipped_at_least": need,
        "n_zipped": n_zipped.tolist(), "mean_before": mean(n_zipped, ~after), "mean_after": mean(n_zipped, after),
        "geometric_zipped_from_trigger_tau": geometric}
    chosen = geometric
    if "q_clamped" in table:
        q = np.full((uf.size, uc.size), np.nan)
        q[fi, ci] = np.asarray(table["q_clamped"], dtype=float)
        chosen = delays(np.nan_to_num(q, nan=-1.0) >= zipped_q)
        out.update(measure="contacts", zipped_q=zipped_q, q_clamped=q.tolist(), q_mean_before=mean(q, ~after),
                   q_mean_after=mean(q, after),
                   q_max_before=float(np.nanmax(q[~after])) if (~after).any() and np.isfinite(q[~after]).any()
                   else None,
                   contacts_zipped_from_trigger_tau=chosen)
    out["zipped_from_trigger_tau"] = chosen
    out["all_zipped_from_trigger_tau"] = max(chosen) if chosen and all(x is not None for x in chosen) else None
    return out


def trigger_summary(spec: Any, fusion_summary: Any, snare_table: Mapping[str, Any] | None,
                    zip_cutoff_nm: float = ZIP_CUTOFF_NM) -> dict[str, Any]:
    """``summary["trigger"]`` of a run: the trigger, the first passages from it and, with a clamp and a SNARE
    table, the zippering of the clamped layers (its per-frame arrays left out: they are in snare.csv)."""
    info = trigger_info(spec)
    out: dict[str, Any] = {"trigger": info}
    t0 = info["time_tau"] if info else 0.0
    out["first_passage_from_trigger_tau"] = first_passage_from_trigger(fusion_summary, t0)
    clamp = spec.system.snares.clamp if spec.system.snares is not None else None
    if clamp is not None and snare_table is not None and len(snare_table["frame"]):
        z = clamped_zipping(snare_table, clamp.layers, t0, spec.model.units.tau_ps, zip_cutoff_nm)
        out["clamped_layers"] = {k: v for k, v in z.items() if k not in ("time_tau", "n_zipped", "q_clamped")}
    return out


def delay_statistics(rows: Sequence[Mapping[str, Any]], parameter: str | None,
                     states: Sequence[str] = ("stalk", "hemifused", "pore", ZIPPED_STATE),
                     ci_method: str = "wilson", confidence: float = DEFAULT_CONFIDENCE) -> list[dict[str, Any]]:
    """Per level of ``parameter`` and state: runs ``n``, runs that reached it after the trigger ``k`` with the
    probability's interval, and the Kaplan-Meier median delay from the trigger (tau) with its interval.

    Each row needs ``trigger_tau`` and ``duration_tau`` (the run's end) and reads ``<state>_from_trigger_tau``
    (:func:`delay_column`; None: not reached). A run that ended before its trigger is left out (it says nothing
    about the delay); a state reached before the trigger counts as reached at delay 0 and is counted in
    ``before_trigger``, so a leaky clamp shows. A state a run does not measure (no ``<state>_from_trigger_tau``
    key: the clamped layers of a run without a clamp) leaves the run out of that state's row.
    """
    levels: dict[Any, list[Mapping[str, Any]]] = {}
    for r in rows:
        trig, dur = r.get("trigger_tau"), r.get("duration_tau")
        if not isinstance(dur, (int, float)) or not isinstance(trig, (int, float)) or dur - trig <= 0:
            continue
        levels.setdefault(r.get(parameter) if parameter else "all", []).append(r)
    out = []
    for value in sorted(levels, key=value_order):
        runs = levels[value]
        for state in states:
            times, seen, before = [], [], 0
            measured = [r for r in runs if delay_column(state) in r]  # e.g. no clamped layers without a clamp
            if not measured:
                continue
            for r in measured:
                d = r.get(delay_column(state))
                reached = isinstance(d, (int, float)) and math.isfinite(d)
                if reached and d < 0:
                    before += 1
                times.append(max(float(d), 0.0) if reached else float(r["duration_tau"] - r["trigger_tau"]))
                seen.append(reached)
            k, n = sum(seen), len(measured)
            p, low, high = proportion_ci(k, n, confidence, ci_method)
            est = survival_estimate(times, seen, confidence).summary()
            out.append({"value": value, "state": state, "n": n, "k": k, "p": p, "low": low, "high": high,
                        "before_trigger": before, "median_tau": est["median"], "median_low_tau": est["median_low"],
                        "median_high_tau": est["median_high"],
                        "delays_tau": [round(t, 3) if s else None for t, s in zip(times, seen)],
                        "censored_at_tau": [None if s else round(t, 3) for t, s in zip(times, seen)]})
    return out
