"""analyze_run on run directories made from the known-answer systems."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj
import numpy as np
import pytest

from snarefuse.analysis import Table, analyze_run, testsystems as ts
from snarefuse.analysis.base import AnalysisError
from snarefuse.errors import RunDirectoryError
from snarefuse.rundir import RunDirectory

from ..conftest import small_spec

TAU_PS = 9.09


def _run_dir(path: Path, t: mdtraj.Trajectory, manifest: dict | None = None, fmt: str = "dcd") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    t[0].save_pdb(str(path / "system.pdb"))
    getattr(t, f"save_{fmt}")(str(path / f"trajectory.{fmt}"))
    if manifest is not None:
        (path / "manifest.json").write_text(json.dumps(manifest))
    return path


@pytest.fixture(scope="module")
def hemi_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    t = ts.hemifusion_diaphragm(4.0, n_side=20, n_frames=4, jitter=0.1)
    d = _run_dir(tmp_path_factory.mktemp("hemi"), t,
                 {"units": {"tau_ps": TAU_PS, "sigma_nm": 0.88, "tau_diffusion_ns": 7.744}})
    return d, analyze_run(d, dt_ps=100.0, persist=2)


def test_two_membrane_outputs(hemi_run) -> None:  # type: ignore[no-untyped-def]
    d, summary = hemi_run
    out = d / "analysis"
    for f in ("fusion.csv", "membranes.csv", "leaflets.csv", "contact_map.csv", "summary.json", "separation.png",
              "pore_radius.png", "timeline.png", "contact_map.png", "membranes.png"):
        assert (out / f).stat().st_size > 0, f
    assert json.loads((out / "summary.json").read_text()) == summary
    fus = Table.from_csv(out / "fusion.csv")
    assert fus.n_rows == 4
    np.testing.assert_allclose(fus["time_ps"], [0, 100, 200, 300])
    assert set(fus["state_name"]) == {"hemifused"}


def test_summary_first_passage_in_ps_and_tau(hemi_run) -> None:  # type: ignore[no-untyped-def]
    _, s = hemi_run
    fp = s["fusion"]["first_passage"]
    assert fp["hemifused"]["frame"] == 0 and fp["hemifused"]["time_tau"] == 0.0
    assert fp["pore"]["frame"] is None and fp["pore"]["time_tau"] is None
    assert s["fusion"]["max_state_reached"] == "hemifused"
    np.testing.assert_allclose(s["time_last"]["time_tau"], 300.0 / TAU_PS)
    np.testing.assert_allclose(s["time_last"]["time_physical_ns"], 300.0 / TAU_PS * 7.744)
    assert s["fusion"]["persist_frames"] == 2 and "2 consecutive" in s["fusion"]["flicker_rule"]
    props = s["membrane_properties"]["m0"]
    np.testing.assert_allclose(props["thickness_sigma"]["mean"], 4.4, atol=0.1)


def test_single_membrane_skips_fusion(tmp_path: Path) -> None:
    d = _run_dir(tmp_path / "run", ts.bilayer(12, n_frames=3), fmt="xtc")
    s = analyze_run(d, out_dir=tmp_path / "out", figures=False)
    assert "skipped" in s["fusion"]
    assert "fusion.csv" not in s["files"] and not (tmp_path / "out" / "fusion.csv").exists()
    m = s["membrane_properties"]["m0"]
    np.testing.assert_allclose(m["apl_sigma2"]["mean"], 1.2, atol=0.02)
    np.testing.assert_allclose(m["thickness_sigma"]["mean"], 4.4, atol=0.1)
    assert any("manifest" in n for n in s["notes"])


def test_dcd_without_times_is_noted_and_contact_axis_from_manifest(tmp_path: Path) -> None:
    t = ts.hemifusion_diaphragm(3.0, n_side=20, shift=(6.0, 0.0, 0.0))
    L = float(t.unitcell_lengths[0, 0])
    manifest = {"contact_axis": {"direction": [0, 0, 1], "point_nm": [(L / 2 + 6.0) % L, L / 2, 5.0]}}
    s = analyze_run(_run_dir(tmp_path, t, manifest), figures=False)
    assert s["time_source"] == "frame_index"
    assert any("dt_ps" in n for n in s["notes"])
    fus = Table.from_csv(tmp_path / "analysis" / "fusion.csv")
    np.testing.assert_allclose(fus["diaphragm_offset_nm"], 0.0, atol=0.3)


def test_missing_inputs(tmp_path: Path) -> None:
    with pytest.raises(RunDirectoryError, match="system.pdb: missing"):
        analyze_run(tmp_path)
    ts.bilayer(4)[0].save_pdb(str(tmp_path / "system.pdb"))
    with pytest.raises(RunDirectoryError, match="no trajectory; expected trajectory.dcd or trajectory.xtc"):
        analyze_run(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(RunDirectoryError, match="manifest.json: expected a JSON object"):
        analyze_run(tmp_path)


def test_one_rule_picks_the_trajectory(tmp_path: Path) -> None:
    """The spec's run.trajectory_format names the trajectory; without a spec, two candidates are refused rather
    than chosen by modification time."""
    t = ts.bilayer(6, n_frames=2)
    d = _run_dir(tmp_path / "run", t, fmt="xtc")
    t.save_dcd(str(d / "trajectory.dcd"))
    with pytest.raises(RunDirectoryError, match="holds both trajectory.dcd and trajectory.xtc and no spec.yaml"):
        RunDirectory(d).trajectory()
    spec = small_spec(run__trajectory_format="xtc")
    spec.dump(d / "spec.yaml")
    assert RunDirectory(d).trajectory() == d / "trajectory.xtc"
    (d / "trajectory.xtc").unlink()
    with pytest.raises(RunDirectoryError, match=r"trajectory.xtc: missing \(spec.yaml's run.trajectory_format"):
        RunDirectory(d).trajectory()


def test_csv_round_trip(tmp_path: Path) -> None:
    t = Table(a=np.arange(3), b=np.array([0.5, np.nan, 2.0]), c=np.array(["x", "y", "z"]),
              d=np.array([True, False, True]))
    t.to_csv(tmp_path / "t.csv")
    r = Table.from_csv(tmp_path / "t.csv")
    np.testing.assert_array_equal(r["a"], [0, 1, 2])
    np.testing.assert_array_equal(r["b"], [0.5, np.nan, 2.0])
    np.testing.assert_array_equal(r["c"], ["x", "y", "z"])
    np.testing.assert_array_equal(r["d"], [1, 0, 1])
    with pytest.raises(AnalysisError):
        t["e"] = np.arange(4)
