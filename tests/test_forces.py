"""SNARE protein forces: OpenMM vs NumPy reference, force = -dE/dr, hand-computed values, stability."""

from __future__ import annotations

import math

import numpy as np
import openmm
import pytest
from openmm import unit

from snarefuse import forces
from snarefuse.build import snare as snare_geometry

#: OpenMM Reference (double precision) vs NumPy energies.
ENERGY_RTOL = 1e-7
ENERGY_ATOL_KJMOL = 1e-8
#: central finite-difference step, nm, and tolerance relative to the largest force component.
FD_STEP_NM = 1e-5
FD_RTOL = 1e-5
#: hand-computed reference values.
REFERENCE_RTOL = 1e-10
#: fastest vibration of the helix network must take at least this many time steps.
MIN_STEPS_PER_PERIOD = 20.0
#: free-complex stability run: steps of 0.01 tau, and the largest accepted median contact distance / r0
#: (a melted bundle reaches > 2 within this time at 0.18 kT per contact).
STABILITY_STEPS = 1000
MAX_MEDIAN_CONTACT_STRETCH = 1.4
#: largest accepted deviation of any consecutive-residue distance from 0.383 nm (helix) after the run,
#: nm: ~3 thermal rms of the coil bonds (0.057 nm) plus the 0.018 nm coil/helix rest-length difference.
MAX_BOND_DEVIATION_NM = 0.2

EPS_KJMOL = 2.343166737843174  # Cooke epsilon at 310 K, kT/eps = 1.1
WC_NM = 1.6 * 0.88
KT_KJMOL = 0.0083144626181532 * 310.0
TAU_PS = 0.88 * math.sqrt(250.0 / EPS_KJMOL)
DT_PS = 0.01 * TAU_PS
BOX_NM = (6.0, 6.0, 6.0)


def _context(force: openmm.Force, positions: np.ndarray, box=BOX_NM, platform: str = "Reference") -> openmm.Context:
    system = openmm.System()
    for _ in range(len(positions)):
        system.addParticle(forces.PROTEIN_BEAD_MASS_AMU)
    if box is not None:
        system.setDefaultPeriodicBoxVectors(openmm.Vec3(box[0], 0, 0), openmm.Vec3(0, box[1], 0), openmm.Vec3(0, 0, box[2]))
    system.addForce(force)
    props = {"Precision": "double"} if platform in ("CUDA", "OpenCL", "HIP") else {}
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform), props)
    ctx.setPositions(positions)
    return ctx


def _energy(ctx: openmm.Context) -> float:
    return ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)


def _forces(ctx: openmm.Context) -> np.ndarray:
    return ctx.getState(getForces=True).getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)


def _helix(n: int, rng: np.random.Generator) -> np.ndarray:
    k = np.arange(n)
    theta = 2 * np.pi * k / 3.6
    pos = np.stack([0.23 * np.cos(theta), 0.23 * np.sin(theta), 0.15 * k], axis=1) + 2.0
    return pos + rng.normal(scale=0.03, size=pos.shape)


