"""Timed run protocols (``run.protocol``, snarefuse.protocol): parsing and its errors, the values as a function
of the step, the runner setting them at exactly their steps, and SIGKILL before, after and inside a ramp resuming
to the bit-identical result of an uninterrupted run (Reference platform)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openmm
import pytest

from snarefuse.build import build_system
from snarefuse.errors import SpecError
from snarefuse.protocol import SURFACE_TENSION, Protocol, ProtocolEvent, ramp_stride
from snarefuse.runner import run_simulation
from snarefuse.spec import example_spec_path, load_spec

from .conftest import small_spec, without_wall_clock

#: Steps of the run tests: an instant event, then a ramp of the barostat tension (moves every 5 steps, so that
#: the tension acts), checkpoints every 20 steps.
STEPS = 100
EVENT_STEP = 25
RAMP = (50, 90)
TENSION_BARNM = (20.0, -10.0)
RUN = {"run.steps": STEPS, "run.platform": "Reference", "run.report_interval": 5, "run.trajectory_interval": 5,
       "run.checkpoint_interval": 20, "run.minimize": False, "run.barostat.interval": 5,
       "run.protocol": [{"at": EVENT_STEP, "set": {SURFACE_TENSION: f"{TENSION_BARNM[0] / 10} mN/m"}},
                        {"at": f"{RAMP[0]} steps", "ramp": RAMP[1] - RAMP[0],
                         "set": {SURFACE_TENSION: TENSION_BARNM[1]}}]}
#: (kill step, what the last checkpoint before it is): before the event, after it, inside the ramp, after the ramp
KILL_STEPS = (23, 45, 65, 95)
CHILD_TIMEOUT_S = 180

#: A run that SIGKILLs itself when it reaches a step (argv: run_dir, step): between checkpoints, mid-chunk.
KILLER = r"""
import os, signal, sys
from snarefuse.runner import run_simulation

class KillAt:
    def __init__(self, step):
        self.step = step
    def describeNextReport(self, simulation):
        left = self.step - simulation.currentStep
        return {"steps": left if left > 0 else 10**9, "periodic": False, "include": []}
    def report(self, simulation, state):
        os.kill(os.getpid(), signal.SIGKILL)

run_simulation(sys.argv[1], progress=False, extra_reporters=[KillAt(int(sys.argv[2]))])
"""


class ParameterRecorder:
    """A global parameter in the Context at every step, as reporters see it (before the runner's hook)."""

    def __init__(self, name: str = SURFACE_TENSION) -> None:
        self.name = name
        self.seen: dict[int, float] = {}

    def describeNextReport(self, simulation):  # noqa: N802
        return {"steps": 1, "periodic": False, "include": []}

    def report(self, simulation, state):
        self.seen[simulation.currentStep] = simulation.context.getParameter(self.name)


def _expected(step: int) -> float:
    """The tension in force for the dynamics from ``step`` on."""
    if step < EVENT_STEP:
        return 0.0
    if step < RAMP[0]:
        return TENSION_BARNM[0]
    if step >= RAMP[1]:
        return TENSION_BARNM[1]
    stride = ramp_stride(RAMP[1] - RAMP[0])
    done = (step - RAMP[0]) // stride * stride
    return TENSION_BARNM[0] + (TENSION_BARNM[1] - TENSION_BARNM[0]) * done / (RAMP[1] - RAMP[0])


def _build(path: Path, **overrides) -> Path:
    build_system(small_spec(**{k.replace(".", "__"): v for k, v in {**RUN, **overrides}.items()})).save(path)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, float]]:
    """The uninterrupted run, and the tension the Context held at each step."""
    d = _build(tmp_path_factory.mktemp("protocol") / "ref")
    rec = ParameterRecorder()
    assert run_simulation(d, progress=False, extra_reporters=[rec]).status == "complete"
    return d, rec.seen


# ------------------------------------------------------------------------------------------ spec
def test_protocol_is_parsed_into_steps_and_md_units():
    spec = small_spec(**{k.replace(".", "__"): v for k, v in RUN.items()})
    events = spec.run.protocol.events
    assert [e.step for e in events] == [EVENT_STEP, RAMP[0]]
    assert events[0].values == ((SURFACE_TENSION, pytest.approx(TENSION_BARNM[0])),)  # 2 mN/m = 20 bar*nm
    assert events[1].ramp_steps == RAMP[1] - RAMP[0]
    # the canonical form re-parses to the same spec (and key)
    again = spec.with_overrides({})
    assert again.run.protocol == spec.run.protocol and again.key() == spec.key()


def test_a_time_is_converted_to_steps():
    spec = small_spec(run__steps=1000, run__protocol=[{"at": "0.5 tau", "ramp": "1 tau", "set": {SURFACE_TENSION: 1}}])
    assert spec.run.protocol.events[0].step == 50 and spec.run.protocol.events[0].ramp_steps == 100


