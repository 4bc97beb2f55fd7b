"""The one-bead-per-residue SNARE complex: sequences, layers, coiled-coil geometry, placement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snarefuse.build.snare import (
    CA_RADIUS_NM,
    COIL_BOND_NM,
    SUPERCOIL_RADIUS_NM,
    ZERO_LAYER_RESID,
    build_snare_complex,
    ideal_helix_distance,
    layer_of,
    place_complex_between,
)
from snarefuse.errors import BuildError

#: relative deviation of supercoiled C-alpha distances from the straight ideal helix.
HELIX_DISTANCE_RTOL = 0.03
#: largest accepted angle between a 0-layer bead's direction and the bundle axis direction, degrees.
ZERO_LAYER_MAX_ANGLE_DEG = 60.0
#: tolerance on geometric lengths built exactly, nm.
GEOMETRY_ATOL_NM = 1e-9
#: tolerance on helix-axis radius estimated from three beads, nm.
AXIS_RADIUS_ATOL_NM = 0.03
#: smallest accepted distance between non-excluded protein beads after placement, nm.
MIN_NONBONDED_NM = 0.45

# Sequences of rat syntaxin-1A, SNAP-25B, VAMP2 (UniProt P32851, P60881, P63045) (segment, chain, first resid, last resid, sequence).
SCIENCE_SEQUENCES = [
    ("motif", "B", 191, 253, "ALSEIETRHSEIIKLENSIRELHDMFMDMAMLVESQGEMIDRIEYNVEHAVDYVERAVSDTKK"),
    ("linker", "B", 254, 265, "AVKYQSKARRKK"),
    ("tmd", "B", 266, 288, "IMIIICCVILGIIIASTIGGIFG"),
    ("motif", "A", 28, 89, "SNRRLQQTQAQVDEVVDIMRVNVDKVLERDQKLSELDDRADALQAGASQFETSAAKLKRKYW"),
    ("linker", "A", 90, 94, "WKNLK"),
    ("tmd", "A", 95, 116, "MMIILGVICAIILIIIIVYFST"),
    ("motif", "C", 7, 83, "MRNELEEMQRRADQLADESLESTRRMLQLVEESKDAGIRTLVMLDEQGEQLERIEEGMDQINKDMKEAEKNLTDLGK"),
    ("motif", "D", 141, 204, "ARENEMDENLEQVSGIIGNLRHMALDMGNEIDTQNRQIDRIMEKADSNKTRIDEANQRATKMLG"),
]
ONE = {"ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E", "GLY": "G",
       "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F", "PRO": "P", "SER": "S",
       "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V"}


@pytest.fixture(scope="module")
def snare():
    return build_snare_complex()


@pytest.fixture(scope="module")
def placed(snare):
    return place_complex_between(snare, -2.0, 7.0, (3.0, -1.0), 0.7, seed=5)


@pytest.mark.parametrize("segment,chain,first,last,sequence", SCIENCE_SEQUENCES)
def test_segment_sequence_and_numbering_match_science_md(snare, segment, chain, first, last, sequence):
    idx = snare.select(chain_id=chain, segment=segment)
    got = "".join(ONE[snare.residues[i].resname] for i in idx)
    assert got == sequence
    np.testing.assert_array_equal(snare.resids[idx], np.arange(first, last + 1))


@pytest.mark.parametrize("chain,resid,resname", [("A", 56, "ARG"), ("B", 226, "GLN"), ("C", 53, "GLN"), ("D", 174, "GLN")])
def test_zero_layer_residues(snare, chain, resid, resname):
    res = snare.residues[snare.index_of(chain, resid)]
    assert (res.layer, res.is_core, res.resname, res.heptad) == (0, True, resname, "d")


@pytest.mark.parametrize("chain", ["A", "B", "C", "D"])
def test_each_helix_has_one_core_residue_per_layer(snare, chain):
    idx = snare.select(chain_id=chain)
    core = idx[snare.is_core[idx]]
    np.testing.assert_array_equal(snare.layers[core], np.arange(-7, 9))


@pytest.mark.parametrize("chain", ["A", "B", "C", "D"])
def test_layer_spacing_alternates_heptad_a_d(snare, chain):
    idx = snare.select(chain_id=chain)
    resids = snare.resids[idx[snare.is_core[idx]]]
    zero = int(np.flatnonzero(resids == ZERO_LAYER_RESID[chain])[0])
    up, down = np.diff(resids[zero:]), -np.diff(resids[: zero + 1][::-1])
    np.testing.assert_array_equal(up, [4, 3] * 4)
    np.testing.assert_array_equal(down, [3, 4, 3, 4, 3, 4, 3])


@pytest.mark.parametrize("chain,resid,expected", [
    ("A", 84, (8, True)),     # VAMP2 L84: layer +8
    ("A", 77, (6, True)),     # VAMP2 F77: layer +6
    ("C", 67, (4, True)),     # SNAP-25 I67: layer +4
    ("B", 228, (0, False)),   # two from the 0-layer, two from +1 (230): tie goes N-terminal
    ("B", 229, (1, False)),   # nearest is I230 (+1)
    ("C", 10, (-7, False)),   # N-terminal extension clamps to -7
    ("B", 260, (8, False)),   # linker beyond +8 clamps to +8
])
def test_layer_of_known_residues(chain, resid, expected):
    assert layer_of(chain, resid) == expected


@pytest.mark.parametrize("separation", [1, 3, 4])
def test_bundle_helices_keep_ideal_helix_distances(snare, separation):
    ideal = ideal_helix_distance(separation)
    for stretch in snare.helical_stretches():
        d = np.linalg.norm(snare.positions[stretch[separation:]] - snare.positions[stretch[:-separation]], axis=1)
        np.testing.assert_allclose(d, ideal, rtol=HELIX_DISTANCE_RTOL)


def _axis_direction_and_point(pos: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector from the local helix axis to bead i, and the axis point (three-bead bisector)."""
    v = 2.0 * pos[i] - pos[i - 1] - pos[i + 1]
    u = v / np.linalg.norm(v)
    return u, pos[i] - CA_RADIUS_NM * u


