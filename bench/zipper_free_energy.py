#!/usr/bin/env python
"""Zippering free energy of one SNARE complex in the snarefuse protein model, against the measured
~35 kT (calorimetry) to ~65 kT (optical tweezers, Gao et al., Science 337, 1340, 2012); docs/model.md.

The system is one fully zipped complex (``build_snare_complex()``, layers -7..+8, default linkers
and TMDs), with the protein force field exactly as the builder adds it (helix bonded terms, coil
bonds, Go native contacts of depth ``eps`` per contact, protein WCA) and no membranes. The
N-terminal residues of VAMP2, SN1 and SN2 are tethered to syntaxin's (flat-bottom, beyond 2 nm) as the
N-terminal crosslink of the tweezers constructs does, so "unzipped" means helices apart but tethered,
not dissociated (whose free energy would depend on the box).

Method (thermodynamic integration along the contact depth, with a coexistence point):

* every frame is classified by its zipped layers (a layer is zipped when >= half its native
  contacts are within 1.5 r0): *zipped* with >= 8 of the 16 layers, else *unzipped*;
* for each depth ``eps`` on a grid, one run starts from the ideal bundle and one from a melted
  complex (``--premelt`` steps at 0.1 of the depth); the second halves of both are pooled;
* the coexistence depth ``eps*`` is where the pooled zipped fraction crosses 1/2; there
  ``G_zipped = G_unzipped``;
* the energy is ``H = H0 + eps * u`` with ``u = sum over contacts of 5 x^6 - 6 x^5`` (x = (r0/r)^2), so
  ``d(G_zipped - G_unzipped)/d eps = <u>_zipped - <u>_unzipped``, exactly, and
  ``dG(eps) = integral from eps* to eps of (<u>_z - <u>_u)`` (trapezoid on the grid; a state not
  visited at some depth takes the straight-line fit of its <u> over the depths where it was);
* check: inside the transition region the same dG follows from the populations,
  ``-ln(f / (1 - f))`` (kT); both are printed side by side.

    python bench/zipper_free_energy.py                       # grid 0.5..1.2 kT, ~12 min on one core
    python bench/zipper_free_energy.py --eps 0.6 0.8 1.0 --steps 20000 --json out.json
    python bench/zipper_free_energy.py --reanalyse a.json b.json --json pooled.json   # pool stored runs

Recorded (2-core AMD EPYC, OpenMM 8.6.1, CPU platform): ``results/zipper_free_energy.json`` (0.5-1.2 kT,
2 seeds), ``results/zipper_free_energy_high.json`` (1.4-1.8 kT), pooled in
``results/zipper_free_energy_pooled.json``: coexistence at 0.56 kT per contact; 16-25 kT released at
1.0 kT, 37-62 kT at 1.4 kT (the default), over three state definitions and two extrapolations.

Writes ``bench/results/zipper_free_energy.json`` by default.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import openmm
from openmm import unit
from scipy.integrate import cumulative_trapezoid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import machine_description, write_json  # noqa: E402

from snarefuse import forces  # noqa: E402
from snarefuse.build import snare as snare_geometry  # noqa: E402
from snarefuse.spec import example_spec_path, load_spec  # noqa: E402
from snarefuse.units import ReducedUnits  # noqa: E402

TETHER_NM = 2.0
TETHER_K = 500.0  # kJ/mol/nm^2
FORMED = 1.5  # a contact is formed within FORMED * r0
ZIPPED_LAYERS = 8  # a frame is "zipped" with at least this many zipped layers (of 16)
PREMELT_SCALE = 0.1


def tethered_complex(eps_kt: float, ru: ReducedUnits):
    """OpenMM System of one tethered complex, its native pairs, r0 and the layer of each pair."""
    c = snare_geometry.build_snare_complex()
    system, pairs, r0 = forces.free_complex_system(c, contact_epsilon_kjmol=eps_kt * ru.kt_kjmol,
                                                   wca_epsilon_kjmol=ru.epsilon_kjmol)
    tether = openmm.CustomBondForce("step(r - rt) * 0.5 * kt * (r - rt)^2")
    tether.addGlobalParameter("rt", TETHER_NM)
    tether.addGlobalParameter("kt", TETHER_K)
    bundle = c.bundle_indices()
    first = {ch: int(bundle[c.chain_ids[bundle] == ch][0]) for ch in "ABCD"}
    for ch in "ACD":
        tether.addBond(first[ch], first["B"], [])
    system.addForce(tether)
    return system, c, pairs, r0, c.layers[pairs[:, 0]]


def start(system: openmm.System, complex, seed: int, threads: int, ru: ReducedUnits):
    """Langevin dynamics at the lipids' time step (0.01 tau) and friction (1/tau) on the CPU platform, from the
    ideal bundle; returns (integrator, context)."""
    integrator = openmm.LangevinMiddleIntegrator(ru.temperature_k, 1.0 / ru.tau_ps, 0.01 * ru.tau_ps)
    integrator.setRandomNumberSeed(seed)
    ctx = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"), {"Threads": str(threads)})
    ctx.setPositions(complex.positions)
    ctx.setVelocitiesToTemperature(ru.temperature_k, seed)
    return integrator, ctx


def zipped_layer_count(formed: np.ndarray, layer: np.ndarray) -> int:
    """Layers with at least half of their native contacts formed (``formed`` and ``layer`` per contact)."""
    return int(sum(formed[layer == L].mean() >= 0.5 for L in np.unique(layer)))


def sample(eps_kt: float, steps: int, every: int, premelt: int, seed: int, threads: int, ru: ReducedUnits) -> dict:
    """One run; per sampled frame: Q, number of zipped layers, u (dimensionless contact sum)."""
    system, c, pairs, r0, layer = tethered_complex(eps_kt, ru)
    integrator, ctx = start(system, c, seed, threads, ru)
    if premelt:
        ctx.setParameter("snare_contact_scale", PREMELT_SCALE)
        integrator.step(premelt)
        ctx.setParameter("snare_contact_scale", 1.0)
    q, nz, u = [], [], []
    t0 = time.time()
    for _ in range(steps // every):
        integrator.step(every)
        pos = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        d = np.linalg.norm(pos[pairs[:, 0]] - pos[pairs[:, 1]], axis=1)
        formed = d < FORMED * r0
        x = (r0 / d) ** 2
        q.append(float(formed.mean()))
        nz.append(zipped_layer_count(formed, layer))
        u.append(float(np.sum(5 * x**6 - 6 * x**5)))
    return {"eps_kt": eps_kt, "start": "melted" if premelt else "zipped", "seed": seed, "steps": steps,
            "seconds": round(time.time() - t0, 1), "q": q, "zipped_layers": nz, "u": u}


def analyse(runs: list[dict], zipped_min: int = ZIPPED_LAYERS, unzipped_max: int = ZIPPED_LAYERS - 1,
            extrapolate: str = "linear") -> dict:
    """Coexistence depth, <u> per state, TI free energy and the population check.

    A frame is *zipped* with >= ``zipped_min`` zipped layers and *unzipped* with <= ``unzipped_max``;
    frames in between belong to neither state (the identities used hold for any two disjoint sets of
    configurations). ``fraction_zipped`` is p_zipped / (p_zipped + p_unzipped). Where a state is not
    visited at a depth, its <u> is extrapolated: ``"linear"`` (straight-line fit over the depths where it
    was) or ``"hold"`` (the value at the nearest depth where it was). For the unzipped state at high
    depth the two bracket the truth: its <u> cannot keep falling linearly (at most a few layers' worth
    of contacts), nor stay exactly where it was at lower depth.
    """
    if extrapolate not in ("linear", "hold"):
        raise ValueError(f"extrapolate: {extrapolate!r}; accepted: 'linear', 'hold'")
    grid = sorted({r["eps_kt"] for r in runs})
    rows = []
    for e in grid:
        nz = np.concatenate([np.array(r["zipped_layers"][len(r["zipped_layers"]) // 2:]) for r in runs if r["eps_kt"] == e])
        u = np.concatenate([np.array(r["u"][len(r["u"]) // 2:]) for r in runs if r["eps_kt"] == e])
        z, un = nz >= zipped_min, nz <= unzipped_max
        rows.append({"eps_kt": e, "frames": len(z), "frames_zipped": int(z.sum()), "frames_unzipped": int(un.sum()),
                     "fraction_zipped": float(z.sum() / max(1, z.sum() + un.sum())),
                     "u_zipped": float(u[z].mean()) if z.sum() >= 5 else None,
                     "u_unzipped": float(u[un].mean()) if un.sum() >= 5 else None})
    eps = np.array(grid)
    f = np.array([r["fraction_zipped"] for r in rows])
    cross = [i for i in range(len(f) - 1) if f[i] <= 0.5 <= f[i + 1] and f[i] < f[i + 1]]
    if not cross:
        raise SystemExit(f"the zipped fraction does not cross 1/2 on this grid: {dict(zip(grid, f.round(2)))}")
    i = cross[0]
    eps_star = float(eps[i] + (0.5 - f[i]) * (eps[i + 1] - eps[i]) / (f[i + 1] - f[i]))

    def filled(key: str) -> np.ndarray:
        have = np.array([r[key] is not None for r in rows])
        vals = np.array([r[key] if r[key] is not None else np.nan for r in rows], float)
        if extrapolate == "linear" and have.sum() >= 2:
            a, b = np.polyfit(eps[have], vals[have], 1)
            vals[~have] = a * eps[~have] + b
        elif have.any():
            idx = np.flatnonzero(have)
            for k in np.flatnonzero(~have):
                vals[k] = vals[idx[np.argmin(np.abs(idx - k))]]
        return vals

    du = filled("u_zipped") - filled("u_unzipped")
    fine = np.unique(np.concatenate([eps, [eps_star]]))
    dg = cumulative_trapezoid(np.interp(fine, eps, du), fine, initial=0.0)
    dg -= dg[np.flatnonzero(fine == eps_star)[0]]  # dG(eps*) = 0
    dg_grid = np.interp(eps, fine, dg)
    for r, g, d in zip(rows, dg_grid, du):
        r["du"] = float(d)
        r["dG_zip_kT_TI"] = float(g)  # G_zipped - G_unzipped; negative: zipping is favourable
        ff = r["fraction_zipped"]
        r["dG_zip_kT_populations"] = float(-math.log(ff / (1 - ff))) if 0.02 < ff < 0.98 else None
    released = -dg_grid
    out = {"zipped_min_layers": zipped_min, "unzipped_max_layers": unzipped_max, "extrapolate": extrapolate,
           "eps_star_kt": eps_star, "rows": rows}
    for target in (35.0, 65.0):
        out[f"eps_for_{int(target)}_kT"] = float(np.interp(target, released, eps)) if released.max() >= target else None
    if 1.0 in grid:
        out["released_at_1kT"] = float(released[grid.index(1.0)])
    return out


#: (zipped_min, unzipped_max) state definitions reported; the first is the headline.
DEFINITIONS = ((ZIPPED_LAYERS, ZIPPED_LAYERS - 1), (12, 4), (14, 2))


def report(res: dict) -> None:
    print(f"\nzipped: >= {res['zipped_min_layers']} layers, unzipped: <= {res['unzipped_max_layers']}, "
          f"<u> extrapolated: {res['extrapolate']}; "
          f"coexistence depth eps* = {res['eps_star_kt']:.3f} kT per contact")
    print(" eps   f_zip   <u>_z    <u>_u    dG_TI   dG_pop   (kT; dG = G_zipped - G_unzipped)")
    for r in res["rows"]:
        fmt = lambda v: "   --  " if v is None else f"{v:7.1f}"  # noqa: E731
        print(f"{r['eps_kt']:5.2f} {r['fraction_zipped']:6.2f} {fmt(r['u_zipped'])} {fmt(r['u_unzipped'])} "
              f"{r['dG_zip_kT_TI']:7.1f} {fmt(r['dG_zip_kT_populations'])}")
    if "released_at_1kT" in res:
        print(f"zippering free energy at 1 kT per contact: {res['released_at_1kT']:.1f} kT")
    print(f"depth for 35 kT: {res['eps_for_35_kT']}, for 65 kT: {res['eps_for_65_kT']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eps", type=float, nargs="+",
                    default=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.0, 1.1, 1.2], help="contact depths, kT")
    ap.add_argument("--steps", type=int, default=40000, help="steps per run (0.01 tau)")
    ap.add_argument("--premelt", type=int, default=20000, help="steps at 0.1 x depth before a 'melted' start")
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=1, help="runs per start and depth")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reanalyse", type=Path, nargs="+",
                    help="analyse the runs stored in these results JSONs (pooled) instead of running")
    ap.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "results" / "zipper_free_energy.json")
    args = ap.parse_args()
    if args.reanalyse:
        stored = [json.loads(p.read_text()) for p in args.reanalyse]
        runs = [r for st in stored for r in st["runs"]]
        header = {"machine": stored[0]["machine"], "openmm": stored[0]["openmm"],
                  "settings": [st["settings"] for st in stored], "pooled_from": [str(p) for p in args.reanalyse]}
    else:
        ru = load_spec(example_spec_path("snare_two_bilayers")).model.units  # sigma 0.88 nm, 310 K, kT = 1.1 eps, 250 amu
        runs = []
        for e in args.eps:
            for seed in range(1, args.seeds + 1):
                for premelt in (0, args.premelt):
                    r = sample(e, args.steps, args.every, premelt, seed, args.threads, ru)
                    h = len(r["q"]) // 2
                    print(f"eps {e:5.2f} kT  start {r['start']:6s} seed {seed}: Q {np.mean(r['q'][h:]):.2f}  zipped "
                          f"layers {np.mean(r['zipped_layers'][h:]):5.2f}  <u> {np.mean(r['u'][h:]):7.1f}  "
                          f"({r['seconds']} s)", flush=True)
                    runs.append(r)
        header = {"machine": machine_description(), "openmm": openmm.__version__,
                  "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    results = []
    for zmin, umax in DEFINITIONS:
        for how in ("linear", "hold"):
            try:
                res = analyse(runs, zmin, umax, how)
            except SystemExit as e:
                print(f"\nzipped >= {zmin}, unzipped <= {umax}: {e}")
                break
            report(res)
            results.append(res)
    got = [r["released_at_1kT"] for r in results if "released_at_1kT" in r]
    if got:
        print(f"\nall definitions: {min(got):.1f}-{max(got):.1f} kT released at 1 kT per contact")
    for t in (35, 65):
        got = [r[f"eps_for_{t}_kT"] for r in results if r.get(f"eps_for_{t}_kT") is not None]
        if got:
            print(f"depth for {t} kT: {min(got):.2f}-{max(got):.2f} kT per contact")
    out = {"bench": "zipper_free_energy", **header, "tether_nm": TETHER_NM, "formed_factor": FORMED,
           "definitions": results}
    if not args.reanalyse:  # a re-analysis points to its sources instead of copying their runs
        out["runs"] = runs
    write_json(args.json, out)


if __name__ == "__main__":
    main()
