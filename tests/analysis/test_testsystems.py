"""The shipped known-answer systems follow the builder's topology conventions."""

from __future__ import annotations

from collections.abc import Callable

import mdtraj
import numpy as np
import pytest

from snarefuse.analysis import testsystems as ts
from snarefuse.analysis.base import LipidIndex

SYSTEMS: dict[str, Callable[..., mdtraj.Trajectory]] = {
    "bilayer": ts.bilayer, "bilayer_with_hole": ts.bilayer_with_hole, "two_bilayers": ts.two_bilayers,
    "stalk": ts.stalk, "hemifusion_diaphragm": ts.hemifusion_diaphragm, "fusion_pore": ts.fusion_pore,
    "vesicle": ts.vesicle, "vesicle_on_bilayer": ts.vesicle_on_bilayer, "two_vesicles": ts.two_vesicles,
}
N_MEMBRANES = {"bilayer": 1, "bilayer_with_hole": 1, "vesicle": 1}


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_topology_conventions(name: str) -> None:
    t = SYSTEMS[name]()
    lip = LipidIndex.from_topology(t.topology)
    assert lip.n_lipids == t.topology.n_residues
    assert lip.n_membranes == N_MEMBRANES.get(name, 2) == t.topology.n_chains
    for res in list(t.topology.residues)[:50]:
        assert res.name == "CKL"
        assert [a.name for a in res.atoms] == ["H", "T1", "T2"]
    assert t.topology.n_bonds == 2 * lip.n_lipids
    assert np.all(t.xyz >= 0) and np.all(t.xyz < t.unitcell_lengths[:, None, :])


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_shift_wraps_into_box_and_keeps_relative_geometry(name: str) -> None:
    a = SYSTEMS[name](seed=3)
    b = SYSTEMS[name](seed=3, shift=(2.5, -1.0, 4.0))
    assert np.all(b.xyz >= 0) and np.all(b.xyz < b.unitcell_lengths[:, None, :])
    d = b.xyz[0] - a.xyz[0] - np.array([2.5, -1.0, 4.0])
    box = a.unitcell_lengths[0]
    np.testing.assert_allclose(d - box * np.round(d / box), 0.0, atol=1e-4)


def test_seeded_and_multiframe() -> None:
    a = ts.two_bilayers(n_frames=3, seed=1, jitter=0.2, dt_ps=5.0)
    b = ts.two_bilayers(n_frames=3, seed=1, jitter=0.2, dt_ps=5.0)
    np.testing.assert_array_equal(a.xyz, b.xyz)
    assert not np.array_equal(a.xyz[0], a.xyz[1])
    np.testing.assert_allclose(a.time, [0.0, 5.0, 10.0])


def test_four_bead_lipids() -> None:
    t = ts.bilayer(8, n_tail=3)
    assert [a.name for a in t.topology.residue(0).atoms] == ["H", "T1", "T2", "T3"]
    assert LipidIndex.from_topology(t.topology).tails.shape == (128, 3)


def test_markers_are_mrk_residues() -> None:
    t = ts.vesicle(6.0, n_markers=5)
    lip = LipidIndex.from_topology(t.topology)
    assert len(lip.markers) == 5
    assert {t.topology.atom(i).residue.name for i in lip.markers} == {"GAS"}


def test_fusion_path_has_one_topology_and_known_times() -> None:
    t = ts.fusion_path(seed=1, dt_ps=10.0)
    want = ts.fusion_path_answers(dt_ps=10.0)
    assert t.n_frames == len(want["state_name"])
    np.testing.assert_allclose(t.time, want["time_ps"])
    lip = LipidIndex.from_topology(t.topology)
    assert lip.n_membranes == 2 and lip.n_lipids == t.topology.n_residues
    assert np.all(t.xyz >= 0) and np.all(t.xyz < t.unitcell_lengths[:, None, :])