def test_a_spec_without_a_protocol_keeps_its_key():
    assert "protocol" not in small_spec().to_dict()["run"]


@pytest.mark.parametrize("protocol,field,says", [
    ([{"at": 10, "set": {"xyz": 1}}], "run.protocol[0].set.xyz", SURFACE_TENSION),
    ([{"at": 10, "set": {"snare_contact_scale": 0}}], "run.protocol[0].set.snare_contact_scale", "accepts"),
    ([{"at": 101, "set": {SURFACE_TENSION: 1}}], "run.protocol[0].at", "beyond the run"),
    ([{"at": 90, "ramp": 20, "set": {SURFACE_TENSION: 1}}], "run.protocol[0].ramp", "beyond the run"),
    ([{"at": 10, "ramp": 30, "set": {SURFACE_TENSION: 1}}, {"at": 20, "ramp": 5, "set": {SURFACE_TENSION: 2}}],
     f"run.protocol[1].set.{SURFACE_TENSION}", "overlaps run.protocol[0]"),
    ([{"at": 10, "set": {SURFACE_TENSION: 1}}, {"at": 10, "set": {SURFACE_TENSION: 2}}],
     f"run.protocol[1].set.{SURFACE_TENSION}", "overlaps run.protocol[0]"),
    ([{"at": "0.015 tau", "set": {SURFACE_TENSION: 1}}], "run.protocol[0].at", "whole number of steps"),
    ([{"at": 10, "set": {SURFACE_TENSION: "1 nm"}}], f"run.protocol[0].set.{SURFACE_TENSION}", ""),
    ([{"at": 10, "set": {}}], "run.protocol[0].set", "mapping"),
    ([{"set": {SURFACE_TENSION: 1}}], "run.protocol[0].at", "missing"),
    ([{"at": 10, "when": 3, "set": {SURFACE_TENSION: 1}}], "run.protocol[0]", "when"),
    ({"at": 10}, "run.protocol", "list"),
])
def test_protocol_errors_name_the_event(protocol, field, says):
    with pytest.raises(SpecError) as e:
        small_spec(run__steps=100, run__protocol=protocol)
    assert field in str(e.value) and says in str(e.value)


def test_barostat_tension_needs_the_barostat():
    with pytest.raises(SpecError, match=r"run.protocol\[0\].set.MembraneMonteCarloSurfaceTension.*none"):
        small_spec(run__steps=100, run__barostat__enabled=False,
                   run__protocol=[{"at": 1, "set": {SURFACE_TENSION: 1}}])


def test_snare_parameters_are_accepted_where_the_system_has_snares():
    spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides({
        "system.snares.n_complexes": 1, "run.steps": 100,
        "run.protocol": [{"at": 10, "set": {"snare_contact_scale": 0.5, "snare_anchor_eps": "1 epsilon"}}]})
    values = dict(spec.run.protocol.events[0].values)
    assert values["snare_contact_scale"] == 0.5
    np.testing.assert_allclose(values["snare_anchor_eps"], spec.model.units.epsilon_kjmol)


# ------------------------------------------------------------------------------------------ pure function
def test_values_are_a_function_of_the_step():
    p = Protocol((ProtocolEvent(10, (("a", 2.0),)), ProtocolEvent(20, (("a", 4.0),), ramp_steps=10)))
    got = [p.values_at(s, {"a": 1.0})["a"] for s in (0, 9, 10, 19, 20, 21, 25, 29, 30, 1000)]
    np.testing.assert_array_equal(got, [1.0, 1.0, 2.0, 2.0, 2.0, 2.2, 3.0, 3.8, 4.0, 4.0])
    assert p.boundaries() == [10, *range(20, 31)]
    assert p.next_boundary(10) == 20 and p.next_boundary(30) is None


def test_a_long_ramp_changes_at_a_fixed_stride():
    p = Protocol((ProtocolEvent(0, (("a", 1.0),), ramp_steps=1000),))
    stride = ramp_stride(1000)
    assert stride == 5
    assert p.boundaries() == list(range(0, 1001, stride))
    assert p.values_at(stride - 1, {"a": 0.0}) == p.values_at(0, {"a": 0.0}) == {"a": 0.0}