# Each case: (force, numpy energy function of positions, positions). Positions are chosen so that
# no pair sits on a cutoff, and periodic cases put a pair across the box boundary.
def _case(name: str):
    rng = np.random.default_rng(sum(map(ord, name)))  # fixed seed per case
    if name == "helix":
        pos = _helix(9, rng)
        helices = [list(range(9))]
        return forces.helix_bonded_force(helices), lambda p: forces.helix_bonded_energy(p, helices), pos, None
    if name == "coil":
        pos = np.cumsum(rng.normal(scale=0.22, size=(6, 3)), axis=0) + 3.0
        bonds = [(i, i + 1) for i in range(5)]
        return forces.coil_bond_force(bonds), lambda p: forces.coil_bond_energy(p, bonds), pos, None
    if name == "contacts":
        pos = rng.uniform(1.0, 2.5, size=(6, 3))
        pairs, r0 = [(0, 3), (1, 4), (2, 5), (0, 5)], [0.95, 1.0, 1.05, 0.9]
        return (forces.native_contact_force(pairs, r0, epsilon_kjmol=0.5),
                lambda p: forces.native_contact_energy(p, pairs, r0, epsilon_kjmol=0.5), pos, None)
    if name == "protein_wca":
        pos = np.array([[0.1, 1.0, 1.0], [5.7, 1.2, 1.1], [0.3, 1.3, 0.8], [3.0, 3.0, 3.0],
                        [3.4, 3.1, 3.0], [3.1, 3.45, 3.1], [1.0, 1.0, 5.0]])
        protein, excl = [0, 1, 2, 3, 4, 5], [(3, 4)]
        return (forces.protein_wca_force(len(pos), protein, excl, epsilon_kjmol=EPS_KJMOL),
                lambda p: forces.protein_wca_energy(p, protein, excl, epsilon_kjmol=EPS_KJMOL, box=BOX_NM), pos, BOX_NM)
    if name == "protein_lipid":
        pos = np.array([[0.2, 3.0, 3.0], [3.0, 3.0, 3.0], [3.0, 3.4, 3.3],      # protein (0, 1 TMD)
                        [5.5, 3.2, 3.1], [3.6, 3.1, 3.0], [3.1, 4.6, 3.5],      # tails
                        [0.9, 3.3, 2.8], [3.0, 2.4, 2.9], [1.2, 1.0, 1.0]])     # heads
        args = ([0, 1, 2], [1], [6, 7, 8], [3, 4, 5])
        kw = dict(epsilon_kjmol=EPS_KJMOL, wc_nm=WC_NM)
        return (forces.protein_lipid_force(len(pos), *args, **kw),
                lambda p: forces.protein_lipid_energy(p, *args, **kw, box=BOX_NM), pos, BOX_NM)
    if name == "anchor":
        # anchors 0, 1; heads 2-6: on the plateau, in the cos^2 decay (one across the periodic boundary),
        # beyond the cutoff; 7 a tail (no anchor attraction); the pair (1, 6) excluded
        pos = np.array([[0.3, 3.0, 3.0], [3.0, 3.0, 3.0], [0.9, 3.2, 2.9], [5.4, 3.3, 3.1], [3.9, 3.6, 3.2],
                        [3.0, 4.8, 3.0], [3.2, 3.3, 3.1], [0.4, 3.6, 3.3]])
        kw = dict(epsilon_kjmol=EPS_KJMOL, plateau_nm=ANCHOR_RP_NM, width_nm=ANCHOR_W_NM)
        force = forces.interface_anchor_force(len(pos), [2, 3, 4, 5, 6], [0, 1], excluded_pairs=[(1, 6)], **kw)
        return force, lambda p: forces.interface_anchor_energy(p, [2, 3, 4, 5], [0, 1], **kw, box=BOX_NM), pos, BOX_NM
    raise KeyError(name)


ANCHOR_RP_NM = forces.ANCHOR_PLATEAU_SIGMA * 0.88
ANCHOR_W_NM = forces.ANCHOR_WIDTH_SIGMA * 0.88
CASES = ["helix", "coil", "contacts", "protein_wca", "protein_lipid", "anchor"]


@pytest.mark.parametrize("name", CASES)
def test_openmm_energy_matches_numpy_reference(name):
    force, ref, pos, box = _case(name)
    ctx = _context(force, pos, box or BOX_NM)
    expected = ref(pos)
    assert expected != 0.0
    np.testing.assert_allclose(_energy(ctx), expected, rtol=ENERGY_RTOL, atol=ENERGY_ATOL_KJMOL)


