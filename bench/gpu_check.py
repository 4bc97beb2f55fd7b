#!/usr/bin/env python
"""The GPU check: build the native plugin, run the GPU platform's tests, benchmark the pair formulations.

One short run (under 8 minutes on one H100/H200) for a machine with a GPU; ``bench/gpu_check.sh`` sets up the
environment (the carried openmm wheels, the CUDA libraries) and calls this. Stages, each under its own time limit
so that a slow one cannot take the others' time:

1. ``python -m snarefuse.native build``: the plugin against this machine's OpenMM (CUDA kernel included where
   libOpenMMCUDA and cuda.h are found) and ``native status``;
2. the platform's tests of the native kernel, the formulations and the forces (``pytest -k <platform>``) with
   ``SNAREFUSE_REQUIRE_PLATFORMS=<platform>``, so that a platform which does not run fails instead of skipping;
3. ``bench_fusion.py``: the vesicle-vesicle fusion system (~105k beads), every formulation timed round-robin in
   one process per precision;
4. ``bench_throughput.py``: the 30k-bead bilayer, one invocation per formulation and precision (it takes one
   formulation at a time), with enough steps per repeat for a GPU (its default step budget is sized for a CPU);
5. a summary in particle-steps/s next to the HOOMD-blue anchors and the goal (``SUMMARY``), also as JSON.

Everything goes to ``--out`` (``$OUT`` on the device machine): ``gpu_check.log`` is written by the shell wrapper;
this writes ``fusion.json``, ``throughput.json`` and ``summary.json``.

    python bench/gpu_check.py --out /tmp/gpu                              # CUDA, the full check
    python bench/gpu_check.py --platform OpenCL --sizes 3000 --systems quickstart --budget 2e4 --steps 20 \\
        --formulations native poly --precisions single --pytest-k "OpenCL and gradient" --out /tmp/dry   # dry run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TESTS = ["tests/test_native.py", "tests/test_formulations.py", "tests/test_forces.py"]
FORMULATIONS = ["native", "poly", "expression"]
PRECISIONS = ["single", "mixed"]
#: Reference points in particle-steps/s (hoomd-blue's release benchmark tables: an A100, 64k particles, LJ with a
#: 2.5 sigma cutoff) and the goal for the vesicle-vesicle system on an H100.
ANCHORS = {"HOOMD-blue MDPairLJ, A100, 64k": 2.8e8, "HOOMD-blue MDPairTable, A100, 64k": 2.0e8}
GOAL = {"system": "snare_vesicle_vesicle", "particle_steps_per_s": 3.0e8, "device": "H100"}
#: Time limits per stage (s); the whole check stays under 8 minutes.
LIMITS = {"build": 90, "tests": 120, "fusion": 150, "throughput": 100}


def _run(stage: str, cmd: list[str], limit: float, env: dict | None = None) -> dict:
    """Run one stage with its output streamed; a stage over its limit is stopped and recorded as such."""
    print(f"\n===== {stage}: {' '.join(cmd)} (limit {limit:.0f} s)", flush=True)
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=limit).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    seconds = time.perf_counter() - t0
    print(f"===== {stage}: exit {rc} after {seconds:.0f} s", flush=True)
    return {"stage": stage, "command": cmd, "exit": rc, "seconds": round(seconds, 1)}


def _bench_json(stages: list[dict], stage: str, cmd: list[str], path: Path, deadline: float) -> dict | None:
    """Run one benchmark invocation with what is left before ``deadline`` and return the JSON it wrote to ``path``
    (removed once read: the caller merges it, as $OUT returns at most 8 files); None where no time was left or it
    wrote none."""
    left = deadline - time.perf_counter()
    if left < 5:
        stages.append({"stage": stage, "exit": "no time left"})
        return None
    stages.append(_run(stage, cmd, left))
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    path.unlink()
    return data


def _throughput_rows(data: dict, formulation: str, precision: str) -> list[dict]:
    rows = []
    for system in data.get("systems", []):
        for row in system.get("rows", []):
            if row["label"].startswith("snarefuse"):
                rows.append({"bench": "bench_throughput", "system": f"bilayer {system['n_beads']}",
                             "beads": system["n_beads"], "formulation": formulation, "precision": precision,
                             "particle_steps_per_s": row["particle_steps_per_s"],
                             "steps_per_s": row["steps_per_s"]})
    return rows


def _summary(rows: list[dict], platform: str, device: str) -> list[str]:
    lines = [f"GPU check summary: {platform} on {device}",
             f"{'bench':<17}{'system':<24}{'beads':>8} {'form':<11}{'prec':<7}{'particle-steps/s':>17}"
             f"{'vs LJ anchor':>13}{'vs goal':>9}"]
    lj = ANCHORS["HOOMD-blue MDPairLJ, A100, 64k"]
    for r in rows:
        goal = (f"{r['particle_steps_per_s'] / GOAL['particle_steps_per_s']:.2f}"
                if r["system"] == GOAL["system"] else "")
        lines.append(f"{r['bench']:<17}{r['system']:<24}{r['beads']:>8} {r['formulation']:<11}{r['precision']:<7}"
                     f"{r['particle_steps_per_s']:>17.3e}{r['particle_steps_per_s'] / lj:>13.2f}{goal:>9}")
    lines += [f"anchor: {name}: {value:.1e} particle-steps/s" for name, value in ANCHORS.items()]
    lines.append(f"goal: >= {GOAL['particle_steps_per_s']:.0e} particle-steps/s for {GOAL['system']} on an "
                 f"{GOAL['device']} (vs goal = measured / goal; compare like devices only)")
    return lines


def _device_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip() or "no nvidia-smi output"
    except (OSError, subprocess.TimeoutExpired):
        return "no nvidia-smi (no NVIDIA GPU)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", BENCH / "results")),
                    help="where the JSON goes (default $OUT, else bench/results)")
    ap.add_argument("--platform", default="CUDA")
    ap.add_argument("--formulations", nargs="+", default=FORMULATIONS)
    ap.add_argument("--precisions", nargs="+", default=PRECISIONS)
    ap.add_argument("--sizes", nargs="+", type=int, default=[30000], help="bench_throughput bilayer bead counts")
    ap.add_argument("--steps", type=int, default=2000, help="bench_throughput steps per timed repeat")
    ap.add_argument("--systems", nargs="+", default=["snare_vesicle_vesicle"], help="bench_fusion systems")
    ap.add_argument("--budget", type=float, default=1e8,
                    help="bench_fusion particle-steps per timed chunk (1e8: ~950 steps of the 105k system)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pytest-k", default=None, help="test selection (default: the platform's name)")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "plugin" / "build", help="CMake build directory")
    ap.add_argument("--skip", nargs="*", default=[], choices=list(LIMITS), help="stages to leave out")
    a = ap.parse_args(argv)
    for name, value in (("--steps", a.steps), ("--repeats", a.repeats), ("--budget", a.budget)):
        if value <= 0:
            ap.error(f"{name} must be > 0, got {value}")
    a.out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    device = _device_name()
    print(f"GPU check on {device}; platform {a.platform}; out {a.out}", flush=True)
    stages = []
    if "build" not in a.skip:
        stages.append(_run("build", [py, "-m", "snarefuse.native", "build", "--build-dir", str(a.build_dir),
                                     "--jobs", str(os.cpu_count() or 2)],
                           LIMITS["build"]))
    if "tests" not in a.skip:
        env = dict(os.environ, SNAREFUSE_REQUIRE_PLATFORMS=a.platform)
        stages.append(_run("tests", [py, "-m", "pytest", *TESTS, "-q", "-rs", "-k", a.pytest_k or a.platform,
                                     "-p", "no:cacheprovider"], LIMITS["tests"], env))
    rows = []
    if "fusion" not in a.skip:
        # one invocation per precision (every formulation round-robin within it), single first: a precision that
        # runs out of time loses only its own figures
        fusion = {}
        deadline = time.perf_counter() + LIMITS["fusion"]
        for precision in a.precisions:
            path = a.out / f"fusion_{precision}.json"
            data = _bench_json(stages, f"fusion {precision}", [
                py, str(BENCH / "bench_fusion.py"), "--systems", *a.systems, "--platforms", a.platform,
                "--precision", precision, "--formulation", *a.formulations, "--repeats", str(a.repeats),
                "--budget", f"{a.budget:g}", "--json", str(path)], path, deadline)
            if data is not None:
                fusion[precision] = data
                for r in data.get("results", []):
                    rows.append({"bench": "bench_fusion", "system": r["system"], "beads": r["beads"],
                                 "formulation": r["formulation"], "precision": r["precision"] or "-",
                                 "particle_steps_per_s": r["particle_steps_per_s"], "steps_per_s": r["steps_per_s"]})
        (a.out / "fusion.json").write_text(json.dumps(fusion, indent=1) + "\n")
    throughput = {}
    if "throughput" not in a.skip:
        # one shared limit: each invocation may use what the ones before it left
        deadline = time.perf_counter() + LIMITS["throughput"]
        for precision in a.precisions:
            for form in a.formulations:
                path = a.out / f"throughput_{form}_{precision}.json"
                data = _bench_json(stages, f"throughput {form} {precision}", [
                    py, str(BENCH / "bench_throughput.py"), "--sizes", *map(str, a.sizes), "--platforms", a.platform,
                    "--precision", precision, "--formulation", form, "--steps", str(a.steps),
                    "--repeats", str(a.repeats), "--equilibrate", "0", "--json", str(path)], path, deadline)
                if data is not None:
                    throughput[f"{form} {precision}"] = data
                    rows += _throughput_rows(data, form, precision)
        (a.out / "throughput.json").write_text(json.dumps(throughput, indent=1) + "\n")
    lines = _summary(rows, a.platform, device)
    print("\n" + "\n".join(lines))
    (a.out / "summary.json").write_text(json.dumps(
        {"device": device, "platform": a.platform, "stages": stages, "rows": rows, "anchors": ANCHORS,
         "goal": GOAL}, indent=1) + "\n")
    failed = [s["stage"] for s in stages if s["exit"] != 0]
    if failed:
        print(f"stages that failed or ran out of time: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
