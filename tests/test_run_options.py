"""Command-line habits: short runs leave frames (intervals scaled, or given), --set overrides on build, sweep files
and misspelt example names explained, length options with units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from snarefuse.cli import main
from snarefuse.rundir import load_trajectory
from snarefuse.spec import load_spec

SMALL = ["--set", "system.bilayer.n_lipids=200", "--set", "run.platform=CPU", "--set", "run.threads=1"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """bilayer_small (trajectory_interval 500 in the spec), built with --set and run for 200 steps."""
    d = tmp_path_factory.mktemp("habits") / "run"
    runner = CliRunner()
    r = runner.invoke(main, ["build", "bilayer_small", "-o", str(d), *SMALL])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["run", str(d), "--steps", "200", "--no-progress"])
    assert r.exit_code == 0, r.output
    return d, r.output


def test_build_set_overrides_land_in_the_spec(short_run):
    d, _ = short_run
    spec = yaml.safe_load((d / "spec.yaml").read_text())
    assert spec["system"]["bilayer"]["n_lipids"] == 200 and spec["run"]["threads"] == 1


def test_run_200_steps_leaves_frames_and_says_why(short_run):
    d, output = short_run
    assert load_spec(d / "spec.yaml").run.trajectory_interval == 20
    assert "scaled for a run of 200 steps, shorter than its trajectory interval 500: 10 frames" in output
    t = load_trajectory(d)
    assert t.n_frames == 10
    r = CliRunner().invoke(main, ["analyze", str(d), "--no-figures", "-o", str(d / "an")])
    assert r.exit_code == 0, r.output
    assert (d / "an" / "summary.json").exists()


def test_intervals_change_only_before_the_first_step(short_run):
    d, _ = short_run
    r = CliRunner().invoke(main, ["run", str(d), "--steps", "300", "--trajectory-interval", "7"])
    assert r.exit_code == 2
    assert f"{d / 'spec.yaml'}: --trajectory-interval 7: this run has started with trajectory_interval 20" in r.output


def test_given_intervals_are_used(tmp_path: Path):
    d = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(main, ["build", "bilayer_small", "-o", str(d), *SMALL]).exit_code == 0
    r = runner.invoke(main, ["run", str(d), "--steps", "50", "--trajectory-interval", "25", "--report-interval", "10",
                             "--checkpoint-interval", "50", "--no-progress"])
    assert r.exit_code == 0, r.output
    run = load_spec(d / "spec.yaml").run
    assert (run.trajectory_interval, run.report_interval, run.checkpoint_interval) == (25, 10, 50)
    assert load_trajectory(d).n_frames == 2
    assert (d / "log.csv").read_text().count("\n") == 1 + 5


@pytest.mark.parametrize("sets,words", [
    (["--set", "model.temperature=hot"], "--set model.temperature=hot: model.temperature: cannot read 'hot'"),
    (["--set", "system.bilayer.nlipids=3"], "--set system.bilayer.nlipids=3: system.bilayer.nlipids: unknown key"),
    (["--set", "nonsense"], "expected PATH=VALUE with a dotted spec path"),
    (["--set", "system.bilayer.n_lipids=[1"], "the value is not valid YAML"),
], ids=["bad-value", "unknown-key", "no-equals", "bad-yaml"])
def test_set_errors_name_the_override(sets, words, tmp_path: Path):
    r = CliRunner().invoke(main, ["build", "bilayer_small", "-o", str(tmp_path / "b"), *sets])
    assert r.exit_code == 2 and words in r.output, r.output
    assert "bilayer_small.yaml" not in r.output and "Traceback" not in r.output


def test_build_of_a_sweep_file_names_sweep_init(tmp_path: Path):
    r = CliRunner().invoke(main, ["build", "sweep_snares", "-o", str(tmp_path / "b")])
    assert r.exit_code == 2
    assert "is a sweep file" in r.output and "snarefuse sweep init sweep_snares" in r.output
    assert "snarefuse build quickstart --set PATH=VALUE" in r.output and "unknown key" not in r.output


def test_misspelt_example_gets_a_did_you_mean(tmp_path: Path):
    r = CliRunner().invoke(main, ["build", "quickstrat", "-o", str(tmp_path / "b")])
    assert r.exit_code == 2 and "did you mean 'quickstart'?" in r.output


@pytest.mark.parametrize("value,ok", [("1.8 nm", True), ("18 angstrom", True), ("1.8", True), ("1.8 parsec", False),
                                      ("-1 nm", False)])
def test_length_options_accept_units(value, ok, short_run):
    d, _ = short_run
    r = CliRunner().invoke(main, ["analyze", str(d), "--no-figures", "-o", str(d / f"an-{value}"),
                                  "--zip-cutoff", value])
    assert (r.exit_code == 0) == ok, r.output
    if not ok:
        assert "Invalid value for '--zip-cutoff'" in r.output


@pytest.mark.parametrize("value,dimension,expected", [
    ("37 degC", "temperature", 310.15), ("37 °C", "temperature", 310.15), ("310 kelvin", "temperature", 310.0),
    ("0.88 nanometer", "length", 0.88), ("8.8 angstroms", "length", 0.88), ("2 hours", "wallclock", 7200.0),
    ("90 minutes", "wallclock", 5400.0), ("5 nanoseconds", "time", 5000.0),
])
def test_spelled_out_units_are_accepted(value, dimension, expected):
    from snarefuse.quantities import parse_quantity

    assert parse_quantity(value, dimension, "field") == pytest.approx(expected)


def test_set_in_celsius_lands_in_kelvin(tmp_path: Path):
    r = CliRunner().invoke(main, ["build", "bilayer_small", "-o", str(tmp_path / "b"), *SMALL,
                                  "--set", "model.temperature=37 degC"])
    assert r.exit_code == 0, r.output
    assert load_spec(tmp_path / "b" / "spec.yaml").model.units.temperature_k == pytest.approx(310.15)


def test_log_has_a_speed_column(short_run):
    """log.csv's steps_per_second: wall-clock speed since the previous row, as OpenMM's StateDataReporter gives."""
    d, _ = short_run
    log = np.genfromtxt(d / "log.csv", delimiter=",", names=True)
    assert log.dtype.names[-1] == "steps_per_second" and len(log) == 10
    speed = log["steps_per_second"]
    assert np.all(np.isfinite(speed)) and np.all(speed > 0)
    run = json.loads((d / "run.json").read_text())
    # the mean of the per-row speeds is of the order of the run's own measure (same steps, same clock)
    assert 0.1 < np.median(speed) / run["steps_per_second"] < 10
