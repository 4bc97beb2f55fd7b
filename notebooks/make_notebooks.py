"""Source of the example notebooks: ``python notebooks/make_notebooks.py`` writes the .ipynb files
(unexecuted); the test suite executes each of them (tests/test_notebooks.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

NOTEBOOKS["01_build_a_fusion_system.ipynb"] = [
    ("md", """# Building a fusion system and looking at it

This notebook builds the two-membrane geometries of snarefuse from the shipped example specs, changes a
parameter the way a sweep would, and draws projections of the result. It runs in well under a minute on a
laptop CPU. Lengths are in nm; the model's length unit is sigma = 0.88 nm."""),
    ("code", """import tempfile
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from snarefuse.build import build_system
from snarefuse.spec import example_spec_path, load_spec

workdir = Path(tempfile.mkdtemp(prefix="snarefuse-nb1-"))
spec = load_spec(example_spec_path("snare_two_bilayers"))
print(spec.name, spec.system.geometry, "cleft", spec.system.cleft_nm, "nm")
print({k: round(v, 4) if isinstance(v, float) else v for k, v in spec.model.units.as_dict().items()})"""),
    ("md", "A spec is validated and fully resolved; any field can be changed by its dotted path, which is how sweeps vary parameters:"),
    ("code", """vp = load_spec(example_spec_path("vesicle_planar")).with_overrides({"system.vesicle.radius": "8 nm",
                                                                    "system.bilayer.n_lipids": 1600,
                                                                    "system.box_z": None})
systems = {"two planar bilayers": build_system(spec), "vesicle above a bilayer": build_system(vp)}
for name, built in systems.items():
    m = built.manifest
    print(f"{name:25s} {m['n_atoms']:6d} beads  {m['n_lipids']:5d} lipids  box {np.round(m['box_nm'], 2)} nm  key {m['spec_key']}")"""),
    ("md", "Side projections (x–z) of a 2 nm slab through the contact axis, heads and tails coloured by membrane:"),
    ("code", """fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
for ax, (name, built) in zip(axes, systems.items()):
    pos = built.positions
    names = np.array([a.name for a in built.topology.atoms()])
    chain = np.array([a.residue.chain.index for a in built.topology.atoms()])
    centre_y = built.box[1] / 2
    slab = np.abs(pos[:, 1] - centre_y) < 1.0
    for m, colour in ((0, "tab:blue"), (1, "tab:orange")):
        for is_head, size, label in ((True, 6, "heads"), (False, 2, "tails")):
            sel = slab & (chain == m) & ((names == "H") == is_head)
            ax.scatter(pos[sel, 0], pos[sel, 2], s=size, color=colour, alpha=1.0 if is_head else 0.35,
                       label=f"membrane {m} {label}")
    ax.set_xlabel("x (nm)")
    ax.set_ylabel("z (nm)")
    ax.set_title(name)
    ax.set_aspect("equal")
axes[0].legend(loc="upper right", fontsize=7, markerscale=2)
fig.savefig(workdir / "projections.png", dpi=100)
print("saved", workdir / "projections.png")"""),
    ("md", "Saving writes the files every other tool reads: a PDB and a PSF (bonds, segments) for viewers, the serialized OpenMM System, the resolved spec and a manifest with the unit mapping. The last lines read them back with MDAnalysis, which is not a dependency of snarefuse: `pip install \".[analysis]\"` (or `.[test]`)."),
    ("code", """out = systems["two planar bilayers"].save(workdir / "quickstart")
print(sorted(p.name for p in out.iterdir()))
import MDAnalysis as mda
u = mda.Universe(str(out / "system.psf"), str(out / "system.pdb"))
print(u.atoms.n_atoms, "beads,", len(u.bonds), "bonds, segments", [s.segid for s in u.segments])"""),
    ("md", "In a viewer: `vmd system.psf trajectory.dcd` (or ChimeraX/PyMOL with `system.pdb`); select a membrane by segment (`segname A`) and heads by name (`name H`)."),
]


