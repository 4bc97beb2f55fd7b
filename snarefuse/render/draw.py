"""Drawing for :mod:`snarefuse.render`: cross-sections, top views, the stages side by side, and the
animation. Every plot function takes ``ax=None`` and returns the Axes."""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..analysis import kernels as K
from ..io import atomic_write_bytes
from .scene import (GAS, HEAD, MARKER, OTHER, PROTEIN, SLAB_NM, TAIL, TMD, TOP_DEPTH_NM, BeadClasses, RenderError,
                    Snapshot, section_plane, zone_selection)

#: Axis limits ((x0, x1), (y0, y1)) of a cross-section, nm.
Limits = tuple[tuple[float, float], tuple[float, float]]
#: Drawn bead diameter in units of the bead size sigma (a little less than 1 so neighbours stay apart).
BEAD_SCALE = 0.9
#: Frames per second of the animation.
MOVIE_FPS = 8

#: Colours: heads dark, tails light, membrane A blue, membrane B red/orange.
HEAD_COLORS = ("#1d3f8f", "#a3172a")
TAIL_COLORS = ("#9fc8ee", "#f9bd7d")
OTHER_HEAD_COLOR, OTHER_TAIL_COLOR = "#4d4d4d", "#c8c8c8"
PROTEIN_COLOR, TMD_COLOR = "#34a853", "#0b5a27"
GAS_COLOR, MARKER_COLOR = "#9b9b9b", "#7b3f9e"
PORE_COLOR, DIAPHRAGM_COLOR = "black", "#7b3f9e"


def bead_colors(classes: BeadClasses, membranes: tuple[int, ...] = (0, 1)) -> NDArray[np.float64]:
    """RGBA colour of every bead, shape (n_atoms, 4): heads and tails of ``membranes[0]`` in
    :data:`HEAD_COLORS`/:data:`TAIL_COLORS` ``[0]``, of ``membranes[1]`` in ``[1]``, other membranes grey."""
    from matplotlib.colors import to_rgba

    out = np.tile(to_rgba(OTHER_TAIL_COLOR), (len(classes.kind), 1))
    for code, color in ((HEAD, OTHER_HEAD_COLOR), (PROTEIN, PROTEIN_COLOR), (TMD, TMD_COLOR), (GAS, GAS_COLOR),
                        (MARKER, MARKER_COLOR)):
        out[classes.kind == code] = to_rgba(color)
    for k, m in enumerate(membranes[:2]):
        on = classes.membrane == m
        out[on & (classes.kind == HEAD)] = to_rgba(HEAD_COLORS[k])
        out[on & (classes.kind == TAIL)] = to_rgba(TAIL_COLORS[k])
    return out


def legend_entries(classes: BeadClasses, membranes: tuple[int, ...] = (0, 1),
                   gas: bool = True) -> list[tuple[str, str]]:
    """``(label, colour)`` of the bead classes present, in drawing-legend order."""
    out = []
    for k, m in enumerate(membranes[:2]):
        out += [(f"membrane {m} heads", HEAD_COLORS[k]), (f"membrane {m} tails", TAIL_COLORS[k])]
    present = set(np.unique(classes.kind).tolist())
    if PROTEIN in present:
        out.append(("SNARE", PROTEIN_COLOR))
    if TMD in present:
        out.append(("SNARE TMD", TMD_COLOR))
    if gas and GAS in present:
        out.append(("lumen gas", GAS_COLOR))
    if MARKER in present:
        out.append(("content marker", MARKER_COLOR))
    return out


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _bead_area(ax: Any, diameter_nm: float) -> float:
    """Scatter marker area (points^2) of a disc ``diameter_nm`` across in the Axes' data units."""
    ax.apply_aspect()
    p = ax.transData.transform([[0.0, 0.0], [diameter_nm, 0.0]])
    d_pt = abs(p[1, 0] - p[0, 0]) * 72.0 / ax.figure.dpi
    return float(max(d_pt, 0.5) ** 2)