# ------------------------------------------------------------------------------------------ the run
def test_the_parameter_changes_at_exactly_its_step(reference):
    run_dir, seen = reference
    # a reporter at step s sees the value the dynamics used from s - 1 to s
    for step in range(1, STEPS + 1):
        assert seen[step] == pytest.approx(_expected(step - 1), abs=1e-12), step
    assert seen[EVENT_STEP] == 0.0 and seen[EVENT_STEP + 1] == TENSION_BARNM[0]
    with open(run_dir / "log.csv") as f:
        rows = {int(r["step"]): float(r[SURFACE_TENSION]) for r in csv.DictReader(f)}
    # a row holds the value its state was computed with: the event at step 25 shows from the row of step 30 on
    assert rows[20] == rows[25] == 0.0 and rows[30] == TENSION_BARNM[0]
    for step in range(5, STEPS + 1, 5):
        assert rows[step] == pytest.approx(_expected(step - 1), rel=1e-7)
    final = openmm.XmlSerializer.deserialize((run_dir / "final_state.xml").read_text())
    assert final.getParameters()[SURFACE_TENSION] == TENSION_BARNM[1]


def test_the_protocol_changes_the_dynamics(reference, tmp_path):
    """The same run without the ramp ends elsewhere (the tension reaches the barostat)."""
    run_dir, _ = reference
    other = _build(tmp_path / "other", **{"run.protocol": RUN["run.protocol"][:1]})
    assert run_simulation(other, progress=False).status == "complete"
    a, b = (openmm.XmlSerializer.deserialize((d / "final_state.xml").read_text()) for d in (run_dir, other))
    assert not np.array_equal(a.getPeriodicBoxVectors(asNumpy=True)._value,
                              b.getPeriodicBoxVectors(asNumpy=True)._value)


def test_sigkill_before_after_and_inside_a_ramp_resumes_bit_identically(reference, tmp_path):
    ref, _ = reference
    run_dir = _build(tmp_path / "killed")
    for step in KILL_STEPS:
        out = subprocess.run([sys.executable, "-c", KILLER, str(run_dir), str(step)], capture_output=True,
                             text=True, timeout=CHILD_TIMEOUT_S)
        assert out.returncode == -9, f"not killed at step {step}: {out.stderr[-2000:]}"
        assert json.loads((run_dir / "checkpoint.json").read_text())["step"] == step // 20 * 20
    assert run_simulation(run_dir, progress=False).status == "complete"
    assert without_wall_clock((run_dir / "log.csv").read_text()) == without_wall_clock((ref / "log.csv").read_text())
    a, b = (openmm.XmlSerializer.deserialize((d / "final_state.xml").read_text()) for d in (run_dir, ref))
    np.testing.assert_array_equal(a.getPositions(asNumpy=True)._value, b.getPositions(asNumpy=True)._value)
    np.testing.assert_array_equal(a.getVelocities(asNumpy=True)._value, b.getVelocities(asNumpy=True)._value)
    np.testing.assert_array_equal(a.getPeriodicBoxVectors(asNumpy=True)._value,
                                  b.getPeriodicBoxVectors(asNumpy=True)._value)
    assert dict(a.getParameters()) == dict(b.getParameters())


def test_extending_a_finished_run_keeps_the_last_values(reference, tmp_path):
    import shutil

    ref, _ = reference
    run_dir = tmp_path / "extended"
    shutil.copytree(ref, run_dir)
    assert run_simulation(run_dir, steps=STEPS + 10, progress=False).status == "complete"
    final = openmm.XmlSerializer.deserialize((run_dir / "final_state.xml").read_text())
    assert final.getParameters()[SURFACE_TENSION] == TENSION_BARNM[1]


# ------------------------------------------------------------------------------------------ the clamp
CLAMP_FACTOR = 0.25


@pytest.fixture(scope="module")
def clamped_build():
    """One SNARE complex between two bilayers, its layers +1...+8 clamped at a leaky 0.25."""
    spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides({
        "system.snares.n_complexes": 1, "system.snares.clamp": {"factor": CLAMP_FACTOR},
        "run.protocol": [{"at": 0, "set": {"snare_clamp": 1.0}}], "run.steps": 10})
    return spec, build_system(spec)


def _force(system: openmm.System, name: str) -> openmm.CustomBondForce:
    (f,) = [f for f in system.getForces() if f.getName() == name]
    return f


def _pairs(f: openmm.CustomBondForce) -> tuple[np.ndarray, np.ndarray]:
    bonds = [f.getBondParameters(k) for k in range(f.getNumBonds())]
    return np.array([(i, j) for i, j, _ in bonds]), np.array([p[1] for _, _, p in bonds])


def test_clamp_spec_defaults_to_the_c_terminal_half():
    spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides({"system.snares.clamp": {}})
    assert spec.system.snares.clamp.layers == (1, 8) and spec.system.snares.clamp.factor == 0.0
    assert "clamp" not in load_spec(example_spec_path("snare_two_bilayers")).to_dict()["system"]["snares"]
    with pytest.raises(SpecError, match=r"system.snares.clamp.factor"):
        spec.with_overrides({"system.snares.clamp": {"factor": 1.5}})


