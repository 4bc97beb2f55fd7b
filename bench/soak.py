"""Soak test: run the quickstart fusion system for >= 10^6 steps on the CPU platform and record
energy drift and memory growth (outside the default test suite).

    python bench/soak.py --steps 1000000 --dir soak-run [--max-time "2 h"]

It is resumable (run the same command again after a kill or a --max-time stop): an existing soak
directory is resumed with the spec it was built with, even if the shipped quickstart has changed since. It writes
``soak-run/soak.json`` with the potential-energy trend (slope per 10^5 steps relative to the
mean, from log.csv), the temperature mean and spread, and resident memory (RSS) sampled every
report interval: first, last, max, and the slope in MiB per 10^5 steps.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPORT_INTERVAL = 5000  # steps between log.csv rows and memory samples


class MemoryReporter:
    """Samples this process's resident memory every ``interval`` steps (OpenMM reporter protocol)."""

    def __init__(self, interval: int):
        self.interval = interval
        self.samples: list[tuple[int, float]] = []

    def describeNextReport(self, simulation):  # noqa: N802
        return {"steps": self.interval - simulation.currentStep % self.interval, "periodic": True, "include": []}

    def report(self, simulation, state) -> None:
        with open("/proc/self/statm") as f:
            rss_pages = int(f.read().split()[1])
        self.samples.append((simulation.currentStep, rss_pages * resource.getpagesize() / 2**20))


def main() -> None:
    from snarefuse.build import build_system
    from snarefuse.runner import run_simulation
    from snarefuse.spec import example_spec_path, load_spec, parse_quantity

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--dir", default="soak-run")
    ap.add_argument("--max-time", default=None, help="stop cleanly after this wall time, e.g. '2 h'")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.steps < 3 * REPORT_INTERVAL:
        ap.error(f"--steps must be at least {3 * REPORT_INTERVAL} (three report intervals of {REPORT_INTERVAL} "
                 f"steps, the fewest rows an energy trend can be fitted to); got {args.steps}")

    d = Path(args.dir)
    if (d / "spec.yaml").exists():
        # resume the soak that is there, with the spec it was built with (the shipped quickstart may
        # have changed since; rebuilding would be refused, and must not replace a soak in progress)
        print(f"resuming the soak in {d} (its own spec.yaml)", file=sys.stderr)
    else:
        build_system(load_spec(example_spec_path("snare_two_bilayers")).with_overrides(
            {"run.steps": args.steps, "run.report_interval": REPORT_INTERVAL, "run.trajectory_interval": 50000,
             "run.checkpoint_interval": 50000, "run.platform": "CPU"})).save(d)
    mem = MemoryReporter(REPORT_INTERVAL)
    wall = None if args.max_time is None else parse_quantity(args.max_time, "wallclock", "--max-time")
    t0 = time.time()
    r = run_simulation(d, steps=args.steps, max_wall_time_s=wall, threads=args.threads, progress=sys.stderr.isatty(),
                       extra_reporters=[mem])
    elapsed = time.time() - t0

    log = np.atleast_1d(np.genfromtxt(d / "log.csv", delimiter=",", names=True))
    if log.size == 0:
        sys.exit(f"{d / 'log.csv'} has no rows yet (the run stopped before its first report); run again to extend it")
    keep = log["step"] > 0.1 * log["step"].max()  # skip the first 10 % (relaxation from the lattice)
    steps, pe = log["step"][keep], log["potential_energy_kjmol"][keep]
    slope = float(np.polyfit(steps, pe, 1)[0]) * 1e5 if len(steps) > 2 else float("nan")
    mem_arr = np.array(mem.samples)
    prev = json.loads((d / "soak.json").read_text()) if (d / "soak.json").exists() else {}
    memory = prev.get("memory_segments", [])
    if len(mem_arr):
        mslope = float(np.polyfit(mem_arr[:, 0], mem_arr[:, 1], 1)[0]) * 1e5 if len(mem_arr) > 2 else float("nan")
        memory.append({"from_step": int(mem_arr[0, 0]), "to_step": int(mem_arr[-1, 0]),
                       "rss_first_mib": float(mem_arr[0, 1]), "rss_last_mib": float(mem_arr[-1, 1]),
                       "rss_max_mib": float(mem_arr[:, 1].max()), "rss_slope_mib_per_1e5_steps": mslope,
                       "samples_step_mib": [[int(a), round(float(b), 3)] for a, b in mem_arr]})
    out = {
        "machine": {"node": platform.node(), "processor": platform.processor(), "python": sys.version.split()[0]},
        "status": r.status, "step": r.step, "target_steps": r.target_steps, "platform": r.platform,
        "last_segment_seconds": elapsed, "steps_per_second_last_segment": r.steps_per_second,
        "potential_energy_mean_kjmol": float(pe.mean()),
        "potential_energy_slope_per_1e5_steps_relative": slope / float(pe.mean()),
        "temperature_mean_k": float(log["temperature_k"][keep].mean()),
        "temperature_std_k": float(log["temperature_k"][keep].std()),
        "memory_segments": memory,
    }
    (d / "soak.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
