#!/usr/bin/env python
"""First-passage times of a fusion example over several seeds: does it fuse, and when.

Builds a shipped example (or a spec file) once per seed (``seed`` overridden, every other field as shipped),
runs each with ``--stop-after-pore`` through the in-run fusion reporter on the CPU platform, analyses each run
with ``snarefuse analyze`` and writes one JSON with, per seed, the first-passage time of every fusion state
(τ and diffusion-calibrated ns), whether a rupture was seen, the smallest gap, the steps run, the wall time and
the steps per second; over seeds, how many reached each state; and ``analysis_rule``, the rule of the analysis
that called those states (its flicker rule and fusion-pore thresholds, read from the runs' ``summary.json``).
Run directories that exist are resumed, so an interrupted bench continues where it stopped.

    python bench/fusion_seeds.py fusion_planar_control --seeds 1 2 3 4 5 --jobs 2 --threads 1 \\
        --dir /tmp/fusion-seeds --out bench/results/fusion_seeds_planar_control.json
    python bench/fusion_seeds.py quickstart --seeds 1 2 3 4 5 --set system.snares.n_complexes=0 ...

``--set key=value`` overrides a spec field (YAML value), e.g. ``run.barostat.surface_tension="30 mN/m"``.
Results and their reading: docs/fusion.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from snarefuse.spec import example_spec_path, load_spec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import machine_description, write_json  # noqa: E402  (bench/ is not a package)

STATES = ("stalk", "hemifused", "pore", "expanded_pore")
#: The stop after the in-run pore. The analysis confirms a pore on 3 consecutive frames (its flicker rule) and,
#: by the same hold rule as the in-run check, keeps one whose rim seal flickers about its threshold; but its grid
#: sits differently from the in-run check's and can miss the hole, or find it not yet sealed, on the check's
#: first frame (the designs W80s105 seeds 1 and 5 of bench/results/fusion_seeds_planar_disc_designs.json,
#: stopped 10 tau after the in-run pore, have 2 analysed pore frames and no pore called). At 5 tau between
#: frames the default leaves 6 frames from the in-run pore for the analysis' 3.
DEFAULT_DELAY = "25 tau"


def spec_for(example: str, seed: int, overrides: dict[str, Any]) -> Any:
    path = Path(example)
    if not path.exists():
        path = example_spec_path(example)
    return load_spec(path).with_overrides({**overrides, "seed": seed})


def analysis_rule(fusion: dict[str, Any]) -> dict[str, Any]:
    """The rule of the analysis that called a run's states, from the ``fusion`` part of its ``summary.json``."""
    from snarefuse.analysis.zone import HOLD_AFTER_FRAMES

    thresholds = fusion["thresholds"]
    persist, seal, hold = fusion["persist_frames"], thresholds["min_rim_seal"], thresholds.get("hold_rim_seal")
    pore = f"a hole through both membranes is a fusion pore when its rim seal is >= {seal}"
    if hold is None:
        pore += " (no hold rule)"
    else:
        pore += (f", and stays one while the hole overlapping it stays open and its seal stays >= {hold}, once it "
                 f"has been one on {HOLD_AFTER_FRAMES} consecutive analysed frames (hold rule)")
    return {"persist_frames": persist, "min_rim_seal": seal, "hold_rim_seal": hold,
            "hold_after_frames": None if hold is None else HOLD_AFTER_FRAMES,
            "rule": f"snarefuse analyze: {pore}; {fusion['flicker_rule']}"}


def run_one(example: str, seed: int, overrides: dict[str, Any], root: str, threads: int, delay: str,
            steps: int | None) -> dict[str, Any]:
    from snarefuse.analysis.pipeline import analyze_run
    from snarefuse.build import build_system
    from snarefuse.events import FusionEventReporter
    from snarefuse.runner import run_simulation

    d = Path(root) / f"seed{seed}"
    build_system(spec_for(example, seed, overrides)).save(d)
    events = FusionEventReporter.from_run(d, delay)
    t0 = time.perf_counter()
    r = run_simulation(d, steps=steps, platform="CPU", threads=threads, extra_reporters=[events], progress=False)
    wall = time.perf_counter() - t0
    analyze_run(d, figures=False)
    fusion = json.loads((d / "analysis" / "summary.json").read_text())["fusion"]
    fp = fusion["first_passage"]
    return {"seed": seed, "dir": str(d), "status": r.status, "steps": r.step, "wall_s": round(wall, 1),
            "steps_per_second": round(r.steps_per_second, 2),
            "in_run_pore_step": events.event.step if events.event is not None else None,
            "first_passage_tau": {s: fp.get(s, {}).get("time_tau") for s in STATES},
            "first_passage_physical_ns": {s: fp.get(s, {}).get("time_physical_ns") for s in STATES},
            "rupture_tau": (fp.get("rupture") or {}).get("time_tau"), "ruptured": bool(fusion.get("ruptured")),
            "max_state": fusion.get("max_state_reached"), "min_gap_nm": fusion.get("min_gap_nm"),
            "analysis_rule": analysis_rule(fusion)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("example", help="shipped example name or spec file")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--dir", required=True, help="parent of the run directories (seed<N>/)")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    ap.add_argument("--delay", default=DEFAULT_DELAY,
                    help="stop this long after the in-run pore (--stop-after-pore); the default leaves the "
                         "analysis' 3-frame flicker rule a margin of frames, as its grid can miss the pore on the "
                         "in-run check's first frame")
    ap.add_argument("--steps", type=int, default=None, help="most steps per run (default: the spec's run.steps)")
    a = ap.parse_args(argv)
    overrides: dict[str, Any] = {}
    for kv in a.sets:
        key, sep, value = kv.partition("=")
        if not sep:
            ap.error(f"--set {kv!r}: expected KEY=VALUE")
        overrides[key] = yaml.safe_load(value)
    spec = spec_for(a.example, a.seeds[0], overrides)  # refuse a bad spec before starting anything
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        futures = [pool.submit(run_one, a.example, s, overrides, a.dir, a.threads, a.delay, a.steps)
                   for s in a.seeds]
        runs = []
        for f in futures:
            runs.append(f.result())
            print(json.dumps(runs[-1]), flush=True)
    rules = [r.pop("analysis_rule") for r in runs]
    if any(rule != rules[0] for rule in rules):
        raise SystemExit(f"the runs were analysed with different rules: {rules}")
    n = len(runs)
    machine = machine_description()
    reached = {s: sum(r["first_passage_tau"][s] is not None for r in runs) for s in STATES}
    out = {"example": a.example, "overrides": overrides, "seeds": a.seeds, "steps_per_run": spec.run.steps,
           "tau_ps": spec.model.units.tau_ps, "delay": a.delay, "threads": a.threads, "jobs": a.jobs,
           "machine": machine, "cpu": machine["cpu_model"],
           "reached": {s: f"{k}/{n}" for s, k in reached.items()},
           "ruptured": f"{sum(r['ruptured'] for r in runs)}/{n}", "analysis_rule": rules[0], "runs": runs,
           "command": "python bench/fusion_seeds.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    write_json(Path(a.out), out)
    print(json.dumps({k: out[k] for k in ("example", "reached", "ruptured", "cpu")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
