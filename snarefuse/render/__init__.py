"""Pictures of a run: cross-sections through the contact axis, top views of the contact zone, an overview
of the fusion stages and an animation, all drawn with matplotlib (Agg).

Every picture is drawn in the analysis's own contact frame
(:func:`~snarefuse.analysis.contact.compute_contact_frame`): ``u, v`` lateral, ``s`` along the normal that
points from membrane A to membrane B, the origin on the contact axis (planar-planar: through the
manifest's contact point, vesicle-planar: through the vesicle centre). Each membrane is unwrapped about
its own centre, as :func:`~snarefuse.analysis.contact.contact_beads` does, so a membrane split by the
periodic boundary is drawn whole; lumen gas is unwrapped about the centre of its vesicle, protein beads
by the minimum image about the origin.

* cross-section: the beads of a slab ``|v| <= slab / 2`` (by default 2 nm thick) containing the axis,
  projected on the ``(u, s)`` plane, nearer beads drawn over farther ones;
* top view: the beads within ``depth / 2`` of the contact plane (``|s|``, default +-3 nm) and inside the
  contact zone, seen along the normal, with the analysis's pore and diaphragm outlined; lumen gas is left
  out so that a pore shows as an empty region.

:func:`render_run` does it for a run directory (``snarefuse render``): one cross-section and one top view
per first-passage frame of every state the analysis's ``summary.json`` lists, the stages side by side
(``stages.png``) and the animation of the cross-section (``movie.gif``, and ``movie.mp4`` where ffmpeg is
installed), into ``analysis/render/``.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis import kernels as K
from ..analysis.base import Table, TrajectorySource
from ..analysis.lengths import lengths_nm
from ..io import atomic_write_json
from ..rundir import RunDirectory, manifest_contact_xy
from .draw import (BEAD_SCALE, DIAPHRAGM_COLOR, GAS_COLOR, HEAD_COLORS, MARKER_COLOR, PORE_COLOR, PROTEIN_COLOR,
                   TAIL_COLORS, TMD_COLOR, Limits, _figure, _save, bead_colors, legend_entries, plot_cross_section,
                   plot_stages, plot_top_view, section_figsize, section_limits, write_movie)
from .scene import (OPENING, F, GAS, HEAD, MARKER, OTHER, PROTEIN, SLAB_NM, TAIL, TMD, TOP_DEPTH_NM, BeadClasses,
                    ContactSettings, FrameLabel, RenderError, Snapshot, classify_beads, contact_coordinates,
                    make_snapshot, pick_event, recenter, section_plane, zone_selection)

__all__ = [
    "BEAD_SCALE", "DIAPHRAGM_COLOR", "GAS", "GAS_COLOR", "HEAD", "HEAD_COLORS", "MARKER", "MARKER_COLOR", "OPENING",
    "OTHER", "PORE_COLOR", "PROTEIN", "PROTEIN_COLOR", "SLAB_NM", "TAIL", "TAIL_COLORS", "TMD", "TMD_COLOR",
    "TOP_DEPTH_NM",
    "BeadClasses", "ContactSettings", "FrameLabel", "Limits", "RENDER_INDEX", "RenderError", "RenderResult",
    "Snapshot", "bead_colors", "classify_beads", "contact_coordinates", "legend_entries", "make_snapshot",
    "parse_frames", "pick_event", "plot_cross_section", "plot_stages", "plot_top_view", "recenter", "render_run",
    "section_limits", "section_plane", "stage_frames", "write_movie", "zone_selection",
]

#: Largest number of frames of an animation when ``every`` is not given.
MOVIE_FRAMES = 120
#: Name of the file that marks a directory as written by render_run, and lists what it wrote.
RENDER_INDEX = "render.json"


# ---------------------------------------------------------------------------------------------
# a run directory
# ---------------------------------------------------------------------------------------------
@dataclass
class RenderResult:
    """What :func:`render_run` wrote (``files``) and what the user should know (``notes``)."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RenderError(f"{path}: cannot read ({e})") from None
    if not isinstance(data, dict):
        raise RenderError(f"{path}: expected a JSON object")
    return data


