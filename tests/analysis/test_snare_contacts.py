"""Zippering by native contacts in the SNARE analysis (``q_all``, ``q_clamped``, ``q_rest``) and the trigger's
clamped-layer rule on them: built complexes, a synthetic trajectory whose clamped layers form at a known frame,
and the contacts read back from a System's contact forces."""

from __future__ import annotations

import numpy as np
import openmm
import pytest

from snarefuse.analysis.base import AnalysisError
from snarefuse.analysis.snare import SnareAnalysis, native_contacts_of_system
from snarefuse.analysis.snare_geometry import CONTACT_FORMED_R0, contact_fractions, contacts_formed
from snarefuse.analysis.trigger import ZIPPED_Q, clamped_zipping
from snarefuse.build.snare import build_snare_complex, clamped_native_contacts
from snarefuse.protein_bonds import native_contact_force

BOX_NM = 40.0


def _complexes():
    """A half-zipped clamped complex (VAMP2's +1...+8 an open helix off the groove) and the same complex fully
    zipped: the residue table does not depend on the zipped range, so bead k is the same residue in both."""
    half = build_snare_complex((-7, 0), (5, 11), seed=3, clamp_layers=(1, 8))
    full = build_snare_complex((-7, 8), (5, 11), seed=3)
    assert (half.chain_ids == full.chain_ids).all()
    return half, full


def _system(cx, n_copies: int = 1) -> tuple[openmm.System, np.ndarray]:
    """A System with the clamped build's two contact forces (as the builder makes them) for ``n_copies`` complexes
    one after the other; returns it and the clamped-force mask of the pairs of one complex."""
    pairs, r0, held = clamped_native_contacts(cx, (1, 8))
    system = openmm.System()
    for _ in range(n_copies * cx.n_residues):
        system.addParticle(100.0)
    allp = np.concatenate([pairs + k * cx.n_residues for k in range(n_copies)])
    allr, allh = np.tile(r0, n_copies), np.tile(held, n_copies)
    system.addForce(native_contact_force(allp[~allh], allr[~allh], epsilon_kjmol=1.0))
    system.addForce(native_contact_force(allp[allh], allr[allh], epsilon_kjmol=1.0, clamp=0.0))
    return system, held


def _trajectory(frames: list[np.ndarray], complexes: list) -> tuple:
    import mdtraj
    from openmm import app

    from snarefuse.build.proteins import add_to_topology

    top = app.Topology()
    records = add_to_topology(top, complexes)
    n = len(frames)
    t = mdtraj.Trajectory(np.stack(frames), mdtraj.Topology.from_openmm(top),
                          unitcell_lengths=[[BOX_NM] * 3] * n, unitcell_angles=[[90.0] * 3] * n)
    return t, records


def test_contact_kernels_count_formed_pairs_by_minimum_image():
    x = np.array([[0.0, 0.0, 0.0], [0.59, 0.0, 0.0], [9.41, 0.0, 0.0], [0.0, 0.61, 0.0]])
    pairs = np.array([[0, 1], [0, 2], [0, 3]])
    r0 = np.full(3, 0.5)
    formed = contacts_formed(x, pairs, r0, np.array([10.0, 10.0, 10.0]))
    assert formed.tolist() == [True, True, False]  # 0.59 and 0.59 through the boundary < 0.6 = 1.2 r0 < 0.61
    assert contacts_formed(x, pairs, r0, None).tolist() == [True, False, False]
    assert contact_fractions(formed, np.array([1, 1, 0]), 3)[:2].tolist() == [0.0, 1.0]
    assert CONTACT_FORMED_R0 == 1.2


def test_built_complexes_q_at_frame_zero():
    """Zipped layers hold Q = 1 as built; the clamped half of a clamped build holds almost none (its open helix
    sits just outside its contacts), although the layer geometry reads every layer zipped."""
    half, full = _complexes()
    system, held = _system(half)
    t, records = _trajectory([half.positions], [half])
    sa = SnareAnalysis(t, snares=records, contacts=system).run()
    row = {c: float(sa.table[c][0]) for c in ("q_all", "q_clamped", "q_rest", "n_zipped_layers")}
    assert row["q_rest"] == pytest.approx(1.0)
    assert row["q_clamped"] < 0.05
    assert row["q_all"] == pytest.approx((len(held) - held.sum() + row["q_clamped"] * held.sum()) / len(held))
    assert row["n_zipped_layers"] == 16  # the geometry cannot tell the open helix from a zipped one
    nc = sa.results.summary["native_contacts"]
    # the group "clamped" is the clamp's own pairs: those of the clamped force
    assert nc["n_contacts"] == {"all": [len(held)], "clamped": [int(held.sum())], "rest": [int((~held).sum())]}
    assert nc["clamp_layers"] == [1, 8] and nc["first_frame"]["q_clamped"] == pytest.approx(row["q_clamped"])
    # the fully zipped complex on the same contacts: every one formed
    t2, _ = _trajectory([full.positions], [half])
    sa2 = SnareAnalysis(t2, snares=records, contacts=system).run()
    assert [float(sa2.table[c][0]) for c in ("q_all", "q_clamped", "q_rest")] == [1.0, 1.0, 1.0]


