"""Benchmark of the fusion analysis pipeline on a large synthetic trajectory (not a test).

Synthesises two stacked Cooke bilayers of ~60,000 beads in total (71 x 71 lipids per leaflet, 20,164
lipids, 60,492 beads, box ~68 x 68 nm) with fresh seeded Gaussian jitter on every frame, writes
``--frames`` frames as DCD plus ``system.pdb`` to a temporary run directory, then runs
:func:`snarefuse.analysis.analyze_run` on it in a child process and reports the wall-clock seconds and the
child's peak resident memory (``resource.getrusage``), which stays bounded by the streaming chunk
whatever the number of frames.

Usage::

    python bench/bench_analysis.py --frames 1000 [--chunk 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthesise(run_dir: Path, frames: int, n_side: int = 71, seed: int = 0, jitter: float = 0.1,
               chunk: int = 50) -> int:
    """Write ``system.pdb`` and ``trajectory.dcd`` (``frames`` frames, 100 ps apart); return n_atoms."""
    import mdtraj

    from snarefuse.analysis import testsystems

    base = testsystems.two_bilayers(gap=2.0, n_side=n_side, jitter=0.0)
    base.save_pdb(str(run_dir / "system.pdb"))
    rng = np.random.default_rng(seed)
    box = base.unitcell_lengths[0]
    with mdtraj.formats.DCDTrajectoryFile(str(run_dir / "trajectory.dcd"), "w") as f:
        for a in range(0, frames, chunk):
            n = min(chunk, frames - a)
            xyz = base.xyz[0][None] + rng.normal(0.0, jitter, (n,) + base.xyz.shape[1:]).astype(np.float32)
            xyz = np.mod(xyz, box)
            # DCD stores Angstrom
            f.write(xyz * 10.0, cell_lengths=np.tile(box * 10.0, (n, 1)), cell_angles=np.full((n, 3), 90.0))
    (run_dir / "manifest.json").write_text(json.dumps({"units": {"tau_ps": 9.09, "sigma_nm": 0.88}}))
    return int(base.n_atoms)


def _child(run_dir: str, chunk: int) -> None:
    from snarefuse.analysis import analyze_run

    t0 = time.perf_counter()
    summary = analyze_run(run_dir, chunk=chunk, dt_ps=100.0)
    dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"seconds": dt, "peak_rss_mb": rss_mb, "n_frames": summary["n_frames"],
                      "final_state": summary["fusion"].get("final_state")}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=100)
    ap.add_argument("--keep", type=Path, default=None, help="write the run directory here and keep it")
    ap.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.chunk)
        return 0
    with tempfile.TemporaryDirectory(prefix="snarefuse-bench-") as tmp:
        run_dir = args.keep if args.keep is not None else Path(tmp)
        run_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        n_atoms = synthesise(run_dir, args.frames)
        t_gen = time.perf_counter() - t0
        size_mb = (run_dir / "trajectory.dcd").stat().st_size / 2**20
        out = subprocess.run([sys.executable, __file__, "--child", str(run_dir), "--chunk", str(args.chunk)],
                             check=True, capture_output=True, text=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        res.update(n_atoms=n_atoms, frames=args.frames, chunk=args.chunk, dcd_mb=round(size_mb, 1),
                   synthesis_seconds=round(t_gen, 1), seconds_per_frame=res["seconds"] / args.frames)
        print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