#: Agreement of another platform with Reference on the same configuration: CPU computes in single precision,
#: the GPU platforms in double precision where the device has it (POCL's OpenCL may not: then single).
PLATFORM_ENERGY_RTOL = {"Reference": 1e-12, "CPU": 1e-5, "OpenCL": 1e-5, "CUDA": 1e-5, "HIP": 1e-5}
#: Largest Reference force (kJ/mol/nm) compared on the GPU platforms, whose fixed-point force sums saturate at ~2e9.
MAX_FIXED_POINT_FORCE = 1e8
PLATFORM_FORCE_RTOL = {"Reference": 1e-12, "CPU": 1e-4, "OpenCL": 1e-4, "CUDA": 1e-4, "HIP": 1e-4}


@pytest.mark.parametrize("name", CASES)
def test_every_platform_matches_reference(name, platform_name):
    """Each force on every platform (the session fixture: Reference, CPU, OpenCL, CUDA, HIP; a missing one is a
    visible skip) gives the Reference energy and forces on the same positions."""
    force, _, pos, box = _case(name)
    ref = _context(force, pos, box or BOX_NM)
    other = _context(_case(name)[0], pos, box or BOX_NM, platform_name)
    np.testing.assert_allclose(_energy(other), _energy(ref), rtol=PLATFORM_ENERGY_RTOL[platform_name])
    f_ref, f = _forces(ref), _forces(other)
    # GPU platforms sum forces in 64-bit fixed point (2^32 units per kJ/mol/nm): beyond ~2e9 they saturate,
    # which some cases' nearly overlapping beads reach; those beads are compared on Reference and CPU only
    ok = np.abs(f_ref).max(axis=1) < MAX_FIXED_POINT_FORCE if platform_name not in ("Reference", "CPU") else \
        np.ones(len(f_ref), dtype=bool)
    assert ok.sum() >= 2
    np.testing.assert_allclose(f[ok], f_ref[ok], rtol=0, atol=PLATFORM_FORCE_RTOL[platform_name] * np.abs(f_ref[ok]).max())


@pytest.mark.parametrize("name", CASES)
def test_force_is_minus_energy_gradient(name):
    force, _, pos, box = _case(name)
    ctx = _context(force, pos, box or BOX_NM)
    f = _forces(ctx)
    fd = np.zeros_like(pos)
    for i in range(len(pos)):
        for a in range(3):
            e = []
            for sign in (1.0, -1.0):
                p = pos.copy()
                p[i, a] += sign * FD_STEP_NM
                ctx.setPositions(p)
                e.append(_energy(ctx))
            fd[i, a] = -(e[0] - e[1]) / (2 * FD_STEP_NM)
    assert np.abs(f).max() > 0
    np.testing.assert_allclose(f, fd, rtol=0, atol=FD_RTOL * np.abs(f).max())


def _pair_energy(force: openmm.Force, r: float) -> float:
    """Energy of two beads r apart, without periodic boundaries."""
    pos = np.array([[1.0, 1.0, 1.0], [1.0 + r, 1.0, 1.0]])
    return _energy(_context(force, pos, None))


def _nb(force: openmm.CustomNonbondedForce) -> openmm.CustomNonbondedForce:
    force.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffNonPeriodic)
    return force


EPS_A = forces.DEFAULT_TMD_TAIL_ATTRACTION * EPS_KJMOL
B_TAIL = 0.5 * (forces.PROTEIN_SIGMA_NM + 0.88)
RC_TAIL = 2 ** (1 / 6) * B_TAIL


def _pl(tmd: bool, lipid: str) -> openmm.CustomNonbondedForce:
    heads, tails = ([1], []) if lipid == "head" else ([], [1])
    return _nb(forces.protein_lipid_force(2, [0], [0] if tmd else [], heads, tails, epsilon_kjmol=EPS_KJMOL, wc_nm=WC_NM))