NOTEBOOKS["02_analyse_a_fusion_trajectory.ipynb"] = [
    ("md", """# Analysing a fusion trajectory

The analysis API of `snarefuse.analysis` on a trajectory with **known answers**: separation, stalk and
lipid mixing, hemifusion diaphragm, fusion pore, the state timeline with its first-passage times, and
`detect_pore` for in-run checks; then `analyze_run` on a real (tiny) run directory. Runs in seconds on a CPU.

**The trajectory is synthetic.** `snarefuse.analysis.testsystems.fusion_path()` strings together the shipped
known-answer systems (two flat bilayers closing from a 4 nm to a 2 nm gap, a stalk, a hemifusion diaphragm
growing from 2.5 to 4 nm, a pore growing from 1.5 to 4 nm), one frame each, in the same box, with thermal-like
jitter. Nothing here is simulated: the point is to see every analysis recover what was put in. The definitions
behind each number are in `docs/analysis.md`."""),
    ("code", """import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from snarefuse import plot as P
from snarefuse.analysis import (DiaphragmAnalysis, FusionAnalysis, LipidIndex, LipidMixingAnalysis, PoreAnalysis,
                                SeparationAnalysis, detect_pore, run_analyses, testsystems)
from snarefuse.units import ReducedUnits

workdir = Path(tempfile.mkdtemp(prefix="snarefuse-nb2-"))
units = ReducedUnits(sigma_nm=0.88, temperature_k=310.0, kt_over_epsilon=1.1, mass_amu=250.0)
TAU_PS, TAU_NS = units.tau_ps, units.tau_diffusion_ns
print(f"tau = {TAU_PS:.2f} ps of MD time; 1 tau = {TAU_NS:.2f} ns of physical time by lipid diffusion")

traj = testsystems.fusion_path(seed=0)          # an mdtraj.Trajectory; frames 5 tau apart
known = testsystems.fusion_path_answers()       # what was built into each frame
print(traj)
print("known states:", " ".join(known["state_name"]))"""),
    ("md", """## The analysis classes

Each `*Analysis` is built on a trajectory (an `mdtraj.Trajectory`, or a file name plus topology; files are
streamed in chunks), `run()` returns the analysis itself, per-frame results are in `.table` (a dict of NumPy
arrays with `to_csv`). `run_analyses` runs several in one pass over the frames. Membrane A is chain 0, B chain 1."""),
    ("code", """sep = SeparationAnalysis(traj)
mix = LipidMixingAnalysis(traj)
dia = DiaphragmAnalysis(traj)
pore = PoreAnalysis(traj)
run_analyses([sep, mix, dia, pore])
print("separation:", sep.table.columns)
print("mixing:    ", mix.table.columns)
print("diaphragm: ", dia.table.columns)
print("pore:      ", pore.table.columns)"""),
    ("md", """`FusionAnalysis` does all of the above in one pass and classifies every frame as docked < stalk < hemifused <
pore < expanded_pore. A state counts as *reached* only once it (or a later one) holds for `persist` consecutive
frames (default 3): the one-frame stalk at frame 6 is a flicker and does not count."""),
    ("code", """fa = FusionAnalysis(traj, persist=3).run()
tb = fa.table
print(f"{'frame':>5} {'t (tau)':>8} {'known':>14} {'found':>14} {'filtered':>14}")
for i in range(tb.n_rows):
    print(f"{i:5d} {tb['time_ps'][i] / TAU_PS:8.1f} {known['state_name'][i]:>14} {tb['state_name'][i]:>14} "
          f"{P.STATES[tb['state_filtered'][i]]:>14}")
print()
print("first passage       found (tau)   known (tau)")
for name, known_ps in known["first_passage_ps"].items():  # the fusion states (a rupture has no known answer here)
    print(f"{name:15s} {fa.results.first_passage[name]['time_ps'] / TAU_PS:13.1f} {known_ps / TAU_PS:13.1f}")
print("rupture seen:", fa.results.first_passage["rupture"]["frame"] is not None)"""),
    ("md", """## Separation, lipid mixing, pore radius and the timeline

Times in reduced units (tau, bottom axes) and diffusion-calibrated physical time (top axes). Known answers
are drawn as black crosses. The head–head gap is only the bilayer gap while the membranes are apart: once a
stalk or pore connects them, the minimum and mean over the 5 nm contact disc include the connection's own lipids.
`lipids_in_other_leaflet` counts lipids in a (per-frame) leaflet dominated by the other membrane: it jumps to the
size of a proximal leaflet when the stalk merges the two proximal leaflets into one monolayer, and to about half
of all lipids once the pore joins the distal leaflets too. (In the synthetic hemifused frames the diaphragm's rim
is an idealised step that the leaflet graph does not bridge, so the count drops back to 0 there.)"""),
    ("code", """def physical_time_axis(ax):
    top = ax.secondary_xaxis("top", functions=(lambda x: x * TAU_NS, lambda x: x / TAU_NS))
    top.set_xlabel("diffusion-calibrated time (ns)")
    return top

t_tau = known["time_ps"] / TAU_PS
fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
P.plot_separation(tb, ax=axes[0, 0], time_unit="tau", tau_ps=TAU_PS)
docked = known["state_name"] == "docked"
axes[0, 0].plot(t_tau[docked], known["gap_nm"][docked], "kx", label="known gap")
axes[0, 0].legend(fontsize="small")
axes[0, 0].set_title("separation of the facing head surfaces")

P.plot_columns(tb, ["contact_lipids", "lipids_in_other_core", "lipids_in_other_leaflet"],
               ylabel="lipids", ax=axes[0, 1], time_unit="tau", tau_ps=TAU_PS)
axes[0, 1].set_title("stalk and lipid mixing")

P.plot_pore_radius(tb, ax=axes[1, 0], time_unit="tau", tau_ps=TAU_PS)
for col, marker, label in (("pore_radius_nm", "kx", "known pore radius"),
                           ("diaphragm_radius_nm", "k+", "known diaphragm radius")):
    sel = known[col] > 0
    axes[1, 0].plot(t_tau[sel], known[col][sel], marker, label=label)
axes[1, 0].legend(fontsize="small")
axes[1, 0].set_title("hemifusion diaphragm and fusion pore")

P.plot_timeline(tb, ax=axes[1, 1], time_unit="tau", tau_ps=TAU_PS, first_passage=fa.results.first_passage)
axes[1, 1].set_title(f"fusion timeline (flicker rule: {fa.results.persist} frames)")
for ax in axes.flat:
    physical_time_axis(ax)
fig.suptitle("Synthetic fusion path with known answers (snarefuse.analysis.testsystems.fusion_path)")
fig.savefig(workdir / "fusion_path.png", dpi=100)
print("saved", workdir / "fusion_path.png")
plt.show()"""),
    ("md", "How close is each measurement to what was built?"),
    ("code", """def worst(found, want, sel):
    return float(np.max(np.abs(np.asarray(found)[sel] - np.asarray(want)[sel])))

checks = {
    "gap while docked (mean over disc)": worst(tb["mean_gap_nm"], known["gap_nm"], docked),
    "diaphragm radius": worst(tb["diaphragm_radius_nm"], known["diaphragm_radius_nm"], known["diaphragm_radius_nm"] > 0),
    "pore radius sqrt(A/pi)": worst(tb["pore_radius_nm"], known["pore_radius_nm"], known["pore_radius_nm"] > 0),
    "pore largest inscribed circle": worst(tb["pore_inscribed_radius_nm"], known["pore_radius_nm"], known["pore_radius_nm"] > 0),
}
for name, err in checks.items():
    print(f"{name:32s} largest error {err:.2f} nm")
assert checks["pore radius sqrt(A/pi)"] < 0.2 and checks["diaphragm radius"] < 0.3
assert list(tb["state_name"]) == list(known["state_name"])"""),
    ("md", """The last frame seen from the top: the time-averaged head–head gap map with the pore of the last frame
outlined (the map is the mean over the frames where the gap is defined)."""),
    ("code", """maps = fa.results.maps
fig, ax = plt.subplots(figsize=(5.5, 4.5), constrained_layout=True)
P.plot_contact_map(maps["gap_mean"], maps["gap_extent"], ax=ax, contact_radius=maps["contact_radius"],
                   pore_mask=maps["pore_last"], pore_extent=maps["pore_extent"])
ax.set_title("contact zone (synthetic), last-frame pore")
fig.savefig(workdir / "contact_map.png", dpi=100)
print("saved", workdir / "contact_map.png")
plt.show()"""),
    ("md", """## `detect_pore`: one frame, no files

A pure function for OpenMM reporters and scripts: positions (nm, or an OpenMM `Quantity`), the box, and which
atoms are lipid heads and tails (a `LipidIndex`, built once from the topology)."""),
    ("code", """info = LipidIndex.from_topology(traj.topology)
for frame in (5, 13, 17, 22):
    has, r = detect_pore(traj.xyz[frame], traj.unitcell_lengths[frame], info)
    print(f"frame {frame:2d} ({known['state_name'][frame]:>13}): pore {has!s:5}  radius {r:.2f} nm  "
          f"(known {known['pore_radius_nm'][frame]:.1f} nm)")"""),
    ("md", """## `analyze_run` on a real run directory

Everything above, plus per-membrane area per lipid, thickness and tail order, for a run directory in one call
(the `snarefuse analyze RUN_DIR` command). Here a real, tiny system: two 300-lipid bilayers 2 nm apart without
SNAREs, 1000 steps (10 tau) on the CPU, a few seconds. Nothing fuses in 10 tau: the point is the files."""),
    ("code", """import json

from snarefuse.analysis import analyze_run
from snarefuse.build import build_system
from snarefuse.runner import run_simulation
from snarefuse.spec import example_spec_path, load_spec

spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides({
    "system.bilayer.n_lipids": 300, "system.snares.n_complexes": 0, "system.cleft": "2 nm",
    "run.trajectory_interval": 50, "run.report_interval": 50, "run.checkpoint_interval": 500})
run_dir = build_system(spec).save(workdir / "tiny")
run_simulation(run_dir, steps=1000, platform="CPU")
summary = analyze_run(run_dir)
print(sorted(p.name for p in (run_dir / "analysis").iterdir()))
print(json.dumps({k: summary["fusion"][k] for k in ("final_state", "max_state_reached", "min_gap_nm")}, indent=1))
m0 = summary["membrane_properties"]["m0"]
print(f"membrane 0: area per lipid {m0['apl_sigma2']['mean']:.2f} sigma^2, thickness {m0['thickness_sigma']['mean']:.2f} "
      f"sigma, tail order {m0['tail_order']['mean']:.2f} (10 tau is too short to equilibrate)")
print("last frame:", {k: round(v, 2) for k, v in summary["time_last"].items()})"""),
    ("code", """from snarefuse.analysis import Table

ft = Table.from_csv(run_dir / "analysis" / "fusion.csv")
fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
P.plot_separation(ft, ax=ax, time_unit="tau", tau_ps=summary["units"]["tau_ps"])
physical_time_axis(ax)
ax.set_title("two 300-lipid bilayers, 1000 steps (real run)")
fig.savefig(workdir / "tiny_separation.png", dpi=100)
print("saved", workdir / "tiny_separation.png")
plt.show()"""),
]

