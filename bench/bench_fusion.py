#!/usr/bin/env python
"""Throughput of the shipped fusion systems (SNARE complexes between membranes) on OpenMM.

LAMMPS has no SNARE model, so this bench has no side-by-side peer; the lipid-only comparison with
LAMMPS is ``bench_throughput.py`` / ``bench_formulations.py``. For each shipped spec given (default:
``quickstart``, ``snare_vesicle_planar``, ``snare_vesicle_vesicle``) and each platform, it

1. builds the system (``snarefuse.build.build_system``; build time recorded),
2. creates the run's OpenMM System exactly as ``snarefuse run`` does (barostat when the spec has
   one; Cooke pair force rewritten into each ``--formulation``: ``default`` = the platform's fastest
   measured, ``as-built``, or names such as ``poly native``), minimises, and
3. times a warm-up and ``--repeats`` rounds of Langevin dynamics at the spec's time step, the formulations
   round-robin within each round (so background load hits each alike), reporting the median
   particle-steps/s, steps/s, tau/day and us/day (tau = 9.09 ps and the diffusion-calibrated 7.7 ns), and the
   particle-steps per second of process CPU time (less sensitive than wall time to other processes' load).

    python bench/bench_fusion.py                                  # CPU, all three systems
    python bench/bench_fusion.py --platforms CUDA --precision mixed single --json out.json
    python bench/bench_fusion.py --systems quickstart --anchor-strength 0 3   # cost of the TMD anchors
    python bench/bench_fusion.py --threads 1 --formulation poly native      # the native kernel against poly

Numbers go to stdout and, with ``--json``, to a file with the machine description.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import openmm
from openmm import app, unit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import machine_description, write_json  # noqa: E402

from snarefuse.build import build_system  # noqa: E402
from snarefuse.formulations import (  # noqa: E402
    FORMULATIONS,
    NATIVE_FORMULATION,
    apply_formulation,
    default_formulation,
    formulation_of,
)
from snarefuse.runner import add_barostat, available_platforms, minimize, platform_properties  # noqa: E402
from snarefuse.spec import example_spec_path, load_spec  # noqa: E402

SECONDS_PER_DAY = 86400.0
#: particle-steps per timed chunk (steps = budget / beads, at least MIN_STEPS)
BUDGET = 2.0e6
MIN_STEPS = 10


def _setup(built, spec, system_base, platform: str, precision: str, form: str, threads: int | None):
    """A minimised, warmed-up Simulation of one formulation (the System as ``snarefuse run`` sets it up)."""
    system = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system_base))
    if form != "as-built":
        system = apply_formulation(system, form, platform=platform)
    integrator = openmm.LangevinMiddleIntegrator(spec.model.temperature_k * unit.kelvin,
                                                 spec.run.friction_per_ps / unit.picosecond,
                                                 spec.run.timestep_ps * unit.picosecond)
    sim = app.Simulation(built.topology, system, integrator, openmm.Platform.getPlatformByName(platform),
                         platform_properties(platform, precision, None, threads))
    sim.context.setPositions(built.positions)
    sim.context.setPeriodicBoxVectors(*system.getDefaultPeriodicBoxVectors())
    units = spec.model.units
    minimize(sim.context, system, 10.0 * units.epsilon_kjmol / units.sigma_nm, max_iterations=500)
    sim.context.setVelocitiesToTemperature(spec.model.temperature_k * unit.kelvin, 1)
    return sim, system


def bench_system(name: str, platform: str, precision: str, formulations: list[str], repeats: int,
                 threads: int | None, budget: float, anchor_strength: float | None = None) -> list[dict]:
    """Every formulation of one system on one platform, timed round-robin (the same load hits each alike)."""
    spec = load_spec(example_spec_path(name))
    if anchor_strength is not None:
        spec = spec.with_overrides({"system.snares.anchor_strength": anchor_strength})
    t0 = time.perf_counter()
    built = build_system(spec)
    build_s = time.perf_counter() - t0
    base = built.system
    add_barostat(base, spec.run, spec.model.temperature_k)
    n = base.getNumParticles()
    steps = max(MIN_STEPS, int(budget / n))
    sims = {}
    for f in formulations:
        form = default_formulation(platform) if f == "default" else f
        sims[f] = _setup(built, spec, base, platform, precision, form, threads)
        sims[f][0].step(max(1, steps // 2))  # warm-up: kernels compiled, neighbour lists sized
    times: dict[str, list[float]] = {f: [] for f in formulations}
    cpu: dict[str, list[float]] = {f: [] for f in formulations}
    for rep in range(repeats):
        order = formulations[rep % len(formulations):] + formulations[:rep % len(formulations)]
        for f in order:
            sim = sims[f][0]
            t, c = time.perf_counter(), time.process_time()
            sim.step(steps)
            sim.context.getState(getEnergy=True)  # wait for the device
            times[f].append(time.perf_counter() - t)
            cpu[f].append(time.process_time() - c)
    units = spec.model.units
    dt_tau = spec.run.timestep_ps / units.tau_ps
    rows = []
    for f in formulations:
        sim, system = sims[f]
        med = statistics.median(times[f])
        sps = steps / med
        rows.append({
            "system": name, "anchor_strength": spec.system.snares.anchor_strength if spec.system.snares else None,
            "beads": n, "platform": platform, "precision": precision if platform in ("CUDA", "OpenCL", "HIP") else None,
            "formulation": formulation_of(system) or f, "threads": threads, "build_s": build_s,
            "steps_per_chunk": steps, "repeats": repeats, "times_s": times[f], "cpu_s": cpu[f],
            "spread": (max(times[f]) - min(times[f])) / med, "steps_per_s": sps, "particle_steps_per_s": sps * n,
            "particle_steps_per_cpu_s": steps * n / statistics.median(cpu[f]),
            "tau_per_day": sps * dt_tau * SECONDS_PER_DAY,
            "us_per_day_tau": sps * spec.run.timestep_ps * SECONDS_PER_DAY * 1e-6,
            "us_per_day_diffusion": sps * dt_tau * units.tau_diffusion_ns * 1e-3 * SECONDS_PER_DAY})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", nargs="+", default=["quickstart", "snare_vesicle_planar", "snare_vesicle_vesicle"])
    ap.add_argument("--platforms", nargs="+", default=["CPU"])
    ap.add_argument("--precision", nargs="+", default=["mixed"])
    ap.add_argument("--formulation", nargs="+", default=["default"],
                    choices=["default", "as-built", *FORMULATIONS, NATIVE_FORMULATION],
                    help="one or more, timed round-robin on each system (default: the platform's fastest)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="CPU platform threads")
    ap.add_argument("--budget", type=float, default=BUDGET, help="particle-steps per timed chunk")
    ap.add_argument("--anchor-strength", type=float, nargs="+", default=[None],
                    help="system.snares.anchor_strength values to run side by side (default: the spec's)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    rows = []
    print(f"{'system':<24}{'beads':>9} {'platform':<8}{'prec':<7}{'form':<12}{'build s':>8}{'M p-steps/s':>12}"
          f"{'steps/s':>9}{'tau/day':>10}{'us/day(D)':>10}{'M p-s/CPU-s':>12}")
    for name in a.systems:
        for plat in a.platforms:
            if plat not in available_platforms():
                print(f"{name:<24} {plat}: not available here, skipped")
                continue
            for prec, anchor in ((p, s) for p in (a.precision if plat in ("CUDA", "OpenCL", "HIP") else [None])
                                 for s in a.anchor_strength):
                for r in bench_system(name, plat, prec or "mixed", a.formulation, a.repeats, a.threads, a.budget,
                                      anchor):
                    rows.append(r)
                    label = name if anchor is None else f"{name} anchor={anchor:g}"
                    print(f"{label:<24}{r['beads']:>9} {plat:<8}{prec or '-':<7}{r['formulation']:<12}"
                          f"{r['build_s']:>8.1f}{r['particle_steps_per_s'] / 1e6:>12.3f}{r['steps_per_s']:>9.1f}"
                          f"{r['tau_per_day']:>10.3g}{r['us_per_day_diffusion']:>10.3g}"
                          f"{r['particle_steps_per_cpu_s'] / 1e6:>12.3f}", flush=True)
    if a.json:
        write_json(a.json, {"machine": machine_description(), "load_avg": os.getloadavg(),
                            "openmm": openmm.__version__, "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
