#!/usr/bin/env python
"""Mechanical strength of one SNARE complex in the snarefuse protein model: a constant force pulls the
last helical residues of VAMP2 and syntaxin apart (as the juxtamembrane linkers do when the two TMDs sit
in two membranes), with the N-termini tethered as in ``zipper_free_energy.py`` (and in optical-tweezers
constructs, which pull the same two C-termini).

For each contact depth and force, one run from the ideal zipped bundle; every ``--every`` steps it
records the number of zipped layers (>= half of a layer's native contacts within 1.5 r0) and the
distance between the two pulled residues (2.3 nm zipped; ~20 nm when VAMP2 is peeled off syntaxin
down to the tether).

    python bench/zipper_pulling.py                                   # depths 1.0, 1.4 kT; 10-50 pN; ~3 min
    python bench/zipper_pulling.py --eps 1.4 --forces 15 25 --steps 50000

Writes ``bench/results/zipper_pulling.json`` by default.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import openmm
from openmm import unit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import machine_description, write_json  # noqa: E402
from zipper_free_energy import FORMED, start, tethered_complex, zipped_layer_count  # noqa: E402

from snarefuse.spec import example_spec_path, load_spec  # noqa: E402

PN_PER_KJMOL_NM = 1.66054  # 1 kJ/mol/nm = 1.66054 pN


def pull(eps_kt: float, force_pn: float, steps: int, every: int, seed: int, ru) -> dict:
    system, c, pairs, r0, layer = tethered_complex(eps_kt, ru)
    bundle = c.bundle_indices()
    ends = [int(bundle[c.chain_ids[bundle] == ch][-1]) for ch in "AB"]  # VAMP2, syntaxin
    force = openmm.CustomBondForce("-f_pull * r")  # constant force f_pull along the separation
    force.addGlobalParameter("f_pull", force_pn / PN_PER_KJMOL_NM)
    force.addBond(ends[0], ends[1], [])
    system.addForce(force)
    integrator, ctx = start(system, c, seed, 1, ru)
    zipped, extension = [], []
    for _ in range(steps // every):
        integrator.step(every)
        pos = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        formed = np.linalg.norm(pos[pairs[:, 0]] - pos[pairs[:, 1]], axis=1) < FORMED * r0
        zipped.append(zipped_layer_count(formed, layer))
        extension.append(float(np.linalg.norm(pos[ends[0]] - pos[ends[1]])))
    return {"eps_kt": eps_kt, "force_pn": force_pn, "seed": seed, "steps": steps, "every": every,
            "zipped_layers": zipped, "extension_nm": extension}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eps", type=float, nargs="+", default=[1.0, 1.4], help="contact depths, kT")
    ap.add_argument("--forces", type=float, nargs="+", default=[10, 20, 30, 40, 50], help="pulling forces, pN")
    ap.add_argument("--steps", type=int, default=20000, help="steps per run (0.01 tau)")
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "results" / "zipper_pulling.json")
    args = ap.parse_args()
    ru = load_spec(example_spec_path("snare_two_bilayers")).model.units
    runs = []
    for e in args.eps:
        for f in args.forces:
            r = pull(e, f, args.steps, args.every, args.seed, ru)
            print(f"eps {e:4.2f} kT  F {f:5.1f} pN: zipped layers min {min(r['zipped_layers']):2d} last "
                  f"{r['zipped_layers'][-1]:2d}; C-terminal ends {r['extension_nm'][-1]:5.2f} nm apart after "
                  f"{args.steps * 0.01:.0f} tau (max {max(r['extension_nm']):5.2f})", flush=True)
            runs.append(r)
    write_json(args.json, {"bench": "zipper_pulling", "machine": machine_description(), "openmm": openmm.__version__,
                           "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                           "runs": runs})


if __name__ == "__main__":
    main()
