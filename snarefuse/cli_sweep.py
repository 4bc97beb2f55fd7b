"""``snarefuse sweep``: parameter sweeps on Dask (init, run, status, collect). Thin commands over
:mod:`snarefuse.sweep`; heavy imports happen inside them so that ``--help`` is instant."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

_SWEEP = click.argument("sweep_file", metavar="SWEEP")
_WORKSPACE = click.option("--workspace", type=click.Path(file_okay=False), default=None,
                          help="Workspace directory (default: the sweep file's 'workspace', relative to the file). "
                               "Required when SWEEP is a shipped example name.")


def _load(sweep_file: str, workspace: str | None) -> Any:
    from .errors import SnarefuseError
    from .sweep import load_sweep

    try:
        return load_sweep(sweep_file, workspace)
    except SnarefuseError as e:
        _fail(e)


def _fail(e: Exception) -> None:
    click.echo(f"Error: {e}", err=True)
    sys.exit(2)


def _params(p: Any) -> str:
    return ", ".join([f"{k}={v}" for k, v in p.parameters.items()] + [f"replica={p.replica}"])


@click.group("sweep", context_settings={"help_option_names": ["-h", "--help"]})
def sweep() -> None:
    """Parameter sweeps: a grid of specs, one run directory per state point, run on Dask.

    \b
    SWEEP is a sweep file (YAML: base, grid, zip, replicas, workspace, steps, analysis,
    stop_after_fusion; see docs/sweeps.md) or a shipped example name with --workspace.
    \b
      snarefuse sweep init systems/sweep_nlipids.yaml
      snarefuse sweep run systems/sweep_nlipids.yaml --workers 2
      snarefuse sweep status systems/sweep_nlipids.yaml
      snarefuse sweep collect systems/sweep_nlipids.yaml
    """


@sweep.command()
@_SWEEP
@_WORKSPACE
def init(sweep_file: str, workspace: str | None) -> None:
    """Build every state point of SWEEP into WORKSPACE/points/<key>/ and write WORKSPACE/index.csv.
    Idempotent: built points are left as they are."""
    from .errors import SnarefuseError

    sw = _load(sweep_file, workspace)
    try:
        points = sw.init()
    except SnarefuseError as e:
        _fail(e)
        return
    click.echo(f"{len(points)} points in {sw.workspace} (index: {sw.workspace / 'index.csv'})")


@sweep.command()
@_SWEEP
@_WORKSPACE
@click.option("--workers", "n_workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes of the local Dask cluster (one thread each); ignored with --scheduler.")
@click.option("--scheduler", default=None,
              help="Address of a running Dask scheduler (tcp://HOST:8786) or its scheduler JSON file, "
                   "e.g. from dask-jobqueue; default: start a local cluster.")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="Dask retries of a failed task; every retry resumes from the point's checkpoint.")
@click.option("--max-time", "max_time", default=None,
              help="Each task stops cleanly with a checkpoint after this wall time, e.g. '23 h'.")
@click.option("--platform", type=click.Choice(["auto", "Reference", "CPU", "OpenCL", "CUDA", "HIP"]), default=None,
              help="OpenMM platform for every point (default: each point's run.platform).")
@click.option("--resources", default=None,
              help="Dask resources per task, e.g. 'GPU=1' (workers started with --resources GPU=1).")
@click.option("--retry-failed", is_flag=True, help="Also rerun failed points (they resume from their checkpoint).")
@click.option("--timeout", "timeout", default=None, help="Stop waiting after this wall time, e.g. '2 h'.")
@click.option("--reconnect-timeout", "reconnect", default="60 s", show_default=True,
              help="How long to wait for a lost --scheduler to come back before giving up (the points it was "
                   "running are interrupted, not failed, and resume on the next 'sweep run').")
def run(sweep_file: str, workspace: str | None, n_workers: int, scheduler: str | None, retries: int,
        max_time: str | None, platform: str | None, resources: str | None, retry_failed: bool,
        timeout: str | None, reconnect: str) -> None:
    """Run every point of SWEEP that is not done (resuming from checkpoints) on Dask, then analyse it.
    Points already done are not touched; running again after a crash continues where it stopped.

    \b
    Exit status: 0 when every submitted point came back; 2 for an invalid sweep or failed setup;
    3 when the scheduler was lost and did not come back (rerun to resume).
    """
    from .errors import SnarefuseError
    from .spec import parse_quantity
    from .sweep_dask import SchedulerLostError

    sw = _load(sweep_file, workspace)
    try:
        wall = None if max_time is None else parse_quantity(max_time, "wallclock", "--max-time")
        wait = None if timeout is None else parse_quantity(timeout, "wallclock", "--timeout")
        reconnect_s = parse_quantity(reconnect, "wallclock", "--reconnect-timeout")
        res = None
        if resources:
            try:
                res = {k.strip(): float(v) for k, v in (item.split("=") for item in resources.split(","))}
            except ValueError:
                raise click.BadParameter("expected NAME=AMOUNT[,NAME=AMOUNT], e.g. GPU=1", param_hint="--resources")

        def show(p: Any, out: dict[str, Any]) -> None:
            extra = out.get("error") or (f"resumed from {out['resumed_from']}" if out.get("resumed_from") else "")
            click.echo(f"  {p.key}  {out.get('state', '?'):<8} step {out.get('step', '?')}/{p.target_steps}  "
                       f"[{_params(p)}]  {extra}")

        report = sw.run(n_workers=n_workers, scheduler=scheduler, retries=retries, max_wall_time_s=wall,
                        platform=platform, resources=res, retry_failed=retry_failed, timeout_s=wait,
                        reconnect_timeout_s=reconnect_s, on_update=show)
    except SchedulerLostError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(3)
    except (SnarefuseError, TimeoutError) as e:
        _fail(e)
        return
    if not report.submitted:
        click.echo(f"nothing to do: {len(report.skipped)} points already done, running or failed "
                   "(see 'snarefuse sweep status')")
        return
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("done", "pending", "failed"))
    again = f"; the scheduler was lost and came back {report.reconnects} times" if report.reconnects else ""
    click.echo(f"ran {len(report.submitted)} points: {counts}; {len(report.skipped)} left alone{again}")


@sweep.command()
@_SWEEP
@_WORKSPACE
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per point.")
def status(sweep_file: str, workspace: str | None, as_json: bool) -> None:
    """Show each point of SWEEP as done / running / failed / pending, with progress and the failure reason."""
    sw = _load(sweep_file, workspace)
    states = sw.status()
    if as_json:
        for st in states:
            click.echo(json.dumps({"key": st.key, "state": st.state, "step": st.step,
                                   "target_steps": st.point.target_steps, "reason": st.reason,
                                   "analysis": st.analysis, "parameters": st.point.parameters,
                                   "replica": st.point.replica}))
        return
    for st in states:
        click.echo(f"{st.key}  {st.state:<8} {st.step:>9}/{st.point.target_steps:<9} [{_params(st.point)}]  "
                   f"analysis {st.analysis}" + (f"  -- {st.reason}" if st.reason else ""))
    from collections import Counter

    c = Counter(st.state for st in states)
    click.echo(", ".join(f"{c[s]} {s}" for s in ("done", "running", "failed", "pending")))


@sweep.command()
@_SWEEP
@_WORKSPACE
@click.option("--parameter", default=None, help="Spec path on the x axis of the probability plot "
                                                 "(default: the first varied one).")
@click.option("--no-plots", is_flag=True, help="Write the table only.")
@click.option("--ci-method", type=click.Choice(["wilson", "clopper-pearson"]), default="wilson", show_default=True,
              help="Interval of the fusion probabilities (Wilson score, or exact Clopper-Pearson).")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Level of every interval.")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Directory for results.csv, statistics.json, levels.csv and plots/ (default: the workspace).")
def collect(sweep_file: str, workspace: str | None, parameter: str | None, no_plots: bool, ci_method: str,
            confidence: float, output: str | None) -> None:
    """Gather every point's parameters, run state and analysis summary into results.csv (and
    .parquet with pyarrow); write the statistics per level of the parameter (statistics.json,
    levels.csv: P(stalk), P(hemifusion), P(pore) with intervals, median waiting times, log-rank,
    Spearman) and plot the probabilities and the Kaplan-Meier survival curves."""
    sw = _load(sweep_file, workspace)
    if parameter is not None and parameter not in sw.varied:
        _fail(click.BadParameter(f"{parameter!r} is not varied in this sweep; varied: {', '.join(sw.varied)}",
                                 param_hint="--parameter"))
    res = sw.collect(parameter=parameter, plots=not no_plots, output=output, ci_method=ci_method,
                     confidence=confidence)
    n_sum = sum(r.get("duration_ps") is not None for r in res.rows)
    click.echo(f"{len(res.rows)} points, {n_sum} with analysis summaries")
    for name, path in res.files.items():
        click.echo(f"  {name}: {path}")
    if "statistics" in res.files:
        from .sweep import format_statistics

        for line in format_statistics(json.loads(res.files["statistics"].read_text())):
            click.echo(line)
    if not no_plots and n_sum == 0:
        click.echo("  no analysis summaries yet: plots skipped")