NOTEBOOKS["03_sweep_results.ipynb"] = [
    ("md", """# Sweep results: fusion probability and survival curves

A sweep (`docs/sweeps.md`) ends with `snarefuse sweep collect`, which writes `results.csv`: one row per run with
its parameters and first-passage times. This notebook reads such a table and draws the two standard plots —
the probability of fusion within the simulated time with Wilson confidence intervals, and Kaplan–Meier
survival curves with their confidence band — and the statistics `collect` writes into `statistics.json`, with `snarefuse.sweep.SweepResults`, `snarefuse.plot` and `snarefuse.analysis.stats`.

**The table here is illustrative, not simulated.** Running the shipped `sweep_snares` sweep (5 values of the
number N of SNARE complexes x 8 replicas x up to 2 x 10^5 steps of a 13,000-bead system) takes GPU-days, so we
write a table in exactly the format `collect` produces, with waiting times drawn from a known two-step
model: docked -> hemifused -> pore, each step at rate k(N) = k1 N^2 (k1 = 1.5e-4 / tau). The known answers are
then P(hemifusion by T) = 1 - exp(-kT) and P(pore by T) = 1 - exp(-kT)(1 + kT)."""),
    ("code", """import csv
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from snarefuse.analysis.stats import proportion_ci, survival_estimate
from snarefuse.plot import plot_fusion_probability, plot_survival
from snarefuse.sweep import SweepResults
from snarefuse.units import ReducedUnits

workdir = Path(tempfile.mkdtemp(prefix="snarefuse-nb3-"))
units = ReducedUnits(sigma_nm=0.88, temperature_k=310.0, kt_over_epsilon=1.1, mass_amu=250.0)
TAU_PS, TAU_NS = units.tau_ps, units.tau_diffusion_ns
PARAM = "system.snares.n_complexes"
STEPS, DT_TAU = 200_000, 0.01                      # sweep_snares: 2 x 10^5 steps of 0.01 tau
WINDOW_PS = STEPS * DT_TAU * TAU_PS                 # 2000 tau
FRAME_PS = 500 * DT_TAU * TAU_PS                   # trajectory frame interval, and the in-run pore check
K1 = 1.5e-4 / TAU_PS                                # per ps
print(f"window {WINDOW_PS:.0f} ps = {WINDOW_PS / TAU_PS:.0f} tau = {WINDOW_PS / TAU_PS * TAU_NS / 1000:.1f} us "
      "(diffusion-calibrated)")"""),
    ("md", """## An illustrative results table

Columns as written by `Sweep.collect()` (see *Results* in `docs/sweeps.md`): `key, replica, seed`, each varied
parameter, `state, step, target_steps, analysis, reason`, the summary's scalars, and the three normalised columns
`hemifusion_ps`, `pore_ps` (empty: not reached in the run) and `duration_ps` (the analysed length, the
censoring time of runs without the event), the same in tau (`*_tau`) and the units (`tau_ps`,
`tau_diffusion_ns`). A run with a pore stops two frames after it (`stop_after_fusion`: three checks confirm the
pore), as a real sweep does."""),
    ("code", """rng = np.random.default_rng(2024)
rows = []
for n in range(1, 6):
    k = K1 * n**2
    for replica in range(8):
        t_hemi = rng.exponential(1 / k)
        t_pore = t_hemi + rng.exponential(1 / k)
        hemi = math.ceil(t_hemi / FRAME_PS) * FRAME_PS if t_hemi < WINDOW_PS else None
        pore = math.ceil(t_pore / FRAME_PS) * FRAME_PS if t_pore < WINDOW_PS else None
        duration = min(pore + 2 * FRAME_PS, WINDOW_PS) if pore is not None else WINDOW_PS
        step = round(duration / TAU_PS / DT_TAU)
        tau = {f"{k}_tau": None if v is None else v / TAU_PS
               for k, v in (("hemifusion", hemi), ("pore", pore), ("duration", duration))}
        rows.append({"key": rng.bytes(8).hex(), "replica": replica, "seed": int(rng.integers(2**31)),
                     PARAM: n, "state": "done", "step": step, "target_steps": STEPS, "analysis": "done",
                     "reason": "", "tau_ps": TAU_PS, "tau_diffusion_ns": TAU_NS, "hemifusion_ps": hemi,
                     "pore_ps": pore, "duration_ps": duration, **tau})
path = SweepResults(rows, [PARAM]).write_csv(workdir / "results.csv")
print(path.read_text().splitlines()[0])
print(path.read_text().splitlines()[1])
print("saved", path)"""),
    ("md", """## Reading a results table

`results.csv` is plain CSV (and `results.parquet` when pyarrow is installed). To use the plotting and statistics
of `SweepResults` on a table from disk, turn numbers back into numbers and empty cells into `None`:"""),
    ("code", """def read_results(path, parameters):
    def cell(v):
        if v == "":
            return None
        for kind in (int, float):
            try:
                return kind(v)
            except ValueError:
                pass
        return v
    with open(path, newline="") as f:
        return SweepResults([{k: cell(v) for k, v in row.items()} for row in csv.DictReader(f)], parameters)

results = read_results(workdir / "results.csv", [PARAM])
print(len(results.rows), "runs;", results.columns)"""),
    ("md", """With a real workspace, `collect()` gives the same object directly (and writes `results.csv`, `statistics.json`, `levels.csv` and two
plots).
This cell only runs where such a workspace exists (`snarefuse sweep run sweep_snares --workspace runs/snares`):"""),
    ("code", """from snarefuse.spec import example_spec_path
from snarefuse.sweep import Sweep

workspace = Path("runs/snares")
if (workspace / "index.csv").exists():
    real = Sweep.from_yaml(example_spec_path("sweep_snares"), workspace=workspace).collect(plots=False)
    print(len(real.rows), "points collected from", workspace)
else:
    print(f"no sweep workspace at {workspace.resolve()}; using the illustrative table")"""),
    ("md", """## Probability of fusion within the simulated time

`SweepResults.probability` gives, per value of the parameter, k of n runs that reached the event and a 95 %
Wilson score interval (`scipy.stats.binomtest(k, n).proportion_ci()`; `ci_method="clopper-pearson"` for the
exact one). At 0/8 the interval is [0, 0.32], not [0, 0]: eight runs without fusion do not show that fusion
never happens."""),
    ("code", """def known_p(n, event, T=WINDOW_PS):
    kT = K1 * n**2 * T
    return 1 - math.exp(-kT) if event == "hemifusion" else 1 - math.exp(-kT) * (1 + kT)

print(f"{'N':>2} {'event':>10} {'n':>3} {'p':>5} {'95% CI':>13} {'known':>6}")
for event in ("hemifusion", "pore"):
    for r in results.probability(PARAM, event):
        print(f"{r['value']:2d} {event:>10} {r['k']}/{r['n']} {r['p']:5.2f}  [{r['low']:.2f}, {r['high']:.2f}] "
              f"{known_p(r['value'], event):6.2f}")

fig, ax = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
plot_fusion_probability(results, PARAM, ax=ax)
nn = np.linspace(1, 5, 100)
ax.plot(nn, [known_p(n, "pore") for n in nn], "C0:", lw=1, label="fusion, known model")
ax.plot(nn, [known_p(n, "hemifusion") for n in nn], "C1:", lw=1, label="hemifusion, known model")
ax.set_xlabel("number of SNARE complexes N")
ax.set_ylabel(f"probability within {WINDOW_PS / TAU_PS:.0f} τ\\n({WINDOW_PS / 1000:.1f} ns MD, "
              f"{WINDOW_PS / TAU_PS * TAU_NS / 1000:.1f} µs diffusion-calibrated)")
ax.set_xticks(range(1, 6))
ax.legend(fontsize="x-small", loc="lower right")
ax.set_title("Illustrative sweep (simulated waiting times, 8 runs per N)")
fig.savefig(workdir / "fusion_probability.png", dpi=100)
print("saved", workdir / "fusion_probability.png")
plt.show()"""),
    ("md", """## Kaplan–Meier survival of the pore-opening time

S(t) = P(no fusion pore by t), in tau with the diffusion-calibrated time on the top axis. Runs that end without a
pore are *censored* at their end (marked |): they count as at risk until then and are not treated as failures.
The shaded bands are 95 % pointwise (log-log) intervals. Dotted lines: the known S(t) = exp(-kt)(1 + kt)."""),
    ("code", """fig, ax = plt.subplots(figsize=(9, 4.5), constrained_layout=True)
plot_survival(results, PARAM, event="pore", ax=ax)
tt = np.linspace(0, WINDOW_PS / TAU_PS, 200)       # tau
for i, n in enumerate(range(1, 6)):
    k = K1 * n**2 * TAU_PS                          # per tau
    ax.plot(tt, np.exp(-k * tt) * (1 + k * tt), ":", color=f"C{i}", lw=1)
ax.plot([], [], "k:", lw=1, label="known model")
ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
fig.savefig(workdir / "survival.png", dpi=100)
print("saved", workdir / "survival.png")
plt.show()"""),
    ("md", """The same numbers by hand with `snarefuse.analysis.stats`: the Kaplan–Meier estimate for each N and its median
pore-opening time (the first time S drops to 1/2) with the interval where the band crosses 1/2, against the
known median of the two-step model. With 8 runs per point the estimates scatter widely around the known values —
which is what the intervals say. Then what `collect` adds: Spearman's correlation of the per-run outcome with N,
and log-rank tests of each N against the smallest."""),
    ("code", """from scipy.optimize import brentq

def fmt(x):
    return "-" if x is None else f"{x:.0f}"

for n, items in results.groups(PARAM, "pore", time="tau")[""].items():
    t = np.array([x[0] for x in items])
    seen = np.array([x[1] for x in items])
    km = survival_estimate(t, seen)
    k = K1 * n**2
    known_median = brentq(lambda x: math.exp(-k * x) * (1 + k * x) - 0.5, 0, 100 / k) / TAU_PS
    p, lo, hi = proportion_ci(seen.sum(), len(seen))
    print(f"N = {n}: {seen.sum()}/{len(seen)} fused (p = {p:.2f} [{lo:.2f}, {hi:.2f}]), KM median "
          f"{fmt(km.median)} tau [{fmt(km.median_low)}, {fmt(km.median_high)}] (known {known_median:.0f} tau)")

stats = results.statistics(PARAM)
(sp,) = stats["spearman"]["pore"]
print(f"Spearman of fused (0/1) against N over {sp['n']} runs: rho = {sp['rho']:.2f}, p = {sp['pvalue']:.2g}")
for r in stats["logrank"]["pore"]:
    print(f"log-rank N = {r['value']} vs N = {r['reference']}: p = {r['pvalue']:.2g} (Holm {r['pvalue_holm']:.2g})")"""),
]


def write_all() -> list[Path]:
    out = []
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src)
                                 for kind, src in cells])
        for i, cell in enumerate(nb.cells):  # stable ids: regenerating an unchanged notebook changes nothing
            cell.id = hashlib.sha1(f"{name}:{i}".encode()).hexdigest()[:8]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = HERE / name
        nbformat.write(nb, path)
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write_all():
        print(p)
