"""system.bilayer.proximal_disc: a disc of the facing leaflets around the contact axis with a composition of its own."""

from __future__ import annotations

import numpy as np
import pytest

from snarefuse.build import build_system
from snarefuse.errors import SpecError
from snarefuse.spec import Spec, example_spec_path, load_spec

RADIUS_NM = 3.0


def _two_bilayers(**bilayer: object) -> dict:
    d = load_spec(example_spec_path("fusion_planar_control")).to_dict()
    d["system"]["bilayer"] = {"n_lipids": 800, "area_per_lipid": "1.24 sigma^2", "proximal": {"CKL": 1.0},
                              "distal": {"CKL": 1.0}, **bilayer}
    d["lipids"] = {"CKL": {"head_size": 0.95, "tail_attraction": 1.0}, "CKC": {"head_size": 0.80}}
    return d


def _disc_spec(**disc: object) -> dict:
    return _two_bilayers(proximal_disc={"radius": f"{RADIUS_NM} nm", "composition": {"CKC": 1.0}, **disc})


def _heads(built) -> list[tuple[str, int, np.ndarray]]:
    """(species, leaflet, position) of every head bead; leaflets 0-3 bottom to top (built straight, so by z)."""
    heads = [(a.residue.name, built.positions[a.index]) for a in built.topology.atoms() if a.name == "H"]
    z = np.array([p[2] for _, p in heads])
    cuts = np.quantile(z, [0.25, 0.5, 0.75])
    return [(s, int(np.searchsorted(cuts, p[2])), p) for s, p in heads]


def test_disc_holds_its_composition_and_the_rest_is_plain():
    built = build_system(Spec.from_dict(_disc_spec()))
    centre = built.box[:2] / 2
    inside_counts = {}
    for species, plane, p in _heads(built):
        # the built lipids stand straight, so the head's lateral position is the lipid's site (plus a small jitter)
        r = np.hypot(*(p[:2] - centre))
        facing = plane in (1, 2)
        if facing and r < RADIUS_NM - 0.05:
            assert species == "CKC", (plane, r)
        elif not facing or r > RADIUS_NM + 0.05:
            assert species == "CKL", (plane, r)
        if facing and species == "CKC":
            inside_counts[plane] = inside_counts.get(plane, 0) + 1
    # both facing leaflets carry the disc: ~ pi r^2 / (box area) of each leaflet's 400 lipids
    expected = 400 * np.pi * RADIUS_NM**2 / float(built.box[0] * built.box[1])
    assert set(inside_counts) == {1, 2}
    for n in inside_counts.values():
        assert abs(n - expected) < 0.25 * expected


def test_disc_with_a_mixed_composition_splits_inside_only():
    built = build_system(Spec.from_dict(_disc_spec(composition={"CKC": 0.5, "CKL": 0.5})))
    centre = built.box[:2] / 2
    heads = _heads(built)
    inside = [s for s, plane, p in heads if plane in (1, 2) and np.hypot(*(p[:2] - centre)) < RADIUS_NM - 0.05]
    cone = [s for s, _, _ in heads if s == "CKC"]
    assert 0.4 < inside.count("CKC") / len(inside) < 0.6
    assert len(cone) <= len(inside) // 2 + 4


def test_without_a_disc_the_build_is_unchanged():
    plain = build_system(Spec.from_dict(_two_bilayers()))
    assert {r.name for r in plain.topology.residues()} == {"CKL"}
    assert "proximal_disc" not in Spec.from_dict(_two_bilayers()).to_dict()["system"]["bilayer"]


def test_disc_round_trips_and_changes_the_key():
    spec = Spec.from_dict(_disc_spec())
    again = Spec.from_dict(spec.to_dict())
    assert again.system.bilayer.proximal_disc == spec.system.bilayer.proximal_disc
    assert again.key() == spec.key()
    assert spec.key() != Spec.from_dict(_two_bilayers()).key()
    assert spec.key() != Spec.from_dict(_disc_spec(radius="4 nm")).key()


@pytest.mark.parametrize("disc, field, message", [
    ({"radius": "0 nm", "composition": {"CKC": 1.0}}, "system.bilayer.proximal_disc.radius", "must be > 0"),
    ({"radius": "30 nm", "composition": {"CKC": 1.0}}, "system.bilayer.proximal_disc.radius", "half the lateral box"),
    ({"radius": "4 nm"}, "system.bilayer.proximal_disc.composition", "required"),
    ({"radius": "4 nm", "composition": {"XYZ": 1.0}}, "system.bilayer.proximal_disc.composition.XYZ",
     "unknown lipid species"),
    ({"radius": "4 nm", "composition": {"CKC": 1.0}, "radus": "1 nm"}, "system.bilayer.proximal_disc.radus",
     "radus"),
    ({"composition": {"CKC": 1.0}}, "system.bilayer.proximal_disc.radius", None),
])
def test_bad_disc_names_the_field(disc, field, message):
    with pytest.raises(SpecError, match=message) as err:
        Spec.from_dict(_two_bilayers(proximal_disc=disc))
    assert err.value.field == field


def test_disc_needs_proximal_distal():
    d = _two_bilayers(proximal_disc={"radius": "4 nm", "composition": {"CKC": 1.0}})
    d["system"]["bilayer"]["upper"] = d["system"]["bilayer"].pop("proximal")
    d["system"]["bilayer"]["lower"] = d["system"]["bilayer"].pop("distal")
    with pytest.raises(SpecError, match="system.bilayer.proximal_disc.*proximal/distal"):
        Spec.from_dict(d)


def test_distal_disc_goes_to_the_far_leaflets_only():
    built = build_system(Spec.from_dict(_two_bilayers(
        distal_disc={"radius": f"{RADIUS_NM} nm", "composition": {"CKC": 1.0}})))
    centre = built.box[:2] / 2
    for species, plane, p in _heads(built):
        r = np.hypot(*(p[:2] - centre))
        if plane in (0, 3) and r < RADIUS_NM - 0.05:
            assert species == "CKC", (plane, r)
        elif plane in (1, 2) or r > RADIUS_NM + 0.05:
            assert species == "CKL", (plane, r)
    assert sum(s == "CKC" for s, plane, _ in _heads(built) if plane == 0) > 0
    assert sum(s == "CKC" for s, plane, _ in _heads(built) if plane == 3) > 0


def test_bad_distal_disc_names_its_field():
    with pytest.raises(SpecError) as err:
        Spec.from_dict(_two_bilayers(distal_disc={"radius": "30 nm", "composition": {"CKC": 1.0}}))
    assert err.value.field == "system.bilayer.distal_disc.radius"
