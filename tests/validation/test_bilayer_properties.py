"""Validation tier: a fluid tension-free Cooke bilayer reproduces the published structure.

Cooke, Kremer & Deserno, Phys. Rev. E 72, 011506 (2005), at w_c = 1.6 sigma, kT = 1.1 eps,
tension-free: area per lipid 1.20 +- 0.05 sigma^2, head-head distance 4.4 +- 0.2 sigma,
tail order S = <P2(cos theta)> 0.76 +- 0.05 (targets: Cooke, Kremer & Deserno, Phys. Rev. E 72, 011506, 2005).

400 lipids, 100 tau equilibration + 400 tau production (50,000 steps, ~2 min on 2 CPU cores).
Leaflets are assigned per frame from each lipid's orientation, so flip-flops are handled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snarefuse.build import build_system
from snarefuse.rundir import load_trajectory
from snarefuse.runner import run_simulation
from snarefuse.spec import example_spec_path, load_spec

pytestmark = pytest.mark.validation

EQUILIBRATION_TAU = 100.0
PRODUCTION_TAU = 400.0
TARGET_APL_SIGMA2, TOL_APL = 1.20, 0.05
TARGET_DHH_SIGMA, TOL_DHH = 4.4, 0.2
TARGET_S, TOL_S = 0.76, 0.05


def bilayer_observables(xyz: np.ndarray, beads: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame head-head distance (sigma) and tail order S, leaflets assigned per frame.

    xyz : (frames, lipids*beads, 3) nm, molecules whole. The normal is z.
    """
    lip = xyz.reshape(xyz.shape[0], -1, beads, 3)
    head, tail_end = lip[:, :, 0, :], lip[:, :, -1, :]
    axis = head - tail_end
    upper = axis[:, :, 2] > 0  # per-frame leaflet: lipid points up
    dhh = np.array([head[f, upper[f], 2].mean() - head[f, ~upper[f], 2].mean() for f in range(len(xyz))])
    cos = axis[:, :, 2] / np.linalg.norm(axis, axis=2)
    s = (1.5 * cos**2 - 0.5).mean(axis=1)
    return dhh / sigma, s


@pytest.fixture(scope="module")
def equilibrated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = load_spec(example_spec_path("bilayer_small"))
    tau_steps = int(round(1 / 0.01))
    total = int((EQUILIBRATION_TAU + PRODUCTION_TAU) * tau_steps)
    spec = spec.with_overrides({"run.steps": total, "run.report_interval": 500, "run.trajectory_interval": 500,
                                "run.checkpoint_interval": 10000, "run.platform": "CPU"})
    d = tmp_path_factory.mktemp("validation") / "bilayer"
    build_system(spec).save(d)
    run_simulation(d, progress=False)
    return d


def test_area_per_lipid(equilibrated_run: Path):
    log = np.genfromtxt(equilibrated_run / "log.csv", delimiter=",", names=True)
    prod = log["time_tau"] > EQUILIBRATION_TAU
    apl = log["area_per_lipid_sigma2"][prod]
    print(f"area per lipid {apl.mean():.4f} +- {apl.std() / np.sqrt(len(apl) / 5):.4f} sigma^2 (n={len(apl)})")
    assert abs(apl.mean() - TARGET_APL_SIGMA2) < TOL_APL


def test_head_head_distance_and_tail_order(equilibrated_run: Path):
    t = load_trajectory(equilibrated_run)
    spec = load_spec(equilibrated_run / "spec.yaml")
    tau_ps = spec.model.units.tau_ps
    prod = t.time > EQUILIBRATION_TAU * tau_ps
    dhh, s = bilayer_observables(t.xyz[prod], spec.model.beads_per_lipid, spec.model.sigma_nm)
    print(f"head-head distance {dhh.mean():.4f} sigma, tail order S {s.mean():.4f} (frames {prod.sum()})")
    assert abs(dhh.mean() - TARGET_DHH_SIGMA) < TOL_DHH
    assert abs(s.mean() - TARGET_S) < TOL_S


def test_temperature_is_the_thermostat_temperature(equilibrated_run: Path):
    log = np.genfromtxt(equilibrated_run / "log.csv", delimiter=",", names=True)
    prod = log["time_tau"] > EQUILIBRATION_TAU
    # kinetic temperature averaged over 80 reports of 1,200 beads: standard error ~1 K
    np.testing.assert_allclose(log["temperature_k"][prod].mean(), 310.0, atol=5.0)
