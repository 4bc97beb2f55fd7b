#!/usr/bin/env python
"""Throughput of the shipped fusion systems (SNARE complexes between membranes) on OpenMM.

LAMMPS has no SNARE model, so this bench has no side-by-side peer; the lipid-only comparison with
LAMMPS is ``bench_throughput.py`` / ``bench_formulations.py``. For each shipped spec given (default:
``quickstart``, ``snare_vesicle_planar``, ``snare_vesicle_vesicle``) and each platform, it

1. builds the system (``snarefuse.build.build_system``; build time recorded),
2. creates the run's OpenMM System exactly as ``snarefuse run`` does (barostat when the spec has
   one; Cooke pair force rewritten into ``--formulation``: ``default`` = the platform's fastest
   measured, ``as-built``, or a name), minimises, and
3. times a warm-up and ``--repeats`` chunks of Langevin dynamics at the spec's time step, reporting
   the median particle-steps/s, steps/s, tau/day and us/day (tau = 9.09 ps and the
   diffusion-calibrated 7.7 ns).

    python bench/bench_fusion.py                                  # CPU, all three systems
    python bench/bench_fusion.py --platforms CUDA --precision mixed single --json out.json
    python bench/bench_fusion.py --systems quickstart --anchor-strength 0 3   # cost of the TMD anchors

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
from snarefuse.formulations import FORMULATIONS, apply_formulation, default_formulation, formulation_of  # noqa: E402
from snarefuse.runner import add_barostat, available_platforms, minimize, platform_properties  # noqa: E402
from snarefuse.spec import example_spec_path, load_spec  # noqa: E402

SECONDS_PER_DAY = 86400.0
#: particle-steps per timed chunk (steps = budget / beads, at least MIN_STEPS)
BUDGET = 2.0e6
MIN_STEPS = 10


def bench_one(name: str, platform: str, precision: str, formulation: str, repeats: int, threads: int | None,
              budget: float, anchor_strength: float | None = None) -> dict:
    spec = load_spec(example_spec_path(name))
    if anchor_strength is not None:
        spec = spec.with_overrides({"system.snares.anchor_strength": anchor_strength})
    t0 = time.perf_counter()
    built = build_system(spec)
    build_s = time.perf_counter() - t0
    system = built.system
    add_barostat(system, spec.run, spec.model.temperature_k)
    form = default_formulation(platform) if formulation == "default" else formulation
    if form != "as-built":
        system = apply_formulation(system, form, platform=platform, copy=True)
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
    n = system.getNumParticles()
    steps = max(MIN_STEPS, int(budget / n))
    sim.step(max(1, steps // 2))  # warm-up: kernels compiled, neighbour lists sized
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sim.step(steps)
        sim.context.getState(getEnergy=True)  # wait for the device
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    sps = steps / med
    dt_tau = spec.run.timestep_ps / units.tau_ps
    return {"system": name, "anchor_strength": spec.system.snares.anchor_strength if spec.system.snares else None,
            "beads": n, "platform": platform, "precision": precision if platform in
            ("CUDA", "OpenCL", "HIP") else None, "formulation": formulation_of(system) or form,
            "threads": threads, "build_s": build_s, "steps_per_chunk": steps, "repeats": repeats,
            "spread": (max(times) - min(times)) / med, "steps_per_s": sps, "particle_steps_per_s": sps * n,
            "tau_per_day": sps * dt_tau * SECONDS_PER_DAY,
            "us_per_day_tau": sps * spec.run.timestep_ps * SECONDS_PER_DAY * 1e-6,
            "us_per_day_diffusion": sps * dt_tau * units.tau_diffusion_ns * 1e-3 * SECONDS_PER_DAY}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", nargs="+", default=["snare_two_bilayers", "snare_vesicle_planar", "snare_vesicle_vesicle"])
    ap.add_argument("--platforms", nargs="+", default=["CPU"])
    ap.add_argument("--precision", nargs="+", default=["mixed"])
    ap.add_argument("--formulation", default="default", choices=["default", "as-built", *FORMULATIONS])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="CPU platform threads")
    ap.add_argument("--budget", type=float, default=BUDGET, help="particle-steps per timed chunk")
    ap.add_argument("--anchor-strength", type=float, nargs="+", default=[None],
                    help="system.snares.anchor_strength values to run side by side (default: the spec's)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    rows = []
    print(f"{'system':<24}{'beads':>9} {'platform':<8}{'prec':<7}{'form':<12}{'build s':>8}{'M p-steps/s':>12}"
          f"{'steps/s':>9}{'tau/day':>10}{'us/day(D)':>10}")
    for name in a.systems:
        for plat in a.platforms:
            if plat not in available_platforms():
                print(f"{name:<24} {plat}: not available here, skipped")
                continue
            for prec, anchor in ((p, s) for p in (a.precision if plat in ("CUDA", "OpenCL", "HIP") else [None])
                                 for s in a.anchor_strength):
                r = bench_one(name, plat, prec or "mixed", a.formulation, a.repeats, a.threads, a.budget, anchor)
                rows.append(r)
                label = name if anchor is None else f"{name} anchor={anchor:g}"
                print(f"{label:<24}{r['beads']:>9} {plat:<8}{prec or '-':<7}{r['formulation']:<12}{r['build_s']:>8.1f}"
                      f"{r['particle_steps_per_s'] / 1e6:>12.3f}{r['steps_per_s']:>9.1f}{r['tau_per_day']:>10.3g}"
                      f"{r['us_per_day_diffusion']:>10.3g}", flush=True)
    if a.json:
        write_json(a.json, {"machine": machine_description(), "load_avg": os.getloadavg(),
                            "openmm": openmm.__version__, "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
