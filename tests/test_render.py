"""snarefuse.render: the geometry on arrays with known answers, the pictures' content, and render_run /
'snarefuse render' on synthetic and real run directories."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import Image

from snarefuse import render as R
from snarefuse.analysis import analyze_run, testsystems as ts
from snarefuse.analysis.base import LipidIndex
from snarefuse.analysis.fusion import compute_contact_frame, contact_beads
from snarefuse.analysis.membrane import compute_membrane_geometry
from snarefuse.cli import main

UNITS = {"tau_ps": 9.09, "sigma_nm": 0.88, "tau_diffusion_ns": 7.744}


# ------------------------------------------------------------------------------ helpers
def _snapshot(t: mdtraj.Trajectory, frame: int = 0, classes: R.BeadClasses | None = None,
              state: str = "") -> R.Snapshot:
    classes = classes or R.BeadClasses.from_lipids(LipidIndex.from_topology(t.topology))
    label = R.FrameLabel(frame, float(t.time[frame]), state, UNITS["tau_ps"], UNITS["tau_diffusion_ns"])
    return R.make_snapshot(t.xyz[frame].astype(float), t.unitcell_lengths[frame].astype(float), classes, label)


def _draw(plot, snapshot: R.Snapshot, **kw):  # type: ignore[no-untyped-def]
    fig = Figure(figsize=(6, 5), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    plot(snapshot, ax=ax, legend=False, title=False, **kw)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].astype(float)
    return ax, rgb


def _is_color(rgb: np.ndarray, color: str) -> np.ndarray:
    """Pixels of ``color`` up to the depth shading (a factor 0.75-1 on RGB)."""
    c = np.array(to_rgb(color)) * 255
    k = rgb @ c / (c @ c)
    resid = np.linalg.norm(rgb - k[..., None] * c, axis=-1)
    return (k > 0.75) & (k < 1.02) & (resid < 12)


def _pixel(ax, x: float, y: float, height: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    px, py = ax.transData.transform((x, y))
    return int(round(height - py)), int(round(px))


def _run_dir(path: Path, t: mdtraj.Trajectory, dt_ps: float) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    t[0].save_pdb(str(path / "system.pdb"))
    t.save_dcd(str(path / "trajectory.dcd"))
    (path / "manifest.json").write_text(json.dumps({"units": UNITS}))
    analyze_run(path, dt_ps=dt_ps)
    return path


# ------------------------------------------------------------------------------ geometry on arrays
def test_section_plane_selects_the_slab() -> None:
    coords = np.array([[3.0, 0.9, 1.0], [-2.0, 1.1, 0.0], [0.0, -0.99, -4.0], [5.0, -1.5, 2.0]])
    x, y, depth, sel = R.section_plane(coords, 2.0)
    assert sel.tolist() == [True, False, True, False]
    np.testing.assert_allclose(x, coords[:, 0])
    np.testing.assert_allclose(y, coords[:, 2])
    np.testing.assert_allclose(depth, coords[:, 1])


def test_section_plane_at_90_degrees_uses_v_as_lateral() -> None:
    coords = np.array([[0.4, 3.0, 1.0], [1.5, -2.0, 0.0]])
    x, _, depth, sel = R.section_plane(coords, 1.0, angle_deg=90.0)
    np.testing.assert_allclose(x, [3.0, -2.0], atol=1e-12)
    np.testing.assert_allclose(depth, [-0.4, -1.5], atol=1e-12)
    assert sel.tolist() == [True, False]


def test_zone_selection_depth_and_radius() -> None:
    coords = np.array([[0.0, 0.0, 0.9], [0.0, 0.0, 1.1], [3.0, 4.0, 0.0], [6.0, 0.0, 0.0]])
    assert R.zone_selection(coords, 2.0).tolist() == [True, False, True, True]
    assert R.zone_selection(coords, 2.0, radius_nm=5.0).tolist() == [True, False, True, False]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_section_plane_refuses_bad_slab(bad: float) -> None:
    with pytest.raises(R.RenderError, match="slab"):
        R.section_plane(np.zeros((1, 3)), bad)


def test_contact_coordinates_agree_with_the_analysis_across_the_boundary() -> None:
    """A vesicle split by the periodic boundary: lipid beads get the analysis's own (u, v, s), and content
    beads inside the vesicle stay inside it (unwrapped about its centre)."""
    t = ts.vesicle_on_bilayer(6.0, n_side=24, n_markers=40, shift=(9.0, 7.0, 5.0))
    xyz, box = t.xyz[0].astype(float), t.unitcell_lengths[0].astype(float)
    lip = LipidIndex.from_topology(t.topology)
    classes = R.BeadClasses.from_lipids(lip, gas=lip.markers, gas_membrane=[1] * len(lip.markers))
    geoms = [compute_membrane_geometry(xyz, box, lip, m) for m in range(2)]
    cf = compute_contact_frame(geoms, box, (0, 1))
    coords = R.contact_coordinates(xyz, box, classes, geoms, cf)
    b = contact_beads(xyz, box, lip, geoms, cf)
    atoms = np.concatenate([lip.head, lip.tails[lip.tails >= 0]])  # contact_beads' order (heads, then tails)
    np.testing.assert_allclose(coords[atoms], np.column_stack([b.u, b.v, b.s]), atol=1e-9)
    centre = R.contact_coordinates(geoms[1].center[None], box, R.BeadClasses.from_lipids(
        LipidIndex.from_arrays([], [], [], 1)), geoms, cf)[0]
    r = np.linalg.norm(coords[lip.markers] - centre, axis=1)
    assert r.max() < geoms[1].radius


def test_loose_gas_goes_to_the_nearest_vesicle() -> None:
    t = ts.vesicle_on_bilayer(6.0, n_side=24, n_markers=20, shift=(9.0, 7.0, 5.0))
    xyz, box = t.xyz[0].astype(float), t.unitcell_lengths[0].astype(float)
    lip = LipidIndex.from_topology(t.topology)
    known = R.BeadClasses.from_lipids(lip, gas=lip.markers, gas_membrane=[1] * len(lip.markers))
    loose = R.BeadClasses.from_lipids(lip, gas=lip.markers)
    geoms = [compute_membrane_geometry(xyz, box, lip, m) for m in range(2)]
    cf = compute_contact_frame(geoms, box, (0, 1))
    np.testing.assert_allclose(R.contact_coordinates(xyz, box, loose, geoms, cf)[lip.markers],
                               R.contact_coordinates(xyz, box, known, geoms, cf)[lip.markers])


def test_classify_beads_from_manifest() -> None:
    t = ts.two_bilayers(n_side=4)
    top = t.topology.copy()
    n0 = top.n_atoms
    ch = top.add_chain()
    for _ in range(5):
        top.add_atom("CA", mdtraj.element.virtual, top.add_residue("ALA", ch))
    gch = top.add_chain()
    for _ in range(3):
        top.add_atom("G", mdtraj.element.virtual, top.add_residue("GAS", gch))
    manifest = {"snares": [{"first_atom": n0, "segment": ["motif", "motif", "linker", "tmd", "tmd"]}]}
    c = R.classify_beads(top, manifest)
    assert c.kind[n0:n0 + 5].tolist() == [R.PROTEIN, R.PROTEIN, R.PROTEIN, R.TMD, R.TMD]
    assert c.kind[n0 + 5:].tolist() == [R.GAS] * 3 and c.membrane[n0 + 5:].tolist() == [-1] * 3
    lip = LipidIndex.from_topology(t.topology)
    assert (c.kind[lip.head] == R.HEAD).all() and (c.kind[lip.tail_atoms] == R.TAIL).all()
    np.testing.assert_array_equal(c.membrane[lip.head], lip.membrane)
    lumen = {"membranes": [{"id": 0}, {"id": 1, "lumen": {"first_atom": n0 + 5, "n_gas": 3}}]}
    assert R.classify_beads(top, lumen).membrane[n0 + 5:].tolist() == [1, 1, 1]
    with pytest.raises(R.RenderError, match=r"snares\[0\]"):
        R.classify_beads(top, {"snares": [{"first_atom": n0}]})


def test_stage_frames_follow_the_summary_including_unknown_states() -> None:
    fp = {"docked": {"frame": 0}, "expanded_pore": {"frame": None}, "hemifused": {"frame": 7},
          "pore": {"frame": 9}, "rupture": {"frame": 7}, "stalk": {"frame": 7}}
    assert R.stage_frames({"fusion": {"first_passage": fp}}) == [
        ("docked", 0), ("stalk", 7), ("hemifused", 7), ("rupture", 7), ("pore", 9)]


def test_recenter_puts_an_off_axis_pore_on_the_axis() -> None:
    t = ts.fusion_pore(2.5, n_side=24, shift=(5.0, -4.0, 0.0))
    sn = _snapshot(t)
    assert sn.event == R.OPENING and "hole in membrane 0" not in sn.events
    np.testing.assert_allclose(sn.event_uv, (5.0, -4.0), atol=0.5)
    moved = R.recenter(sn, sn.event_uv, "pore")
    np.testing.assert_allclose(moved.event_uv, (0.0, 0.0), atol=0.3)
    assert moved.pore is not None and moved.grid is not None
    U, V = moved.grid.centers()
    np.testing.assert_allclose([U[moved.pore].mean(), V[moved.pore].mean()], [0.0, 0.0], atol=0.3)


def _torn(radius: float = 2.5, at: tuple[float, float] = (4.0, -3.0)) -> mdtraj.Trajectory:
    """Two bilayers, membrane 1 with a hole of ``radius`` at ``at`` (nm from the box-centre axis)."""
    t = ts.two_bilayers(gap=2.0, n_side=20)
    c = t.unitcell_lengths[0, :2] / 2 + np.array(at)
    keep = [a.index for r in t.topology.residues for a in r.atoms
            if r.chain.index == 0 or np.hypot(*(t.xyz[0, next(iter(r.atoms)).index, :2] - c)) > radius]
    return t.atom_slice(keep)


def test_a_hole_in_one_membrane_is_found_and_picked_for_a_rupture() -> None:
    sn = _snapshot(_torn(), state="rupture")
    assert sn.event == "hole in membrane 1" and R.OPENING not in sn.events
    np.testing.assert_allclose(sn.event_uv, (4.0, -3.0), atol=0.5)
    assert sn.holes[1] is not None and sn.holes[1].any() and sn.holes[0] is not None and not sn.holes[0].any()
    assert "stalk" not in sn.events and "diaphragm" not in sn.events


def test_recenter_turns_a_vesicle_section_towards_an_off_axis_event() -> None:
    sn = _snapshot(ts.vesicle_on_bilayer(6.0, n_side=24))
    assert not sn.cf.periodic
    turned = R.recenter(sn, (3.0, 3.0), "stalk")
    np.testing.assert_allclose(turned.section_angle_deg, 45.0)
    np.testing.assert_array_equal(turned.coords, sn.coords)
    assert R.recenter(sn, (0.5, 0.2), "stalk") is sn  # within OFF_AXIS_NM of the axis: left alone
    # the turned section holds the beads of the diagonal slab
    _, _, _, sel = R.section_plane(sn.coords, 2.0, turned.section_angle_deg)
    diag = np.abs(sn.coords[:, 0] - sn.coords[:, 1]) / np.sqrt(2) <= 1.0
    np.testing.assert_array_equal(sel, diag)


# ------------------------------------------------------------------------------ picture content
def test_cross_section_shows_membrane_b_above_membrane_a() -> None:
    """Both head colours present; membrane B (red) above the contact plane, A (blue) below."""
    sn = _snapshot(ts.two_bilayers(gap=2.0, n_side=16))
    ax, rgb = _draw(R.plot_cross_section, sn)
    mid, _ = _pixel(ax, 0.0, 0.0, rgb.shape[0])
    a, b = _is_color(rgb, R.HEAD_COLORS[0]), _is_color(rgb, R.HEAD_COLORS[1])
    assert a.sum() > 500 and b.sum() > 500
    assert b[:mid].sum() > 20 * b[mid:].sum() and a[mid:].sum() > 20 * a[:mid].sum()
    assert _is_color(rgb, R.TAIL_COLORS[0]).sum() > 500 and _is_color(rgb, R.TAIL_COLORS[1]).sum() > 500


def _central_bead_pixels(t: mdtraj.Trajectory, radius_nm: float) -> int:
    sn = _snapshot(t)
    ax, rgb = _draw(R.plot_top_view, sn)
    h = rgb.shape[0]
    r0, c0 = _pixel(ax, 0.0, 0.0, h)
    r1, c1 = _pixel(ax, radius_nm, 0.0, h)
    rad = abs(c1 - c0)
    yy, xx = np.mgrid[: rgb.shape[0], : rgb.shape[1]]
    disc = (yy - r0) ** 2 + (xx - c0) ** 2 <= rad**2
    beads = np.zeros(rgb.shape[:2], dtype=bool)
    for color in R.HEAD_COLORS + R.TAIL_COLORS:
        beads |= _is_color(rgb, color)
    return int((beads & disc).sum())


def test_top_view_of_a_pore_is_empty_in_the_middle() -> None:
    assert _central_bead_pixels(ts.fusion_pore(3.0, n_side=24), 2.0) == 0
    # control: a hemifusion diaphragm puts tails in the contact plane where the pore is
    assert _central_bead_pixels(ts.hemifusion_diaphragm(4.0, n_side=24), 2.0) > 200


def test_frame_label_units() -> None:
    lab = R.FrameLabel(12, 909.0, "hemifused", 9.09, 7.744)
    assert "t = 100 τ" in lab.title() and "774 ns" in lab.title() and "hemifused" in lab.title()
    assert "t = 909 ps" in R.FrameLabel(12, 909.0).title()


# ------------------------------------------------------------------------------ run directories
@pytest.fixture(scope="module")
def path_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run_dir(tmp_path_factory.mktemp("path"), ts.fusion_path(), ts.FUSION_PATH_DT_PS)


def test_render_run_writes_every_stage_and_a_movie(path_run: Path) -> None:
    r = R.render_run(path_run, every=5)
    out = path_run / "analysis" / "render"
    names = sorted(p.name for p in r.files)
    states = ("docked", "stalk", "hemifused", "pore", "expanded_pore")
    assert names == sorted([f"{k}_{s}.png" for s in states for k in ("section", "top")] + ["stages.png", "movie.gif"])
    for p in r.files:
        with Image.open(p) as im:
            im.verify()
    with Image.open(out / "movie.gif") as im:
        assert im.n_frames == 5  # 23 frames, every 5th
    index = json.loads((out / R.RENDER_INDEX).read_text())
    assert index["frames"]["pore"] == json.loads((path_run / "analysis" / "summary.json").read_text())[
        "fusion"]["first_passage"]["pore"]["frame"]
    with Image.open(out / "section_pore.png") as im:
        rgb = np.asarray(im.convert("RGB")).astype(float)
    assert _is_color(rgb, R.HEAD_COLORS[0]).sum() > 200 and _is_color(rgb, R.HEAD_COLORS[1]).sum() > 200


def test_render_cli_frames_svg_and_stale_files(path_run: Path) -> None:
    res = CliRunner().invoke(main, ["render", str(path_run), "--frames", "0,17", "--no-movie", "--format", "svg",
                                    "--top-depth", "3"])
    assert res.exit_code == 0, res.output
    out = path_run / "analysis" / "render"
    assert json.loads((out / R.RENDER_INDEX).read_text())["top_depth_nm"] == 3.0
    assert "section_frame00017.svg" in res.output and "movie.gif" not in res.output
    assert (out / "section_frame00017.svg").read_text().lstrip().startswith("<?xml")
    assert not (out / "section_pore.png").exists()  # an earlier render's file, not written this time


def test_render_refuses_a_directory_it_did_not_write(path_run: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(R.RenderError, match="not written by 'snarefuse render'"):
        R.render_run(path_run, tmp_path, movie=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_render_without_trajectory_says_what_to_run(tmp_path: Path) -> None:
    ts.two_bilayers(n_side=4)[0].save_pdb(str(tmp_path / "system.pdb"))
    res = CliRunner().invoke(main, ["render", str(tmp_path)])
    assert res.exit_code == 2 and "snarefuse run" in res.output


def test_render_a_tiny_real_run(tmp_path: Path) -> None:
    """Build two small planar bilayers, run 200 steps on Reference, render: the analysis runs first."""
    from snarefuse.build import build_system
    from snarefuse.runner import run_simulation
    from snarefuse.spec import Spec, example_spec_path, load_spec

    d = load_spec(example_spec_path("snare_two_bilayers")).to_dict()
    del d["system"]["snares"]
    d["system"]["bilayer"]["n_lipids"] = 200
    d["system"]["cleft"] = "1 nm"
    d["run"].update(steps=200, trajectory_interval=20, report_interval=20, checkpoint_interval=200,
                    platform="Reference")
    run = tmp_path / "run"
    build_system(Spec.from_dict(d)).save(run)
    run_simulation(run, progress=False)
    res = CliRunner().invoke(main, ["render", str(run), "--every", "3"])
    assert res.exit_code == 0, res.output
    assert "not found: ran 'snarefuse analyze" in res.output
    assert "movie.mp4" in res.output  # written, or skipped with the reason
    assert "animation: 4 frames" in res.output  # 10 frames, every 3rd
    out = run / "analysis" / "render"
    assert (run / "analysis" / "summary.json").exists()
    with Image.open(out / "section_docked.png") as im:
        rgb = np.asarray(im.convert("RGB")).astype(float)
    for color in R.HEAD_COLORS + R.TAIL_COLORS:
        assert _is_color(rgb, color).sum() > 100, color
    with Image.open(out / "movie.gif") as im:
        assert im.n_frames == 4  # 10 frames, every 3rd


def test_render_a_single_membrane_draws_first_and_last_frames(tmp_path: Path) -> None:
    d = _run_dir(tmp_path / "one", ts.bilayer_with_hole(3.0, n_frames=3), 10.0)
    r = R.render_run(d, movie=False)
    assert sorted(p.name for p in r.files) == ["section_first.png", "section_last.png", "stages.png", "top_first.png",
                                               "top_last.png"]
    assert any("one membrane" in n for n in r.notes) and any("hole in membrane 0" in n for n in r.notes)


def test_a_render_that_fails_half_way_leaves_a_directory_it_can_reuse(path_run: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("drawing failed")

    out = tmp_path / "pics"
    with monkeypatch.context() as m:
        m.setattr(R, "plot_top_view", broken)
        with pytest.raises(RuntimeError):
            R.render_run(path_run, out, frames=[0], movie=False)
    assert (out / "section_frame00000.png").exists()
    r = R.render_run(path_run, out, frames=[0], movie=False)
    assert json.loads((out / R.RENDER_INDEX).read_text())["complete"] is True
    assert sorted(p.name for p in r.files) == ["section_frame00000.png", "stages.png", "top_frame00000.png"]


@pytest.mark.parametrize("system,outlined", [("pore", False), ("torn", True)])
def test_top_view_outlines_a_hole_of_one_membrane_only_when_it_is_not_a_fusion_pore(system: str,
                                                                                      outlined: bool) -> None:
    """Over a fusion pore each membrane's projection is open wider than both together: that is no rupture."""
    t = ts.fusion_pore(3.0, n_side=24) if system == "pore" else _torn()
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = R.plot_top_view(_snapshot(t), ax=fig.add_subplot(1, 1, 1))
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert any(lab.startswith("hole in membrane") for lab in labels) == outlined
    assert ("open through both" in labels) == (system == "pore")