def _anchor(*roles) -> openmm.CustomNonbondedForce:
    """Two beads; roles: (head index or None, anchor indices...) spelled as _anchor(head, anchor),
    _anchor(None, a, a) for two anchors, _anchor(h, h, None) for two heads."""
    if roles == (None, 0, 1):
        heads, anchors = [], [0, 1]
    elif roles == (0, 1, None):
        heads, anchors = [0, 1], []
    else:
        heads, anchors = [roles[0]], [roles[1]]
    return _nb(forces.interface_anchor_force(2, heads, anchors, epsilon_kjmol=EPS_KJMOL, plateau_nm=ANCHOR_RP_NM,
                                             width_nm=ANCHOR_W_NM))


REFERENCE_VALUES = [
    # (id, force factory, distance nm, expected kJ/mol, formula)
    ("helix bond stretched 0.1 nm", lambda: forces.helix_bonded_force([[0, 1]]),
     forces.ideal_helix_distance(1) + 0.1, 0.5 * forces.HELIX_BOND_K * 0.01),
    ("coil bond at rest", lambda: forces.coil_bond_force([(0, 1)]), 0.365, 0.0),
    ("contact at r0: -eps", lambda: forces.native_contact_force([(0, 1)], [1.0], epsilon_kjmol=0.7), 1.0, -0.7),
    ("contact at 2 r0", lambda: forces.native_contact_force([(0, 1)], [1.0], epsilon_kjmol=0.7), 2.0,
     0.7 * (5 / 4096 - 6 / 1024)),
    ("protein WCA at sigma: eps", lambda: _nb(forces.protein_wca_force(2, [0, 1], epsilon_kjmol=EPS_KJMOL)),
     forces.PROTEIN_SIGMA_NM, EPS_KJMOL),
    ("protein WCA beyond cut", lambda: _nb(forces.protein_wca_force(2, [0, 1], epsilon_kjmol=EPS_KJMOL)),
     0.57, 0.0),
    ("TMD-tail at b: eps - eps_a", lambda: _pl(True, "tail"), B_TAIL, EPS_KJMOL - EPS_A),
    ("TMD-tail mid-well: -eps_a/2", lambda: _pl(True, "tail"), RC_TAIL + WC_NM / 2, -EPS_A / 2),
    ("TMD-tail beyond range", lambda: _pl(True, "tail"), RC_TAIL + WC_NM + 0.01, 0.0),
    ("other residue-tail mid-well: 0", lambda: _pl(False, "tail"), RC_TAIL + WC_NM / 2, 0.0),
    ("TMD-head at b_head: eps", lambda: _pl(True, "head"), 0.5 * (0.5 + 0.836), EPS_KJMOL),
    ("anchor-head on the plateau: -eps", lambda: _anchor(0, 1), 0.6, -EPS_KJMOL),
    ("anchor-head mid-decay: -eps/2", lambda: _anchor(0, 1), ANCHOR_RP_NM + ANCHOR_W_NM / 2, -EPS_KJMOL / 2),
    ("anchor-head quarter-decay: -eps cos^2(pi/8)", lambda: _anchor(0, 1), ANCHOR_RP_NM + ANCHOR_W_NM / 4,
     -EPS_KJMOL * math.cos(math.pi / 8) ** 2),
    ("anchor-head beyond range", lambda: _anchor(0, 1), ANCHOR_RP_NM + ANCHOR_W_NM + 0.01, 0.0),
    ("anchor-anchor: 0", lambda: _anchor(None, 0, 1), 0.6, 0.0),
    ("head-head: 0", lambda: _anchor(0, 1, None), 0.6, 0.0),
]


@pytest.mark.parametrize("name,factory,r,expected", REFERENCE_VALUES, ids=[v[0] for v in REFERENCE_VALUES])
def test_two_bead_reference_values(name, factory, r, expected):
    np.testing.assert_allclose(_pair_energy(factory(), r), expected, rtol=REFERENCE_RTOL, atol=1e-12)


