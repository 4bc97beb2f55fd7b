#!/usr/bin/env python
"""Docked separation of a SNARE fusion system: how far zippered complexes hold two membranes apart.

Builds a shipped SNARE spec (default ``snare_vesicle_planar`` with ``system.snares.ring_radius`` 6 nm, so that
the vesicle's bottom can come closer than the bundles lying in the cleft), runs it on the CPU platform, runs
``snarefuse analyze`` on it and prints the head-plane gap (between head-bead centres; columns of
``analysis/fusion.csv``) per time window, the radial gap profile around the contact axis over the second half
(vesicle-planar only) and the TMD tilts and linker extensions (``analysis/snare.csv``). Resumes a run
directory that exists (``--steps`` can extend it).

    python bench/docked_separation.py --dir /tmp/dock-anchors --steps 25000 --threads 2
    python bench/docked_separation.py --dir /tmp/dock-none --steps 25000 --set system.snares.anchor_strength=0

Measured values and what they mean: docs/model.md, "Docked separation (measured)".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

from snarefuse.analysis.pipeline import analyze_run
from snarefuse.build import build_system
from snarefuse.rundir import load_trajectory
from snarefuse.runner import run_simulation
from snarefuse.spec import example_spec_path, load_spec

WINDOW_TAU = 50.0


def radial_profile(run_dir: Path, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and s.d. over the second half of the gap between the planar membrane's upper heads (chain 0) and the
    vesicle's outer heads below its centre (chain 1), in annuli around the vesicle's axis."""
    t = load_trajectory(run_dir)
    top = t.topology
    h_a = np.array([a.index for a in top.chain(0).atoms if a.name == "H"])
    h_b = np.array([a.index for a in top.chain(1).atoms if a.name == "H"])
    rows = []
    for f in range(t.n_frames // 2, t.n_frames):
        x, box = t.xyz[f], t.unitcell_lengths[f]
        c = x[h_b].mean(0)
        r_b = np.linalg.norm(x[h_b] - c, axis=1)
        outer = h_b[r_b > np.median(r_b) - 0.3]
        upper = h_a[x[h_a, 2] > x[h_a, 2].mean()]

        def rad(idx: np.ndarray) -> np.ndarray:
            d = x[idx, :2] - c[:2]
            d -= box[:2] * np.round(d / box[:2])
            return np.hypot(d[:, 0], d[:, 1])

        ra, rv = rad(upper), rad(outer)
        below = x[outer, 2] < c[2]
        prof = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            a = (ra >= lo) & (ra < hi)
            v = below & (rv >= lo) & (rv < hi)
            prof.append(x[outer[v], 2].mean() - x[upper[a], 2].mean() if a.any() and v.any() else np.nan)
        rows.append(prof)
    return np.nanmean(rows, 0), np.nanstd(rows, 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="snare_vesicle_planar", help="shipped example name or YAML path")
    ap.add_argument("--dir", type=Path, required=True, help="run directory (built if new, resumed if not)")
    ap.add_argument("--steps", type=int, default=25000)
    ap.add_argument("--ring-radius", default="6 nm")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="more spec overrides, e.g. system.snares.anchor_strength=0 (YAML values)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    if not (a.dir / "system.xml").exists():
        path = Path(a.spec)
        spec = load_spec(path if path.suffix in (".yaml", ".yml") else example_spec_path(a.spec))
        over = {"system.snares.ring_radius": a.ring_radius, "run.steps": a.steps, "run.platform": "CPU",
                "run.report_interval": 200, "run.trajectory_interval": 200, "run.checkpoint_interval": 2000}
        for kv in a.set:
            if "=" not in kv:
                ap.error(f"--set {kv!r}: expected KEY=VALUE")
            k, v = kv.split("=", 1)
            over[k] = yaml.safe_load(v)
        build_system(spec.with_overrides(over)).save(a.dir)
    elif a.set:
        ap.error(f"--set applies to a new build; {a.dir} is already built")
    run_simulation(a.dir, steps=a.steps, threads=a.threads, progress=False)
    analyze_run(a.dir, figures=False)
    fusion = np.genfromtxt(a.dir / "analysis" / "fusion.csv", delimiter=",", names=True, dtype=None, encoding=None)
    manifest = json.loads((a.dir / "manifest.json").read_text())
    tau_ps = manifest["units"]["tau_ps"]
    t_tau = fusion["time_ps"] / tau_ps
    out: dict = {"dir": str(a.dir), "spec": a.spec, "steps": a.steps, "windows": [], "snare": {}}
    print(f"{a.dir}: head-plane gap (nm), mean +- s.d. per window")
    for lo in np.arange(0.0, t_tau.max() + 1e-9, WINDOW_TAU):
        m = (t_tau >= lo) & (t_tau < lo + WINDOW_TAU)
        if not m.any():
            continue
        w = {"from_tau": float(lo), "to_tau": float(lo + WINDOW_TAU), "frames": int(m.sum())}
        for col in ("axis_gap_nm", "mean_gap_nm", "min_gap_nm"):
            w[col] = [float(np.nanmean(fusion[col][m])), float(np.nanstd(fusion[col][m]))]
        w["states"] = {str(s): int((fusion["state_name"][m] == s).sum()) for s in set(fusion["state_name"][m])}
        out["windows"].append(w)
        print(f"  {lo:5.0f}-{lo + WINDOW_TAU:5.0f} tau  axis {w['axis_gap_nm'][0]:.2f} +- {w['axis_gap_nm'][1]:.2f}"
              f"  disc mean {w['mean_gap_nm'][0]:.2f} +- {w['mean_gap_nm'][1]:.2f}  min {w['min_gap_nm'][0]:.2f}"
              f"  states {w['states']}")
    snare = np.genfromtxt(a.dir / "analysis" / "snare.csv", delimiter=",", names=True, dtype=None, encoding=None)
    half = snare[snare["frame"] >= snare["frame"].max() // 2]
    for col in ("tmd_tilt_vamp2_deg", "tmd_tilt_syntaxin_deg", "linker_rel_ext_vamp2", "linker_rel_ext_syntaxin"):
        out["snare"][col] = float(np.nanmean(half[col]))
    print("  second half: " + ", ".join(f"{k} {v:.2f}" for k, v in out["snare"].items()))
    if manifest["geometry"] == "vesicle_planar":
        edges = np.arange(0.0, 9.0, 1.0)
        mean, sd = radial_profile(a.dir, edges)
        out["radial_profile"] = [{"r_nm": [float(lo), float(hi)], "gap_nm": [float(m), float(s)]}
                                 for lo, hi, m, s in zip(edges[:-1], edges[1:], mean, sd)]
        print("  radial profile, second half: " + ", ".join(
            f"{lo:.0f}-{hi:.0f} nm {m:.2f}" for lo, hi, m in zip(edges[:-1], edges[1:], mean)))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
