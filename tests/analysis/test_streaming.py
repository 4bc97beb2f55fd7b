"""Streaming with mdtraj.iterload gives the one-shot results whatever the chunk; frame selection; times."""

from __future__ import annotations

from pathlib import Path

import mdtraj
import numpy as np
import pytest

from snarefuse.analysis import (FusionAnalysis, LeafletAnalysis, MembraneAnalysis, Table, TrajectorySource,
                                run_analyses, testsystems as ts)
from snarefuse.analysis.base import AnalysisError, read_dcd_times

#: File round trip (float32 in Angstrom) vs in-memory nm coordinates.
ROUND_TRIP_TOL = 2e-3
N_FRAMES = 7


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[mdtraj.Trajectory, Path, Path]:
    t = ts.hemifusion_diaphragm(3.0, n_side=18, n_frames=N_FRAMES, jitter=0.1, seed=4)
    d = tmp_path_factory.mktemp("stream")
    t[0].save_pdb(str(d / "system.pdb"))
    t.save_dcd(str(d / "trajectory.dcd"))
    return t, d / "trajectory.dcd", d / "system.pdb"


def _tables(source: object, start: int | None = None, stop: int | None = None, step: int | None = None,
            chunk: int = 100) -> list[Table]:
    src = source if isinstance(source, TrajectorySource) else TrajectorySource(source)  # type: ignore[arg-type]
    analyses = [FusionAnalysis(src), MembraneAnalysis(src), LeafletAnalysis(src)]
    run_analyses(analyses, start=start, stop=stop, step=step, chunk=chunk)
    return [a.table for a in analyses]


def _assert_tables_equal(a: list[Table], b: list[Table]) -> None:
    for ta, tb in zip(a, b):
        assert ta.columns == tb.columns
        for c in ta.columns:
            np.testing.assert_array_equal(ta[c], tb[c], err_msg=c)


@pytest.mark.parametrize("chunk", [1, 3, 100])
def test_streamed_equals_one_shot(files, chunk: int) -> None:  # type: ignore[no-untyped-def]
    _, dcd, pdb = files
    one_shot = _tables(mdtraj.load(str(dcd), top=str(pdb)))
    streamed = _tables(TrajectorySource(dcd, pdb), chunk=chunk)
    assert streamed[0].n_rows == N_FRAMES
    _assert_tables_equal(one_shot, streamed)


@pytest.mark.parametrize("sel", [(1, 6, 2), (2, None, 3), (0, 4, 1)])
@pytest.mark.parametrize("chunk", [1, 2])
def test_frame_selection(files, sel: tuple[int, int | None, int], chunk: int) -> None:  # type: ignore[no-untyped-def]
    _, dcd, pdb = files
    start, stop, step = sel
    full = mdtraj.load(str(dcd), top=str(pdb))
    want = list(range(N_FRAMES))[start:stop:step]
    got = _tables(TrajectorySource(dcd, pdb), start, stop, step, chunk=chunk)
    np.testing.assert_array_equal(got[0]["frame"], want)
    ref = _tables(full[start:stop:step])
    for a, b in zip(got, ref):
        for c in a.columns:
            if c not in ("frame", "time_ps"):
                np.testing.assert_array_equal(a[c], b[c], err_msg=c)


def test_file_matches_in_memory(files) -> None:  # type: ignore[no-untyped-def]
    t, dcd, pdb = files
    mem = _tables(t)
    fil = _tables(TrajectorySource(dcd, pdb, dt_ps=10.0))
    for a, b in zip(mem, fil):
        for c in a.columns:
            if a[c].dtype.kind == "f":
                np.testing.assert_allclose(a[c], b[c], atol=ROUND_TRIP_TOL, err_msg=c)
            elif c != "n_reassigned" and c != "n_small_clusters":
                np.testing.assert_array_equal(a[c], b[c], err_msg=c)


def test_times_from_openmm_dcd_header(tmp_path: Path) -> None:
    import openmm.unit as u
    from openmm import app

    t = ts.bilayer(6, n_frames=3)
    pdb = tmp_path / "system.pdb"
    t[0].save_pdb(str(pdb))
    top = app.PDBFile(str(pdb)).topology
    with open(tmp_path / "trajectory.dcd", "wb") as f:
        # as OpenMM's DCDReporter: first frame at step `interval`
        dcd = app.DCDFile(f, top, 0.05 * u.picosecond, firstStep=200, interval=200)
        for x in t.xyz:
            dcd.writeModel(x * u.nanometer, periodicBoxVectors=np.diag(t.unitcell_lengths[0]) * u.nanometer)
    np.testing.assert_allclose(read_dcd_times(tmp_path / "trajectory.dcd"), (10.0, 10.0), rtol=1e-6)
    la = LeafletAnalysis(tmp_path / "trajectory.dcd", pdb).run()
    np.testing.assert_allclose(la.table["time_ps"], [10.0, 20.0, 30.0], rtol=1e-6)
    assert la.source.time_source == "dcd_header"


def test_xtc_times(tmp_path: Path) -> None:
    t = ts.bilayer(6, n_frames=4, dt_ps=25.0)
    t[0].save_pdb(str(tmp_path / "system.pdb"))
    t.save_xtc(str(tmp_path / "trajectory.xtc"))
    la = LeafletAnalysis(tmp_path / "trajectory.xtc", tmp_path / "system.pdb", chunk=1).run(step=2)
    np.testing.assert_allclose(la.table["time_ps"], [0.0, 50.0], atol=1e-3)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="trajectory.dcd"):
        LeafletAnalysis(tmp_path / "trajectory.dcd", tmp_path / "system.pdb")
    with pytest.raises(AnalysisError, match="run"):
        LeafletAnalysis(ts.bilayer(4)).table