def test_three_bead_reference_value():
    # TMD bead between a tail (at b: eps - eps_a) and a head (at 0.7 nm, inside the head WCA range)
    force = _nb(forces.protein_lipid_force(3, [0], [0], [2], [1], epsilon_kjmol=EPS_KJMOL, wc_nm=WC_NM))
    pos = np.array([[1.0, 1.0, 1.0], [1.0 + B_TAIL, 1.0, 1.0], [1.0, 1.7, 1.0]])
    b_head = 0.5 * (0.5 + 0.836)
    x6 = (b_head / 0.7) ** 6
    expected = (EPS_KJMOL - EPS_A) + 4 * EPS_KJMOL * (x6 * x6 - x6 + 0.25)
    np.testing.assert_allclose(_energy(_context(force, pos, None)), expected, rtol=REFERENCE_RTOL)


def test_helix_geometry_constants_match_builder():
    for k in (1, 2, 3, 4):
        assert forces.ideal_helix_distance(k) == snare_geometry.ideal_helix_distance(k)
    assert forces.COIL_BOND_NM == snare_geometry.COIL_BOND_NM


def test_full_zippering_go_energy_is_contacts_times_depth():
    c = snare_geometry.build_snare_complex()
    pairs, r0 = c.native_contacts(forces.DEFAULT_CONTACT_CUTOFF_NM)
    eps = forces.DEFAULT_CONTACT_EPSILON_KT * KT_KJMOL
    total_kt = -forces.native_contact_energy(c.positions, pairs, r0, epsilon_kjmol=eps) / KT_KJMOL
    np.testing.assert_allclose(total_kt, 275 * forces.DEFAULT_CONTACT_EPSILON_KT, rtol=REFERENCE_RTOL)


def test_fastest_helix_vibration_spans_twenty_time_steps():
    ideal = np.stack([0.23 * np.cos(2 * np.pi * np.arange(24) / 3.6), 0.23 * np.sin(2 * np.pi * np.arange(24) / 3.6),
                      0.15 * np.arange(24)], axis=1)
    ctx = _context(forces.helix_bonded_force([list(range(24))]), ideal + 2.0, None)
    n = 3 * len(ideal)
    hessian = np.zeros((n, n))
    h = 1e-5
    for j in range(n):
        cols = []
        for sign in (1.0, -1.0):
            p = ideal + 2.0
            p.reshape(-1)[j] += sign * h
            ctx.setPositions(p)
            cols.append(-_forces(ctx).reshape(-1))
        hessian[:, j] = (cols[0] - cols[1]) / (2 * h)
    omega_max = math.sqrt(np.linalg.eigvalsh(0.5 * (hessian + hessian.T)).max() / forces.PROTEIN_BEAD_MASS_AMU)
    assert 2 * math.pi / omega_max / DT_PS >= MIN_STEPS_PER_PERIOD


def test_free_complex_stays_assembled_at_the_lipid_time_step():
    c = snare_geometry.build_snare_complex()
    system, pairs, r0 = forces.free_complex_system(
        c, contact_epsilon_kjmol=forces.DEFAULT_CONTACT_EPSILON_KT * KT_KJMOL, wca_epsilon_kjmol=EPS_KJMOL)
    integrator = openmm.LangevinMiddleIntegrator(310.0, 1.0 / TAU_PS, DT_PS)
    integrator.setRandomNumberSeed(1)
    ctx = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(c.positions)
    ctx.setVelocitiesToTemperature(310.0, 1)
    integrator.step(STABILITY_STEPS)
    pos = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    assert np.isfinite(pos).all()
    stretch = np.linalg.norm(pos[pairs[:, 0]] - pos[pairs[:, 1]], axis=1) / r0
    assert np.median(stretch) < MAX_MEDIAN_CONTACT_STRETCH
    bonds = np.linalg.norm(np.diff(pos, axis=0), axis=1)[c.chain_ids[:-1] == c.chain_ids[1:]]
    assert np.abs(bonds - forces.ideal_helix_distance(1)).max() < MAX_BOND_DEVIATION_NM
