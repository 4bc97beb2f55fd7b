"""Tests of the independent Cooke-model references (snarefuse.reference).

* NumPy reference against hand-computed two- and three-bead energies and forces, including
  pairs just inside/outside every cutoff and a pair across the periodic boundary.
* NumPy forces against central finite differences of the NumPy energy.
* NumPy against LAMMPS on a few-hundred-lipid bilayer-like configuration (3- and 4-bead lipids).
* NumPy against stored reference energies in tests/data/cooke_reference.json.

Regenerate the stored data (energies from LAMMPS when it loads, else from NumPy; the source is
recorded per configuration) with::

    python tests/test_reference.py --regenerate
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from snarefuse.reference import (
    cooke_energy_forces,
    lammps_available,
    lammps_energy_forces,
    lammps_unavailable_reason,
    lipid_topology,
)

# Model parameters in physical units (deliberately not 1, so unit scaling is exercised).
SIGMA = 0.88  # nm
EPS = 2.5  # kJ/mol
WC = 1.6  # sigma
TWO_SIXTH = 2.0 ** (1.0 / 6.0)
RC = TWO_SIXTH * SIGMA  # start of the cos^2 tail, nm
F_UNIT = EPS / SIGMA  # kJ/mol/nm

# Tolerances.
ANALYTIC_RTOL = 1e-12  # closed-form numbers vs the reference
ANALYTIC_ATOL_E = 1e-12  # kJ/mol
ANALYTIC_ATOL_F = 1e-9  # kJ/mol/nm
CUTOFF_DELTA = 1e-9  # nm, "just inside/outside" a cutoff
CUTOFF_CONTINUITY_ATOL = 1e-6  # kJ/mol, energy jump allowed across a cutoff at distance 2*delta
FD_STEP = 1e-6  # nm, central finite-difference step
FD_RTOL = 1e-5
FD_ATOL_FRACTION = 1e-6  # of the largest force component
LAMMPS_ENERGY_RTOL = 1e-5
LAMMPS_FORCE_RTOL = 1e-5
LAMMPS_FORCE_ATOL = 1e-6  # kJ/mol/nm
STORED_ENERGY_RTOL = 1e-10

DATA_PATH = Path(__file__).parent / "data" / "cooke_reference.json"
PARAMS = dict(sigma=SIGMA, eps=EPS, wc=WC)

HEAD = (0.95, 0.0)  # (b, a)
TAIL = (1.0, 1.0)

needs_lammps = pytest.mark.skipif(
    not lammps_available(), reason=f"LAMMPS cannot be loaded: {lammps_unavailable_reason()}"
)


# --------------------------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------------------------
def make_bilayer(nx, ny, seed, *, spacing=1.1, bead_step=1.0, jitter=0.08, four_bead_fraction=0.3,
                 box_z=20.0):
    """A bilayer-like configuration: two leaflets of 3- and 4-bead lipids on jittered grids.

    Lengths in the arguments are in sigma. Returns a dict with positions (nm), box (nm), b, a,
    bonds, springs. Upper-leaflet lipids point their tails down, lower-leaflet ones up; the
    lower grid is shifted by half a spacing. The bilayer is centred at box_z / 2.
    """
    rng = np.random.default_rng(seed)
    mid = 0.5 * box_z
    sizes, xyz = [], []
    for leaflet, direction in ((0, +1.0), (1, -1.0)):
        shift = 0.5 * spacing * leaflet
        for ix in range(nx):
            for iy in range(ny):
                n = 4 if rng.random() < four_bead_fraction else 3
                sizes.append(n)
                # last tail bead 0.5 sigma from the midplane, head n-1 steps further out
                for k in range(n):
                    z = mid + direction * (0.5 + (n - 1 - k) * bead_step)
                    xyz.append(((ix + 0.5) * spacing + shift, (iy + 0.5) * spacing + shift, z))
    xyz = np.asarray(xyz) + rng.normal(scale=jitter, size=(len(xyz), 3))
    b, a, bonds, springs = lipid_topology(sizes, sigma=SIGMA)
    box = np.array([nx * spacing, ny * spacing, box_z]) * SIGMA
    return dict(positions=xyz * SIGMA, box=box, b=b, a=a, bonds=bonds, springs=springs)


def make_two_lipids():
    """A 3-bead and a 4-bead lipid side by side, straddling the periodic boundary in x and y."""
    s = SIGMA
    box = np.array([8.0, 7.0, 9.0]) * s
    three = np.array([[0.1, 0.2, 6.1], [0.05, -0.1, 5.05], [-0.1, 0.1, 4.0]]) * s
    four = np.array([[1.0, 1.1, 6.9], [1.1, 0.9, 5.9], [0.9, 1.0, 4.85], [1.05, 1.05, 3.8]]) * s
    b, a, bonds, springs = lipid_topology([3, 4], sigma=SIGMA)
    return dict(positions=np.vstack([three, four]), box=box, b=b, a=a, bonds=bonds,
                springs=springs)


def make_mixed_parameters(seed):
    """A small bilayer whose beads carry non-standard b and a (exercises the general model)."""
    cfg = make_bilayer(6, 6, seed, four_bead_fraction=0.5)
    rng = np.random.default_rng(seed + 1)
    tails = cfg["a"] > 0
    cfg["a"] = np.where(tails, rng.choice([0.5, 1.0], size=len(tails)), 0.0)
    cfg["b"] = np.where(tails, rng.choice([0.9, 1.0], size=len(tails)), 0.95)
    return cfg


def reference_configurations():
    """The configurations stored in cooke_reference.json, by name."""
    return {
        "two_lipids_periodic": make_two_lipids(),
        "bilayer_5x5_seed11": make_bilayer(5, 5, seed=11),
        "mixed_parameters_6x6_seed5": make_mixed_parameters(seed=5),
    }


def energy(cfg, **kw):
    return cooke_energy_forces(cfg["positions"], cfg["box"], cfg["b"], cfg["a"], cfg["bonds"],
                               cfg["springs"], **PARAMS, **kw)


def pair_config(bead_i, bead_j, r, box_edge=10.0):
    """Two unbonded beads a distance r (nm) apart along x, well inside a cubic box."""
    box = np.full(3, box_edge * SIGMA)
    pos = np.array([[2.0 * SIGMA, 3.0 * SIGMA, 4.0 * SIGMA], [2.0 * SIGMA + r, 3.0 * SIGMA, 4.0 * SIGMA]])
    return dict(positions=pos, box=box, b=np.array([bead_i[0], bead_j[0]]),
                a=np.array([bead_i[1], bead_j[1]]), bonds=np.zeros((0, 2), int),
                springs=np.zeros((0, 3)))


def wca_closed_form(s):
    """4[(s)^12 - (s)^6 + 1/4] and 4[-12 s^12 + 6 s^6] with s = b/r (in eps and eps/r units)."""
    return 4.0 * (s**12 - s**6 + 0.25), 4.0 * (-12.0 * s**12 + 6.0 * s**6)


# --------------------------------------------------------------------------------------------
# Two-bead analytic cases
# --------------------------------------------------------------------------------------------
# (name, bead_i, bead_j, r in nm, expected energy in kJ/mol, expected dE/dr in kJ/mol/nm)
_W95 = wca_closed_form(0.95)  # head pair at r = sigma
_W11 = wca_closed_form(1.0 / 1.1)  # tail pair at r = 1.1 sigma
TWO_BEAD_CASES = [
    # tail-tail at r = sigma: WCA = eps, plateau -eps, sum 0; WCA force -24 eps/sigma
    ("tail_tail_r_sigma", TAIL, TAIL, SIGMA, 0.0, -24.0 * F_UNIT),
    # head-tail at r = 0.95 sigma: WCA with b = 0.95 sigma gives eps and -24 eps/b
    ("head_tail_r_b", HEAD, TAIL, 0.95 * SIGMA, EPS, -24.0 * EPS / (0.95 * SIGMA)),
    ("head_head_r_b", HEAD, HEAD, 0.95 * SIGMA, EPS, -24.0 * EPS / (0.95 * SIGMA)),
    # head-head at r = sigma: WCA with s = 0.95
    ("head_head_r_sigma", HEAD, HEAD, SIGMA, EPS * _W95[0], F_UNIT * _W95[1]),
    # tail-tail at 1.1 sigma < rc: WCA (s = 1/1.1) plus the plateau -eps
    ("tail_tail_r_1.1", TAIL, TAIL, 1.1 * SIGMA, EPS * (_W11[0] - 1.0), EPS * _W11[1] / (1.1 * SIGMA)),
    # head-tail at 1.1 sigma: beyond 2^(1/6) 0.95 sigma and heads never attract -> nothing
    ("head_tail_r_1.1_no_attraction", HEAD, TAIL, 1.1 * SIGMA, 0.0, 0.0),
    # cos^2 tail at its middle: cos^2(pi/4) = 1/2, dE/dr = eps sin(pi/2) pi / (2 wc sigma)
    ("tail_tail_cos2_half", TAIL, TAIL, RC + 0.5 * WC * SIGMA, -0.5 * EPS,
     EPS * math.pi / (2.0 * WC * SIGMA)),
    # at a third: cos^2(pi/6) = 3/4, sin(pi/3) = sqrt(3)/2
    ("tail_tail_cos2_third", TAIL, TAIL, RC + WC * SIGMA / 3.0, -0.75 * EPS,
     EPS * math.sqrt(3.0) / 2.0 * math.pi / (2.0 * WC * SIGMA)),
    # a_i a_j = 0.25 -> eps_att = eps/2 on the plateau (WCA is zero exactly at r = rc)
    ("weak_tail_plateau", (1.0, 0.25), TAIL, RC, -0.5 * EPS, 0.0),
    # beyond every cutoff
    ("tail_tail_beyond", TAIL, TAIL, RC + WC * SIGMA + 0.1 * SIGMA, 0.0, 0.0),
]


@pytest.mark.parametrize(
    "bead_i, bead_j, r, e_expected, dedr_expected",
    [c[1:] for c in TWO_BEAD_CASES],
    ids=[c[0] for c in TWO_BEAD_CASES],
)
def test_two_bead_analytic(bead_i, bead_j, r, e_expected, dedr_expected):
    cfg = pair_config(bead_i, bead_j, r)
    e, f, _ = energy(cfg)
    np.testing.assert_allclose(e, e_expected, rtol=ANALYTIC_RTOL, atol=ANALYTIC_ATOL_E)
    # bead 0 at the origin side: F_0 = +dE/dr x_hat, F_1 = -F_0
    expected = np.array([[dedr_expected, 0, 0], [-dedr_expected, 0, 0]])
    np.testing.assert_allclose(f, expected, rtol=ANALYTIC_RTOL, atol=ANALYTIC_ATOL_F)


# (name, bead_i, bead_j, cutoff in nm, energy just inside, energy just outside)
CUTOFF_CASES = [
    ("wca_head_head", HEAD, HEAD, TWO_SIXTH * 0.95 * SIGMA, 0.0, 0.0),
    ("wca_head_tail", HEAD, TAIL, TWO_SIXTH * 0.95 * SIGMA, 0.0, 0.0),
    # at r_c the WCA ends and the plateau meets the cos^2 tail: -eps on both sides
    ("rc_tail_tail", TAIL, TAIL, RC, -EPS, -EPS),
    ("rc_plus_wc_tail_tail", TAIL, TAIL, RC + WC * SIGMA, 0.0, 0.0),
]


@pytest.mark.parametrize(
    "bead_i, bead_j, cutoff, e_inside, e_outside",
    [c[1:] for c in CUTOFF_CASES],
    ids=[c[0] for c in CUTOFF_CASES],
)
def test_two_bead_cutoffs(bead_i, bead_j, cutoff, e_inside, e_outside):
    e_in, f_in, _ = energy(pair_config(bead_i, bead_j, cutoff - CUTOFF_DELTA))
    e_out, f_out, _ = energy(pair_config(bead_i, bead_j, cutoff + CUTOFF_DELTA))
    np.testing.assert_allclose(e_in, e_inside, atol=CUTOFF_CONTINUITY_ATOL)
    np.testing.assert_allclose(e_out, e_outside, atol=CUTOFF_CONTINUITY_ATOL)
    # forces vanish at every cutoff of this model (it is C1 there)
    np.testing.assert_allclose(f_in, 0.0, atol=CUTOFF_CONTINUITY_ATOL * 10 / SIGMA)
    np.testing.assert_allclose(f_out, 0.0, atol=CUTOFF_CONTINUITY_ATOL * 10 / SIGMA)


@pytest.mark.parametrize("side", ["x", "y", "z"])
def test_pair_across_periodic_boundary(side):
    """Tails at 0.5 sigma and L - 0.5 sigma are sigma apart through the boundary."""
    k = "xyz".index(side)
    box = np.array([9.0, 10.0, 11.0]) * SIGMA
    pos = np.full((2, 3), 3.0 * SIGMA)
    pos[0, k] = 0.5 * SIGMA
    pos[1, k] = box[k] - 0.5 * SIGMA
    cfg = dict(positions=pos, box=box, b=np.ones(2), a=np.ones(2), bonds=np.zeros((0, 2), int),
               springs=np.zeros((0, 3)))
    e, f, _ = energy(cfg)
    np.testing.assert_allclose(e, 0.0, atol=ANALYTIC_ATOL_E)  # WCA eps + plateau -eps
    expected = np.zeros((2, 3))
    expected[0, k] = 24.0 * F_UNIT  # pushed away from the image at -0.5 sigma: +direction
    expected[1, k] = -24.0 * F_UNIT
    np.testing.assert_allclose(f, expected, rtol=ANALYTIC_RTOL, atol=ANALYTIC_ATOL_F)


# --------------------------------------------------------------------------------------------
# Three-bead lipid, by hand
# --------------------------------------------------------------------------------------------
def test_three_bead_lipid_analytic():
    """A straight H-T1-T2 lipid along x with unit (sigma) spacing.

    Pairs: H-T1 WCA with s = 0.95 (W95); T1-T2 WCA eps + plateau -eps = 0; H-T2 at 2 sigma: 0.
    FENE x2: -1/2 30 1.5^2 ln(1 - 1/2.25) = -33.75 ln(5/9) each, dE/dr = 30/(1 - 1/2.25) = 54.
    Spring: 1/2 10 (2 - 4)^2 = 20, dE/dr = 10 (2 - 4) = -20. (eps, sigma units.)
    Forces along x (pair i<j, j at +x: F_i = dE/dr, F_j = -dE/dr):
      F_H = W95' + 54 - 20;  F_T1 = -W95' - 54 + (-24 + 54);  F_T2 = -(-24 + 54) + 20.
    """
    s = SIGMA
    pos = np.array([[1.0, 2.0, 2.0], [2.0, 2.0, 2.0], [3.0, 2.0, 2.0]]) * s
    b, a, bonds, springs = lipid_topology([3], sigma=SIGMA)
    cfg = dict(positions=pos, box=np.full(3, 10.0 * s), b=b, a=a, bonds=bonds, springs=springs)
    e, f, terms = energy(cfg)

    w95, dw95 = _W95
    fene_each = -0.5 * 30.0 * 1.5**2 * math.log(1.0 - 1.0 / 2.25)
    expected_terms = {
        "wca": EPS * (w95 + 1.0),
        "attraction": -EPS,
        "fene": EPS * 2.0 * fene_each,
        "spring": EPS * 20.0,
    }
    for name, value in expected_terms.items():
        np.testing.assert_allclose(terms[name], value, rtol=ANALYTIC_RTOL, err_msg=name)
    np.testing.assert_allclose(e, sum(expected_terms.values()), rtol=ANALYTIC_RTOL)
    fx = np.array([dw95 + 54.0 - 20.0, -dw95 - 54.0 + 30.0, -30.0 + 20.0]) * F_UNIT
    expected = np.zeros((3, 3))
    expected[:, 0] = fx
    np.testing.assert_allclose(f, expected, rtol=ANALYTIC_RTOL, atol=ANALYTIC_ATOL_F)


def test_four_bead_spring_rest_length():
    """lipid_topology gives 4-bead lipids a 6 sigma spring: a straight lipid with beads at
    0, 1.45, 2.85, 4.3 sigma (bonds < r_inf) stores 1/2 10 (4.3 - 6)^2 eps in the spring."""
    b, a, bonds, springs = lipid_topology([4], sigma=SIGMA)
    np.testing.assert_allclose(springs, [[0, 3, 6.0 * SIGMA]])
    pos = np.full((4, 3), 2.0 * SIGMA)
    pos[:, 0] = np.array([1.0, 2.45, 3.85, 5.3]) * SIGMA
    cfg = dict(positions=pos, box=np.full(3, 12.0 * SIGMA), b=b, a=a, bonds=bonds, springs=springs)
    _, _, terms = energy(cfg)
    np.testing.assert_allclose(terms["spring"], EPS * 0.5 * 10.0 * (4.3 - 6.0) ** 2,
                               rtol=ANALYTIC_RTOL)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
def test_overstretched_fene_bond_raises():
    b, a, bonds, springs = lipid_topology([3], sigma=SIGMA)
    pos = np.array([[1.0, 2.0, 2.0], [2.6, 2.0, 2.0], [3.6, 2.0, 2.0]]) * SIGMA  # 1.6 > 1.5
    cfg = dict(positions=pos, box=np.full(3, 10.0 * SIGMA), b=b, a=a, bonds=bonds, springs=springs)
    with pytest.raises(ValueError, match="FENE"):
        energy(cfg)


def test_box_too_small_raises():
    cfg = pair_config(TAIL, TAIL, SIGMA, box_edge=5.0)  # 5 sigma < 2 (rc + wc) = 5.45 sigma
    with pytest.raises(ValueError, match="box"):
        energy(cfg)


# --------------------------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [3, 4])
def test_forces_match_finite_differences(seed):
    cfg = make_bilayer(5, 5, seed, four_bead_fraction=0.5)
    _, forces, _ = energy(cfg)
    rng = np.random.default_rng(seed)
    beads = rng.choice(len(cfg["positions"]), size=30, replace=False)
    numeric = np.zeros((len(beads), 3))
    for row, i in enumerate(beads):
        for k in range(3):
            plus, minus = dict(cfg), dict(cfg)
            plus["positions"] = cfg["positions"].copy()
            minus["positions"] = cfg["positions"].copy()
            plus["positions"][i, k] += FD_STEP
            minus["positions"][i, k] -= FD_STEP
            numeric[row, k] = -(energy(plus)[0] - energy(minus)[0]) / (2.0 * FD_STEP)
    np.testing.assert_allclose(forces[beads], numeric, rtol=FD_RTOL,
                               atol=FD_ATOL_FRACTION * np.abs(forces).max())


# --------------------------------------------------------------------------------------------
# NumPy vs LAMMPS
# --------------------------------------------------------------------------------------------
LAMMPS_CASES = [
    ("bilayer_12x12_single", lambda: make_bilayer(12, 12, seed=7), "single"),
    ("bilayer_12x12_overlay", lambda: make_bilayer(12, 12, seed=7), "overlay"),
    ("mixed_parameters_overlay", lambda: make_mixed_parameters(seed=8), "auto"),
]


@needs_lammps
@pytest.mark.parametrize("make, pair_form", [c[1:] for c in LAMMPS_CASES],
                         ids=[c[0] for c in LAMMPS_CASES])
def test_numpy_matches_lammps(make, pair_form):
    cfg = make()
    e_np, f_np, t_np = energy(cfg)
    e_lmp, f_lmp, t_lmp = lammps_energy_forces(
        cfg["positions"], cfg["box"], cfg["b"], cfg["a"], cfg["bonds"], cfg["springs"],
        **PARAMS, pair_form=pair_form)
    np.testing.assert_allclose(e_lmp, e_np, rtol=LAMMPS_ENERGY_RTOL)
    for name in t_lmp:
        np.testing.assert_allclose(t_lmp[name], t_np[name], rtol=LAMMPS_ENERGY_RTOL, err_msg=name)
    np.testing.assert_allclose(f_lmp, f_np, rtol=LAMMPS_FORCE_RTOL, atol=LAMMPS_FORCE_ATOL)


@needs_lammps
def test_lammps_refuses_clamped_fene():
    """LAMMPS clamps 1 - (r/r_inf)^2 at 0.1; the wrapper must refuse instead of disagreeing."""
    b, a, bonds, springs = lipid_topology([3], sigma=SIGMA)
    pos = np.array([[1.0, 2.0, 2.0], [2.45, 2.0, 2.0], [3.45, 2.0, 2.0]]) * SIGMA  # 1.45 sigma
    with pytest.raises(ValueError, match="clamp"):
        lammps_energy_forces(pos, np.full(3, 10.0 * SIGMA), b, a, bonds, springs, **PARAMS)


# --------------------------------------------------------------------------------------------
# Stored reference energies
# --------------------------------------------------------------------------------------------
def _stored():
    return json.loads(DATA_PATH.read_text())


@pytest.mark.parametrize("name", sorted(reference_configurations()))
def test_numpy_matches_stored_reference(name):
    record = _stored()["configurations"][name]
    assert record["params"] == {"sigma": SIGMA, "eps": EPS, "wc": WC}
    cfg = {key: np.asarray(record[key]) for key in ("positions", "box", "b", "a", "bonds", "springs")}
    cfg["bonds"] = cfg["bonds"].reshape(-1, 2).astype(int)
    e, _, terms = energy(cfg)
    np.testing.assert_allclose(e, record["energy"], rtol=STORED_ENERGY_RTOL)
    for term, value in record["terms"].items():
        np.testing.assert_allclose(terms[term], value, rtol=STORED_ENERGY_RTOL, atol=1e-9,
                                   err_msg=term)


def regenerate_reference_data(path=DATA_PATH):
    """Write tests/data/cooke_reference.json from reference_configurations().

    Energies come from LAMMPS when it loads (an engine independent of snarefuse), otherwise
    from the NumPy reference; the "source" field says which.
    """
    out = {
        "description": "Cooke-model reference energies (kJ/mol) for fixed configurations "
                       "(positions and box in nm). Regenerate: python tests/test_reference.py "
                       "--regenerate",
        "configurations": {},
    }
    use_lammps = lammps_available()
    for name, cfg in reference_configurations().items():
        args = (cfg["positions"], cfg["box"], cfg["b"], cfg["a"], cfg["bonds"], cfg["springs"])
        if use_lammps:
            e, _, terms = lammps_energy_forces(*args, **PARAMS, pair_form="overlay")
            source = "lammps (pair_style hybrid/overlay cosine/squared x2, bond fene + harmonic)"
        else:
            e, _, terms = cooke_energy_forces(*args, **PARAMS)
            source = "snarefuse.reference.numpy_cooke"
        out["configurations"][name] = {
            "source": source,
            "params": dict(PARAMS),
            "energy": e,
            "terms": {k: terms[k] for k in ("wca", "attraction", "fene", "spring")},
            "positions": cfg["positions"].tolist(),
            "box": cfg["box"].tolist(),
            "b": cfg["b"].tolist(),
            "a": cfg["a"].tolist(),
            "bonds": cfg["bonds"].tolist(),
            "springs": cfg["springs"].tolist(),
        }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=1) + "\n")
    return path


if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        print(f"wrote {regenerate_reference_data()}")
    else:
        print(__doc__)
