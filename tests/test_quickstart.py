"""The quickstart: the shipped fusion system, built, run, analysed and reported by ``snarefuse quickstart``.

The default tier runs the command for a short span and checks what it prints and writes; the ``fusion`` tier
(``python -m pytest -m fusion``, ~10 min on 2 CPU cores) runs it as a user does, to its pore, and checks the
states it reaches."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from snarefuse.cli import fusion_report, main
from snarefuse.spec import example_spec_path, load_spec


def test_quickstart_is_a_snare_fusion_system():
    spec = load_spec(example_spec_path("quickstart"))
    assert spec.system.geometry == "vesicle_planar"
    assert spec.system.snares is not None and spec.system.snares.n_complexes >= 3
    assert spec.run.barostat.enabled and spec.run.barostat.surface_tension_barnm > 0


def test_quickstart_short_span_reports_what_happened(tmp_path: Path):
    out = tmp_path / "qs"
    r = CliRunner().invoke(main, ["quickstart", "-o", str(out), "--steps", "1500", "--platform", "CPU",
                                  "--threads", "2", "--no-render"])
    assert r.exit_code == 0, r.output
    run = json.loads((out / "run.json").read_text())
    assert run["step"] == 1500
    assert re.search(r"built .*: \d+ beads, geometry vesicle_planar, 5 SNARE complexes", r.output)
    assert "no fusion pore in" in r.output  # the in-run reporter was on
    # the report: each state reached with its time in tau and in diffusion-calibrated ns, the smallest gap
    m = re.search(r"docked\s+([\d.]+) tau\s+=\s+([\d.]+) ns \(diffusion-calibrated\)", r.output)
    assert m, r.output
    units = run["units"]
    assert float(m.group(2)) == pytest.approx(float(m.group(1)) * units["tau_diffusion_ns"], rel=1e-3)
    gap = re.search(r"smallest head-plane gap near the contact axis( before the stalk)?: (-?[\d.]+) nm", r.output)
    assert gap and 0 < float(gap.group(2)) < 5  # built 1.5 nm apart; docking closes it, the stalk merges it
    assert re.search(r"most advanced state: (docked|stalk)\n", r.output)  # 15 tau: no hemifusion yet
    assert fusion_report(out)[-1].startswith("figures:")


@pytest.mark.fusion
def test_quickstart_fuses(tmp_path: Path):
    """As a user runs it: a fusion pore opens within the spec's steps, after a stalk, and no membrane ruptures."""
    out = tmp_path / "qs"
    r = CliRunner().invoke(main, ["quickstart", "-o", str(out), "--platform", "CPU"])
    assert r.exit_code == 0, r.output
    fusion = json.loads((out / "analysis" / "summary.json").read_text())["fusion"]
    fp = {k: v["time_tau"] for k, v in fusion["first_passage"].items()}
    assert fp["pore"] is not None, r.output
    assert fp["stalk"] is not None and fp["stalk"] <= fp["pore"]
    assert not fusion["ruptured"]
    assert (out / "analysis" / "render" / "stages.png").exists()


def test_quickstart_200_steps_with_a_set_leaves_frames_to_analyse(tmp_path: Path):
    """A run shorter than the spec's trajectory interval (500) gets its intervals scaled and says so; --set builds
    a variant without a copied YAML."""
    from snarefuse.rundir import load_trajectory

    out = tmp_path / "qs"
    r = CliRunner().invoke(main, ["quickstart", "-o", str(out), "--steps", "200", "--platform", "CPU", "--threads",
                                  "1", "--no-render", "--set", "system.snares.n_complexes=3"])
    assert r.exit_code == 0, r.output
    assert "3 SNARE complexes" in r.output
    assert "run.trajectory_interval = 20, run.report_interval = 20 in spec.yaml (scaled for a run of 200 steps" \
        in r.output
    t = load_trajectory(out)
    assert t.n_frames == 10
    assert t.time[-1] == pytest.approx(200 * load_spec(out / "spec.yaml").run.timestep_ps)
    assert (out / "analysis" / "fusion.csv").read_text().count("\n") == 11  # header + one row per frame
    assert "fusion states reached" in r.output


def test_quickstart_set_error_names_the_override(tmp_path: Path):
    r = CliRunner().invoke(main, ["quickstart", "-o", str(tmp_path / "qs"), "--set", "system.snares.ring_radius=far"])
    assert r.exit_code == 2
    assert "--set system.snares.ring_radius=far: system.snares.ring_radius:" in r.output
    assert "quickstart.yaml" not in r.output and not (tmp_path / "qs").exists()
