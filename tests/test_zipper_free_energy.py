"""The zippering free-energy bench (bench/zipper_free_energy.py): its estimator on a two-state system with a
known answer, and its tethered complex on a short run."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "zipper_free_energy.py"


@pytest.fixture(scope="module")
def zfe():
    spec = importlib.util.spec_from_file_location("zipper_free_energy", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _two_state_runs(eps_grid, eps_star, u_z, u_u, frames=4000, seed=0):
    """Runs of an ideal two-state system: dG(eps) = (u_z - u_u)(eps - eps*) exactly (<u> per state constant),
    populations Boltzmann-weighted; the first half of each run is discarded by the estimator."""
    rng = np.random.default_rng(seed)
    runs = []
    for e in eps_grid:
        dg = (u_z - u_u) * (e - eps_star)
        f = 1.0 / (1.0 + math.exp(dg))
        n_z = round(f * frames)
        layers = np.r_[np.full(n_z, 16), np.zeros(frames - n_z, int)]
        rng.shuffle(layers)
        u = np.where(layers >= 8, u_z, u_u) + rng.normal(0, 0.01, frames)
        runs.append({"eps_kt": e, "zipped_layers": np.r_[layers, layers].tolist(), "u": np.r_[u, u].tolist()})
    return runs


def test_estimator_recovers_a_known_two_state_free_energy(zfe):
    grid = [0.5, 0.55, 0.575, 0.6, 0.625, 0.65, 0.7, 0.8, 0.9, 1.0]
    res = zfe.analyse(_two_state_runs(grid, eps_star=0.6, u_z=-100.0, u_u=-20.0))
    assert res["eps_star_kt"] == pytest.approx(0.6, abs=0.003)
    # exact: 80 kT per kT of depth above 0.6 -> 32 kT released at 1 kT, 35 at 1.0375 (off grid: None), 65 not reached
    assert res["released_at_1kT"] == pytest.approx(32.0, abs=0.5)
    assert res["eps_for_35_kT"] is None and res["eps_for_65_kT"] is None
    for r in res["rows"]:
        assert r["dG_zip_kT_TI"] == pytest.approx(-80.0 * (r["eps_kt"] - 0.6), abs=0.5)
        if r["dG_zip_kT_populations"] is not None:  # the population check agrees inside the transition
            assert r["dG_zip_kT_populations"] == pytest.approx(r["dG_zip_kT_TI"], abs=0.3)


def test_extrapolation_of_an_unvisited_state(zfe):
    grid = [0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 1.0]
    runs = _two_state_runs(grid, eps_star=0.6, u_z=-100.0, u_u=-20.0)
    # <u>_u falls by 100 per kT where it is seen (<= 0.65); above, the unzipped state is not visited
    for r in runs:
        r["u"] = [u - 100.0 * (r["eps_kt"] - 0.6) if nz < 8 else u for u, nz in zip(r["u"], r["zipped_layers"])]
    lin = zfe.analyse(runs, extrapolate="linear")
    hold = zfe.analyse(runs, extrapolate="hold")
    # linear: du = -80 + 100 (eps - 0.6) -> dG(1) = -80*0.4 + 50*0.16 = -24; hold: du stays -80 + 100*0.05 beyond
    assert lin["released_at_1kT"] == pytest.approx(24.0, abs=1.0)
    assert hold["released_at_1kT"] > lin["released_at_1kT"] + 3.0
    with pytest.raises(ValueError, match="extrapolate"):
        zfe.analyse(runs, extrapolate="cubic")


def test_frames_between_the_two_states_count_for_neither(zfe):
    grid = [0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 1.0]
    runs = _two_state_runs(grid, eps_star=0.6, u_z=-100.0, u_u=-20.0)
    for r in runs:  # add intermediate frames (8 layers, very different u): they must not move the answer
        r["zipped_layers"] = r["zipped_layers"] + [8] * 1000
        r["u"] = r["u"] + [-500.0] * 1000
    strict = zfe.analyse(runs, zipped_min=14, unzipped_max=2)
    assert strict["eps_star_kt"] == pytest.approx(0.6, abs=0.005)
    assert strict["released_at_1kT"] == pytest.approx(32.0, abs=0.5)
    loose = zfe.analyse(runs)  # with >= 8 the intermediates count as zipped, and <u>_z changes
    assert loose["released_at_1kT"] > 40.0


def test_estimator_refuses_a_grid_without_the_transition(zfe):
    runs = _two_state_runs([0.8, 0.9, 1.0], eps_star=0.6, u_z=-100.0, u_u=-20.0)
    with pytest.raises(SystemExit, match="does not cross 1/2"):
        zfe.analyse(runs)


def test_tethered_complex_holds_at_high_depth_and_melts_at_low(zfe):
    from snarefuse.spec import example_spec_path, load_spec

    ru = load_spec(example_spec_path("snare_two_bilayers")).model.units
    strong = zfe.sample(1.5, 2000, 500, 0, 1, 1, ru)
    assert min(strong["zipped_layers"]) >= 14
    weak = zfe.sample(0.1, 4000, 500, 0, 1, 1, ru)
    assert weak["zipped_layers"][-1] <= 4 and weak["u"][-1] > 0.3 * strong["u"][-1]