def _settings(summary: Mapping[str, Any], manifest: Mapping[str, Any], n_membranes: int) -> ContactSettings:
    fus = summary.get("fusion") or {}
    opts = summary.get("options") or {}
    th = fus.get("thresholds") or {}
    xy = opts.get("contact_xy") or manifest_contact_xy(dict(manifest))
    if "skipped" in fus or n_membranes < 2:
        membranes: tuple[int, ...] = (0,)
    else:
        membranes = tuple(int(m) for m in fus.get("membranes", (0, 1)))
    kinds = fus.get("geometry") or None
    return ContactSettings(
        membranes=membranes, kinds=tuple(kinds) if kinds else None,
        contact_xy=(float(xy[0]), float(xy[1])) if xy else None, zone_radius=opts.get("zone_radius"),
        block_radius=th.get("block_radius_nm"), diaphragm_min_radius=th.get("diaphragm_min_radius"),
        stalk_min_lipids=int(th.get("stalk_min_lipids", 10)), min_pore_radius=th.get("min_pore_radius_nm"),
        lengths=lengths_nm(th.get("sigma_nm")))


def stage_frames(summary: Mapping[str, Any]) -> list[tuple[str, int]]:
    """``(state, frame)`` of every state with a first passage in ``summary["fusion"]["first_passage"]``,
    in order of frame (ties in the order of :data:`~snarefuse.analysis.kernels.STATES`, unknown states last)."""
    fp = (summary.get("fusion") or {}).get("first_passage") or {}
    order = {s: i for i, s in enumerate(K.STATES)}
    got = [(name, int(v["frame"])) for name, v in fp.items() if isinstance(v, Mapping) and v.get("frame") is not None]
    return sorted(got, key=lambda sf: (sf[1], order.get(sf[0], len(order)), sf[0]))


def parse_frames(text: str) -> list[int]:
    """``'0,12,40'`` -> ``[0, 12, 40]`` (frame indices >= 0)."""
    try:
        out = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise RenderError(f"frames: {text!r}; accepted comma-separated frame indices, e.g. '0,12,40'") from None
    if not out or min(out) < 0:
        raise RenderError(f"frames: {text!r}; accepted comma-separated frame indices >= 0, e.g. '0,12,40'")
    return out


def _frames_at(src: TrajectorySource, frames: Sequence[int]) -> dict[int, tuple[F, F, float]]:
    """``{frame: (xyz, box, time_ps)}`` of the given frames, streamed once."""
    want = set(frames)
    out: dict[int, tuple[F, F, float]] = {}
    if not want:
        return out
    for fr in src.iter_frames(min(want), max(want) + 1, 1, chunk=50):
        if fr.index in want:
            out[fr.index] = (fr.xyz, fr.box, fr.time_ps)
    return out


def _output_dir(out: Path) -> dict[str, Any]:
    """Check ``out`` is ours to write (absent, empty, or holding :data:`RENDER_INDEX`); the previous index."""
    index = out / RENDER_INDEX
    if index.exists():
        return _json(index)
    if out.exists() and any(out.iterdir()):
        raise RenderError(f"{out}: exists, is not empty and has no {RENDER_INDEX}, so it was not written by "
                          "'snarefuse render'; choose another output directory (-o)")
    return {}


