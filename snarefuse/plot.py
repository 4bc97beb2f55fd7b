"""Matplotlib plots of the analysis tables. Every function takes ``ax=None`` and returns the Axes.

Tables are the dict-of-arrays :class:`~snarefuse.analysis.base.Table` objects (or any mapping of column
name to array) written by :mod:`snarefuse.analysis`; time comes from their ``time_ps`` column and is
shown in ``time_unit`` = ``"ns"`` (default), ``"ps"`` or ``"tau"`` (then ``tau_ps``, the MD time unit in ps,
is required).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Fusion states in order (same as snarefuse.analysis.kernels.STATES; kept here so plotting needs no analysis import).
STATES = ("docked", "stalk", "hemifused", "pore", "expanded_pore")
_TIME_UNITS = ("ns", "ps", "tau")


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def time_values(table: Mapping[str, Any], time_unit: str = "ns", tau_ps: float | None = None) -> tuple[np.ndarray, str]:
    """``(times, axis_label)`` of a table in ``time_unit``."""
    t = np.asarray(table["time_ps"], dtype=float)
    if time_unit == "ns":
        return t / 1000.0, "time (ns)"
    if time_unit == "ps":
        return t, "time (ps)"
    if time_unit == "tau":
        if not tau_ps:
            raise ValueError("time_unit='tau' needs tau_ps (the MD time unit in ps, manifest units.tau_ps)")
        return t / tau_ps, "time (τ)"
    raise ValueError(f"time_unit: {time_unit!r}; accepted {_TIME_UNITS}")


def plot_columns(table: Mapping[str, Any], columns: Sequence[str], ylabel: str = "", ax: Any = None,
                 time_unit: str = "ns", tau_ps: float | None = None) -> Any:
    """Several columns of a table against time, one line each (missing columns are skipped)."""
    ax = _axes(ax)
    x, xlabel = time_values(table, time_unit, tau_ps)
    for c in columns:
        if c in table:
            ax.plot(x, np.asarray(table[c], dtype=float), label=c)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(columns) > 1:
        ax.legend(fontsize="small")
    return ax


def plot_separation(table: Mapping[str, Any], ax: Any = None, time_unit: str = "ns", tau_ps: float | None = None) -> Any:
    """Minimum, mean and on-axis gap between the facing head surfaces vs time."""
    ax = _axes(ax)
    x, xlabel = time_values(table, time_unit, tau_ps)
    for col, label, style in (("min_gap_nm", "min in contact disc", "-"), ("mean_gap_nm", "mean in contact disc", "--"),
                              ("axis_gap_nm", "on axis", ":")):
        if col in table:
            ax.plot(x, np.asarray(table[col], dtype=float), style, label=label)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("head-head gap (nm)")
    ax.legend(fontsize="small")
    return ax


def plot_pore_radius(table: Mapping[str, Any], ax: Any = None, time_unit: str = "ns", tau_ps: float | None = None,
                     show_diaphragm: bool = True) -> Any:
    """Pore radius (sqrt(A/pi) and largest inscribed circle), and the diaphragm radius, vs time."""
    ax = _axes(ax)
    x, xlabel = time_values(table, time_unit, tau_ps)
    ax.plot(x, np.asarray(table["pore_radius_nm"], dtype=float), label="pore √(A/π)")
    if "pore_inscribed_radius_nm" in table:
        ax.plot(x, np.asarray(table["pore_inscribed_radius_nm"], dtype=float), "--", label="pore inscribed circle")
    if show_diaphragm and "diaphragm_radius_nm" in table:
        ax.plot(x, np.asarray(table["diaphragm_radius_nm"], dtype=float), ":", label="diaphragm √(A/π)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("radius (nm)")
    ax.legend(fontsize="small")
    return ax


def _mark_trigger(ax: Any, trigger_ps: float | None, time_unit: str, tau_ps: float | None) -> None:
    """A vertical line at the trigger (``run.trigger``), labelled."""
    if trigger_ps is not None and np.isfinite(trigger_ps):
        tx = time_values({"time_ps": np.array([trigger_ps])}, time_unit, tau_ps)[0][0]
        ax.axvline(tx, color="k", ls="-", lw=1.5, alpha=0.7, label="trigger (clamp released)")


def plot_timeline(table: Mapping[str, Any], ax: Any = None, time_unit: str = "ns", tau_ps: float | None = None,
                  first_passage: Mapping[str, Mapping[str, Any]] | None = None,
                  trigger_ps: float | None = None) -> Any:
    """Fusion state per frame (raw and flicker-filtered) with first-passage times and the trigger marked."""
    ax = _axes(ax)
    _mark_trigger(ax, trigger_ps, time_unit, tau_ps)
    x, xlabel = time_values(table, time_unit, tau_ps)
    ax.step(x, np.asarray(table["state"]), where="post", color="0.7", lw=1, label="per frame")
    if "state_filtered" in table:
        ax.step(x, np.asarray(table["state_filtered"]), where="post", color="C0", lw=2, label="flicker-filtered")
    for k, name in enumerate(STATES):
        fp = (first_passage or {}).get(name, {})
        t = fp.get("time_ps") if fp else None
        if t is not None and np.isfinite(t) and k > 0:
            tx = time_values({"time_ps": np.array([t])}, time_unit, tau_ps)[0][0]
            ax.axvline(tx, color=f"C{k}", ls="--", lw=1, label=f"{name} reached")
    ax.set_yticks(range(len(STATES)))
    ax.set_yticklabels(STATES)
    ax.set_ylim(-0.5, len(STATES) - 0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("state")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_contact_map(gap_map: np.ndarray, extent: Sequence[float], ax: Any = None, contact_radius: float | None = None,
                     pore_mask: np.ndarray | None = None, pore_extent: Sequence[float] | None = None,
                     diaphragm_mask: np.ndarray | None = None, diaphragm_extent: Sequence[float] | None = None,
                     cmap: str = "viridis") -> Any:
    """Top view of the contact zone: head-head gap map (nm), with the pore and diaphragm outlined.

    Maps are indexed ``[iu, iv]`` on the contact frame's lateral grid; ``extent`` is ``(u0, u1, v0, v1)`` nm.
    """
    ax = _axes(ax)
    im = ax.imshow(np.asarray(gap_map, dtype=float).T, origin="lower", extent=tuple(extent), cmap=cmap,
                   interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="head-head gap (nm)")
    for mask, ext, color, label in ((diaphragm_mask, diaphragm_extent, "tab:blue", "diaphragm"),
                                    (pore_mask, pore_extent, "tab:red", "pore")):
        if mask is not None and ext is not None and np.any(mask):
            ax.contour(np.asarray(mask, dtype=float).T, levels=[0.5], colors=[color], extent=tuple(ext),
                       origin="lower")
            ax.plot([], [], color=color, label=label)
    if contact_radius:
        phi = np.linspace(0, 2 * np.pi, 200)
        ax.plot(contact_radius * np.cos(phi), contact_radius * np.sin(phi), color="w", ls="--", lw=1,
                label="contact disc")
    ax.set_xlabel("u (nm)")
    ax.set_ylabel("v (nm)")
    ax.set_aspect("equal")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="upper right")
    return ax


# ------------------------------------------------------------------------------ SNARE metrics
def _complex_rows(table: Mapping[str, Any]) -> list[tuple[int, np.ndarray]]:
    """``(complex, row mask)`` of a long SNARE table (all rows as complex 0 without a ``complex`` column)."""
    if "complex" not in table:
        return [(0, np.ones(len(np.asarray(table["time_ps"])), dtype=bool))]
    c = np.asarray(table["complex"])
    return [(int(k), c == k) for k in np.unique(c)]


def plot_zippering(table: Mapping[str, Any], ax: Any = None, time_unit: str = "ns", tau_ps: float | None = None,
                   trigger_ps: float | None = None) -> Any:
    """Zippering progress vs time: zipped layers (of 16) of each complex (solid) and the most C-terminal
    layer of the zipped run (``zip_front_layer``, dotted, right axis), one colour per complex; the trigger
    marked where given."""
    ax = _axes(ax)
    _mark_trigger(ax, trigger_ps, time_unit, tau_ps)
    x, xlabel = time_values(table, time_unit, tau_ps)
    twin = ax.twinx() if "zip_front_layer" in table else None
    for k, m in _complex_rows(table):
        line, = ax.plot(x[m], np.asarray(table["n_zipped_layers"], dtype=float)[m], label=f"complex {k}")
        if twin is not None:
            twin.plot(x[m], np.asarray(table["zip_front_layer"], dtype=float)[m], ":", color=line.get_color())
    ax.set_ylim(-0.5, 16.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("zipped layers (of 16)")
    if twin is not None:
        twin.set_ylim(-7.5, 8.5)
        twin.set_ylabel("zipping front layer (dotted)")
    ax.legend(fontsize="small", loc="lower left")
    return ax


def plot_native_contacts(table: Mapping[str, Any], ax: Any = None, time_unit: str = "ns",
                         tau_ps: float | None = None, trigger_ps: float | None = None) -> Any:
    """Zippering by native contacts vs time: the fraction of each complex's native contacts formed (``q_all``,
    solid) and of VAMP2's contacts in the clamp layers (``q_clamped``, dashed), one colour per complex; the
    trigger marked where given."""
    ax = _axes(ax)
    _mark_trigger(ax, trigger_ps, time_unit, tau_ps)
    x, xlabel = time_values(table, time_unit, tau_ps)
    for k, m in _complex_rows(table):
        line, = ax.plot(x[m], np.asarray(table["q_all"], dtype=float)[m], label=f"complex {k}")
        if "q_clamped" in table:
            ax.plot(x[m], np.asarray(table["q_clamped"], dtype=float)[m], "--", color=line.get_color())
    ax.set_ylim(-0.03, 1.3)  # headroom for the legend above the curves (a zipped complex holds Q ~ 0.6-0.7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("native contacts formed, Q\n(solid: all; dashed: clamp layers)")
    ax.legend(fontsize="small", loc="upper center", ncol=3)
    return ax


def plot_linker_force(table: Mapping[str, Any], ax: Any = None, time_unit: str = "ns",
                      tau_ps: float | None = None) -> Any:
    """Worm-like-chain (Marko-Siggia) force of the VAMP2 (solid) and syntaxin (dashed) linkers of each
    complex vs time, pN; clamped values (x/L above the clamp) marked with x."""
    ax = _axes(ax)
    x, xlabel = time_values(table, time_unit, tau_ps)
    for k, m in _complex_rows(table):
        color = None
        for key, style in (("vamp2", "-"), ("syntaxin", "--")):
            col = f"linker_force_{key}_pn"
            if col not in table:
                continue
            f = np.asarray(table[col], dtype=float)[m]
            line, = ax.plot(x[m], f, style, color=color, label=f"complex {k} {'VAMP2' if key == 'vamp2' else 'syntaxin'}")
            color = line.get_color()
            cl = np.asarray(table.get(f"linker_clamped_{key}", np.zeros(len(m), bool)), dtype=bool)[m]
            if cl.any():
                ax.plot(x[m][cl], f[cl], "x", color=color)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("linker WLC force (pN)")
    ax.legend(fontsize="small", ncol=2)
    return ax


# ------------------------------------------------------------------------------ sweep results
def plot_fusion_probability(results: Any, parameter: str | None, ax: Any = None, ci_method: str = "wilson",
                            confidence: float = 0.95) -> Any:
    """Stalk, hemifusion and fusion (pore) probability within the run vs ``parameter``, with Wilson (or
    Clopper-Pearson, ``ci_method``) intervals, one line per combination of the other varied parameters;
    the legend (below the axes) gives k/n per level. An event without runs in the table
    (no column for it) is not drawn. Returns the Axes."""
    ax = _axes(ax)
    from .analysis.stats import EVENTS, value_order

    values = sorted({v for e in EVENTS for g in results.groups(parameter, e).values() for v in g}, key=value_order)
    numeric = all(isinstance(v, (int, float)) for v in values)
    # the events of one level drawn side by side, so that their intervals (often all at 0 or 1) stay visible
    span = ((float(values[-1]) - float(values[0]) if numeric else len(values) - 1) if values else 0) or 1.0
    for event in EVENTS:  # pore first: one group draws pore, hemifusion, stalk in C0, C1, C2
        style, dodge = _PROBABILITY_STYLE[event]
        rows = [r for r in results.probability(parameter, event, ci_method, confidence) if r["n"] > 0]
        for label in dict.fromkeys(r["group"] for r in rows):
            g = [r for r in rows if r["group"] == label]
            x = [(float(r["value"]) if numeric else values.index(r["value"])) + dodge * span for r in g]
            p = np.array([r["p"] for r in g])
            err = np.array([p - [r["low"] for r in g], [r["high"] for r in g] - p])
            counts = ", ".join(f"{r['k']}/{r['n']}" for r in g)
            ax.errorbar(x, p, yerr=err, fmt=style, capsize=3,
                        label=f"{_EVENT_NAMES[event]} {label} ({counts})".replace("  ", " "))
    if not numeric:
        ax.set_xticks(range(len(values)), [str(v) for v in values])
    ax.set_xlabel(parameter or "all points")
    ax.set_ylabel(f"probability within the run\n({confidence:.0%} {ci_method.replace('-', '–').title()} CI)")
    ax.set_ylim(-0.05, 1.05)
    _legend_below(ax)  # with three events the intervals reach 0 and 1 at many levels, so no corner is free
    return ax


def _legend_below(ax: Any) -> None:
    """The legend of a sweep plot below its axes (two columns where the labels are short), if it has any."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False,
                  ncol=2 if max(map(len, labels)) <= 40 else 1)


