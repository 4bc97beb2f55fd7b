"""The analysis pipeline on a real (short) simulated Cooke bilayer, built and run by snarefuse itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snarefuse import build, runner
from snarefuse.analysis import Table, analyze_run

#: Loose checks for a 200-lipid bilayer 30 tau after a lattice start (the validation targets,
#: 1.20 sigma^2 / 4.4 sigma / 0.76, are checked over >= 400 tau by the validation suite).
APL_RANGE_SIGMA2 = (1.0, 1.4)
THICKNESS_RANGE_SIGMA = (4.0, 4.8)
ORDER_RANGE = (0.6, 0.95)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import small_spec

    d = tmp_path_factory.mktemp("real") / "run"
    spec = small_spec(run__trajectory_interval=300, run__report_interval=300, run__checkpoint_interval=3000)
    build.build_system(spec).save(d)
    runner.run_simulation(d, steps=3000, platform="CPU", progress=False)
    return d


def test_real_bilayer(real_run: Path) -> None:
    s = analyze_run(real_run)
    assert s["n_membranes"] == 1 and "skipped" in s["fusion"]
    assert s["time_source"] == "dcd_header"
    # frames are written after steps 300, 600, ..., 3000 (0.01 tau each): the header says so
    assert s["time_first"]["time_tau"] == pytest.approx(3.0, rel=1e-5)
    assert s["time_last"]["time_tau"] == pytest.approx(30.0, rel=1e-5)
    lf = Table.from_csv(real_run / "analysis" / "leaflets.csv")
    np.testing.assert_array_equal(lf["n_leaflets"], 2)
    m = s["membrane_properties"]["m0"]
    assert APL_RANGE_SIGMA2[0] < m["apl_sigma2"]["mean"] < APL_RANGE_SIGMA2[1]
    assert THICKNESS_RANGE_SIGMA[0] < m["thickness_sigma"]["mean"] < THICKNESS_RANGE_SIGMA[1]
    assert ORDER_RANGE[0] < m["tail_order"]["mean"] < ORDER_RANGE[1]
    assert (real_run / "analysis" / "membranes.png").exists()