@pytest.mark.parametrize("chain", ["A", "B", "C", "D"])
def test_zero_layer_bead_points_to_bundle_axis(snare, chain):
    i = snare.index_of(chain, ZERO_LAYER_RESID[chain])
    u, axis_point = _axis_direction_and_point(snare.positions, i)
    towards_bundle = -np.array([axis_point[0], axis_point[1], 0.0])
    cos = u @ towards_bundle / np.linalg.norm(towards_bundle)
    assert math.degrees(math.acos(cos)) < ZERO_LAYER_MAX_ANGLE_DEG


@pytest.mark.parametrize("chain", ["A", "B", "C", "D"])
def test_helix_axes_sit_on_the_supercoil_radius(snare, chain):
    i = snare.index_of(chain, ZERO_LAYER_RESID[chain])
    _, axis_point = _axis_direction_and_point(snare.positions, i)
    # the bisector estimate lies slightly off the true axis of a curved helix
    assert abs(np.hypot(axis_point[0], axis_point[1]) - SUPERCOIL_RADIUS_NM) < AXIS_RADIUS_ATOL_NM


def test_supercoil_is_left_handed_and_parallel_along_z(snare):
    for chain in "ABCD":
        idx = snare.select(chain_id=chain, segment="motif")
        pos = snare.positions[idx]
        assert pos[-1, 2] > pos[0, 2]  # N-terminus (layer -7) at low z
        phi = np.unwrap(np.arctan2(pos[:, 1], pos[:, 0]))
        slope = np.polyfit(pos[:, 2], phi, 1)[0]
        assert slope < 0  # azimuth decreases with height: left-handed


def test_zero_layer_residues_share_one_height(snare):
    z = [snare.positions[snare.index_of(c, r), 2] for c, r in ZERO_LAYER_RESID.items()]
    assert np.ptp(z) < 0.3


def test_default_linkers_and_coil_bond_lengths(snare):
    coil = snare.structure == "coil"
    assert snare.resids[coil & (snare.chain_ids == "A")].tolist() == list(range(90, 95))
    assert snare.resids[coil & (snare.chain_ids == "B")].tolist() == list(range(255, 266))
    b = snare.coil_bonds()
    np.testing.assert_allclose(np.linalg.norm(snare.positions[b[:, 0]] - snare.positions[b[:, 1]], axis=1),
                               COIL_BOND_NM, atol=GEOMETRY_ATOL_NM)


