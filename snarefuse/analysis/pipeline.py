"""``analyze_run``: every analysis of a run directory in one streamed pass, written to ``analysis/``.

Reads ``system.pdb`` and ``trajectory.dcd`` (or ``.xtc``) of a run directory, and ``manifest.json`` if
present (``units.tau_ps`` converts times to tau, ``units.tau_diffusion_ns`` to diffusion-calibrated
physical time, ``units.sigma_nm`` lengths to sigma; ``contact_axis`` places the contact axis). Writes, atomically:

* ``membranes.csv``   per-frame area per lipid, thickness, tail order, leaflet counts of each membrane
* ``leaflets.csv``    per-frame leaflet sizes and membrane composition
* ``fusion.csv``      per-frame separation, lipid mixing, diaphragm, pore, state (two-membrane runs)
* ``contact_map.csv`` the time-averaged and last-frame gap maps (``u_nm, v_nm, gap_mean_nm, gap_last_nm``)
* ``snare.csv``       per-frame, per-complex SNARE metrics (zippering by layer geometry and by native contacts
  formed, the contacts read from ``system.xml``; TMD tilt and depth, ring radius, linker extension and
  worm-like-chain force) when ``manifest.json`` lists ``snares``
* ``summary.json``    first-passage times (ps, ns, tau, physical ns), membrane property means, options, notes
* ``separation.png, pore_radius.png, timeline.png, contact_map.png, membranes.png, snare.png``

For a run with a single membrane the two-membrane analyses are skipped and ``summary.json`` says so;
likewise the SNARE metrics without SNARE complexes (``summary["snare"]["skipped"]``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_write_bytes, atomic_write_json
from ..errors import RunDirectoryError
from ..rundir import AnalysisDirectory, RunDirectory
from ..trajfile import dcd_frame_counts, trajectory_header_problem
from . import kernels as K
from .base import AnalysisError, Table, TrajectorySource, run_analyses
from .fusion import FusionAnalysis
from .lengths import lengths_nm
from .membrane import LeafletAnalysis, MembraneAnalysis
from .snare import SnareAnalysis, check_snare_options
from .trigger import trigger_summary

def _clean(x: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _times(time_ps: float, units: dict[str, float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {"time_ps": time_ps, "time_ns": time_ps / 1000.0}
    tau = units.get("tau_ps")
    out["time_tau"] = time_ps / tau if tau else None
    if tau and "tau_diffusion_ns" in units:
        out["time_physical_ns"] = time_ps / tau * units["tau_diffusion_ns"]
    return out


def _stats(v: np.ndarray) -> dict[str, float]:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    return {"mean": float(v.mean()) if len(v) else float("nan"), "std": float(v.std()) if len(v) else float("nan")}


def _figure(path: Path, draw: Callable[[Any], Any], size: tuple[float, float] = (6.4, 4.0), rows: int = 1) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    draw(axes if rows > 1 else axes[0])
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write_bytes(path, buf.getvalue())


def _map_table(maps: dict[str, Any]) -> Table | None:
    gm = maps.get("gap_mean")
    if gm is None:
        return None
    u0, u1, v0, v1 = maps["gap_extent"]
    nu, nv = gm.shape
    cu = u0 + (np.arange(nu) + 0.5) * (u1 - u0) / nu
    cv = v0 + (np.arange(nv) + 0.5) * (v1 - v0) / nv
    U, V = np.meshgrid(cu, cv, indexing="ij")
    return Table(u_nm=U.ravel(), v_nm=V.ravel(), gap_mean_nm=gm.ravel(), gap_last_nm=maps["gap_last"].ravel())


def analyze_run(run_dir: str | Path, out_dir: str | Path | None = None, *, start: int | None = None,
                stop: int | None = None, step: int | None = None, chunk: int = 100, dt_ps: float | None = None,
                membranes: tuple[int, int] = (0, 1), contact_xy: tuple[float, float] | None = None,
                geometry: tuple[str | None, ...] | None = None, contact_radius: float | None = None,
                zone_radius: float | None = None, persist: int = 3, stalk_min_lipids: int = 10,
                diaphragm_min_radius: float | None = None, expanded_pore_radius: float | None = None,
                min_pore_radius: float | None = None, block_radius: float | None = None,
                zip_cutoff_nm: float | None = None, persistence_length_nm: float | None = None,
                local_radius_nm: float | None = None, temperature_k: float | None = None,
                figures: bool = True) -> dict[str, Any]:
    """Analyse a run directory and write tables, ``summary.json`` and figures.

    The SNARE metrics (:class:`~snarefuse.analysis.snare.SnareAnalysis`) run when ``manifest.json`` lists
    ``snares``.

    Parameters
    ----------
    run_dir : path
        Directory with ``system.pdb`` and a trajectory (and optionally ``manifest.json``); which trajectory is
        :meth:`snarefuse.rundir.RunDirectory.trajectory`'s rule.
    out_dir : path, optional
        Output directory (default ``run_dir/analysis``), created if needed.
    start, stop, step : int, optional
        Frames analysed (``start:stop:step``).
    chunk : int
        Frames read at once; memory ~ ``chunk x n_atoms x 12`` bytes, whatever the trajectory length.
    dt_ps : float, optional
        Time between frames (ps), overriding the trajectory's times (DCD header / XTC times).
    membranes, contact_xy, geometry, contact_radius, zone_radius
        Contact geometry, see :class:`~snarefuse.analysis.fusion.FusionAnalysis`; ``contact_xy`` defaults to
        the manifest's ``contact_axis.point_nm`` when that axis runs along z, else the box centre.
    persist : int
        Flicker rule: a state is reached when it (or a later one) holds ``persist`` consecutive frames.
    stalk_min_lipids, diaphragm_min_radius, expanded_pore_radius, min_pore_radius, block_radius
        State thresholds, see :class:`~snarefuse.analysis.fusion.FusionAnalysis`. The lengths left unset, and
        every other length the analyses judge by (:data:`~snarefuse.analysis.lengths.LENGTHS_NM`), are those at
        the run's sigma (``units.sigma_nm`` of ``manifest.json``, else 0.88 nm): a system written with another
        sigma gets the calls the same system gets at 0.88 nm.
    zip_cutoff_nm, persistence_length_nm, local_radius_nm, temperature_k : float or Quantity, optional
        Options of the SNARE metrics (:data:`~snarefuse.analysis.snare.SNARE_OPTIONS`): the zipping
        threshold (default 1.8 nm), the linker persistence length (0.5 nm), the radius of a TMD's lipid
        patch (2.5 nm) and the temperature of the linker force (default the manifest's
        ``units.temperature_k``, else 310 K); each a finite number > 0 in the unit its name ends with, or
        an OpenMM Quantity. Checked before anything is read; those given are recorded in
        ``summary["options"]["snare_options"]``.
    figures : bool
        Write the PNG figures.

    Raises
    ------
    RunDirectoryError
        ``run_dir`` lacks ``system.pdb`` or the trajectory, or ``manifest.json`` is malformed (the message names
        the file).
    AnalysisError
        A bad SNARE option (the message names it and what is accepted), no lipids, no frames.

    Returns
    -------
    dict
        The summary written to ``summary.json``.
    """
    given = {"zip_cutoff_nm": zip_cutoff_nm, "persistence_length_nm": persistence_length_nm,
             "local_radius_nm": local_radius_nm, "temperature_k": temperature_k}
    snare_opts = check_snare_options({k: v for k, v in given.items() if v is not None})
    rd = RunDirectory(run_dir)
    run_dir = rd.path
    pdb = rd.system_pdb
    top = rd.topology()
    traj = rd.trajectory()
    # checked here because mdtraj answers a file that is not a trajectory of this topology with a bare OSError
    problem = trajectory_header_problem(traj, traj.suffix.lstrip("."), top.n_atoms)
    if problem:
        raise RunDirectoryError(traj, f"{problem}; it cannot be analysed with {pdb.name} (a run killed before its "
                                "first frame leaves it empty: run it further)")
    if traj.suffix == ".dcd":
        counted, whole = dcd_frame_counts(traj, top.n_atoms)
        if counted > whole:
            raise RunDirectoryError(traj, f"its header counts {counted} frames but it holds {whole} complete ones: "
                                    "it was cut short (a partial copy?), or a run is writing it; copy the whole file, "
                                    "or analyse once the run has stopped")
    out = AnalysisDirectory(out_dir) if out_dir is not None else rd.analysis()
    out.path.mkdir(parents=True, exist_ok=True)
    manifest = rd.manifest()
    units = rd.units()
    if contact_xy is None:
        contact_xy = rd.contact_xy()
    src = TrajectorySource(traj, top, dt_ps=dt_ps)
    if src.lipids.n_lipids == 0:
        raise AnalysisError(f"{pdb}: no lipid residues (atoms named H, T1, T2[, T3]) found")
    notes: list[str] = []
    if src.time_source == "frame_index":
        notes.append(f"{traj.name} has no frame times: time_ps is the frame index; pass dt_ps to set them")
    sigma = units.get("sigma_nm", K.SIGMA_NM)
    lengths = lengths_nm(sigma)
    leaflets = LeafletAnalysis(src, cutoff=lengths["leaflet_cutoff"], store_labels=False, chunk=chunk)
    mem = MembraneAnalysis(src, geometry=geometry, leaflet_cutoff=lengths["leaflet_cutoff"], chunk=chunk)
    analyses: list[Any] = [leaflets, mem]
    fusion = None
    n_mem = src.lipids.n_membranes
    if n_mem >= 2:
        fusion = FusionAnalysis(src, membranes=membranes, contact_xy=contact_xy, geometry=geometry,
                                contact_radius=contact_radius, zone_radius=zone_radius, persist=persist,
                                stalk_min_lipids=stalk_min_lipids, diaphragm_min_radius=diaphragm_min_radius,
                                expanded_pore_radius=expanded_pore_radius, min_pore_radius=min_pore_radius,
                                block_radius=block_radius, sigma_nm=sigma, chunk=chunk)
        analyses.append(fusion)
    else:
        skip_note = "single membrane: two-membrane analyses (separation, stalk, diaphragm, pore, timeline) skipped"
        notes.append(skip_note)
    snare = None
    spec = rd.spec() if rd.spec_yaml.exists() else None
    if manifest.get("snares"):
        t_k = (manifest.get("units") or {}).get("temperature_k")
        snare_kw: dict[str, Any] = {"temperature_k": float(t_k)} if isinstance(t_k, (int, float)) else {}
        snare_kw.update(snare_opts)
        # native contacts formed: the pairs and r0 of the System's contact forces; the clamp's layers when it has one
        if rd.system_xml.exists():
            snare_kw["contacts"] = rd.system_xml
        else:
            notes.append(f"{rd.system_xml.name} not found: SNARE native contacts (q_* columns) not measured")
        clamp = spec.system.snares.clamp if spec is not None and spec.system.snares is not None else None
        if clamp is not None:
            snare_kw["clamp_layers"] = tuple(clamp.layers)
        snare = SnareAnalysis(src, snares=manifest["snares"], membranes=membranes, contact_xy=contact_xy,
                              geometry=geometry, chunk=chunk, **snare_kw)
        analyses.append(snare)
    elif snare_opts:
        notes.append(f"SNARE options {sorted(snare_opts)} given, but manifest.json lists no SNARE complexes: not used")
    run_analyses(analyses, start=start, stop=stop, step=step, chunk=chunk)
    n_frames = mem.table.n_rows
    if n_frames == 0:
        raise AnalysisError(f"{traj}: no frames in start={start}, stop={stop}, step={step}")

    files: list[str] = []

    def write_table(analysis: Any, name: str) -> None:
        analysis.to_csv(out.table(name))
        files.append(out.table(name).name)

    def write_figure(name: str, draw: Callable[[Any], Any], **kw: Any) -> None:
        _figure(out.figure(name), draw, **kw)
        files.append(out.figure(name).name)

    write_table(mem, "membranes")
    write_table(leaflets, "leaflets")
    props: dict[str, Any] = {}
    for m, kind in enumerate(mem.results.kinds):
        p = f"m{m}_"
        apl, thick = _stats(mem.table[p + "apl_nm2"]), _stats(mem.table[p + "thickness_nm"])
        props[f"m{m}"] = {
            "kind": kind, "apl_nm2": apl, "apl_sigma2": {k: v / sigma**2 for k, v in apl.items()},
            "thickness_nm": thick, "thickness_sigma": {k: v / sigma for k, v in thick.items()},
            "tail_order": _stats(mem.table[p + "tail_order"])}
    t_ps = mem.table["time_ps"]
    summary: dict[str, Any] = {
        "run_dir": str(run_dir), "trajectory": traj.name, "n_frames": n_frames,
        "frames": {"start": start, "stop": stop, "step": step},
        "time_first": _times(float(t_ps[0]), units), "time_last": _times(float(t_ps[-1]), units),
        "time_source": src.time_source, "units": units or None, "n_membranes": n_mem, "membrane_kinds": mem.results.kinds,
        "membrane_properties": props, "sigma_nm_used": sigma,
    }
    if not units:
        notes.append("no manifest.json units: times in ps/ns only, sigma = 0.88 nm assumed")
    tau_ps = units.get("tau_ps")
    time_unit = "tau" if tau_ps else "ns"

    if fusion is not None:
        ft = fusion.table
        write_table(fusion, "fusion")
        maps = fusion.results.maps
        mt = _map_table(maps)
        if mt is not None:
            write_table(mt, "contact_map")
        fp = {name: {"frame": v["frame"], **_times(v["time_ps"], units)} for name, v in fusion.results.first_passage.items()}
        summary["fusion"] = {
            "membranes": list(membranes), "geometry": list(fusion.separation._kinds or ()),
            "first_passage": fp, "final_state": str(ft["state_name"][-1]),
            "max_state_reached": max((n for n, v in fp.items() if v["frame"] is not None and n in K.STATES),
                                     key=K.STATES.index, default=None),
            "ruptured": fp.get("rupture", {}).get("frame") is not None,
            "persist_frames": persist,
            "flicker_rule": (f"a state counts as reached when it or a later state holds for {persist} consecutive "
                             "analysed frames; its time is that of the first frame of the first such run"),
            "thresholds": dict(fusion.thresholds, min_pore_radius_nm=fusion.pore.min_pore_radius,
                               block_radius_nm=fusion.pore.block_radius, min_rim_seal=fusion.pore.min_rim_seal,
                               hold_rim_seal=fusion.pore.hold_rim_seal,
                               contact_radius_nm=fusion.separation.contact_radius, sigma_nm=sigma),
            "min_gap_nm": float(np.nanmin(ft["min_gap_nm"])) if np.isfinite(ft["min_gap_nm"]).any() else None,
            "max_pore_radius_nm": float(np.max(ft["pore_radius_nm"])),
            "max_rupture_radius_nm": float(np.max(ft["rupture_radius_nm"])),
            "max_diaphragm_radius_nm": float(np.max(ft["diaphragm_radius_nm"])),
            "max_contact_lipids": int(np.max(ft["contact_lipids"])),
            "max_stalk_lipids": int(np.max(ft["stalk_lipids"])),
        }
        if "markers_crossed" in ft:
            summary["fusion"]["max_markers_crossed"] = int(np.max(ft["markers_crossed"]))
    else:
        summary["fusion"] = {"skipped": skip_note}
    if snare is not None:
        write_table(snare, "snare")
        summary["snare"] = snare.results.summary
    else:
        summary["snare"] = {"skipped": "no SNARE complexes ('snares' in manifest.json): SNARE metrics skipped"}
    # a run with a trigger or a clamp (regulated exocytosis): first passages from the trigger, clamped-layer zipping
    trigger_ps = None
    if spec is not None and (spec.run.protocol.trigger is not None
                             or (spec.system.snares is not None and spec.system.snares.clamp is not None)):
        summary["trigger"] = trigger_summary(spec, summary.get("fusion"), snare.table if snare is not None else None,
                                             **({"zip_cutoff_nm": snare_opts["zip_cutoff_nm"]}
                                                if "zip_cutoff_nm" in snare_opts else {}))
        trigger_ps = (summary["trigger"]["trigger"] or {}).get("time_ps")

    if figures:
        from .. import plot as P

        def draw_membranes(axes: list[Any]) -> None:
            for ax, suffix, label in zip(axes, ("_apl_nm2", "_thickness_nm", "_tail_order"),
                                         ("area per lipid (nm²)", "head-head thickness (nm)", "tail order S")):
                P.plot_columns(mem.table, [c for c in mem.table.columns if c.endswith(suffix)], ylabel=label,
                               ax=ax, time_unit=time_unit, tau_ps=tau_ps)

        write_figure("membranes", draw_membranes, size=(6.4, 8.0), rows=3)
        if fusion is not None:
            ft = fusion.table
            fpass = fusion.results.first_passage
            write_figure("separation", lambda ax: P.plot_separation(ft, ax=ax, time_unit=time_unit, tau_ps=tau_ps))
            write_figure("pore_radius", lambda ax: P.plot_pore_radius(ft, ax=ax, time_unit=time_unit, tau_ps=tau_ps))
            write_figure("timeline", lambda ax: P.plot_timeline(ft, ax=ax, time_unit=time_unit, tau_ps=tau_ps,
                                                                first_passage=fpass, trigger_ps=trigger_ps))
            maps = fusion.results.maps
            if maps.get("gap_mean") is not None:
                write_figure("contact_map", lambda ax: P.plot_contact_map(
                    maps["gap_mean"], maps["gap_extent"], ax=ax, contact_radius=maps["contact_radius"],
                    pore_mask=maps["pore_last"], pore_extent=maps["pore_extent"],
                    diaphragm_mask=maps["diaphragm_last"], diaphragm_extent=maps["diaphragm_extent"]),
                    size=(6.0, 5.0))
        if snare is not None:
            st = snare.table

            with_q = "q_all" in st

            def draw_snare(axes: list[Any]) -> None:
                P.plot_zippering(st, ax=axes[0], time_unit=time_unit, tau_ps=tau_ps, trigger_ps=trigger_ps)
                if with_q:
                    P.plot_native_contacts(st, ax=axes[1], time_unit=time_unit, tau_ps=tau_ps, trigger_ps=trigger_ps)
                P.plot_linker_force(st, ax=axes[-1], time_unit=time_unit, tau_ps=tau_ps)

            write_figure("snare", draw_snare, size=(6.4, 10.0 if with_q else 7.0), rows=3 if with_q else 2)
    summary["files"] = files + [out.summary_json.name]
    summary["notes"] = notes
    summary["options"] = {"chunk": chunk, "dt_ps": dt_ps, "contact_xy": contact_xy, "geometry": geometry,
                          "zone_radius": zone_radius, "snare_options": snare_opts or None}
    summary = _clean(summary)
    atomic_write_json(out.summary_json, summary)
    return summary