def section_limits(snapshots: Sequence[Snapshot], slab_nm: float = SLAB_NM, margin_nm: float = 1.0) -> Limits:
    """Common axis limits ``((x0, x1), (y0, y1))`` of cross-sections: lipid and protein beads of the slabs,
    plus ``margin_nm``; laterally at most the box (periodic contact frames)."""
    xs, ys = [], []
    for sn in snapshots:
        x, y, _, sel = section_plane(sn.coords, slab_nm, sn.section_angle_deg)
        sel &= np.isin(sn.classes.kind, (HEAD, TAIL, PROTEIN, TMD))
        xs.append(x[sel])
        ys.append(y[sel])
    x, y = np.concatenate(xs), np.concatenate(ys)
    if not len(x):
        raise RenderError("no lipid or protein bead in the cross-section slab; widen it (--slab)")
    x0, x1 = float(x.min()) - margin_nm, float(x.max()) + margin_nm
    if snapshots[0].cf.periodic:
        half = 0.5 * float(snapshots[0].box[0])
        x0, x1 = max(x0, -half), min(x1, half)
    return (x0, x1), (float(y.min()) - margin_nm, float(y.max()) + margin_nm)


def _handles(entries: list[tuple[str, str]]) -> list[Any]:
    from matplotlib.lines import Line2D

    return [Line2D([], [], ls="", marker="o", ms=8, mfc=c, mec="0.3", mew=0.5, label=lab) for lab, c in entries]


def _center_text(snapshot: Snapshot) -> str:
    if not snapshot.center_on:
        return ""
    u, v = snapshot.center
    if snapshot.cf.periodic:
        return f"\ncentred on the {snapshot.center_on} at (u, v) = ({u:.1f}, {v:.1f}) nm"
    return (f"\nsection at {snapshot.section_angle_deg:.0f}° through the {snapshot.center_on} at (u, v) = "
            f"({u:.1f}, {v:.1f}) nm")


