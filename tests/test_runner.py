"""The runner: platforms agree, a SIGKILLed run resumes to exactly the uninterrupted result,
locks, blow-up detection, checkpoint fallback, wall-time stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mdtraj
import numpy as np
import openmm
from openmm import app
import pytest

from snarefuse.build import build_system
from snarefuse.errors import BlowUpError, PlatformError, RunError, RunInterrupted
from snarefuse.rundir import RunDirectory
from snarefuse.runner import run_simulation

from .conftest import small_spec, without_wall_clock as _without_wall_clock

#: Relative energy agreement between platforms on the same configuration (single precision kernels).
PLATFORM_ENERGY_RTOL = {"Reference": 1e-12, "CPU": 2e-5, "OpenCL": 2e-5, "CUDA": 2e-5}
PLATFORM_FORCE_ATOL_KJ_NM = {"Reference": 1e-9, "CPU": 0.05, "OpenCL": 0.05, "CUDA": 0.05}

RESUME_OVERRIDES = dict(run__trajectory_interval=50, run__report_interval=50, run__checkpoint_interval=200,
                        run__steps=1200, run__platform="Reference")


def energies_and_forces(system: openmm.System, positions: np.ndarray, platform: str):
    props = {"Precision": "mixed"} if platform in ("OpenCL", "CUDA") else {}
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform), props)
    ctx.setPositions(positions)
    st = ctx.getState(getEnergy=True, getForces=True)
    return (st.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole),
            st.getForces(asNumpy=True).value_in_unit(openmm.unit.kilojoule_per_mole / openmm.unit.nanometer))


def test_platforms_agree_on_energy_and_forces(platform_name):
    built = build_system(small_spec())
    rng = np.random.default_rng(3)
    pos = built.positions + rng.normal(scale=0.03, size=built.positions.shape)
    e_ref, f_ref = energies_and_forces(built.system, pos, "Reference")
    e, f = energies_and_forces(built.system, pos, platform_name)
    np.testing.assert_allclose(e, e_ref, rtol=PLATFORM_ENERGY_RTOL[platform_name])
    np.testing.assert_allclose(f, f_ref, atol=PLATFORM_FORCE_ATOL_KJ_NM[platform_name], rtol=1e-4)


def test_short_run_on_each_platform(platform_name, tmp_path: Path):
    """The same short run gives the same mean potential energy per bead on every platform."""
    built = build_system(small_spec(run__steps=1000, run__report_interval=100, run__trajectory_interval=100,
                                    run__checkpoint_interval=1000))
    built.save(tmp_path / "run")
    r = run_simulation(tmp_path / "run", platform=platform_name, progress=False)
    assert r.status == "complete" and r.platform == platform_name
    log = np.genfromtxt(tmp_path / "run" / "log.csv", delimiter=",", names=True)
    pe_per_bead_eps = log["potential_energy_kjmol"][3:].mean() / 600 / built.units.epsilon_kjmol
    # Fluid Cooke bilayer at kT = 1.1 eps: 13.88 eps/bead, measured alike in OpenMM and in LAMMPS
    # (snarefuse.reference); the short equilibrating run sits within 5 % of it.
    np.testing.assert_allclose(pe_per_bead_eps, 13.88, rtol=0.05)
    assert np.all(np.abs(log["temperature_k"][3:].mean() - 310) < 15)


def _start(run_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "snarefuse.cli", "run", str(run_dir), "--no-progress", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_step(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        p = run_dir / "checkpoint.json"
        if p.exists():
            try:
                if json.loads(p.read_text())["step"] >= step:
                    return
            except (ValueError, KeyError):
                pass
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("run did not reach the step in time")


def test_sigkill_and_resume_gives_the_uninterrupted_trajectory(tmp_path: Path):
    spec = small_spec(**RESUME_OVERRIDES)
    build_system(spec).save(tmp_path / "a")
    build_system(spec).save(tmp_path / "b")
    assert run_simulation(tmp_path / "a", progress=False).status == "complete"

    proc = _start(tmp_path / "b")
    _wait_for_step(tmp_path / "b", 400, proc)
    time.sleep(0.3)  # land the kill somewhere between checkpoints
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((tmp_path / "b" / "checkpoint.json").read_text())["step"] < 1200
    out = subprocess.run([sys.executable, "-m", "snarefuse.cli", "run", str(tmp_path / "b"), "--no-progress"],
                         capture_output=True, text=True, check=True)
    assert "resumed from checkpoint" in out.stdout

    ta = mdtraj.load(str(tmp_path / "a" / "trajectory.dcd"), top=str(tmp_path / "a" / "system.pdb"))
    tb = mdtraj.load(str(tmp_path / "b" / "trajectory.dcd"), top=str(tmp_path / "b" / "system.pdb"))
    assert ta.n_frames == tb.n_frames == 1200 // 50
    np.testing.assert_array_equal(tb.xyz, ta.xyz)  # Reference platform: bit-identical continuation
    la = _without_wall_clock((tmp_path / "a" / "log.csv").read_text())
    lb = _without_wall_clock((tmp_path / "b" / "log.csv").read_text())
    assert lb == la
    steps = [int(line.split(",")[0]) for line in lb[1:]]
    assert steps == list(range(50, 1201, 50))


def test_rerun_of_finished_run_does_nothing_and_extension_continues(tmp_path: Path):
    spec = small_spec(run__steps=200, run__trajectory_interval=50, run__report_interval=50,
                      run__checkpoint_interval=100, run__platform="CPU")
    build_system(spec).save(tmp_path / "r")
    run_simulation(tmp_path / "r", progress=False)
    assert run_simulation(tmp_path / "r", progress=False).status == "nothing-to-do"
    r = run_simulation(tmp_path / "r", steps=400, progress=False)
    assert r.status == "complete" and r.step == 400 and r.resumed_from == "checkpoint"
    t = mdtraj.load(str(tmp_path / "r" / "trajectory.dcd"), top=str(tmp_path / "r" / "system.pdb"))
    assert t.n_frames == 8


def test_second_run_on_same_directory_is_refused(small_built):
    _, run_dir = small_built
    with RunDirectory(run_dir).lock():
        with pytest.raises(RunError, match="another run is active"):
            run_simulation(run_dir, steps=10, progress=False)


def test_stale_lock_of_dead_process_is_ignored(small_built):
    _, run_dir = small_built
    (run_dir / ".lock").write_text("pid 999999 on deadhost\n")
    r = run_simulation(run_dir, steps=100, platform="CPU", progress=False)
    assert r.status == "complete"


def test_overlapping_start_is_caught_and_last_good_state_kept(tmp_path: Path):
    spec = small_spec(run__minimize=False, run__report_interval=10, run__trajectory_interval=10,
                      run__checkpoint_interval=100, run__platform="CPU")
    built = build_system(spec)
    built.positions[5] = built.positions[20] + 0.01  # two beads on top of each other
    built.save(tmp_path / "r")
    with pytest.raises(BlowUpError) as err:
        run_simulation(tmp_path / "r", steps=100, progress=False)
    assert "blew up" in str(err.value) and err.value.step <= 10
    assert set(err.value.particles) & {5, 20}
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "failed"
    assert json.loads((tmp_path / "r" / "checkpoint.json").read_text())["step"] == 0


def test_corrupt_checkpoint_falls_back_to_portable_state(tmp_path: Path, caplog):
    spec = small_spec(run__steps=200, run__trajectory_interval=50, run__report_interval=50,
                      run__checkpoint_interval=100, run__platform="CPU")
    build_system(spec).save(tmp_path / "r")
    run_simulation(tmp_path / "r", steps=100, progress=False)
    info = json.loads((tmp_path / "r" / "checkpoint.json").read_text())
    chk = tmp_path / "r" / info["checkpoint"]
    chk.write_bytes(chk.read_bytes()[:100])  # truncated
    r = run_simulation(tmp_path / "r", progress=False)
    assert r.resumed_from == "state" and r.step == 200
    assert "portable state" in caplog.text
    t = mdtraj.load(str(tmp_path / "r" / "trajectory.dcd"), top=str(tmp_path / "r" / "system.pdb"))
    assert t.n_frames == 4


def test_checkpoint_of_another_platform_resumes_from_state(tmp_path: Path):
    spec = small_spec(run__steps=200, run__trajectory_interval=50, run__report_interval=50,
                      run__checkpoint_interval=100)
    build_system(spec).save(tmp_path / "r")
    run_simulation(tmp_path / "r", steps=100, platform="Reference", progress=False)
    r = run_simulation(tmp_path / "r", platform="CPU", progress=False)
    assert r.resumed_from == "state" and r.platform == "CPU" and r.step == 200


def test_wall_time_limit_stops_with_checkpoint(tmp_path: Path):
    spec = small_spec(run__steps=10**7, run__trajectory_interval=100, run__report_interval=100,
                      run__checkpoint_interval=100000, run__platform="CPU")
    build_system(spec).save(tmp_path / "r")
    r = run_simulation(tmp_path / "r", max_wall_time_s=1.0, progress=False)
    assert r.status == "stopped" and 0 < r.step < 10**7
    info = json.loads((tmp_path / "r" / "checkpoint.json").read_text())
    assert info["step"] == r.step


def test_unknown_platform_error_lists_loaded_platforms(small_built):
    _, run_dir = small_built
    with pytest.raises(PlatformError, match="Loaded platforms"):
        run_simulation(run_dir, steps=10, platform="HIP" if "HIP" not in _names() else "Nope", progress=False)


def _names():
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


def test_missing_build_is_explained(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="build the system first"):
        run_simulation(tmp_path / "empty", progress=False)
    with pytest.raises(RunError, match="no such run directory"):
        run_simulation(tmp_path / "nope", progress=False)


def test_stray_trajectory_is_not_overwritten(small_built):
    _, run_dir = small_built
    (run_dir / "trajectory.dcd").write_bytes(b"precious")
    with pytest.raises(RunError, match="would be"):
        run_simulation(run_dir, steps=10, platform="CPU", progress=False)
    assert (run_dir / "trajectory.dcd").read_bytes() == b"precious"


def test_xtc_trajectory_resumes(tmp_path: Path):
    spec = small_spec(run__steps=200, run__trajectory_interval=50, run__report_interval=50,
                      run__checkpoint_interval=100, run__platform="CPU", run__trajectory_format="xtc")
    build_system(spec).save(tmp_path / "r")
    run_simulation(tmp_path / "r", steps=100, progress=False)
    run_simulation(tmp_path / "r", progress=False)
    t = mdtraj.load(str(tmp_path / "r" / "trajectory.xtc"), top=str(tmp_path / "r" / "system.pdb"))
    assert t.n_frames == 4
    # frame i is written after step (i + 1) * interval, and the XTC time stamps say so, across the resume
    np.testing.assert_allclose(t.time, (np.arange(4) + 1) * 50 * spec.run.timestep_ps, rtol=1e-5)


def test_auto_formulation_is_the_platforms_fastest_and_recorded(tmp_path: Path):
    from snarefuse import native
    from snarefuse.formulations import default_formulation

    built = build_system(small_spec(run__steps=200, run__report_interval=100, run__trajectory_interval=100,
                                    run__checkpoint_interval=200))
    built.save(tmp_path / "run")
    r = run_simulation(tmp_path / "run", platform="CPU", progress=False)
    fastest = "native" if native.available("CPU") else "poly"  # the plugin where it is built, else the expression
    assert r.formulation == default_formulation("CPU") == fastest
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["formulation"] == fastest
    assert json.loads((tmp_path / "run" / "run.json").read_text())["formulation"] == fastest
    # the saved build is untouched: it keeps the force field's own expression
    saved = openmm.XmlSerializer.deserialize((tmp_path / "run" / "system.xml").read_text())
    from snarefuse.formulations import formulation_of

    assert formulation_of(saved) == "expression"


def test_changing_formulation_resumes_from_the_portable_state(tmp_path: Path, caplog):
    built = build_system(small_spec(run__steps=200, run__report_interval=100, run__trajectory_interval=100,
                                    run__checkpoint_interval=100))
    built.save(tmp_path / "run")
    run_simulation(tmp_path / "run", platform="CPU", progress=False, formulation="expression")
    r = run_simulation(tmp_path / "run", steps=400, platform="CPU", progress=False, formulation="split")
    assert r.status == "complete" and r.formulation == "split" and r.resumed_from == "state"
    assert "pair formulation" in caplog.text
    assert mdtraj.load(str(tmp_path / "run" / "trajectory.dcd"), top=str(tmp_path / "run" / "system.pdb")).n_frames == 4


def test_auto_puts_a_cpu_only_opencl_after_the_cpu_platform(monkeypatch):
    from snarefuse import platforms

    monkeypatch.setattr(platforms, "available_platforms", lambda: ["Reference", "CPU", "OpenCL", "CUDA"])
    monkeypatch.setattr(platforms, "opencl_has_accelerator", lambda: False)
    assert platforms.auto_order() == ["CUDA", "CPU", "OpenCL"]
    monkeypatch.setattr(platforms, "opencl_has_accelerator", lambda: True)
    assert platforms.auto_order() == ["CUDA", "OpenCL", "CPU"]
    monkeypatch.setattr(platforms, "opencl_has_accelerator", lambda: None)  # cannot tell: keep the documented order
    assert platforms.auto_order() == ["CUDA", "OpenCL", "CPU"]


def test_opencl_device_query_matches_openmm():
    """The ICD query runs without error; where OpenMM's OpenCL runs on a CPU device it sees no GPU."""
    from snarefuse.platforms import available_platforms, opencl_has_accelerator

    if "OpenCL" not in available_platforms():
        pytest.skip("OpenMM's OpenCL platform is not loaded here")
    has = opencl_has_accelerator()
    assert has in (True, False)
    system = openmm.System()
    system.addParticle(1.0)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("OpenCL"))
    if ctx.getPlatform().getPropertyValue(ctx, "OpenCLPlatformName") == "Portable Computing Language":
        assert has is False  # POCL's device is the CPU itself