def test_the_clamp_holds_exactly_the_contacts_of_its_layers(clamped_build):
    spec, built = clamped_build
    rec = built.manifest["snares"][0]
    layer = np.full(built.system.getNumParticles(), -99)
    layer[rec["first_atom"]:rec["first_atom"] + rec["n_atoms"]] = rec["layer"]
    held = _force(built.system, "SNARE clamped contacts")
    free = _force(built.system, "SNARE native contacts")
    assert held.getGlobalParameterName(1) == "snare_clamp"
    assert held.getGlobalParameterDefaultValue(1) == CLAMP_FACTOR
    (hp, _), (fp, _) = _pairs(held), _pairs(free)
    assert len(hp) > 0 and len(fp) > 0
    vamp2 = np.zeros(built.system.getNumParticles(), dtype=bool)
    vamp2[rec["first_atom"]:rec["first_atom"] + rec["n_atoms"]] = np.array(rec["helix"]) == "A"
    in_clamp = (layer >= 1) & (layer <= 8) & vamp2  # the clamp holds VAMP2's contacts of layers +1...+8
    assert in_clamp[hp].any(axis=1).all()          # every clamped contact has such a VAMP2 residue
    assert not in_clamp[fp].any()                  # and no other contact does
    unclamped = load_spec(example_spec_path("snare_two_bilayers")).with_overrides({"system.snares.n_complexes": 1})
    assert len(hp) + len(fp) == _force(build_system(unclamped).system, "SNARE native contacts").getNumBonds()


def test_the_clamped_contacts_attraction_scales_with_the_clamp(clamped_build):
    from snarefuse.forces import native_contact_energy

    spec, built = clamped_build
    held = _force(built.system, "SNARE clamped contacts")
    system = openmm.System()
    for _ in range(built.system.getNumParticles()):
        system.addParticle(1.0)
    system.setDefaultPeriodicBoxVectors(*built.system.getDefaultPeriodicBoxVectors())
    system.addForce(openmm.XmlSerializer.clone(held))
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    rng = np.random.default_rng(3)
    pos = built.positions + rng.normal(scale=0.03, size=built.positions.shape)
    ctx.setPositions(pos)
    pairs, r0 = _pairs(held)
    eps = spec.system.snares.contact_strength_kt * spec.model.units.kt_kjmol
    full = native_contact_energy(pos, pairs, r0, epsilon_kjmol=eps)
    assert full < 0
    for factor in (CLAMP_FACTOR, 0.0, 1.0):
        ctx.setParameter("snare_clamp", factor)
        e = ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
        # the clamp scales the attraction; the repulsion inside r0 stays on (protein_bonds, "Clamped contacts")
        np.testing.assert_allclose(e, native_contact_energy(pos, pairs, r0, epsilon_kjmol=eps, clamp=factor),
                                   rtol=1e-9, atol=1e-9)
        if factor == 1.0:
            np.testing.assert_allclose(e, full, rtol=1e-9, atol=1e-9)


def test_the_clamp_is_a_protocol_parameter(clamped_build):
    from snarefuse.protocol import initial_values

    spec, built = clamped_build
    assert initial_values(built.system, spec.run.protocol.parameters) == {"snare_clamp": CLAMP_FACTOR}
    with pytest.raises(SpecError, match="snare_clamp"):
        load_spec(example_spec_path("snare_two_bilayers")).with_overrides({
            "system.snares.n_complexes": 1, "system.snares.clamp": {}, "run.steps": 10,
            "run.protocol": [{"at": 0, "set": {"xyz": 1}}]})
    with pytest.raises(SpecError, match=r"run.protocol\[0\].set.snare_clamp: unknown"):  # no clamp, no parameter
        load_spec(example_spec_path("snare_two_bilayers")).with_overrides({
            "system.snares.n_complexes": 1, "run.steps": 10, "run.protocol": [{"at": 0, "set": {"snare_clamp": 1}}]})


def test_a_run_releases_the_clamp_at_its_step(tmp_path):
    """The smallest SNARE system, released at step 5 of 10 (CPU platform: the Reference one takes a minute)."""
    spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides({
        "system.snares.n_complexes": 1, "system.snares.clamp": {}, "run.steps": 10, "run.report_interval": 5,
        "run.trajectory_interval": 5, "run.checkpoint_interval": 10, "run.platform": "CPU", "run.threads": 1,
        "run.minimize": False, "run.protocol": [{"at": 5, "set": {"snare_clamp": 1.0}}]})
    build_system(spec).save(tmp_path / "run")
    rec = ParameterRecorder("snare_clamp")
    assert run_simulation(tmp_path / "run", progress=False, extra_reporters=[rec]).status == "complete"
    assert [rec.seen[s] for s in range(1, 11)] == [0.0] * 5 + [1.0] * 5  # steps 5 -> 6 on run released
    with open(tmp_path / "run" / "log.csv") as f:
        assert [float(r["snare_clamp"]) for r in csv.DictReader(f)] == [0.0, 1.0]