def test_fully_zipped_linker_gives_one_helix_per_chain():
    c = build_snare_complex(linker_unzipped=0)
    assert [len(s) for s in c.helical_stretches()] == [89, 98, 77, 64]
    assert c.coil_bonds().shape == (0, 2)


@pytest.mark.parametrize("kwargs", [
    {"linker_unzipped": (5, 12)},                          # would unzip syntaxin A254 (+8) while +8 is zipped
    {"linker_unzipped": 11},                               # VAMP2 11 reaches L84 (+8)
    {"zipped_layers": (3, 9)},
    {"zipped_layers": (2, 1)},
])
def test_invalid_zippering_raises(kwargs):
    with pytest.raises(BuildError):
        build_snare_complex(**kwargs)


def test_unzipping_layers_frees_more_linker():
    c = build_snare_complex(zipped_layers=(-7, 6), linker_unzipped=(12, 16))
    assert c.linker_unzipped == (12, 16)
    assert not c.zipped[c.layers > 6].any()


def test_native_contacts_are_interhelical_and_follow_zipped_layers():
    full = build_snare_complex()
    half = build_snare_complex(zipped_layers=(-7, 0))
    pairs, r0 = full.native_contacts()
    assert (full.chain_ids[pairs[:, 0]] != full.chain_ids[pairs[:, 1]]).all()
    assert len(pairs) == 275 and r0.max() < 1.1
    hp, _ = half.native_contacts()
    assert half.layers[hp].max() == 0 and 0 < len(hp) < len(pairs)


def test_placed_tmds_cross_their_membrane_cores(placed):
    for chain, z_mid in (("A", -2.0), ("B", 7.0)):
        z = placed.positions[placed.select(chain_id=chain, segment="tmd"), 2]
        assert z.min() < z_mid - 1.4 and z.max() > z_mid + 1.4
        assert abs(z.mean() - z_mid) < 0.1


def test_placed_bundle_lies_in_the_cleft_parallel_to_membranes(placed):
    b = placed.bundle_indices()
    z = placed.positions[b, 2]
    assert z.min() >= -2.0 + 1.95 + 0.75 - 1e-9 and z.max() <= 7.0 - 1.95 - 0.75 + 1e-9
    xy = placed.positions[b, :2]
    direction = np.array([math.cos(0.7), math.sin(0.7)])
    along = (xy - np.array([3.0, -1.0])) @ direction
    assert np.ptp(along) > 8.0 and np.ptp(z) < 2.5
    n_term = placed.positions[placed.index_of("C", 7), :2]
    assert (n_term - np.array([3.0, -1.0])) @ direction > 8.0


def test_placement_is_rigid_for_the_bundle(snare, placed):
    _, r_free = snare.native_contacts()
    _, r_placed = placed.native_contacts()
    np.testing.assert_allclose(r_placed, r_free, atol=1e-9)


def test_placed_linkers_keep_bond_length_and_beads_apart(placed):
    b = placed.coil_bonds()
    np.testing.assert_allclose(np.linalg.norm(placed.positions[b[:, 0]] - placed.positions[b[:, 1]], axis=1),
                               COIL_BOND_NM, atol=GEOMETRY_ATOL_NM)
    pos = placed.positions
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    d[tuple(placed.excluded_pairs().T)] = np.inf
    d[np.tril_indices(len(pos))] = np.inf
    assert d.min() > MIN_NONBONDED_NM


def test_placement_with_membrane_b_below(snare):
    c = place_complex_between(snare, 10.0, 1.0, (0.0, 0.0), 0.0)
    za = c.positions[c.select(chain_id="A", segment="tmd"), 2].mean()
    zb = c.positions[c.select(chain_id="B", segment="tmd"), 2].mean()
    np.testing.assert_allclose([za, zb], [10.0, 1.0], atol=0.1)


def test_placement_is_reproducible_from_seed(snare):
    a = place_complex_between(snare, 0.0, 9.0, (0.0, 0.0), 1.0, seed=11)
    b = place_complex_between(snare, 0.0, 9.0, (0.0, 0.0), 1.0, seed=11)
    np.testing.assert_array_equal(a.positions, b.positions)


@pytest.mark.parametrize("separation", [6.0, 13.0])
def test_placement_rejects_impossible_clefts(snare, separation):
    with pytest.raises(BuildError):
        place_complex_between(snare, 0.0, separation, (0.0, 0.0), 0.0)