def test_reaching_the_target_past_the_wall_time_is_complete(tmp_path: Path):
    """The chunk that reaches the target also overruns the wall-time limit: the run is complete (with its
    final state), not 'stopped'."""
    spec = small_spec(run__steps=100, run__trajectory_interval=100, run__report_interval=100,
                      run__checkpoint_interval=100)
    build_system(spec).save(tmp_path / "r")
    r = run_simulation(tmp_path / "r", platform="CPU", progress=False, max_wall_time_s=1e-9)
    assert r.status == "complete" and r.step == 100
    assert (tmp_path / "r" / "final_state.xml").exists()
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "complete"


def _apl_spec(example: str, **overrides: object):
    from snarefuse.spec import example_spec_path, load_spec

    o = {"run.steps": 20, "run.report_interval": 10, "run.trajectory_interval": 10, "run.checkpoint_interval": 20,
         "run.platform": "CPU", "run.threads": 1}
    o.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_spec(example_spec_path(example)).with_overrides(o)


APL_SYSTEMS = {
    "vesicle_planar": dict(example="vesicle_planar", system__vesicle__radius="5 nm", system__bilayer__n_lipids=800),
    "two_bilayers": dict(example="snare_two_bilayers", system__snares=None, system__cleft="1 nm",
                         system__bilayer__n_lipids=400),
    "two_bilayers_snares": dict(example="snare_two_bilayers", system__snares__n_complexes=1),
    "vesicle_vesicle": dict(example="vesicle_vesicle", system__vesicle__radius="5 nm", system__box_xy=None),
}