def plot_cross_section(snapshot: Snapshot, ax: Any = None, slab_nm: float = SLAB_NM,
                       angle_deg: float | None = None, limits: Limits | None = None, legend: bool = True,
                       title: bool = True, sigma_nm: float = K.SIGMA_NM) -> Any:
    """Cross-section through the contact axis: the beads of a slab ``slab_nm`` thick containing the axis,
    on the (lateral, normal) plane, equal aspect, axes in nm; nearer beads drawn over (and a little
    brighter than) farther ones. Returns the Axes."""
    ax = _axes(ax)
    angle = snapshot.section_angle_deg if angle_deg is None else angle_deg
    x, y, depth, sel = section_plane(snapshot.coords, slab_nm, angle)
    (x0, x1), (y0, y1) = limits if limits is not None else section_limits([snapshot], slab_nm)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    idx = np.flatnonzero(sel & (snapshot.classes.kind != OTHER))
    idx = idx[np.argsort(-depth[idx], kind="stable")]  # viewer on the -depth side: far beads first
    col = bead_colors(snapshot.classes, snapshot.cf.membranes)[idx]
    shade = 0.8 + 0.2 * (0.5 - depth[idx] / slab_nm)  # 1.0 at the near face, 0.8 at the far one
    col[:, :3] *= np.clip(shade, 0.0, 1.0)[:, None]
    ax.scatter(x[idx], y[idx], s=_bead_area(ax, BEAD_SCALE * sigma_nm), c=col, linewidths=0, rasterized=True)
    ax.axvline(0.0, color="0.5", lw=0.6, ls=":", zorder=0)
    ax.set_xlabel("lateral position u (nm)")
    ax.set_ylabel("position along the normal s (nm)")
    if title:
        ax.set_title(snapshot.label.title(f"cross-section ({slab_nm:g} nm slab)") + _center_text(snapshot),
                     fontsize="medium")
    if legend:
        ax.legend(handles=_handles(legend_entries(snapshot.classes, snapshot.cf.membranes)), fontsize="small",
                  loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    return ax


def plot_top_view(snapshot: Snapshot, ax: Any = None, depth_nm: float = TOP_DEPTH_NM, legend: bool = True,
                  title: bool = True, masks: bool = True, sigma_nm: float = K.SIGMA_NM, seed: int = 0) -> Any:
    """Top view of the contact zone: lipid and protein beads within ``depth_nm / 2`` of the contact plane
    and inside the contact zone, seen along the normal, both membranes interleaved (random drawing order);
    a pore shows as an empty region. With ``masks``, what the analysis's kernels find on this frame is
    outlined: columns open through both membranes (solid), through one membrane only (dotted, in its head
    colour), the diaphragm (dashed). Returns the Axes."""
    ax = _axes(ax)
    c = snapshot.coords
    sel = zone_selection(c, depth_nm, snapshot.zone_radius) & np.isin(snapshot.classes.kind, (HEAD, TAIL, PROTEIN, TMD))
    if snapshot.zone_radius is not None:
        r = snapshot.zone_radius
        lim = (-r - 0.5, r + 0.5), (-r - 0.5, r + 0.5)
    else:
        lim = (-0.5 * snapshot.box[0], 0.5 * snapshot.box[0]), (-0.5 * snapshot.box[1], 0.5 * snapshot.box[1])
    ax.set_xlim(*lim[0])
    ax.set_ylim(*lim[1])
    ax.set_aspect("equal")
    rng = np.random.default_rng(seed)
    colors = bead_colors(snapshot.classes, snapshot.cf.membranes)
    kind = snapshot.classes.kind
    for classes, scale in (((HEAD,), 0.7), ((TAIL,), 1.0), ((PROTEIN, TMD), 1.0)):
        # heads (smaller) under tails, so that tails in the contact plane (a stalk, a diaphragm) stand out;
        # random order within a class interleaves the two membranes
        idx = rng.permutation(np.flatnonzero(sel & np.isin(kind, classes)))
        if len(idx):
            ax.scatter(c[idx, 0], c[idx, 1], s=_bead_area(ax, scale * BEAD_SCALE * sigma_nm), c=colors[idx],
                       linewidths=0, rasterized=True)
    from matplotlib.lines import Line2D

    handles = _handles(legend_entries(snapshot.classes, snapshot.cf.membranes, gas=False))
    if masks and snapshot.grid is not None:
        U, V = snapshot.grid.centers()
        outlines = [(snapshot.diaphragm, DIAPHRAGM_COLOR, "--", "diaphragm"),
                    (snapshot.pore, PORE_COLOR, "-", "open through both" if len(snapshot.cf.membranes) > 1 else "hole")]
        for k, hole in enumerate(snapshot.holes[:2]):
            # over a fusion pore each membrane's projection is open wider than both together (the rim is the
            # other membrane's): a hole of one membrane counts only where it overlaps no opening through both
            alone = hole is not None and not (snapshot.pore is not None and (hole & snapshot.pore).any())
            outlines.append((hole if alone else None, HEAD_COLORS[k], ":",
                             f"hole in membrane {snapshot.cf.membranes[k]} only"))
        for mask, color, ls, name in outlines:
            if mask is not None and mask.any() and U.shape[0] > 1 and U.shape[1] > 1:
                ax.contour(U, V, mask.astype(float), levels=[0.5], colors=[color], linestyles=[ls], linewidths=1.5)
                handles.append(Line2D([], [], color=color, ls=ls, lw=1.5, label=name))
    if snapshot.zone_radius is not None:
        phi = np.linspace(0, 2 * np.pi, 200)
        ax.plot(snapshot.zone_radius * np.cos(phi), snapshot.zone_radius * np.sin(phi), color="0.4", lw=0.8, ls=":")
    ax.plot([0], [0], marker="+", color="k", ms=10, mew=1.2)
    a = np.radians(snapshot.section_angle_deg)
    reach = float(np.hypot(*lim[0]))
    ax.plot([-reach * np.cos(a), reach * np.cos(a)], [-reach * np.sin(a), reach * np.sin(a)], color="0.3", lw=0.8,
            ls="-.", zorder=3)
    handles.append(Line2D([], [], color="0.3", lw=0.8, ls="-.", label="cross-section plane"))
    ax.set_xlabel("u (nm)")
    ax.set_ylabel("v (nm)")
    if title:
        ax.set_title(snapshot.label.title(f"top view (|s| ≤ {depth_nm / 2:g} nm)") + _center_text(snapshot),
                     fontsize="medium")
    if legend:
        ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  borderaxespad=0.0, frameon=False)
    return ax