#: How each event is named in the sweep plots.
_EVENT_NAMES = {"stalk": "stalk", "hemifusion": "hemifusion", "pore": "fusion pore"}
#: Marker and line of each event in :func:`plot_fusion_probability`, and its offset along x (a fraction of
#: the parameter's range).
_PROBABILITY_STYLE = {"stalk": ("^:", -0.012), "hemifusion": ("s--", 0.012), "pore": ("o-", 0.0)}


def plot_survival(results: Any, parameter: str | None, event: str = "pore", ax: Any = None,
                  confidence: float = 0.95) -> Any:
    """Kaplan-Meier survival of the ``event`` time in tau per value of ``parameter`` (and combination of
    the other varied parameters), with its pointwise ``confidence`` band (log-log) shaded and censored runs
    marked |; a top axis gives the diffusion-calibrated time (ns) where every point shares one
    calibration (``tau_diffusion_ns`` of the table). Returns the Axes."""
    ax = _axes(ax)
    name = (parameter or "").rsplit(".", 1)[-1]  # the field's own name: a dotted path crowds the legend
    for r in results.survival(parameter, event, time="tau", confidence=confidence):
        est = r["estimate"]
        items = results.groups(parameter, event, time="tau")[r["group"]][r["value"]]
        t, seen = np.array([i[0] for i in items]), np.array([i[1] for i in items])
        end = max(t.max(), est.time[-1])
        median = "" if r["median"] is None else f", median {r['median']:.4g} τ"
        line, = ax.step(np.r_[est.time, end], np.r_[est.survival, est.survival[-1]], where="post",
                        label=f"{name}={r['value']} {r['group']} (n={len(t)}{median})".replace("  ", " "))
        ok = np.isfinite(est.low) & np.isfinite(est.high)
        if ok.any():
            tt = np.r_[est.time, end]
            lo, hi = np.r_[est.low, est.low[-1]], np.r_[est.high, est.high[-1]]
            ax.fill_between(tt, lo, hi, where=np.r_[ok, ok[-1]], step="post", alpha=0.2, color=line.get_color(),
                            lw=0)
        cens = t[~seen]
        ax.plot(cens, est.survival[np.searchsorted(est.time, cens, side="right") - 1], "|", color=line.get_color(),
                ms=8)
    ax.set_xlabel("time (τ)")
    ax.set_ylabel(f"P(no {_EVENT_NAMES[event]} yet)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(left=0)
    calib = {r.get("tau_diffusion_ns") for r in results.rows if r.get("tau_diffusion_ns") is not None}
    if len(calib) == 1:
        ns = float(calib.pop())
        top = ax.secondary_xaxis("top", functions=(lambda x: x * ns, lambda x: x / ns))
        top.set_xlabel("diffusion-calibrated time (ns)")
    _legend_below(ax)  # survival steps and their bands fill the whole plot, so no corner inside it is free
    return ax