@pytest.mark.parametrize("name", list(APL_SYSTEMS))
def test_logged_area_per_lipid_is_the_planar_bilayers(name: str, tmp_path: Path):
    """log.csv's area per lipid is the box area over the lipids in one leaflet of a planar bilayer, from the
    manifest's leaflet counts: vesicle lipids do not count (vesicle-planar once logged 1.60 sigma^2 where the
    planar bilayer had 1.29), each of two bilayers spans the box, and without a planar bilayer it is nan."""
    kw = dict(APL_SYSTEMS[name])
    build_system(_apl_spec(kw.pop("example"), **kw)).save(tmp_path / "r")
    assert run_simulation(tmp_path / "r", progress=False).status == "complete"
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    log = np.genfromtxt(tmp_path / "r" / "log.csv", delimiter=",", names=True)
    assert len(log) == 2
    planar = [m for m in manifest["membranes"] if m["kind"] == "planar"]
    if not planar:
        assert np.all(np.isnan(log["area_per_lipid_sigma2"]))
        return
    leaflets = [n for m in planar for n in (m["n_upper"], m["n_lower"])]
    sigma2 = manifest["units"]["sigma_nm"] ** 2
    area = log["box_x_nm"] * log["box_y_nm"]
    np.testing.assert_allclose(log["area_per_lipid_sigma2"], area / np.mean(leaflets) / sigma2, rtol=1e-6)
    for m in planar:  # each bilayer's own area per lipid, within the odd lipid and those removed for a TMD
        np.testing.assert_allclose(log["area_per_lipid_sigma2"], area / (m["n_lipids"] / 2) / sigma2, rtol=0.02)


