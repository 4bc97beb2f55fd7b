"""Regulated versus constitutive exocytosis: the trigger (``run.trigger``), the half-zipped clamped build, the
shipped examples and comparison sweep, and the analysis timed from the trigger."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from snarefuse.analysis.trigger import (ZIPPED_STATE, clamped_zipping, delay_column, delay_statistics,
                                        first_passage_from_trigger, trigger_info, trigger_summary)
from snarefuse.build import build_system
from snarefuse.build.snare import (LAYER_MAX, OPEN_CLEARANCE_R0, build_snare_complex, clamped_native_contacts,
                                   place_complex_between)
from snarefuse.errors import BuildError, SpecError
from snarefuse.runner import run_simulation
from snarefuse.spec import Spec, example_spec_path, load_spec
from snarefuse.sweep import CONDITION, Sweep, load_sweep

from .test_protocol import ParameterRecorder


def _regulated():
    return load_spec(example_spec_path("regulated"))


# ------------------------------------------------------------------------------------------ the trigger
def test_the_trigger_releases_the_clamp_by_default():
    spec = _regulated()
    trig = spec.run.protocol.trigger
    assert trig is not None and dict(trig.values) == {"snare_clamp": 1.0}
    assert spec.run.protocol.trigger_step == trig.step == 5000 and trig.ramp_steps == 100
    assert spec.run.protocol.parameters == ["snare_clamp"]
    assert spec.run.protocol.values_at(4999, {"snare_clamp": 0.0}) == {"snare_clamp": 0.0}
    assert spec.run.protocol.values_at(5050, {"snare_clamp": 0.0}) == {"snare_clamp": 0.5}
    assert spec.run.protocol.values_at(5100, {"snare_clamp": 0.0}) == {"snare_clamp": 1.0}
    assert 5000 in spec.run.protocol.boundaries() and 5100 in spec.run.protocol.boundaries()
    info = trigger_info(spec)
    assert info["step"] == 5000 and math.isclose(info["time_tau"], 50.0) and math.isclose(info["ramp_tau"], 1.0)


def test_the_trigger_is_part_of_the_key_and_round_trips():
    spec = _regulated()
    d = spec.to_dict()
    assert d["run"]["trigger"] == {"at": 5000, "ramp": 100, "set": {"snare_clamp": 1.0}} and "protocol" not in d["run"]
    later = spec.with_overrides({"run.trigger.at": "60 tau"})
    assert later.run.protocol.trigger_step == 6000 and later.key() != spec.key()
    assert load_spec(example_spec_path("constitutive")).run.protocol.trigger is None


@pytest.mark.parametrize("override, field, says", [
    ({"run.trigger": {"at": "400 tau"}}, "run.trigger.at", "beyond the run"),
    ({"run.trigger": {"at": "50 tau", "set": {"snare_kaboom": 1}}}, "run.trigger.set.snare_kaboom", "unknown parameter"),
    ({"run.trigger": {"ramp": "1 tau"}}, "run.trigger.at", "missing"),
    ({"run.protocol": [{"at": "40 tau", "ramp": "20 tau", "set": {"snare_clamp": 0.5}}]}, "run.trigger.set.snare_clamp",
     r"overlaps run.protocol\[0\]"),
])
def test_trigger_errors_name_the_field(override, field, says):
    with pytest.raises(SpecError, match=rf"{field}.*{says}"):
        _regulated().with_overrides(override)


def test_a_trigger_without_a_clamp_must_say_what_it_sets():
    spec = load_spec(example_spec_path("constitutive"))
    with pytest.raises(SpecError, match=r"run.trigger.set.*snare_clamp"):
        spec.with_overrides({"run.trigger": {"at": "50 tau"}})
    ok = spec.with_overrides({"run.trigger": {"at": "50 tau", "set": {"snare_contact_scale": 0.5}}})
    assert dict(ok.run.protocol.trigger.values) == {"snare_contact_scale": 0.5}


def test_a_run_fires_the_trigger_at_its_step(tmp_path):
    """The smallest SNARE system, the clamp released by the trigger at step 5 of 10 (CPU platform)."""
    spec = load_spec(example_spec_path("snare_two_bilayers")).with_overrides({
        "system.snares.n_complexes": 1, "system.snares.clamp": {}, "run.steps": 10, "run.report_interval": 5,
        "run.trajectory_interval": 5, "run.checkpoint_interval": 10, "run.platform": "CPU", "run.threads": 1,
        "run.minimize": False, "run.trigger": {"at": 5}})
    build_system(spec).save(tmp_path / "run")
    rec = ParameterRecorder("snare_clamp")
    assert run_simulation(tmp_path / "run", progress=False, extra_reporters=[rec]).status == "complete"
    assert [rec.seen[s] for s in range(1, 11)] == [0.0] * 5 + [1.0] * 5
    with open(tmp_path / "run" / "log.csv") as f:
        assert [float(r["snare_clamp"]) for r in csv.DictReader(f)] == [0.0, 1.0]
    # the analysis times the run from its trigger and counts the clamped layers zipped in every frame
    from snarefuse.analysis import analyze_run

    summary = analyze_run(tmp_path / "run", figures=False)
    trig = summary["trigger"]
    assert trig["trigger"]["step"] == 5 and trig["trigger"]["set"] == {"snare_clamp": 1.0}
    assert trig["clamped_layers"]["layers"] == [1, 8] and len(trig["clamped_layers"]["zipped_from_trigger_tau"]) == 1
    t0 = trig["trigger"]["time_tau"]
    for state, delay in trig["first_passage_from_trigger_tau"].items():
        t = summary["fusion"]["first_passage"][state]["time_tau"]
        assert (delay is None) == (t is None) and (t is None or delay == pytest.approx(t - t0))


# ------------------------------------------------------------------------------------------ the build
def test_a_half_zipped_complex_keeps_the_contacts_of_its_clamped_layers():
    """Built with VAMP2's C-terminal half as coil, the complex still has every native contact of the fully
    zipped bundle, at the bundle's distances; VAMP2's contacts in layers +1...+8 are the clamped ones, the
    t-SNARE contacts of those layers stay on."""
    half = build_snare_complex((-7, 0), (36, 11))
    full = build_snare_complex()
    vamp_c = [r for r in half.residues if r.chain_id == "A" and r.is_core and 1 <= r.layer <= LAYER_MAX]
    assert vamp_c and all(r.structure == "coil" and not r.zipped for r in vamp_c)
    own, _ = half.native_contacts()
    pairs, r0, held = clamped_native_contacts(half, (1, 8))
    ref, ref_r0 = full.native_contacts()
    assert len(own) < len(pairs) == len(ref) == 275
    assert np.array_equal(pairs, ref) and np.allclose(r0, ref_r0)
    lay, chain = half.layers[pairs], half.chain_ids[pairs]
    vamp2_c = (chain == "A") & (lay >= 1) & (lay <= 8)
    assert np.array_equal(held, vamp2_c.any(axis=1)) and held.sum() == 61
    on = ~held & ((lay >= 1) & (lay <= 8)).any(axis=1)  # t-SNARE residues of the clamped layers
    assert on.sum() == 126 - 61 and not vamp2_c[on].any()
    # without the clamp the open layers carry nothing: a release would zip nothing
    assert not ((half.layers[own] >= 1).any(axis=1)).any()


def _open_helix(cx):
    return np.flatnonzero((cx.chain_ids == "A") & (cx.segments != "tmd") & (cx.structure == "helix") & (cx.layers >= 1))


def test_a_clamped_half_zipped_build_keeps_vamp2_helical_out_of_the_groove():
    """VAMP2's clamped half is one helix (helix restraints: it folds as it zips) joined to the zipped half by a
    coil hinge (57-59); only the juxtamembrane linker 90-94 is coil; every open residue sits outside the native
    distance of each of its partners, where the clamped force is zero."""
    cx = build_snare_complex((-7, 0), (5, 11), seed=3, clamp_layers=(1, 8))
    vamp = {r.resid: r.structure for r in cx.residues if r.chain_id == "A" and r.segment != "tmd"}
    assert [r for r, s in vamp.items() if s == "coil"] == [57, 58, 59, 90, 91, 92, 93, 94]
    helix = _open_helix(cx)
    assert cx.resids[helix].tolist() == list(range(60, 90))
    assert any(np.array_equal(st, helix) for st in cx.helical_stretches())
    assert not cx.zipped[helix].any()
    pairs, r0, held = clamped_native_contacts(cx, (1, 8))
    assert held.sum() == 61 and np.isin(pairs[held], helix).any(axis=1).sum() >= 55
    for c in (cx, place_complex_between(cx, 0.0, 10.0, (0.0, 0.0), 0.4, seed=1)):
        mine = np.isin(pairs, helix).any(axis=1)
        r = np.linalg.norm(c.positions[pairs[mine, 0]] - c.positions[pairs[mine, 1]], axis=1)
        assert (r >= OPEN_CLEARANCE_R0 * r0[mine] - 1e-9).all()
        # the helix itself keeps the bundle's helical distances
        d = np.linalg.norm(c.positions[helix[4:]] - c.positions[helix[:-4]], axis=1)
        full = build_snare_complex()
        ref = full.positions[[full.index_of("A", r) for r in range(60, 90)]]
        np.testing.assert_allclose(d, np.linalg.norm(ref[4:] - ref[:-4], axis=1), atol=1e-9)
    # without a clamp the open motif keeps the bundle geometry, as for any partly zipped complex
    plain = build_snare_complex((-7, 0), (5, 11))
    assert [r.resid for r in plain.residues if r.chain_id == "A" and r.structure == "coil"] == [90, 91, 92, 93, 94]


def test_the_open_helix_faces_the_vesicle_and_leaves_the_bundle_roll_alone():
    """Placed between membranes, VAMP2's open helix lies on the vesicle side of the bundle and the bundle is
    rolled as a zipped one is (its t-SNARE helices where they would be)."""
    half = place_complex_between(build_snare_complex((-7, 0), (5, 11), clamp_layers=(1, 8)), 0.0, 10.0,
                                 (0.0, 0.0), 0.0, seed=1)
    zipped = place_complex_between(build_snare_complex((-7, 8), (5, 11)), 0.0, 10.0, (0.0, 0.0), 0.0, seed=1)
    t = np.flatnonzero(half.chain_ids != "A")
    t = t[(half.segments[t] != "tmd") & (half.structure[t] == "helix")]
    lateral = half.positions[t] - zipped.positions[t]
    assert np.allclose(lateral[:, :2], lateral[0, :2], atol=1e-9)  # a pure height change, no roll
    helix = _open_helix(half)
    groove = zipped.positions[[zipped.index_of("A", r) for r in range(60, 90)]] + lateral[0]
    assert (half.positions[helix, 2] < groove[:, 2]).mean() > 0.9  # membrane A (the vesicle) is at z = 0


def test_the_clamped_build_fits_the_constitutive_cleft():
    """The open helix stays within the bundle's height, so the half-zipped build needs no wider cleft than the
    zipped one: built at the constitutive example's cleft it has no bead pair closer than 0.35 nm (between a
    protein and a lipid, or between complexes), and no more lipids are cleared for it than for the zipped one."""
    zipped = build_snare_complex((-7, 8), (5, 11), seed=3)
    half = build_snare_complex((-7, 0), (5, 11), seed=3, clamp_layers=(1, 8))
    for sep in (7.3, 7.6):  # just below and above what the zipped bundle needs
        outcomes = []
        for cx in (zipped, half):
            try:
                place_complex_between(cx, 0.0, sep, (0.0, 0.0), 0.0, clearance_nm=0.6, seed=1)
                outcomes.append(True)
            except BuildError:
                outcomes.append(False)
        assert outcomes[0] == outcomes[1] == (sep > 7.5)
    constitutive = load_spec(example_spec_path("constitutive"))
    data = _regulated().to_dict()
    data["system"]["cleft"] = constitutive.to_dict()["system"]["cleft"]
    built = build_system(Spec.from_dict(data))
    x = np.mod(built.positions, built.box[:3])
    residue = [a.residue for a in built.topology.atoms()]
    lipid = np.array([r.name in ("CKL", "CKC") for r in residue])
    # protein chains are named by helix and complex: V0 (VAMP2 of complex 0), S0, N0, C0, V1, ...
    protein = np.array([r.chain.id[0] in "VSNC" and r.chain.id[1:].isdigit() for r in residue])
    assert protein.sum() == 5 * half.n_residues
    complex_of = np.array([r.chain.id[1:] if p else "" for r, p in zip(residue, protein)])
    pairs = cKDTree(x, boxsize=built.box[:3]).query_pairs(0.35, output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    assert not ((protein[a] & lipid[b]) | (lipid[a] & protein[b])).any()
    assert not (protein[a] & protein[b] & (complex_of[a] != complex_of[b])).any()
    cleared = build_system(constitutive).manifest["lipids_removed_for_proteins"]
    assert built.manifest["lipids_removed_for_proteins"] <= cleared


def test_the_examples_are_the_same_system():
    reg, con = load_spec(example_spec_path("regulated")).to_dict(), load_spec(example_spec_path("constitutive")).to_dict()
    for d in (reg, con):
        d.pop("name")
        d["system"].pop("cleft"), d["system"].pop("box_z", None)
        d["run"].pop("trigger", None)
        for k in ("zipped_layers", "linker_unzipped", "clamp"):
            d["system"]["snares"].pop(k, None)
    assert reg == con


# ------------------------------------------------------------------------------------------ the sweep
def test_the_shipped_sweep_compares_three_conditions(tmp_path):
    sw = load_sweep(example_spec_path("sweep_regulated"), tmp_path / "ws")
    assert sw.varied[0] == CONDITION
    conditions = [p.parameters[CONDITION] for p in sw.points]
    assert sorted(set(conditions)) == ["constitutive", "regulated_t20", "regulated_t60"]
    assert all(conditions.count(c) == sw.replicas for c in set(conditions))
    by = {(p.parameters[CONDITION], p.replica): p for p in sw.points}
    assert by[("constitutive", 0)].key == load_spec(example_spec_path("constitutive")).key()
    assert by[("constitutive", 0)].spec.run.protocol.trigger is None
    assert by[("regulated_t20", 0)].spec.run.protocol.trigger_step == 2000
    assert by[("regulated_t60", 0)].spec.run.protocol.trigger_step == 6000
    seeds = {p.seed for p in sw.points if p.parameters[CONDITION] == "regulated_t20"}
    assert seeds == {p.seed for p in sw.points if p.parameters[CONDITION] == "constitutive"}


def test_conditions_are_checked(tmp_path):
    base = example_spec_path("regulated")
    with pytest.raises(SpecError, match=r"conditions.bad: does not make a valid spec.*run.trigger.at"):
        Sweep(base, conditions={"bad": {"run.trigger.at": "999 tau"}}, workspace=tmp_path)
    with pytest.raises(SpecError, match=r"conditions.x.run.trigger.at: is also in grid"):
        Sweep(base, conditions={"x": {"run.trigger.at": "20 tau"}}, grid={"run.trigger.at": ["30 tau"]},
              workspace=tmp_path)
    with pytest.raises(SpecError, match=r"^conditions: expected a mapping"):
        Sweep(base, conditions=["a"], workspace=tmp_path)
    with pytest.raises(SpecError, match=r"conditions.a b: a condition name"):
        Sweep(base, conditions={"a b": {}}, workspace=tmp_path)
    sw = Sweep(base, conditions={"as_is": None, "late": {"run.trigger.at": "80 tau"}},
               grid={"run.trigger.ramp": ["1 tau", "2 tau"]}, workspace=tmp_path)
    assert sw.varied == [CONDITION, "run.trigger.ramp"] and len(sw.points) == 4


# ------------------------------------------------------------------------------------------ the analysis
def test_first_passages_are_timed_from_the_trigger():
    fusion = {"first_passage": {"docked": {"time_tau": 5.0}, "stalk": {"time_tau": 70.0}, "pore": {"time_tau": None}}}
    out = first_passage_from_trigger(fusion, 50.0)
    assert out["docked"] == -45.0 and out["stalk"] == 20.0 and out["pore"] is None and out["hemifused"] is None


def _table(counts_per_frame: list[list[int]], tau_ps: float = 1.0) -> dict[str, np.ndarray]:
    """A SNARE table whose complex c at frame f has its first counts[f][c] clamped layers (+1...) zipped."""
    rows = {"frame": [], "complex": [], "time_ps": []}
    layers = {L: [] for L in range(-7, 9)}
    for f, counts in enumerate(counts_per_frame):
        for c, k in enumerate(counts):
            rows["frame"].append(f)
            rows["complex"].append(c)
            rows["time_ps"].append(10.0 * f * tau_ps)
            for L in layers:
                layers[L].append(1.0 if L <= 0 or L <= k else 3.0)
    from snarefuse.analysis.snare_geometry import layer_label
    return {**{k: np.array(v) for k, v in rows.items()},
            **{f"d_layer_{layer_label(L)}_nm": np.array(v) for L, v in layers.items()}}


def test_clamped_zipping_times_each_complex_from_the_trigger():
    # frames every 10 tau, trigger at 20 tau; complex 0 zips 6 of 8 from frame 4 on (held 3 frames),
    # complex 1 flickers at 8 once (frame 3) and never again
    counts = [[0, 0], [1, 0], [8, 0], [2, 8], [6, 1], [7, 1], [8, 2], [8, 2]]
    z = clamped_zipping(_table(counts), (1, 8), trigger_tau=20.0, tau_ps=1.0)
    assert z["zipped_at_least"] == 6 and z["n_layers"] == 8
    assert z["zipped_from_trigger_tau"] == [20.0, None]  # frame 2's 8 is at the trigger, not after it
    assert z["all_zipped_from_trigger_tau"] is None
    assert z["mean_before"] == pytest.approx((0 + 0 + 1 + 0 + 8 + 0) / 6)
    z2 = clamped_zipping(_table([[0, 0], [8, 8], [8, 8], [8, 8]]), (1, 8), trigger_tau=5.0, tau_ps=1.0)
    assert z2["zipped_from_trigger_tau"] == [5.0, 5.0] and z2["all_zipped_from_trigger_tau"] == 5.0


def test_trigger_summary_of_a_regulated_spec():
    spec = _regulated()
    frames = _table([[0]] + [[8]] * 9, tau_ps=spec.model.units.tau_ps)  # 0 ... 90 tau
    s = trigger_summary(spec, {"first_passage": {"stalk": {"time_tau": 80.0}}}, frames)
    assert s["trigger"]["time_tau"] == 50.0 and s["first_passage_from_trigger_tau"]["stalk"] == 30.0
    assert s["clamped_layers"]["zipped_from_trigger_tau"] == [pytest.approx(10.0)]  # 50 tau is the trigger's frame: 60 tau is the first after it


def test_delay_statistics_stay_honest_at_none_and_all():
    none = [{"c": "a", "trigger_tau": 50.0, "duration_tau": 150.0, delay_column("pore"): None} for _ in range(3)]
    every = [{"c": "b", "trigger_tau": 0.0, "duration_tau": 150.0, delay_column("pore"): t} for t in (10.0, 20.0, 30.0)]
    early = [{"c": "d", "trigger_tau": 50.0, "duration_tau": 150.0, delay_column("pore"): -5.0},
             {"c": "d", "trigger_tau": 50.0, "duration_tau": 40.0, delay_column("pore"): None}]
    rows = {(r["value"], r["state"]): r for r in delay_statistics(none + every + early, "c", states=["pore", ZIPPED_STATE])}
    a, b, d = rows[("a", "pore")], rows[("b", "pore")], rows[("d", "pore")]
    assert (a["k"], a["n"], a["p"]) == (0, 3, 0.0) and a["low"] == 0.0 and 0.3 < a["high"] < 1.0
    assert a["median_tau"] is None and a["censored_at_tau"] == [100.0] * 3
    assert (b["k"], b["n"], b["p"]) == (3, 3, 1.0) and b["high"] == 1.0 and 0.0 < b["low"] < 0.7
    assert b["median_tau"] == 20.0
    assert (d["k"], d["n"], d["before_trigger"]) == (1, 1, 1) and d["delays_tau"] == [0.0]  # the 40-tau run left out
    assert ("a", ZIPPED_STATE) not in rows  # no run of level a measures clamped layers


def test_results_rows_carry_the_delays_from_the_trigger():
    from snarefuse.sweep_results import format_statistics, trigger_columns

    summary = {"fusion": {"first_passage": {"stalk": {"time_tau": 80.0}, "pore": {"time_tau": None}}},
               "trigger": {"clamped_layers": {"all_zipped_from_trigger_tau": 12.5}}}
    cols = trigger_columns(_regulated(), summary, 300.0)
    assert cols["trigger_tau"] == 50.0 and cols[delay_column("stalk")] == 30.0 and cols[delay_column("pore")] is None
    assert cols[delay_column(ZIPPED_STATE)] == 12.5
    free = {"fusion": summary["fusion"]}  # a run without a clamp has no summary["trigger"]
    con = trigger_columns(load_spec(example_spec_path("constitutive")), free, 300.0)
    assert con["trigger_tau"] == 0.0 and con[delay_column("stalk")] == 80.0
    rows = [{"condition": "regulated", "duration_tau": 300.0, **cols},
            {"condition": "constitutive", "duration_tau": 300.0, **con}]
    table = delay_statistics(rows, "condition")
    stats = {"time_unit": "tau", "parameter": "condition", "confidence": 0.95, "levels": [],
             "spearman": {"pore": []}, "logrank": {"pore": []}, "from_trigger": table}
    text = "\n".join(format_statistics(stats))
    assert "regulated: stalk 1/1" in text and "constitutive: pore 0/1" in text
    assert "regulated: clamped_zipped 1/1" in text and "constitutive: clamped_zipped" not in text