def test_clamped_layers_forming_at_a_known_frame_fire_the_trigger_rule():
    """Two complexes, frames 10 ps apart, trigger at 15 ps. Complex 0's clamped layers zip at frame 2 and stay;
    complex 1's flicker zipped at frame 2 alone, then zip from frame 5: the rule (Q >= ZIPPED_Q for 3 frames)
    times them at frames 2 and 5."""
    half, full = _complexes()
    system, held = _system(half, n_copies=2)
    shift = np.array([20.0, 0.0, 0.0])
    zipped0 = [False, False, True, True, True, True, True, True]
    zipped1 = [False, False, True, False, False, True, True, True]
    frames = [np.concatenate([(full if z0 else half).positions, (full if z1 else half).positions + shift])
              for z0, z1 in zip(zipped0, zipped1)]
    t, records = _trajectory(frames, [half, half.with_positions(half.positions + shift)])
    sa = SnareAnalysis(t, snares=records, contacts=system, dt_ps=10.0, chunk=3).run()
    q = np.asarray(sa.table["q_clamped"]).reshape(len(frames), 2)
    assert (q[np.array([zipped0, zipped1]).T] == 1.0).all() and (q[~np.array([zipped0, zipped1]).T] < 0.05).all()
    z = clamped_zipping(sa.table, (1, 8), trigger_tau=1.5, tau_ps=10.0)
    assert z["measure"] == "contacts" and z["zipped_q"] == ZIPPED_Q
    assert z["zipped_from_trigger_tau"] == [pytest.approx(0.5), pytest.approx(3.5)]
    assert z["all_zipped_from_trigger_tau"] == pytest.approx(3.5)
    assert z["q_max_before"] < 0.05 and z["q_mean_after"] > 0.5
    # the geometric count, kept beside it, reads the open helix as zipped and fires at the first frame after it
    assert z["geometric_zipped_from_trigger_tau"] == [pytest.approx(0.5), pytest.approx(0.5)]
    # a trigger after complex 1's flicker but with complex 0 already zipped: zipped at the first frame after it
    late = clamped_zipping(sa.table, (1, 8), trigger_tau=3.5, tau_ps=10.0)
    assert late["zipped_from_trigger_tau"] == [pytest.approx(0.5), pytest.approx(1.5)]


def test_contacts_are_read_from_the_systems_contact_forces(tmp_path):
    half, _ = _complexes()
    system, held = _system(half)
    pairs, r0, _ = clamped_native_contacts(half, (1, 8))
    (tmp_path / "system.xml").write_text(openmm.XmlSerializer.serialize(system))
    p, r = native_contacts_of_system(tmp_path / "system.xml")
    order = np.r_[np.flatnonzero(~held), np.flatnonzero(held)]  # native force first, then the clamped one
    assert (p == pairs[order]).all() and np.allclose(r, r0[order])
    with pytest.raises(AnalysisError, match="no 'SNARE native contacts'"):
        native_contacts_of_system(openmm.System())
    with pytest.raises(AnalysisError, match="not found"):
        native_contacts_of_system(tmp_path / "missing.xml")
    t, records = _trajectory([half.positions], [half])
    with pytest.raises(AnalysisError, match="contacts: 2 pairs but 1 native distances"):
        SnareAnalysis(t, snares=records, contacts=(np.array([[0, 1], [2, 3]]), np.array([0.5])))
    with pytest.raises(AnalysisError, match="none of the native contacts"):
        SnareAnalysis(t, snares=records, contacts=(np.array([[0, half.n_residues + 5]]), np.array([0.5])))
    # without contacts the q columns are absent
    assert "q_all" not in SnareAnalysis(t, snares=records).run().table


def test_analyze_run_measures_the_contacts_of_a_clamped_build(tmp_path):
    """The pipeline reads the contacts from system.xml: a half-zipped clamped build a few steps in holds its zipped
    half and almost none of its clamped half, and the trigger summary times the clamped layers by the contacts; without
    system.xml the q columns are absent and a note says so."""
    import shutil

    from snarefuse.analysis import analyze_run
    from snarefuse.analysis.base import Table
    from snarefuse.build import build_system
    from snarefuse.runner import run_simulation
    from snarefuse.spec import example_spec_path, load_spec

    spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides({
        "system.snares.n_complexes": 1, "system.snares.clamp": {}, "system.snares.zipped_layers": [-7, 0],
        "system.snares.linker_unzipped": [5, 11], "run.steps": 10, "run.report_interval": 5,
        "run.trajectory_interval": 5, "run.checkpoint_interval": 10, "run.platform": "CPU", "run.threads": 1,
        "run.minimize": False, "run.trigger": {"at": 5}})
    build_system(spec).save(tmp_path / "run")
    assert run_simulation(tmp_path / "run", progress=False).status == "complete"
    summary = analyze_run(tmp_path / "run", figures=False)
    t = Table.from_csv(tmp_path / "run" / "analysis" / "snare.csv")
    assert float(t["q_rest"][0]) > 0.95 and float(t["q_clamped"][0]) < 0.1
    nc = summary["snare"]["native_contacts"]
    assert nc["clamp_layers"] == [1, 8] and nc["n_contacts"]["clamped"][0] > 0
    cl = summary["trigger"]["clamped_layers"]
    assert cl["measure"] == "contacts" and cl["zipped_from_trigger_tau"] == [None]  # 5 steps after it: not yet
    assert cl["q_max_before"] < 0.1 and len(cl["geometric_zipped_from_trigger_tau"]) == 1
    shutil.copytree(tmp_path / "run", tmp_path / "bare", ignore=shutil.ignore_patterns("analysis", "system.xml"))
    bare = analyze_run(tmp_path / "bare", figures=False)
    assert "q_all" not in Table.from_csv(tmp_path / "bare" / "analysis" / "snare.csv")
    assert any("system.xml not found" in n for n in bare["notes"])
    assert bare["trigger"]["clamped_layers"]["measure"] == "geometry"
