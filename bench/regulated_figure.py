"""The figure and results JSON of the regulated-versus-constitutive sweep (docs/regulated.md).

Reads a collected sweep workspace of ``systems/sweep_regulated.yaml`` (``snarefuse sweep collect`` first) and
draws, per condition, time measured from the trigger (constitutive: from the start):

* the clamped layers (+1...+8) zipped, mean over the five complexes, one line per run (the SNARE analysis'
  layer distance under 1.8 nm: geometric, so an open VAMP2 helix lying by the groove with its contacts off
  reads as zipped);
* the fraction of VAMP2's native contacts in layers +1...+8 that are formed (r < 1.2 r0), mean over the
  complexes (:func:`clamped_contact_fraction`): what the clamp holds off;
* the closest approach of the two membranes (``min_gap_nm`` of the fusion analysis);
* each run's first passages to stalk, hemifused and pore (filled) or its end without them (open, censored).

Usage::

    python bench/regulated_figure.py WORKSPACE --sweep systems/sweep_regulated.yaml \\
        --figure docs/img/regulated_comparison.png --json bench/results/regulated_sweep.json

With ``--single RUN_DIR=LABEL ...`` (no workspace) it draws single analysed runs instead: VAMP2's clamped
contacts formed, the clamped layers zipped and the closest approach against time, the trigger marked.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
from pathlib import Path

import numpy as np

from snarefuse.analysis.snare_geometry import CONTACT_FORMED_R0
from snarefuse.analysis.trigger import TRIGGER_STATES, delay_column, trigger_info
from snarefuse.sweep import CONDITION, load_sweep

STATES = ("stalk", "hemifused", "pore")
#: a native contact counts as formed below this multiple of its native distance (the SNARE analysis')
FORMED_R0 = CONTACT_FORMED_R0
COLOURS = {"constitutive": "C0", "regulated_t20": "C1", "regulated_t60": "C3"}
MARKERS = {"stalk": "o", "hemifused": "s", "pore": "*"}


def _table(path: Path) -> dict[str, np.ndarray]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) if r[k] not in ("", "nan") else math.nan for r in rows])
            for k in rows[0] if k not in ("state_name",)} if rows else {}


def clamped_contact_fraction(run_dir: Path, layers: tuple[int, int] = (1, 8)) -> tuple[np.ndarray, np.ndarray]:
    """Per trajectory frame: time (ps) and the fraction of VAMP2's native contacts in ``layers`` with r <
    :data:`FORMED_R0` r0, averaged over the complexes: the SNARE analysis' ``q_clamped``
    (:class:`~snarefuse.analysis.snare.SnareAnalysis`; the pairs are the System's contact forces', clamped or
    not, so a constitutive run is measured on the same contacts). Read from the run's snare.csv when it has the
    column for these layers, else measured by the SNARE analysis alone (a run analysed before the column)."""
    from snarefuse.analysis.base import Table
    from snarefuse.analysis.snare import SnareAnalysis
    from snarefuse.rundir import RunDirectory

    rd = RunDirectory(run_dir)
    path = rd.analysis().table("snare")
    summary = json.loads(rd.analysis().summary_json.read_text()) if rd.analysis().summary_json.exists() else {}
    measured = ((summary.get("snare") or {}).get("native_contacts") or {}).get("clamp_layers")
    if path.exists() and measured == list(layers):
        table = Table.from_csv(path)
    else:
        table = SnareAnalysis(rd.trajectory(), rd.topology(), snares=rd.path, contacts=rd.path,
                              clamp_layers=layers).run().table
    t, q = np.asarray(table["time_ps"], dtype=float), np.asarray(table["q_clamped"], dtype=float)
    times = np.unique(t)
    return times, np.array([q[t == u].mean() for u in times])


def single_runs_figure(runs: list[tuple[Path, str]], figure: str) -> None:
    """Single analysed runs against time: VAMP2's clamped contacts formed, clamped layers zipped (mean of the
    complexes) and the closest approach of the membranes; each run's trigger as a dotted line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snarefuse.rundir import RunDirectory

    fig, axes = plt.subplots(3, 1, figsize=(7.0, 8.0), layout="constrained", sharex=True)
    for k, (path, label) in enumerate(runs):
        rd = RunDirectory(path)
        spec = rd.spec()
        tau_ps = spec.model.units.tau_ps
        info = trigger_info(spec)
        colour = f"C{k}"
        tq, q = clamped_contact_fraction(rd.path)
        axes[0].plot(tq / tau_ps, q, color=colour, label=label)
        snare = _table(rd.analysis().table("snare"))
        t = snare["time_ps"] / tau_ps
        clamped = sum((snare[f"d_layer_p{L}_nm"] < 1.8).astype(float) for L in range(1, 9))
        ut = np.unique(t)
        axes[1].plot(ut, [clamped[t == u].mean() for u in ut], color=colour)
        fusion = _table(rd.analysis().table("fusion"))
        axes[2].plot(fusion["time_ps"] / tau_ps, fusion["min_gap_nm"], color=colour)
        if info:
            for ax in axes:
                ax.axvline(info["time_tau"], color=colour, ls=":", lw=1.2)
    axes[0].set_ylabel(f"VAMP2 contacts +1…+8\nformed (r < {FORMED_R0} r₀)")
    axes[0].legend(fontsize="small", loc="upper left")
    axes[1].set_ylabel("clamped layers zipped\n(layer distance < 1.8 nm)")
    axes[1].set_ylim(-0.3, 8.3)
    axes[2].set_ylabel("closest approach (nm)")
    axes[2].set_xlabel("time (τ); dotted: the trigger")
    fig.savefig(figure, dpi=130)
    print(f"wrote {figure}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workspace", nargs="?")
    ap.add_argument("--single", nargs="+", metavar="RUN_DIR=LABEL")
    ap.add_argument("--sweep", default="systems/sweep_regulated.yaml")
    ap.add_argument("--figure", default="docs/img/regulated_comparison.png")
    ap.add_argument("--json", default="bench/results/regulated_sweep.json")
    args = ap.parse_args()
    if args.single:
        single_runs_figure([(Path(a.split("=", 1)[0]), a.split("=", 1)[1]) for a in args.single], args.figure)
        return
    if args.workspace is None:
        ap.error("WORKSPACE is needed unless --single is given")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sw = load_sweep(args.sweep, args.workspace)
    fig, axes = plt.subplots(4, 1, figsize=(7.0, 11.5), layout="constrained")
    runs = []
    conditions = list(dict.fromkeys(p.parameters[CONDITION] for p in sw.points))
    for st in sw.status():
        p = st.point
        cond = p.parameters[CONDITION]
        rd = p.run_dir
        info = trigger_info(p.spec)
        t0 = info["time_tau"] if info else 0.0
        tau_ps = p.spec.model.units.tau_ps
        run = {"condition": cond, "replica": p.replica, "seed": p.seed, "key": p.key, "state": st.state,
               "step": st.step, "trigger_tau": t0}
        summary = json.loads(rd.summary_json.read_text()) if rd.summary_json.exists() else None
        colour = COLOURS.get(cond, "k")
        if summary is None:
            runs.append(run)
            continue
        run["end_tau"] = summary["time_last"]["time_tau"]
        run["final_state"] = summary["fusion"].get("final_state")
        run["first_passage_tau"] = {k: v["time_tau"] for k, v in summary["fusion"]["first_passage"].items()}
        trig = summary.get("trigger") or {}
        run["from_trigger_tau"] = trig.get("first_passage_from_trigger_tau") or {
            s: (None if run["first_passage_tau"].get(s) is None else run["first_passage_tau"][s] - t0)
            for s in TRIGGER_STATES}
        run["clamped_layers"] = trig.get("clamped_layers")
        snare = _table(rd.analysis().table("snare"))
        if snare:
            t = snare["time_ps"] / tau_ps - t0
            clamped = sum((snare[f"d_layer_p{L}_nm"] < 1.8).astype(float) for L in range(1, 9))
            ut = np.unique(t)
            mean = np.array([clamped[t == u].mean() for u in ut])
            axes[0].plot(ut, mean, color=colour, lw=1, alpha=0.8,
                         label=cond if p.replica == 0 else None)
            run["clamped_zipped_mean_last"] = float(mean[-1])
        tq, q = clamped_contact_fraction(rd.path)
        if len(q):
            tq = tq / tau_ps - t0
            axes[1].plot(tq, q, color=colour, lw=1, alpha=0.8, label=cond if p.replica == 0 else None)
            before = q[tq <= 0]
            run["vamp2_clamped_contacts_formed"] = {
                "before_trigger_mean": float(before.mean()) if before.size else None,
                "before_trigger_max": float(before.max()) if before.size else None,
                "last_25_tau_mean": float(q[tq >= tq[-1] - 25].mean())}
        fusion = _table(rd.analysis().table("fusion"))
        if fusion:
            axes[2].plot(fusion["time_ps"] / tau_ps - t0, fusion["min_gap_nm"], color=colour, lw=1, alpha=0.8,
                         label=cond if p.replica == 0 else None)
        y = conditions.index(cond) + 0.12 * (p.replica - 1)
        for s in STATES:
            d = run["from_trigger_tau"].get(s)
            if d is not None:
                axes[3].plot(d, y, MARKERS[s], color=colour, ms=9 if s == "pore" else 6)
        if run["from_trigger_tau"].get("pore") is None:
            axes[3].plot(run["end_tau"] - t0, y, ">", mfc="none", color=colour, ms=7)
        runs.append(run)
    for ax in axes:
        ax.axvline(0, color="k", lw=1, alpha=0.6)
    axes[0].set_ylabel("clamped layers zipped\n(+1…+8, mean of 5)")
    axes[0].set_ylim(-0.3, 8.3)
    axes[0].legend(fontsize="small", loc="upper left")
    axes[1].set_ylabel(f"VAMP2 contacts +1…+8\nformed (r < {FORMED_R0} r₀)")
    axes[1].set_ylim(-0.03, 1.0)
    axes[2].set_ylabel("closest approach (nm)")
    axes[2].legend(fontsize="small", loc="upper right")
    axes[3].set_yticks(range(len(conditions)))
    axes[3].set_yticklabels(conditions)
    axes[3].set_ylim(-0.6, len(conditions) - 0.4)
    for s in STATES:
        axes[3].plot([], [], MARKERS[s], color="0.3", label=s)
    axes[3].plot([], [], ">", mfc="none", color="0.3", label="run end, no pore")
    axes[3].legend(fontsize="small", ncol=4, loc="lower right")
    axes[3].set_xlabel("time from the trigger (τ; constitutive: from the start)")
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=130)
    stats_path = sw.workspace / "statistics.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    out = {"sweep": str(args.sweep), "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
           "runs": runs, "from_trigger": stats.get("from_trigger"), "levels": stats.get("levels"),
           "columns": {s: delay_column(s) for s in STATES}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(f"wrote {args.figure} and {args.json}")


if __name__ == "__main__":
    main()