def render_run(run_dir: str | Path, out_dir: str | Path | None = None, *, frames: Sequence[int] | None = None,
               slab_nm: float = SLAB_NM, top_depth_nm: float = TOP_DEPTH_NM, every: int | None = None,
               movie: bool = True, fmt: str = "png", analyze: bool = True) -> RenderResult:
    """Draw the pictures of a run directory (see the module docstring) and return what was written.

    Parameters
    ----------
    run_dir : path
        A run directory (``system.pdb``, ``trajectory.dcd``/``.xtc``, ``manifest.json``).
    out_dir : path, optional
        Default ``run_dir/analysis/render``; it must be new, empty, or an earlier render's (it holds
        :data:`RENDER_INDEX`); files an earlier render wrote and this one does not are removed.
    frames : sequence of int, optional
        Draw these frames instead of the first-passage frames.
    slab_nm, top_depth_nm : float
        Cross-section slab thickness and top-view depth, nm.
    every : int, optional
        Animate every ``every``-th frame (default: at most :data:`MOVIE_FRAMES` frames).
    movie : bool
        Write ``movie.gif`` (and ``movie.mp4`` when ffmpeg is on PATH).
    fmt : {'png', 'svg'}
        Format of the still pictures.
    analyze : bool
        Run ``analyze_run`` first when ``analysis/summary.json`` is missing (else raise).
    """
    from ..analysis.pipeline import analyze_run
    from ..errors import RunDirectoryError

    if fmt not in ("png", "svg"):
        raise RenderError(f"format: {fmt!r}; accepted 'png' or 'svg'")
    if every is not None and every < 1:
        raise RenderError(f"every: {every}; accepted an integer >= 1")
    rd = RunDirectory(run_dir)
    run_dir = rd.path
    if not rd.system_pdb.exists():
        raise RenderError(f"{rd.system_pdb}: not found; render needs a run directory made by "
                          "'snarefuse build'")
    try:
        traj = rd.trajectory()
    except RunDirectoryError as e:
        raise RenderError(f"{e}; run the system first ('snarefuse run {run_dir}')") from None
    out = Path(out_dir) if out_dir is not None else rd.analysis().render_dir
    previous = _output_dir(out)
    result = RenderResult(out)
    summary_path = rd.summary_json
    if not summary_path.exists():
        if not analyze:
            raise RenderError(f"{summary_path}: not found; run 'snarefuse analyze {run_dir}' first")
        result.notes.append(f"{summary_path} not found: ran 'snarefuse analyze {run_dir}' first")
        analyze_run(run_dir)
    elif traj.stat().st_mtime > summary_path.stat().st_mtime:
        result.notes.append(f"{traj.name} is newer than {summary_path}: the states drawn are those of the last "
                            f"analysis; run 'snarefuse analyze {run_dir}' to refresh them")
    summary = _json(summary_path)
    manifest = rd.manifest()
    top = rd.topology()
    classes = classify_beads(top, manifest)
    settings = _settings(summary, manifest, classes.lipids.n_membranes)
    units = summary.get("units") or manifest.get("units") or {}
    tau_ps, tau_d = units.get("tau_ps"), units.get("tau_diffusion_ns")
    fus_csv = rd.analysis().table("fusion")
    frame_state: dict[int, str] = {}
    fusion_table = None
    if fus_csv.exists():
        fusion_table = Table.from_csv(fus_csv)
        frame_state = {int(f): str(s) for f, s in zip(fusion_table["frame"], fusion_table["state_name"])}
    src = TrajectorySource(traj, top, dt_ps=(summary.get("options") or {}).get("dt_ps"))

    if frames is not None:
        wanted = [(frame_state.get(f, ""), f) for f in frames]
        names = [f"frame{f:05d}" for f in frames]
    else:
        wanted = stage_frames(summary)
        if not wanted:
            n = int(summary.get("n_frames") or 1)
            last = max(frame_state) if frame_state else n - 1
            wanted, names = [("first frame", 0), ("last frame", last)][: min(n, 2)], ["first", "last"][: min(n, 2)]
            why = ("the run has one membrane" if (summary.get("fusion") or {}).get("skipped") else
                   f"no state held for {(summary.get('fusion') or {}).get('persist_frames', '?')} consecutive "
                   f"frames in the {n} analysed")
            result.notes.append(f"no first passage in summary.json ({why}): drew the first and last frames")
        else:
            names = [s for s, _ in wanted]
    data = _frames_at(src, [f for _, f in wanted])
    missing = sorted({f for _, f in wanted} - set(data))
    if missing:
        raise RenderError(f"frames {missing}: not in {traj} ({src.path}); it has fewer frames")
    out.mkdir(parents=True, exist_ok=True)
    # the index first, listing everything this render may write, so that a render that fails half-way
    # leaves a directory a later render still recognises as its own
    planned = [f"{k}_{name}.{fmt}" for name in names for k in ("section", "top")] + [f"stages.{fmt}"]
    planned += ["movie.gif", "movie.mp4"] if movie else []
    index = {"run_dir": str(run_dir), "slab_nm": slab_nm, "top_depth_nm": top_depth_nm,
             "frames": {name: f for (_, f), name in zip(wanted, names)}}
    atomic_write_json(out / RENDER_INDEX, {**index, "files": sorted(set(previous.get("files", [])) | set(planned)),
                                           "complete": False})
    written: list[Path] = []
    snaps: list[Snapshot] = []
    for (state, f), name in zip(wanted, names):
        xyz, box, t_ps = data[f]
        label = FrameLabel(f, t_ps, state, tau_ps, tau_d)
        snaps.append(make_snapshot(xyz, box, classes, label, settings))
    with_event = [sn for sn in snaps if sn.event_uv is not None]
    center_on = with_event[-1] if with_event else None
    if center_on is not None:
        on = f"{center_on.event} of frame {center_on.label.frame}"
        snaps = [recenter(sn, center_on.event_uv, on) for sn in snaps]
        u, v = snaps[0].center
        if snaps[0].center_on and snaps[0].cf.periodic:
            result.notes.append(f"planar membranes: pictures centred on the {on} at (u, v) = ({u:.1f}, {v:.1f}) nm "
                                "from the contact axis")
        elif snaps[0].center_on:
            result.notes.append(f"cross-sections turned {snaps[0].section_angle_deg:.0f}° about the contact axis to "
                                f"pass through the {on} at (u, v) = ({u:.1f}, {v:.1f}) nm")
    lim = section_limits(snaps, slab_nm)
    for sn, name in zip(snaps, names):
        fig = _figure(section_figsize(lim, 7.0))
        plot_cross_section(sn, ax=fig.add_subplot(1, 1, 1), slab_nm=slab_nm, limits=lim)
        written.append(out / f"section_{name}.{fmt}")
        _save(fig, written[-1], fmt)
        fig = _figure((7.5, 6.0))
        plot_top_view(sn, ax=fig.add_subplot(1, 1, 1), depth_nm=top_depth_nm)
        written.append(out / f"top_{name}.{fmt}")
        _save(fig, written[-1], fmt)
    fus = (summary.get("fusion") or {}).get("first_passage")
    fig = plot_stages(snaps, fig=None, slab_nm=slab_nm, timeline=fusion_table, first_passage=fus)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    written.append(out / f"stages.{fmt}")
    _save(fig, written[-1], fmt)

    if movie:
        from matplotlib.animation import FFMpegWriter

        n_frames = int(summary.get("n_frames") or 0) or len(frame_state) or 1
        k = every or max(1, math.ceil(n_frames / MOVIE_FRAMES))
        paths = [out / "movie.gif"]
        if FFMpegWriter.isAvailable() and shutil.which("ffmpeg"):
            paths.append(out / "movie.mp4")
        else:
            result.notes.append("movie.mp4 skipped: ffmpeg is not on PATH (movie.gif written)")

        def movie_frames() -> Iterator[Snapshot]:
            for fr in src.iter_frames(0, None, k, chunk=50):
                label = FrameLabel(fr.index, fr.time_ps, frame_state.get(fr.index, ""), tau_ps, tau_d)
                sn = make_snapshot(fr.xyz, fr.box, classes, label, settings, masks=False)
                yield recenter(sn, snaps[0].center, snaps[0].center_on) if snaps[0].center_on else sn

        (ax0, ax1), (ay0, ay1) = lim
        n = write_movie(movie_frames(), paths, slab_nm, ((ax0, ax1), (ay0 - 1.0, ay1 + 1.0)))
        result.notes.append(f"animation: {n} frames (" + ("every frame" if k == 1 else f"one in {k}")
                            + " of the trajectory)")
        written += paths
    for old in previous.get("files", []):
        p = out / str(old)
        if p not in written and p.parent == out and p.exists():
            p.unlink()
    atomic_write_json(out / RENDER_INDEX, {**index, "files": [p.name for p in written], "complete": True})
    result.files = written
    return result