#: A run the signal tests interrupt: log rows every 50 steps, flushed at checkpoints every 100.
SIGNAL_OVERRIDES = dict(run__trajectory_interval=50, run__report_interval=50, run__checkpoint_interval=100,
                        run__steps=1000, run__platform="CPU", run__threads=1)


def _log_steps(run_dir: Path) -> list[int]:
    return [int(line.split(",")[0]) for line in (run_dir / "log.csv").read_text().splitlines()[1:]]


def _wait_for_log_rows(run_dir: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (run_dir / "log.csv").exists() and _log_steps(run_dir):
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError("no log rows in time")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_with_checkpoint_and_resumes_to_the_full_run(sig: signal.Signals, tmp_path: Path):
    """SIGTERM / SIGINT end 'snarefuse run' like the wall-time limit: a checkpoint at the step reached, run.json
    'interrupted' at that step (not 'running, step 0'), exit code 128 + the signal; the same command resumes
    and the log has the rows of an uninterrupted run, once each."""
    spec = small_spec(**SIGNAL_OVERRIDES)
    d = tmp_path / "r"
    build_system(spec).save(d)
    proc = _start(d)
    _wait_for_log_rows(d, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, (out, err)
    assert f"interrupted by {sig.name} at step" in out
    rec = json.loads((d / "run.json").read_text())
    info = json.loads((d / "checkpoint.json").read_text())
    assert rec["status"] == "interrupted" and rec["signal"] == sig.name
    assert rec["step"] == info["step"] and 0 < info["step"] < 1000 and info["step"] % 50 == 0
    assert _log_steps(d) == list(range(50, info["step"] + 1, 50))

    again = subprocess.run([sys.executable, "-m", "snarefuse.cli", "run", str(d), "--no-progress"],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "resumed from checkpoint" in again.stdout
    assert json.loads((d / "run.json").read_text())["status"] == "complete"
    assert _log_steps(d) == list(range(50, 1001, 50))  # the rows of an uninterrupted run
    assert mdtraj.load(str(d / "trajectory.dcd"), top=str(d / "system.pdb")).n_frames == 1000 // 50


def test_signals_during_a_checkpoint_write_stop_at_that_checkpoint(tmp_path: Path, monkeypatch):
    """A signal that lands inside a checkpoint write, and a second one while the run is already stopping, change
    nothing in the files: the run stops at that checkpoint and resumes from it exactly."""
    import snarefuse.runner as runner

    spec = small_spec(**SIGNAL_OVERRIDES)
    d = tmp_path / "r"
    build_system(spec).save(d)
    write = runner._write_checkpoint

    def write_under_signals(*args, **kwargs):
        if args[1].currentStep == 200:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs at once, inside the write
            out = write(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGINT)
            return out
        return write(*args, **kwargs)

    monkeypatch.setattr(runner, "_write_checkpoint", write_under_signals)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(RunInterrupted, match="interrupted by SIGTERM at step 200/1000") as err:
        run_simulation(d, progress=False)
    assert err.value.signum == signal.SIGTERM
    assert (err.value.result.status, err.value.result.step) == ("interrupted", 200)
    assert not isinstance(err.value, Exception)  # a script's 'except Exception' does not swallow it
    assert {s: signal.getsignal(s) for s in before} == before  # the handlers are given back
    rec = json.loads((d / "run.json").read_text())
    assert (rec["status"], rec["step"], rec["signal"]) == ("interrupted", 200, "SIGTERM")
    assert json.loads((d / "checkpoint.json").read_text())["step"] == 200
    monkeypatch.setattr(runner, "_write_checkpoint", write)
    r = run_simulation(d, progress=False)
    assert (r.status, r.step, r.resumed_from) == ("complete", 1000, "checkpoint")
    assert _log_steps(d) == list(range(50, 1001, 50))


def test_a_system_saved_with_the_legacy_fene_runs_with_the_new_one(tmp_path: Path):
    """A run directory's system.xml from before the FENE change (NaN beyond r_inf, which let the vesicle-vesicle
    minimisation end at NaN) runs with the +inf form; the System passed in is not modified."""
    from snarefuse.forcefield import FENE_ENERGY, LEGACY_FENE_ENERGY
    from snarefuse.runner import make_simulation

    build_system(_apl_spec("bilayer_small", system__bilayer__n_lipids=64)).save(tmp_path / "r")
    system = openmm.XmlSerializer.deserialize((tmp_path / "r" / "system.xml").read_text())
    (fene,) = [f for f in system.getForces() if f.getName() == "CookeFENE"]
    assert fene.getEnergyFunction() == FENE_ENERGY
    fene.setEnergyFunction(LEGACY_FENE_ENERGY)
    pdb = app.PDBFile(str(tmp_path / "r" / "system.pdb"))
    sim = make_simulation(pdb.topology, system, lambda: openmm.VerletIntegrator(0.001), "Reference", "double",
                          formulation=None)
    (run_fene,) = [f for f in sim.system.getForces() if f.getName() == "CookeFENE"]
    assert run_fene.getEnergyFunction() == FENE_ENERGY
    assert fene.getEnergyFunction() == LEGACY_FENE_ENERGY