def plot_stages(snapshots: Sequence[Snapshot], fig: Any = None, slab_nm: float = SLAB_NM,
                titles: Sequence[str] | None = None, timeline: Mapping[str, Any] | None = None,
                first_passage: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
    """One row of cross-sections (one per snapshot) with common limits and one legend and, given the
    analysis's per-frame table (``timeline``: ``fusion.csv``), the fusion timeline below them with the
    first passages marked; returns the Figure."""
    from .. import plot as P

    if not snapshots:
        raise RenderError("plot_stages: no frames to draw")
    lim = section_limits(snapshots, slab_nm)
    n = len(snapshots)
    if fig is None:
        from matplotlib.figure import Figure

        w = (lim[0][1] - lim[0][0]) / (lim[1][1] - lim[1][0])
        width = max(3.2 * n * max(w, 0.6), 9.0 if timeline is not None else 0.0)  # room for the timeline legend
        fig = Figure(figsize=(min(width, 22.0), 4.4 + (2.6 if timeline is not None else 0.0)))
    rows = 2 if timeline is not None else 1
    gs = fig.add_gridspec(rows, n, height_ratios=[3.0, 1.5][:rows])
    axes = [fig.add_subplot(gs[0, k]) for k in range(n)]
    for k, (ax, sn) in enumerate(zip(axes, snapshots)):
        plot_cross_section(sn, ax=ax, slab_nm=slab_nm, limits=lim, legend=False, title=False)
        ax.set_title(titles[k] if titles else f"{sn.label.state.replace('_', ' ')}, frame {sn.label.frame}\n"
                     f"{sn.label.time_text(short=True)}", fontsize="medium")
        if k:
            ax.set_ylabel("")
            ax.tick_params(labelleft=False)
    lab = snapshots[0].label
    if timeline is not None:
        ax = fig.add_subplot(gs[1, :])
        P.plot_timeline(timeline, ax=ax, time_unit="tau" if lab.tau_ps else "ns", tau_ps=lab.tau_ps,
                        first_passage=first_passage)
        scale = 1.0 / lab.tau_ps if lab.tau_ps else 1e-3
        for name, fp in (first_passage or {}).items():
            t = fp.get("time_ps") if isinstance(fp, Mapping) else None
            if name not in P.STATES and t is not None and np.isfinite(t):
                # events the state axis does not hold (a rupture): marked on the time axis
                ax.axvline(t * scale, color="k", ls=":", lw=1.2, label=f"{name.replace('_', ' ')} seen")
        if lab.tau_ps and lab.tau_diffusion_ns:
            td = lab.tau_diffusion_ns
            top = ax.secondary_xaxis("top", functions=(lambda t: t * td, lambda t: t / td))
            top.set_xlabel("diffusion-calibrated time (ns)")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    entries = legend_entries(snapshots[0].classes, snapshots[0].cf.membranes)
    fig.legend(handles=_handles(entries), loc="lower center", ncol=min(len(entries), 8), fontsize="small",
               frameon=False)
    fig.tight_layout(rect=(0, 0.05 if timeline is not None else 0.08, 1, 1))
    return fig


def section_figsize(limits: Limits, axes_width: float = 6.0) -> tuple[float, float]:
    """Figure size (inches) of one cross-section with its legend on the right and a three-line title."""
    (x0, x1), (y0, y1) = limits
    return axes_width + 3.15, axes_width * (y1 - y0) / (x1 - x0) + 1.45


def _figure(size: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path, fmt: str, dpi: int = 150) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def write_movie(frames: Iterator[Snapshot], paths: Sequence[Path], slab_nm: float = SLAB_NM,
                limits: Limits | None = None, fps: int = MOVIE_FPS,
                dpi: int = 90) -> int:
    """Animate the cross-section of ``frames`` into each of ``paths`` (``.gif`` through Pillow, ``.mp4``
    through ffmpeg), written to a temporary name and renamed when complete. Returns the number of frames."""
    from matplotlib.animation import FFMpegWriter, PillowWriter

    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise RenderError("animation: no frames")
    lim = limits if limits is not None else section_limits([first], slab_nm, margin_nm=2.0)
    w, h = section_figsize(lim)
    fig = _figure((w, h))
    # fixed margins (inches) rather than tight_layout, so that every frame has the same Axes
    fig.subplots_adjust(left=0.85 / w, right=1.0 - 2.3 / w, bottom=0.6 / h, top=1.0 - 0.85 / h)
    ax = fig.add_subplot(1, 1, 1)
    tmps = [p.with_name(f".{p.stem}.tmp{p.suffix}") for p in paths]
    n = 0
    try:
        with ExitStack() as stack:
            writers = []
            for p, tmp in zip(paths, tmps):
                w = PillowWriter(fps=fps) if p.suffix == ".gif" else FFMpegWriter(fps=fps)
                stack.enter_context(w.saving(fig, str(tmp), dpi))
                writers.append(w)
            for sn in itertools.chain([first], it):
                ax.clear()
                plot_cross_section(sn, ax=ax, slab_nm=slab_nm, limits=lim)
                for w in writers:
                    w.grab_frame()
                n += 1
        for p, tmp in zip(paths, tmps):
            os.replace(tmp, p)
    finally:
        for tmp in tmps:
            if tmp.exists():
                tmp.unlink()
    return n
