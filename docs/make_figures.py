"""Regenerate the figures of the README and docs into docs/img/.

    python docs/make_figures.py                      # reuses ./quickstart-run if it has been analysed and drawn
    python docs/make_figures.py --run /tmp/qs --platform CPU

From a run of ``snarefuse quickstart`` (made here if ``RUN/analysis/render/stages.png`` does not exist: the shipped
quickstart system, stopped 10 tau after its fusion pore, about 1.5 min on two CPU cores with the native kernel):

* ``docs/img/quickstart_stages.png`` (the README figure): ``snarefuse render``'s cross-sections at the first-passage
  frame of each fusion state above the timeline, reduced to a palette so it stays small;
* ``docs/img/quickstart_section_pore.png``, ``quickstart_top_pore.png``: the pore frame's cross-section and top view;
* ``docs/img/fusion_separation_pore.png``: separation of the facing head-group surfaces and fusion-pore radius vs
  time, left for the real run, right for the **synthetic** known-answer fusion path
  :func:`snarefuse.analysis.testsystems.fusion_path` (built, not simulated), analysed with
  :class:`snarefuse.analysis.FusionAnalysis`, known answers as crosses.

The README caption states the run's first-passage times; keep it in line with the run.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
IMG = HERE / "img"
#: Largest PNG committed to the repository, bytes.
MAX_PNG_BYTES = 200_000


def real_run(run_dir: Path, platform: str) -> tuple[dict, dict]:
    """The quickstart run's fusion table and facts (made, analysed and drawn first if needed)."""
    from snarefuse.analysis import Table

    if not (run_dir / "analysis" / "render" / "stages.png").exists():
        from snarefuse.cli import main as cli

        cli(["quickstart", "-o", str(run_dir), "--platform", platform], standalone_mode=False)
    run = json.loads((run_dir / "run.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    table = Table.from_csv(run_dir / "analysis" / "fusion.csv")
    facts = {"step": run["step"], "platform": run["platform"], "n_atoms": manifest["n_atoms"],
             "n_complexes": len(manifest.get("snares") or []),
             "tau_ps": run["units"]["tau_ps"], "tau_diffusion_ns": run["units"]["tau_diffusion_ns"],
             "length_tau": float(table["time_ps"][-1]) / run["units"]["tau_ps"]}
    return table, facts


def small_png(src: Path, dst: Path, scale: float = 1.0) -> int:
    """Copy a picture as a 128-colour palette PNG (the renders are ~4x larger in full colour)."""
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        if scale != 1.0:
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
        im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
    return dst.stat().st_size


def synthetic() -> tuple[dict, dict, dict]:
    from snarefuse.analysis import FusionAnalysis, testsystems

    fa = FusionAnalysis(testsystems.fusion_path(seed=0)).run()
    return fa.table, fa.results.first_passage, testsystems.fusion_path_answers()


def draw(real: dict, facts: dict, syn: dict, first_passage: dict, known: dict) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from snarefuse import plot as P

    tau_ps, tau_ns = facts["tau_ps"], facts["tau_diffusion_ns"]
    fig = Figure(figsize=(10, 6.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex="col")
    titles = (f"real run: quickstart, {facts['n_complexes']} SNARE complexes, {facts['n_atoms']:,} beads,\n"
              f"{facts['step']:,} steps ({facts['length_tau']:.0f} τ) on {facts['platform']}",
              "synthetic known-answer fusion path\n(testsystems.fusion_path: built, not simulated)")
    for col, (table, title) in enumerate(zip((real, syn), titles)):
        top, bottom = axes[0, col], axes[1, col]
        P.plot_separation(table, ax=top, time_unit="tau", tau_ps=tau_ps)
        P.plot_pore_radius(table, ax=bottom, time_unit="tau", tau_ps=tau_ps)
        top.set_title(title, fontsize="medium")
        top.set_xlabel("")
        sec = top.secondary_xaxis("top", functions=(lambda x: x * tau_ns, lambda x: x / tau_ns))
        sec.set_xlabel("diffusion-calibrated time (ns)")
    t_tau = known["time_ps"] / tau_ps
    docked = known["state_name"] == "docked"
    axes[0, 1].plot(t_tau[docked], known["gap_nm"][docked], "kx", ms=5, label="known gap")
    for key, marker, label in (("pore_radius_nm", "kx", "known pore radius"),
                               ("diaphragm_radius_nm", "k+", "known diaphragm radius")):
        sel = known[key] > 0
        axes[1, 1].plot(t_tau[sel], known[key][sel], marker, ms=5, label=label)
    for name, colour in (("stalk", "C1"), ("hemifused", "C2"), ("pore", "C3")):
        t = first_passage[name]["time_ps"]
        if np.isfinite(t):
            for ax in axes[:, 1]:
                ax.axvline(t / tau_ps, color=colour, ls="--", lw=0.8)
            axes[0, 1].annotate(f"{name} reached", (t / tau_ps, 0.1), rotation=90, va="bottom", ha="right",
                                fontsize="x-small", color=colour)
    if not np.any(np.asarray(real["has_pore"]).astype(bool)):
        axes[1, 0].text(0.5, 0.5, f"no pore in {facts['length_tau']:.0f} τ", transform=axes[1, 0].transAxes,
                        ha="center", va="center", color="0.4")
        axes[1, 0].set_ylim(-0.2, 4.5)
    for ax in axes.flat:
        ax.legend(fontsize="x-small", loc="best")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=Path("quickstart-run"),
                    help="quickstart run directory (made if it has no analysis/render/stages.png)")
    ap.add_argument("--platform", default="CPU", help="OpenMM platform of the run if it is made here")
    args = ap.parse_args()
    real, facts = real_run(args.run, args.platform)
    IMG.mkdir(exist_ok=True)
    render = args.run / "analysis" / "render"
    for src, name, scale in (("stages.png", "quickstart_stages.png", 0.75),
                             ("section_pore.png", "quickstart_section_pore.png", 1.0),
                             ("top_pore.png", "quickstart_top_pore.png", 1.0)):
        if (render / src).exists():
            size = small_png(render / src, IMG / name, scale)
            print(f"wrote {IMG / name} ({size // 1000} kB)")
    png = draw(real, facts, *synthetic())
    out = IMG / "fusion_separation_pore.png"
    out.write_bytes(png)
    for path in [out] + [IMG / n for n in ("quickstart_stages.png", "quickstart_section_pore.png")]:
        if path.exists() and path.stat().st_size > MAX_PNG_BYTES:
            raise SystemExit(f"{path}: {path.stat().st_size} bytes, above {MAX_PNG_BYTES}; lower the resolution")
    print(f"wrote {out} ({len(png) // 1000} kB) from {args.run} ({facts['step']} steps on {facts['platform']})")


if __name__ == "__main__":
    main()
