"""The ``snarefuse`` command line. Every command is thin; heavy imports happen inside commands so
that ``--help`` is instant."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__
from .spec import FORMULATIONS  # the choices of --formulation (spec imports no OpenMM)

if TYPE_CHECKING:
    from .events import FusionEventReporter


def _fail(e: Exception) -> None:
    click.echo(f"Error: {e}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snarefuse")
def main() -> None:
    """snarefuse: coarse-grained MD of SNARE-mediated membrane fusion on OpenMM.

    \b
    Typical session:
      snarefuse build systems/bilayer_small.yaml -o runs/bilayer
      snarefuse run runs/bilayer --steps 20000
      snarefuse analyze runs/bilayer
    """


_SET = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                    help="Override a spec field by its dotted path, as if the spec file said so (the file's lengths in "
                         "sigma follow a --set model.sigma), validated as a sweep's grid values are; repeatable, "
                         "e.g. --set system.snares.n_complexes=3 --set 'model.temperature=310 K'.")


def _interval_options(f):  # noqa: ANN001, ANN202 - a click decorator
    for name, what in (("checkpoint", "checkpoints"), ("report", "log.csv rows"),
                       ("trajectory", "trajectory frames")):
        f = click.option(f"--{name}-interval", f"{name}_interval", type=click.IntRange(min=1), default=None,
                         metavar="STEPS",
                         help=f"Steps between {what} (default: run.{name}_interval of the spec). Set in the run's "
                              "spec.yaml before its first step only. Without these options a run of fewer steps "
                              "than its trajectory or report interval gets both scaled to steps/10, and says so.")(f)
    return f


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="Directory to write the built system into (created; must be new or empty).")
@_SET
def build(spec: str, output: str, sets: tuple[str, ...]) -> None:
    """Build the system described by SPEC (a YAML file, or the name of a shipped example such as
    'bilayer_small') into OUTPUT: system.pdb (system.cif past 99,999 beads), system.psf, system.xml, spec.yaml,
    manifest.json, forcefield.xml."""
    from .build import build_system
    from .errors import SnarefuseError
    from .run_options import load_spec_with_sets
    from .rundir import RunDirectory

    try:
        s = load_spec_with_sets(spec, sets)
        built = build_system(s)
        out = RunDirectory(output)
        existed = out.is_built()
        built.save(out.path)
    except SnarefuseError as e:
        _fail(e)
        return
    m = built.manifest
    verb = "already built (same spec key), nothing rewritten" if existed else "built"
    click.echo(f"{verb}: {out.path}  [{m['n_atoms']} beads, {m['n_lipids']} lipids, geometry {m['geometry']}, "
               f"box {' x '.join(f'{x:.2f}' for x in m['box_nm'])} nm, key {m['spec_key']}]")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--steps", type=click.IntRange(min=0), default=None,
              help="Total number of MD steps to reach (default: run.steps of the spec). Running again "
                   "resumes from the last checkpoint; a larger number extends a finished run.")
@click.option("--platform", type=click.Choice(["auto", "Reference", "CPU", "OpenCL", "CUDA", "HIP"]), default=None,
              help="OpenMM platform (default: run.platform of the spec; 'auto' picks the fastest that works: "
                   "CUDA, HIP, OpenCL, CPU, with an OpenCL that has only CPU devices (POCL) after CPU).")
@click.option("--precision", type=click.Choice(["single", "mixed", "double"]), default=None,
              help="Floating-point precision on GPU/OpenCL platforms (default: run.precision, mixed).")
@click.option("--device", "device_index", default=None, help="GPU device index, e.g. 0 or '0,1'.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU platform threads.")
@click.option("--max-time", "max_time", default=None,
              help="Stop cleanly with a checkpoint after this wall time, e.g. '23.5 h', '90 min', '3600 s'.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--formulation", type=click.Choice(FORMULATIONS), default=None,
              help="How the Cooke pair force is written for OpenMM (default: run.formulation, 'auto': the fastest "
                   "measured for the platform; all give the same forces, see BENCHMARKS.md).")
@click.option("--stop-after-pore", "stop_after_pore", default=None, metavar="DELAY",
              help="Two-membrane systems: stop (with a checkpoint) this long after a fusion pore opens, e.g. "
                   "'5 ns', '100 tau' (the run's reduced units), '0 ps' (at the confirmed pore). Checks are logged "
                   "to RUN_DIR/events.csv and the pore to events.json, so a resumed run still stops on time and a "
                   "run already past it does not step again.")
@click.option("--pore-check-every", "pore_check_every", type=click.IntRange(min=1), default=None, metavar="STEPS",
              help="With --stop-after-pore: look for a pore every STEPS steps (default: run.trajectory_interval).")
@click.option("--pore-confirm", "pore_confirm", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --stop-after-pore: a pore counts once seen at N consecutive checks; its time is that of "
                   "the first of them (default: 3, as 'snarefuse analyze --persist').")
@_interval_options
def run(run_dir: str, steps: int | None, platform: str | None, precision: str | None, device_index: str | None,
        threads: int | None, max_time: str | None, progress: bool | None, formulation: str | None,
        stop_after_pore: str | None, pore_check_every: int | None, pore_confirm: int | None,
        trajectory_interval: int | None, report_interval: int | None, checkpoint_interval: int | None) -> None:
    """Run (or resume) the simulation in RUN_DIR, a directory written by 'snarefuse build'.

    SIGTERM or SIGINT (Ctrl-C) stops the run at the end of the current chunk (at most the report or
    trajectory interval) with a checkpoint, sets run.json's status to "interrupted" and exits with
    status 143 after SIGTERM, 130 after SIGINT (128 + the signal number). Running the same command
    again resumes.
    """
    from .errors import RunInterrupted, SnarefuseError
    from .runner import run_simulation
    from .spec import parse_quantity

    for name, value in (("--pore-check-every", pore_check_every), ("--pore-confirm", pore_confirm)):
        if value is not None and stop_after_pore is None:
            raise click.BadOptionUsage(name, f"{name} only applies with --stop-after-pore DELAY")
    events = None
    try:
        wall = None if max_time is None else parse_quantity(max_time, "wallclock", "--max-time")
        _set_intervals(run_dir, steps, trajectory_interval, report_interval, checkpoint_interval)
        if stop_after_pore is not None:
            from .events import DEFAULT_CONFIRM, FusionEventReporter

            events = FusionEventReporter.from_run(run_dir, stop_after_pore, pore_check_every,
                                                  confirm=pore_confirm or DEFAULT_CONFIRM)
        r = run_simulation(run_dir, steps=steps, platform=platform, precision=precision,
                           device_index=device_index, threads=threads, max_wall_time_s=wall, progress=progress,
                           formulation=formulation, extra_reporters=[events] if events is not None else ())
    except RunInterrupted as e:
        click.echo(f"{run_dir}: {e}")
        sys.exit(128 + e.signum)
    except SnarefuseError as e:
        _fail(e)
        return
    if r.status == "nothing-to-do":
        click.echo(f"{run_dir}: already at step {r.step} (target {r.target_steps}); nothing to do")
    else:
        how = f", resumed from {r.resumed_from}" if r.resumed_from else ""
        click.echo(f"{run_dir}: {r.status} at step {r.step}/{r.target_steps} on {r.platform} "
                   f"({r.formulation} pair formulation){how} "
                   f"({r.steps_per_second:,.0f} steps/s)")
    if events is not None:
        click.echo(f"{run_dir}: {_pore_message(run_dir, events, r.status, r.step)}")


def _set_intervals(run_dir: str, steps: int | None, trajectory: int | None, report: int | None,
                   checkpoint: int | None) -> None:
    """Output intervals of a run that has not started (:func:`snarefuse.run_options.set_run_intervals`)."""
    from .rundir import RunDirectory
    from .run_options import set_run_intervals

    if not RunDirectory(run_dir).spec_yaml.exists():
        return  # not a build: the runner says what is missing
    note = set_run_intervals(run_dir, steps, trajectory, report, checkpoint).message(run_dir)
    if note:
        click.echo(note)


def _pore_message(run_dir: str, events: "FusionEventReporter", status: str, step: int) -> str:
    """What the fusion-event reporter saw, for the end of 'snarefuse run --stop-after-pore'."""
    from .rundir import RunDirectory

    spec = RunDirectory(run_dir).spec()
    tau_ps = spec.model.units.tau_ps

    def when(t_ps: float) -> str:
        return f"{t_ps / 1000:.4g} ns = {t_ps / tau_ps:.4g} tau"

    ev = events.event
    if ev is None:
        return (f"no fusion pore in {events.n_checks} checks (every {events.interval} steps) up to step {step}; "
                "see events.csv")
    opened = (f"fusion pore opened at step {ev.step} (t = {when(ev.time_ps)}, radius {ev.radius_nm:.2f} nm, "
              f"confirmed at step {ev.confirmed_step})")
    if status == "stopped-event":
        return (f"{opened}; the run stopped at step {step} (t = {when(step * spec.run.timestep_ps)}), the first chunk "
                f"boundary at or after t_pore + {when(events.delay_ps)}; see events.json")
    return f"{opened}; it stops at t = {when(events.stop_time_ps or 0.0)}, not reached yet; see events.json"


#: How long the quickstart runs on after the fusion pore opens before it stops.
QUICKSTART_STOP_AFTER_PORE = "10 tau"


@main.command()
@click.option("-o", "--output", default="quickstart-run", show_default=True, type=click.Path(file_okay=False),
              help="Run directory for the quickstart system.")
@click.option("--steps", type=click.IntRange(min=0), default=None,
              help="Most MD steps (default: the shipped quickstart spec's run.steps); the run stops earlier, "
                   f"{QUICKSTART_STOP_AFTER_PORE} after a fusion pore opens.")
@click.option("--platform", type=click.Choice(["auto", "Reference", "CPU", "OpenCL", "CUDA", "HIP"]), default=None,
              help="OpenMM platform (default: auto).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU platform threads.")
@click.option("--no-render", is_flag=True, help="Skip the pictures (cross-sections, top views, animation).")
@_SET
@_interval_options
def quickstart(output: str, steps: int | None, platform: str | None, threads: int | None, no_render: bool,
               sets: tuple[str, ...], trajectory_interval: int | None, report_interval: int | None,
               checkpoint_interval: int | None) -> None:
    """Build, run, analyse and draw the embedded default fusion system: a small vesicle docked on a planar
    membrane by SNARE complexes, under tension, that fuses within a few minutes on a CPU.

    Equivalent to 'snarefuse build quickstart -o DIR && snarefuse run DIR --stop-after-pore "10 tau" &&
    snarefuse analyze DIR && snarefuse render DIR', then prints the fusion states reached with their times.
    Running it again resumes or does nothing; results land in DIR/analysis/.
    """
    from .build import build_system
    from .errors import RunInterrupted, SnarefuseError
    from .events import FusionEventReporter
    from .run_options import load_spec_with_sets
    from .runner import run_simulation

    try:
        built = build_system(load_spec_with_sets("quickstart", sets))
        built.save(output)
        m = built.manifest
        click.echo(f"built {output}: {m['n_atoms']} beads, geometry {m['geometry']}, "
                   f"{len(m.get('snares') or [])} SNARE complexes")
        _set_intervals(output, steps, trajectory_interval, report_interval, checkpoint_interval)
        events = FusionEventReporter.from_run(output, QUICKSTART_STOP_AFTER_PORE)
        r = run_simulation(output, steps=steps, platform=platform, threads=threads, extra_reporters=[events])
        click.echo(f"run: {r.status} at step {r.step} on {r.platform} ({r.steps_per_second:,.0f} steps/s)")
        click.echo(_pore_message(output, events, r.status, r.step))
        _analyze(output)
        if not no_render:
            from .render import render_run

            pictures = render_run(output)
            click.echo(f"pictures written to {pictures.out_dir}")
        for line in fusion_report(Path(output)):
            click.echo(line)
    except RunInterrupted as e:
        click.echo(f"{output}: {e}; run 'snarefuse quickstart -o {output}' again to resume")
        sys.exit(128 + e.signum)
    except SnarefuseError as e:
        _fail(e)


def fusion_report(run_dir: Path) -> list[str]:
    """What happened in an analysed two-membrane run: each fusion state reached with its first-passage time
    (tau and diffusion-calibrated ns), the smallest gap, and where the figures and pictures are."""
    from .rundir import RunDirectory

    analysis = RunDirectory(run_dir).analysis()
    summary = json.loads(analysis.summary_json.read_text())
    fusion = summary.get("fusion") or {}
    if "skipped" in fusion:
        return [f"fusion analysis skipped: {fusion['skipped']}"]
    from .analysis.kernels import STATES

    persist = fusion.get("persist_frames", "?")
    lines = [f"fusion states reached (first passage; flicker rule: {persist} consecutive frames):"]
    first = fusion.get("first_passage") or {}
    order = [s for s in STATES if s in first] + sorted(set(first) - set(STATES))
    reached = [(state, first[state]) for state in order if first[state].get("time_tau") is not None]
    for state, fp in reached:
        lines.append(f"  {state:<14} {fp['time_tau']:8.1f} tau  = {fp['time_physical_ns']:9.1f} ns (diffusion-"
                     f"calibrated)   frame {fp['frame']}")
    if not reached:
        lines.append(f"  none yet: no state has held for {persist} consecutive frames")
    if fusion.get("ruptured"):
        lines.append("  WARNING: a membrane ruptured outside a fusion pore (lysis); see fusion.csv")
    gap, before = _smallest_gap_before_stalk(analysis.table("fusion"), (first.get("stalk") or {}).get("frame"))
    if gap is not None:
        lines.append(f"smallest head-plane gap near the contact axis{before}: {gap:.2f} nm")
    if fusion.get("max_state_reached"):
        lines.append(f"most advanced state: {fusion['max_state_reached']}")
    lines.append(f"figures: {analysis.path}/*.png   pictures: {analysis.render_dir}/")
    return lines


def _smallest_gap_before_stalk(fusion_csv: Path, stalk_frame: int | None) -> tuple[float | None, str]:
    """The smallest head-plane gap (``min_gap_nm`` of fusion.csv) over the frames before the stalk, when
    the membranes were still two (after it the two head surfaces merge and a gap means nothing)."""
    import numpy as np

    from .analysis import Table

    t = Table.from_csv(fusion_csv)
    gaps = np.asarray(t["min_gap_nm"], dtype=float)
    if stalk_frame is not None:
        gaps = gaps[np.asarray(t["frame"]) < stalk_frame]
    gaps = gaps[np.isfinite(gaps)]
    return (float(gaps.min()) if gaps.size else None), ("" if stalk_frame is None else " before the stalk")


def _analyze(run_dir: str, out_dir: str | None = None, **options: object) -> None:
    from .analysis.pipeline import analyze_run
    from .rundir import RunDirectory

    # frame times come from the trajectory: snarefuse writes each frame's step into the DCD header
    # (ISTART = NSAVC = trajectory_interval) and XTC frames carry their own times
    analyze_run(run_dir, out_dir, **options)  # type: ignore[arg-type]
    click.echo(f"analysis written to {Path(out_dir) if out_dir else RunDirectory(run_dir).analysis_dir}")


def _positive_nm(ctx: click.Context, param: click.Parameter, value: str | float | None) -> float | None:
    """A length option: a number of nm or a length with units ("1.8 nm", "18 angstrom"), finite and > 0 (or unset)."""
    from .errors import SpecError
    from .spec import parse_quantity

    if value is None:
        return None
    name = (param.opts or [param.name or "length"])[0]
    accepted = f"{value}; accepted a finite length > 0 in nm, or with units ('1.8 nm', '18 angstrom')"
    try:
        nm = parse_quantity(value if not isinstance(value, str) else value.strip(), "length", name)
    except SpecError as e:
        raise click.BadParameter(f"{accepted} ({e.message})") from None
    if not (math.isfinite(nm) and nm > 0):
        raise click.BadParameter(accepted)
    return nm


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-o", "--output", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Where to write tables, summary.json and figures (default: RUN_DIR/analysis).")
@click.option("--start", type=click.IntRange(min=0), default=None, help="First frame analysed.")
@click.option("--stop", type=click.IntRange(min=0), default=None, help="Frame to stop before.")
@click.option("--step", type=click.IntRange(min=1), default=None, help="Analyse every STEP-th frame.")
@click.option("--persist", type=click.IntRange(min=1), default=3, show_default=True,
              help="Flicker rule: a state counts as reached once it (or a later one) holds this many consecutive "
                   "frames.")
@click.option("--zip-cutoff", "zip_cutoff", type=str, default=None, callback=_positive_nm, metavar="LENGTH",
              help="SNARE metrics: a layer counts as zipped when the mean of the six distances between its four "
                   "core residues is below this (default 1.8 nm; the ideal bundle has 1.189 nm).")
@click.option("--persistence-length", "persistence_length", type=str, default=None, callback=_positive_nm,
              metavar="LENGTH", help="SNARE metrics: persistence length of the linkers' worm-like-chain force "
                                 "(default 0.5 nm).")
@click.option("--snare-patch-radius", "patch_radius", type=str, default=None, callback=_positive_nm,
              metavar="LENGTH",
              help="SNARE metrics: lateral radius of the lipid patch that defines a TMD's local membrane frame "
                   "(default 2.5 nm).")
@click.option("--no-figures", is_flag=True, help="Write tables and summary only.")
def analyze(run_dir: str, out_dir: str | None, start: int | None, stop: int | None, step: int | None,
            persist: int, zip_cutoff: float | None, persistence_length: float | None, patch_radius: float | None,
            no_figures: bool) -> None:
    """Analyse the trajectory in RUN_DIR: leaflets, bilayer separation, stalk and lipid mixing,
    hemifusion diaphragm, fusion pore and the fusion timeline, and the SNARE metrics (zippering, TMD
    tilt and depth, ring radius, linker force) when the build has SNARE complexes. Writes CSV tables,
    summary.json (first-passage times in ps and tau) and PNG figures into RUN_DIR/analysis/."""
    from .errors import SnarefuseError

    try:
        _analyze(run_dir, out_dir, start=start, stop=stop, step=step, persist=persist, zip_cutoff_nm=zip_cutoff,
                 persistence_length_nm=persistence_length, local_radius_nm=patch_radius, figures=not no_figures)
    except SnarefuseError as e:
        _fail(e)
    except (FileNotFoundError, ValueError) as e:
        _fail(e)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-o", "--output", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Where to write the pictures (default: RUN_DIR/analysis/render; must be new, empty, or an "
                   "earlier render's).")
@click.option("--frames", default=None, metavar="I,J,...",
              help="Draw these frames (comma-separated indices) instead of the first-passage frame of each state.")
@click.option("--slab", type=str, default="2 nm", show_default=True, callback=_positive_nm, metavar="LENGTH",
              help="Thickness of the cross-section slab containing the contact axis.")
@click.option("--top-depth", "top_depth", type=str, default="2 nm", show_default=True, callback=_positive_nm,
              metavar="LENGTH", help="Top view: beads within LENGTH/2 of the contact plane (a docked pair shows its "
                                     "facing heads, a stalk or diaphragm tails, a pore nothing).")
@click.option("--every", type=click.IntRange(min=1), default=None, metavar="K",
              help="Animate every K-th frame (default: at most 120 frames).")
@click.option("--no-movie", is_flag=True, help="Skip the animation (movie.gif, and movie.mp4 where ffmpeg exists).")
@click.option("--format", "fmt", type=click.Choice(["png", "svg"]), default="png", show_default=True,
              help="Format of the still pictures.")
def render(run_dir: str, out_dir: str | None, frames: str | None, slab: float, top_depth: float, every: int | None,
           no_movie: bool, fmt: str) -> None:
    """Draw the pictures of RUN_DIR: for the first-passage frame of each fusion state in
    analysis/summary.json, a cross-section through the contact axis (section_STATE) and a top view of the
    contact zone (top_STATE); the stages side by side (stages); an animation of the cross-section
    (movie.gif). Runs 'snarefuse analyze' first if the run has not been analysed."""
    from .errors import SnarefuseError
    from .render import parse_frames, render_run

    try:
        r = render_run(run_dir, out_dir, frames=parse_frames(frames) if frames is not None else None,
                       slab_nm=slab, top_depth_nm=top_depth, every=every, movie=not no_movie, fmt=fmt)
    except SnarefuseError as e:
        _fail(e)
        return
    for note in r.notes:
        click.echo(note)
    click.echo(f"pictures written to {r.out_dir}:")
    for p in r.files:
        click.echo(f"  {p}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def platforms(as_json: bool) -> None:
    """List the OpenMM platforms that load here, their properties, and plugin load failures."""
    from .platforms import platform_report

    from .formulations import default_formulation
    from .native import report as native_report

    rep = platform_report()
    rep["native_cooke"] = native_report()
    rep["default_formulation"] = {p["name"]: default_formulation(p["name"]) for p in rep["platforms"]}
    if as_json:
        click.echo(json.dumps(rep, indent=2))
        return
    click.echo(f"OpenMM {rep['openmm_version']}")
    for p in rep["platforms"]:
        props = ", ".join(f"{k}={v}" for k, v in p["properties"].items() if v)
        click.echo(f"  {p['name']:<10} speed {p['speed']:g}  pair formulation "
                   f"{rep['default_formulation'][p['name']]}  {props}")
    nat = rep["native_cooke"]
    click.echo(f"Native Cooke pair kernel: {', '.join(nat['platforms']) or 'absent'}"
               + (f" ({nat['library_dir']})" if nat["available"] else ""))
    if nat["reason"]:
        click.echo(f"  {nat['reason']}")
    if rep["load_failures"]:
        click.echo("Plugin load failures:")
        for f in rep["load_failures"]:
            click.echo(f"  {f}")


def _register_groups() -> None:
    from .cli_export import export
    from .cli_sweep import sweep

    main.add_command(sweep)
    main.add_command(export)


_register_groups()


if __name__ == "__main__":  # pragma: no cover
    main()
