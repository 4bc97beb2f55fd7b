"""Known-answer tests of the SNARE metrics: zippering by layer, TMD tilt and depth, ring radius, linker
extension and worm-like-chain force, periodic boundaries, and the pipeline with and without proteins."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import mdtraj
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure
from openmm import app, unit

from snarefuse import plot as P
from snarefuse.analysis import AnalysisError, SnareAnalysis, Table, analyze_run, testsystems as ts
from snarefuse.analysis.snare import (IDEAL_LAYER_DISTANCE_NM, LAYERS, PERSISTENCE_LENGTH_NM, SNARE_OPTIONS,
                                      WLC_MAX_FRACTION, ZIP_CUTOFF_NM, check_snare_options, compute_helix_axis,
                                      layer_label, tilt_angle_deg, wlc_force_pn, zippering_progress)
from snarefuse.build import build_system
from snarefuse.build.proteins import add_to_topology
from snarefuse.build.snare import build_snare_complex
from snarefuse.cli import main
from snarefuse.spec import example_spec_path, load_spec

#: Tolerances: geometry of float32 trajectories (nm), angles (deg).
ATOL_NM = 2e-4
ATOL_DEG = 0.2
#: Spec ring radius of the quickstart system, nm.
RING_NM = 2.0


def _traj(top: Any, xyz: np.ndarray, box: np.ndarray) -> mdtraj.Trajectory:
    xyz = np.asarray(xyz, dtype=float).reshape(-1, top.n_atoms, 3)
    n = len(xyz)
    return mdtraj.Trajectory(xyz, top, unitcell_lengths=np.tile(box, (n, 1)), unitcell_angles=np.full((n, 3), 90.0))


@pytest.fixture(scope="module")
def built():  # type: ignore[no-untyped-def]
    """The quickstart system as built: two bilayers, 4 fully zipped complexes on a 2 nm ring."""
    b = build_system(load_spec(example_spec_path("snare_two_bilayers")))
    return b, mdtraj.Topology.from_openmm(b.topology)


@pytest.fixture(scope="module")
def built_row(built) -> Table:  # type: ignore[no-untyped-def]
    b, top = built
    return SnareAnalysis(_traj(top, b.positions, b.box), snares=b.manifest).run().table


def _run(built, xyz: np.ndarray, **kw: Any) -> Table:  # type: ignore[no-untyped-def]
    b, top = built
    return SnareAnalysis(_traj(top, xyz, b.box), snares=b.manifest, **kw).run().table


def _beads(built, k: int, chain: str, segment: str | None = None) -> np.ndarray:  # type: ignore[no-untyped-def]
    rec = built[0].manifest["snares"][k]
    sel = np.asarray(rec["helix"]) == chain
    if segment is not None:
        sel &= np.asarray(rec["segment"]) == segment
    return rec["first_atom"] + np.flatnonzero(sel)


def _rotate(x: np.ndarray, axis: np.ndarray, deg: float, about: np.ndarray) -> np.ndarray:
    k = axis / np.linalg.norm(axis)
    a = np.radians(deg)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    R = np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K
    return (x - about) @ R.T + about


# ---------------------------------------------------------------------------------------------
# zippering
# ---------------------------------------------------------------------------------------------
def test_built_complexes_are_zipped_over_the_spec_range(built, built_row) -> None:  # type: ignore[no-untyped-def]
    lo, hi = built[0].spec.system.snares.zipped_layers
    t = built_row
    assert t.n_rows == 4
    np.testing.assert_array_equal(t["n_zipped_layers"], hi - lo + 1)
    np.testing.assert_array_equal(t["zip_front_layer"], hi)
    for L in LAYERS:
        np.testing.assert_allclose(t[f"d_layer_{layer_label(L)}_nm"], IDEAL_LAYER_DISTANCE_NM, atol=1e-3)
    # straight ideal TMDs along the normal, centred on the midplanes
    np.testing.assert_allclose(t["tmd_span_vamp2_nm"], 0.15 * 21, atol=1e-3)
    np.testing.assert_allclose(t["tmd_span_syntaxin_nm"], 0.15 * 22, atol=1e-3)
    for col in ("tmd_tilt_vamp2_deg", "tmd_tilt_syntaxin_deg"):
        np.testing.assert_allclose(t[col], 0.0, atol=ATOL_DEG)
    for col in ("tmd_depth_vamp2_nm", "tmd_depth_syntaxin_nm"):
        np.testing.assert_allclose(t[col], 0.0, atol=0.02)


@pytest.mark.parametrize("hi", [8, 4, 0])
def test_unzipped_c_terminal_layers_read_as_open(hi: int) -> None:
    # a free complex zipped over (-7, hi), every VAMP2 / syntaxin residue C-terminal to layer hi made
    # linker coil (layer hi is R56 / Q226 + 3.5 hi residues), no lipids
    last_v, last_s = 56 + 7 * (hi // 2), 226 + 7 * (hi // 2)
    cx = build_snare_complex((-7, hi), (94 - last_v, 265 - last_s), seed=None)
    top = app.Topology()
    recs = add_to_topology(top, [cx])
    t = SnareAnalysis(_traj(mdtraj.Topology.from_openmm(top), cx.positions, np.full(3, 40.0)), snares=recs).run().table
    d = np.array([t[f"d_layer_{layer_label(L)}_nm"][0] for L in LAYERS])
    np.testing.assert_allclose(d[: hi + 8], IDEAL_LAYER_DISTANCE_NM, atol=1e-3)  # layers -7..hi
    assert (d[hi + 9:] > ZIP_CUTOFF_NM).all()  # layers hi+2..8: helices apart
    # layer hi+1 is only half peeled in a fresh build (module docstring) and still reads as zipped
    assert int(t["n_zipped_layers"][0]) == min(hi + 9, 16)
    assert float(t["zip_front_layer"][0]) == min(hi + 1, 8)
    assert np.isnan(t["tmd_tilt_vamp2_deg"][0]) and np.isnan(t["tmd_depth_syntaxin_nm"][0])  # no membrane


def test_zippering_progress_takes_the_longest_run() -> None:
    z = np.zeros(16, dtype=bool)
    z[2:9] = True  # layers -5..+1
    z[11] = True  # isolated layer +4
    assert zippering_progress(z) == (8, 1.0)
    assert zippering_progress(np.zeros(16, dtype=bool))[0] == 0
    assert np.isnan(zippering_progress(np.zeros(16, dtype=bool))[1])


# ---------------------------------------------------------------------------------------------
# TMDs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("angle", [15.0, 35.0, 70.0])
def test_rotated_tmd_has_that_tilt(built, angle: float) -> None:  # type: ignore[no-untyped-def]
    xyz = built[0].positions.copy()
    tmd = _beads(built, 1, "A", "tmd")
    xyz[tmd] = _rotate(xyz[tmd], np.array([1.0, 1.0, 0.0]), angle, xyz[tmd].mean(axis=0))
    t = _run(built, xyz)
    np.testing.assert_allclose(t["tmd_tilt_vamp2_deg"][1], angle, atol=ATOL_DEG)
    np.testing.assert_allclose(t["tmd_depth_vamp2_nm"][1], 0.0, atol=0.02)
    np.testing.assert_allclose(t["tmd_tilt_vamp2_deg"][[0, 2, 3]], 0.0, atol=ATOL_DEG)


@pytest.mark.parametrize("chain,key,dz,depth", [("B", "syntaxin", 0.8, 0.8), ("B", "syntaxin", -0.5, -0.5),
                                                ("A", "vamp2", -0.6, 0.6)])
def test_shifted_tmd_depth_is_positive_towards_the_cleft(built, chain: str, key: str, dz: float,  # type: ignore[no-untyped-def]
                                                         depth: float) -> None:
    # syntaxin crosses the lower membrane (cleft above it), VAMP2 the upper one (cleft below)
    xyz = built[0].positions.copy()
    xyz[_beads(built, 2, chain, "tmd"), 2] += dz
    t = _run(built, xyz)
    np.testing.assert_allclose(t[f"tmd_depth_{key}_nm"][2], depth, atol=0.02)
    np.testing.assert_allclose(t[f"tmd_tilt_{key}_deg"][2], 0.0, atol=ATOL_DEG)


@pytest.mark.parametrize("n", [12, 18, 22, 23, 30])
def test_helix_axis_of_an_ideal_helix_of_any_length(n: int) -> None:
    k = np.arange(n)
    h = np.stack([0.23 * np.cos(k * np.radians(100)), 0.23 * np.sin(k * np.radians(100)), 0.15 * k], axis=1)
    d = np.random.default_rng(n).normal(size=3)
    d /= np.linalg.norm(d)
    helix = _rotate(h, np.cross([0.0, 0.0, 1.0], d), np.degrees(np.arccos(d[2])), np.zeros(3))
    _, a = compute_helix_axis(helix)
    assert tilt_angle_deg(a, d) < ATOL_DEG and a @ d > 0


# ---------------------------------------------------------------------------------------------
# ring
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift,radius", [((1.5, 0.0), RING_NM + 1.5), ((0.0, 1.5), np.hypot(RING_NM, 1.5)),
                                          ((-1.0, 0.0), RING_NM - 1.0)])
def test_translated_complex_changes_ring_radius(built, built_row, shift: tuple[float, float],  # type: ignore[no-untyped-def]
                                                radius: float) -> None:
    np.testing.assert_allclose(built_row["ring_radius_nm"], RING_NM, atol=ATOL_NM)
    np.testing.assert_allclose(built_row["ring_radius_self_nm"], RING_NM, atol=ATOL_NM)
    rec = built[0].manifest["snares"][0]  # complex 0 sits at azimuth 0: +x is radially outward
    xyz = built[0].positions.copy()
    xyz[rec["first_atom"]:rec["first_atom"] + rec["n_atoms"], :2] += shift
    t = _run(built, xyz)
    np.testing.assert_allclose(t["ring_radius_nm"], [radius, RING_NM, RING_NM, RING_NM], atol=ATOL_NM)
    np.testing.assert_allclose(t["ring_radius_mean_nm"], (radius + 3 * RING_NM) / 4, atol=ATOL_NM)


# ---------------------------------------------------------------------------------------------
# linkers
# ---------------------------------------------------------------------------------------------
# kT at 310 K = 1.380649e-23 J/K x 310 K = 4.28001e-21 J = 4.28001 pN nm; F = kT/P [1/(4(1-r)^2) - 1/4 + r]
@pytest.mark.parametrize("x,L,P,T,force", [
    (0.0, 2.19, 0.5, 310.0, 0.0),
    (1.095, 2.19, 0.5, 310.0, 4.28001 / 0.5 * (1.0 - 0.25 + 0.5)),          # r = 0.5: 10.7000 pN
    (3.6, 4.0, 0.4, 310.0, 4.28001 / 0.4 * (25.0 - 0.25 + 0.9)),            # r = 0.9: 274.451 pN
    (1.0, 4.0, 0.7, 300.0, 4.14195 / 0.7 * (1 / (4 * 0.75**2) - 0.25 + 0.25)),  # r = 0.25: 2.6298 pN
    (5.0, 4.0, 0.5, 310.0, 4.28001 / 0.5 * (100.0 - 0.25 + 0.95)),          # x > L: clamped at r = 0.95
])
def test_wlc_force_matches_marko_siggia_by_hand(x: float, L: float, P: float, T: float, force: float) -> None:
    np.testing.assert_allclose(wlc_force_pn(x, L, P, T), force, rtol=1e-5)


def test_linker_extension_and_force_of_the_built_complex(built, built_row) -> None:  # type: ignore[no-untyped-def]
    b = built[0]
    t = built_row
    for key, chain, anchor, first_tmd, n in (("vamp2", "A", 89, 95, 5), ("syntaxin", "B", 254, 266, 11)):
        rec = b.manifest["snares"][3]
        resid = np.asarray(rec["resid"])
        helix = np.asarray(rec["helix"])
        i = rec["first_atom"] + np.flatnonzero((helix == chain) & (resid == anchor))[0]
        j = rec["first_atom"] + np.flatnonzero((helix == chain) & (resid == first_tmd))[0]
        x = np.linalg.norm(b.positions[i] - b.positions[j])
        L = 0.365 * (n + 1)
        np.testing.assert_allclose(t[f"linker_ext_{key}_nm"][3], x, atol=ATOL_NM)
        np.testing.assert_allclose(t[f"linker_rel_ext_{key}"][3], x / L, atol=ATOL_NM)
        np.testing.assert_allclose(t[f"linker_force_{key}_pn"][3], wlc_force_pn(x, L), rtol=1e-3)
        assert not t[f"linker_clamped_{key}"][3]


def test_overstretched_linker_is_clamped_and_flagged(built) -> None:  # type: ignore[no-untyped-def]
    xyz = built[0].positions.copy()
    xyz[_beads(built, 0, "A", "tmd"), 2] += 2.0  # pull the VAMP2 TMD 2 nm further up: x > L = 2.19 nm
    t = _run(built, xyz)
    assert t["linker_rel_ext_vamp2"][0] > 1.0 and t["linker_clamped_vamp2"][0]
    np.testing.assert_allclose(t["linker_force_vamp2_pn"][0], wlc_force_pn(1.0, 1.0 / WLC_MAX_FRACTION), rtol=1e-9)
    assert not t["linker_clamped_vamp2"][1]


# ---------------------------------------------------------------------------------------------
# periodic boundaries
# ---------------------------------------------------------------------------------------------
def test_complex_split_across_the_periodic_boundary(built, built_row) -> None:  # type: ignore[no-untyped-def]
    b = built[0]
    rec = b.manifest["snares"][0]
    ring_point = b.box[:2] / 2 + np.array([RING_NM, 0.0])
    # put complex 0's ring point on the x and y faces and the lower midplane on the z face; wrap every bead
    shift = np.array([-ring_point[0], -ring_point[1], -b.manifest["membranes"][0]["midplane_z_nm"]])
    xyz = np.mod(b.positions + shift, b.box)
    atoms = np.arange(rec["first_atom"], rec["first_atom"] + rec["n_atoms"])
    assert np.ptp(xyz[atoms], axis=0).min() > 0.5 * b.box.min()  # really split
    t = _run(built, xyz, contact_xy=tuple(np.mod(b.box[:2] / 2 + shift[:2], b.box[:2])))
    for col in built_row.columns:
        if col not in ("frame", "time_ps"):
            np.testing.assert_allclose(np.asarray(t[col], float), np.asarray(built_row[col], float), atol=1e-3,
                                       err_msg=col)


# ---------------------------------------------------------------------------------------------
# inputs, plots, pipeline
# ---------------------------------------------------------------------------------------------
def test_bad_snare_input_is_refused(built) -> None:  # type: ignore[no-untyped-def]
    b, top = built
    tr = _traj(top, b.positions, b.box)
    with pytest.raises(AnalysisError, match="empty"):
        SnareAnalysis(tr, snares=[])
    bad = dict(b.manifest["snares"][0], first_atom=0)
    with pytest.raises(AnalysisError, match="CA"):
        SnareAnalysis(tr, snares=[bad])
    with pytest.raises(AnalysisError, match="first_atom"):
        SnareAnalysis(tr, snares=[{"complex": 0}])


@pytest.mark.parametrize("given_ax", [True, False])
def test_plots_return_axes(built_row, given_ax: bool) -> None:  # type: ignore[no-untyped-def]
    ax = Figure().add_subplot() if given_ax else None
    out = P.plot_zippering(built_row, ax=ax, time_unit="ps")
    assert out.get_ylabel() == "zipped layers (of 16)" and out.get_xlabel() == "time (ps)"
    ax2 = Figure().add_subplot() if given_ax else None
    out2 = P.plot_linker_force(built_row, ax=ax2)
    assert "pN" in out2.get_ylabel()
    if given_ax:
        assert out is ax and out2 is ax2
    else:
        import matplotlib.pyplot as plt

        plt.close("all")


def test_pipeline_writes_snare_metrics(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b, top = built
    d = b.save(tmp_path / "run")
    xyz = np.stack([b.positions, b.positions])
    _traj(top, xyz, b.box).save_dcd(str(d / "trajectory.dcd"))
    s = analyze_run(d, dt_ps=10.0)
    out = d / "analysis"
    assert "snare.csv" in s["files"] and (out / "snare.png").stat().st_size > 0
    st = Table.from_csv(out / "snare.csv")
    assert st.n_rows == 8
    np.testing.assert_array_equal(st["n_zipped_layers"], 16)
    sn = json.loads((out / "summary.json").read_text())["snare"]
    assert sn["n_complexes"] == 4 and sn["n_zipped_layers"]["mean"] == 16.0
    np.testing.assert_allclose(sn["ring_radius_nm"]["mean"], RING_NM, atol=1e-3)
    assert sn["tmd_membrane"] == {"vamp2": [1, 1, 1, 1], "syntaxin": [0, 0, 0, 0]}
    np.testing.assert_allclose(sn["contour_length_nm"]["syntaxin"], 0.365 * 12)


def test_pipeline_without_proteins_skips_snare_metrics(tmp_path: Path) -> None:
    t = ts.hemifusion_diaphragm(3.0, n_side=16, n_frames=2)
    t[0].save_pdb(str(tmp_path / "system.pdb"))
    t.save_dcd(str(tmp_path / "trajectory.dcd"))
    (tmp_path / "manifest.json").write_text(json.dumps({"snares": []}))
    s = analyze_run(tmp_path, figures=False)
    assert "skipped" in s["snare"] and "snare.csv" not in s["files"]
    assert not (tmp_path / "analysis" / "snare.csv").exists()


# ---------------------------------------------------------------------------------------------
# options through analyze_run and the CLI
# ---------------------------------------------------------------------------------------------
#: Options that each change a result of the built system: a zip cutoff below the ideal 1.189 nm layer
#: distance, half the default persistence length, a TMD patch too small to hold MIN_LOCAL_LIPIDS lipids.
OPTIONS = {"zip_cutoff_nm": 1.0, "persistence_length_nm": 0.25, "local_radius_nm": 1.0}


@pytest.fixture(scope="module")
def built_run(built, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """The built quickstart system saved as a run directory with a one-frame trajectory."""
    b, top = built
    d = b.save(tmp_path_factory.mktemp("snare_options") / "run")
    _traj(top, b.positions, b.box).save_dcd(str(d / "trajectory.dcd"))
    return d


@pytest.fixture(scope="module")
def optioned(built_run: Path, tmp_path_factory) -> tuple[dict[str, Any], Table]:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("snare_options_out")
    s = analyze_run(built_run, out, dt_ps=10.0, **OPTIONS, figures=False)
    return s, Table.from_csv(out / "snare.csv")


def test_zip_cutoff_below_the_ideal_layer_distance_reads_no_zipped_layer(optioned) -> None:  # type: ignore[no-untyped-def]
    assert OPTIONS["zip_cutoff_nm"] < IDEAL_LAYER_DISTANCE_NM
    _, t = optioned
    np.testing.assert_array_equal(t["n_zipped_layers"], 0)
    assert np.isnan(t["zip_front_layer"]).all()


def test_half_the_persistence_length_doubles_the_linker_force(optioned, built_row) -> None:  # type: ignore[no-untyped-def]
    # F = (kT / P) f(x/L): at the same extensions, P = 0.25 nm gives twice the force of the default 0.5 nm
    assert OPTIONS["persistence_length_nm"] == PERSISTENCE_LENGTH_NM / 2
    _, t = optioned
    np.testing.assert_allclose(t["linker_force_vamp2_pn"], 2 * built_row["linker_force_vamp2_pn"], rtol=1e-5)
    np.testing.assert_allclose(t["linker_force_syntaxin_pn"], 2 * built_row["linker_force_syntaxin_pn"], rtol=1e-5)


def test_patch_radius_option_too_small_falls_back_to_the_global_frame(optioned) -> None:  # type: ignore[no-untyped-def]
    _, t = optioned
    np.testing.assert_array_equal(t["tmd_local_lipids_vamp2"], 0)
    np.testing.assert_array_equal(t["tmd_local_lipids_syntaxin"], 0)


def test_options_are_recorded_in_the_summary(optioned) -> None:  # type: ignore[no-untyped-def]
    s, _ = optioned
    assert s["options"]["snare_options"] == OPTIONS
    assert {k: s["snare"][k] for k in OPTIONS} == OPTIONS


@pytest.mark.parametrize("options,named", [
    ({"zip_cutoff_nm": 0.0}, "snare_options.zip_cutoff_nm: 0.0; accepted a finite number > 0 in nm"),
    ({"persistence_length_nm": float("nan")}, "snare_options.persistence_length_nm: nan; accepted"),
    ({"local_radius_nm": "2 nm"}, "snare_options.local_radius_nm: '2 nm'; accepted"),
    ({"temperature_k": True}, "snare_options.temperature_k: True; accepted a finite number > 0 in K"),
    ({"zip_cutoff_nm": 300.0 * unit.kelvin}, "snare_options.zip_cutoff_nm: 300.0 K; accepted a quantity in nm"),
])
def test_bad_snare_option_is_refused_naming_it(built_run: Path, options: dict[str, Any], named: str) -> None:
    with pytest.raises(AnalysisError, match=re.escape(named)):
        analyze_run(built_run, figures=False, **options)
    assert not (built_run / "analysis").exists()  # refused before anything is read or written


def test_snare_options_without_complexes_are_noted_as_unused(tmp_path: Path) -> None:
    t = ts.hemifusion_diaphragm(3.0, n_side=16, n_frames=2)
    t[0].save_pdb(str(tmp_path / "system.pdb"))
    t.save_dcd(str(tmp_path / "trajectory.dcd"))
    s = analyze_run(tmp_path, figures=False, zip_cutoff_nm=1.5)
    assert s["options"]["snare_options"] == {"zip_cutoff_nm": 1.5} and "skipped" in s["snare"]
    assert any("SNARE options" in n and "not used" in n for n in s["notes"])


def test_unknown_snare_option_is_refused_naming_the_accepted_ones() -> None:
    with pytest.raises(AnalysisError, match=re.escape("unknown option 'zip_cutoff'; accepted: zip_cutoff_nm")):
        check_snare_options({"zip_cutoff": 1.0})


def test_snare_option_quantity_is_converted() -> None:
    got = check_snare_options({"zip_cutoff_nm": 15.0 * unit.angstrom, "temperature_k": 300 * unit.kelvin})
    np.testing.assert_allclose([got["zip_cutoff_nm"], got["temperature_k"]], [1.5, 300.0])


def test_cli_analyze_passes_snare_flags(built_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "analysis"
    r = CliRunner().invoke(main, ["analyze", str(built_run), "-o", str(out), "--no-figures", "--zip-cutoff", "1.0",
                                  "--persistence-length", "0.25", "--snare-patch-radius", "1.0"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "summary.json").read_text())["options"]["snare_options"] == OPTIONS
    np.testing.assert_array_equal(Table.from_csv(out / "snare.csv")["n_zipped_layers"], 0)


@pytest.mark.parametrize("flag,value", [("--zip-cutoff", "0"), ("--persistence-length", "-0.5"),
                                        ("--snare-patch-radius", "nan")])
def test_cli_refuses_a_bad_snare_flag_naming_it(built_run: Path, tmp_path: Path, flag: str, value: str) -> None:
    r = CliRunner().invoke(main, ["analyze", str(built_run), "-o", str(tmp_path / "a"), flag, value])
    assert r.exit_code == 2 and flag in r.output and "accepted a finite length > 0 in nm" in r.output


@pytest.mark.parametrize("flag,option", [("--zip-cutoff", "zip_cutoff_nm"),
                                         ("--persistence-length", "persistence_length_nm"),
                                         ("--snare-patch-radius", "local_radius_nm")])
def test_cli_help_quotes_the_analysis_default(flag: str, option: str) -> None:
    param = next(p for p in main.commands["analyze"].params if flag in getattr(p, "opts", ()))
    assert f"(default {SNARE_OPTIONS[option][1]:g} nm" in (param.help or "")  # type: ignore[attr-defined]
