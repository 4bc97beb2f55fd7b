"""two_bilayers with proximal/distal leaflets: the facing leaflets get one composition, the far ones another."""

from __future__ import annotations

import numpy as np
import pytest

from snarefuse.build import build_system
from snarefuse.errors import SpecError
from snarefuse.spec import Spec, example_spec_path, load_spec


def _two_bilayers(**bilayer: object) -> dict:
    d = load_spec(example_spec_path("fusion_planar_control")).to_dict()
    d["system"]["bilayer"] = {"n_lipids": 200, "area_per_lipid": "1.2 sigma^2", **bilayer}
    return d


def _head_species_by_plane(built) -> dict[int, set[str]]:
    """Species of the head beads in each of the four head planes, bottom to top (planes found by sorting)."""
    heads = [(a.residue.name, built.positions[a.index, 2]) for a in built.topology.atoms() if a.name.startswith("H")]
    z = np.array([h[1] for h in heads])
    cuts = np.quantile(z, [0.25, 0.5, 0.75])
    planes: dict[int, set[str]] = {i: set() for i in range(4)}
    for (species, _), zi in zip(heads, z):
        planes[int(np.searchsorted(cuts, zi))].add(species)
    return planes


def test_proximal_leaflets_face_each_other():
    spec = Spec.from_dict(_two_bilayers(proximal={"CKC": 1.0}, distal={"CKL": 1.0}))
    planes = _head_species_by_plane(build_system(spec))
    assert planes == {0: {"CKL"}, 1: {"CKC"}, 2: {"CKC"}, 3: {"CKL"}}


def test_upper_lower_builds_both_bilayers_alike():
    spec = Spec.from_dict(_two_bilayers(upper={"CKC": 1.0}, lower={"CKL": 1.0}))
    planes = _head_species_by_plane(build_system(spec))
    assert planes == {0: {"CKL"}, 1: {"CKC"}, 2: {"CKL"}, 3: {"CKC"}}


def test_proximal_distal_round_trip_through_the_canonical_dump():
    spec = Spec.from_dict(_two_bilayers(proximal={"CKC": 1.0}, distal={"CKL": 1.0}))
    again = Spec.from_dict(spec.to_dict())
    assert again.system.bilayer.facing
    assert again.key() == spec.key()
    assert "proximal" in spec.to_dict()["system"]["bilayer"]


def test_proximal_with_upper_is_refused():
    with pytest.raises(SpecError, match="system.bilayer.*proximal/distal"):
        Spec.from_dict(_two_bilayers(proximal={"CKC": 1.0}, upper={"CKL": 1.0}))


def test_proximal_outside_two_bilayers_is_refused():
    d = load_spec(example_spec_path("quickstart")).to_dict()
    d["system"]["bilayer"]["proximal"] = d["system"]["bilayer"].pop("upper")
    d["system"]["bilayer"]["distal"] = d["system"]["bilayer"].pop("lower")
    with pytest.raises(SpecError, match="system.bilayer.proximal.*two_bilayers only"):
        Spec.from_dict(d)
