"""Content mixing on a vesicle the builder made and OpenMM ran: the beads the analysis follows as content are
the lumen's gas beads the builder wrote (one residue name, snarefuse.lumen.GAS_RESNAME)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snarefuse.analysis.base import MARKER_RESNAME, LipidIndex
from snarefuse.analysis.fusion import ContentMixingAnalysis
from snarefuse.build import build_system
from snarefuse.lumen import GAS_RESNAME
from snarefuse.rundir import load_trajectory
from snarefuse.runner import run_simulation
from snarefuse.spec import example_spec_path, load_spec

#: The smallest vesicle-planar system the spec accepts with a pressurised lumen, run briefly on one thread.
STEPS, EVERY = 100, 50
N_GAS = 10


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = load_spec(example_spec_path("vesicle_planar")).with_overrides({
        "system.vesicle.radius": "5 nm", "system.vesicle.lumen": {"n_gas": N_GAS}, "system.box_z": None,
        "run.steps": STEPS, "run.trajectory_interval": EVERY, "run.report_interval": EVERY,
        "run.checkpoint_interval": STEPS, "run.platform": "CPU", "run.threads": 1})
    d = build_system(spec).save(tmp_path_factory.mktemp("content") / "run")
    run_simulation(d, progress=False)
    return d


def test_the_analysed_marker_is_the_built_gas() -> None:
    assert MARKER_RESNAME == GAS_RESNAME


def test_content_mixing_follows_the_lumen_gas_of_a_built_and_run_vesicle(run_dir: Path) -> None:
    traj = load_trajectory(run_dir)
    assert traj.n_frames == STEPS // EVERY
    markers = LipidIndex.from_topology(traj.topology).markers
    assert len(markers) == N_GAS
    assert {traj.topology.atom(int(i)).residue.name for i in markers} == {GAS_RESNAME}
    table = ContentMixingAnalysis(traj).run().table
    # every gas bead starts in the vesicle's lumen and none has crossed the planar membrane in 100 steps
    np.testing.assert_array_equal(table["markers_home"], [N_GAS] * traj.n_frames)
    np.testing.assert_array_equal(table["markers_crossed"], [0] * traj.n_frames)
