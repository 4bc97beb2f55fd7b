"""SNARE complexes built into fusion geometries: topology against the published sequences (UniProt), TMDs in their
membranes, forces (-dE/dr), refusals of impossible requests."""

from __future__ import annotations

import re

import numpy as np
import openmm
import pytest

from snarefuse.build import build_system
from snarefuse.errors import BuildError, SpecError
from snarefuse.spec import example_spec_path, load_spec

# rat syntaxin-1A, SNAP-25B, VAMP2 (UniProt P32851, P60881, P63045), first residue number of each segment
SEQUENCES = {
    "V": [(28, "SNRRLQQTQAQVDEVVDIMRVNVDKVLERDQKLSELDDRADALQAGASQFETSAAKLKRKYW"), (90, "WKNLK"),
          (95, "MMIILGVICAIILIIIIVYFST")],
    "S": [(191, "ALSEIETRHSEIIKLENSIRELHDMFMDMAMLVESQGEMIDRIEYNVEHAVDYVERAVSDTKK"), (254, "AVKYQSKARRKK"),
          (266, "IMIIICCVILGIIIASTIGGIFG")],
    "N": [(7, "MRNELEEMQRRADQLADESLESTRRMLQLVEESKDAGIRTLVMLDEQGEQLERIEEGMDQINKDMKEAEKNLTDLGK")],
    "C": [(141, "ARENEMDENLEQVSGIIGNLRHMALDMGNEIDTQNRQIDRIMEKADSNKTRIDEANQRATKMLG")],
}
ONE = {"ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E", "GLY": "G", "HIS": "H",
       "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F", "PRO": "P", "SER": "S", "THR": "T", "TRP": "W",
       "TYR": "Y", "VAL": "V"}
ZERO_LAYER = {"V": (56, "ARG"), "S": (226, "GLN"), "N": (53, "GLN"), "C": (174, "GLN")}
#: a TMD bead counts as inside its membrane within this distance of the midplane (nm): the
#: hydrophobic core plus the head-group layer of a Cooke bilayer (head-head 3.9 nm)
MEMBRANE_HALF_THICKNESS_NM = 2.2


@pytest.fixture(scope="module")
def quickstart():
    return build_system(load_spec(example_spec_path("snare_two_bilayers")))


def _chains(built):
    return {c.id: c for c in built.topology.chains()}


@pytest.mark.parametrize("prefix", list(SEQUENCES))
def test_sequences_and_numbering_match_science(quickstart, prefix):
    chains = _chains(quickstart)
    for k in range(4):
        residues = list(chains[f"{prefix}{k}"].residues())
        seq = "".join(ONE[r.name] for r in residues)
        nums = [int(r.id) for r in residues]
        expected = "".join(s for _, s in SEQUENCES[prefix])
        assert seq == expected
        assert nums == list(range(SEQUENCES[prefix][0][0], SEQUENCES[prefix][0][0] + len(expected)))
        resid, name = ZERO_LAYER[prefix]
        assert residues[resid - nums[0]].name == name


def test_layers_recorded_per_residue(quickstart):
    rec = quickstart.manifest["snares"][0]
    layers = np.array(rec["layer"])
    assert layers.min() == -7 and layers.max() == 8
    assert len(layers) == rec["n_atoms"] == 328


def test_tmds_span_their_membranes(quickstart):
    mids = [m["midplane_z_nm"] for m in quickstart.manifest["membranes"]]
    chains = _chains(quickstart)
    for k in range(4):
        for prefix, membrane, first_tmd in (("V", 1, 95), ("S", 0, 266)):
            idx = [a.index for r in chains[f"{prefix}{k}"].residues() if int(r.id) >= first_tmd for a in r.atoms()]
            z = quickstart.positions[idx, 2]
            assert np.all(np.abs(z - mids[membrane]) < MEMBRANE_HALF_THICKNESS_NM)
            assert z.max() - z.min() > 2.5  # spans the core (22-23 residues x 0.15 nm)


def test_protein_beads_join_the_pair_force_with_exclusions(quickstart):
    pair = [f for f in quickstart.system.getForces() if f.getName() == "CookePair"][0]
    assert pair.getNumParticles() == quickstart.system.getNumParticles() == quickstart.positions.shape[0]
    n_lip = quickstart.manifest["n_lipids"] * 3
    b, a = pair.getParticleParameters(n_lip)
    np.testing.assert_allclose(b, 0.5 / 0.88)
    assert pair.getNumExclusions() > 0
    names = {f.getName() for f in quickstart.system.getForces()}
    assert {"SNARE helix", "SNARE linker coil", "SNARE native contacts"} <= names


def _check_minus_gradient(built, atoms, h=1e-5):
    """Central finite differences of the whole built System's energy against its forces on ``atoms``."""
    ctx = openmm.Context(built.system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(built.positions)
    f = ctx.getState(getForces=True).getForces(asNumpy=True).value_in_unit(
        openmm.unit.kilojoule_per_mole / openmm.unit.nanometer)
    for i in atoms:
        for d in range(3):
            e = []
            for s in (+1, -1):
                x = built.positions.copy()
                x[i, d] += s * h
                ctx.setPositions(x)
                e.append(ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole))
            np.testing.assert_allclose(-(e[0] - e[1]) / (2 * h), f[i, d], rtol=1e-4, atol=1e-2)


def test_force_is_minus_gradient_with_proteins(quickstart):
    n_lip = quickstart.manifest["n_lipids"] * 3
    rng = np.random.default_rng(5)
    _check_minus_gradient(quickstart, list(n_lip + rng.choice(quickstart.positions.shape[0] - n_lip, size=4,
                                                              replace=False)))


def _qs(**o):
    return load_spec(example_spec_path("snare_two_bilayers")).with_overrides(o)


def test_spec_refuses_snares_on_a_single_bilayer():
    with pytest.raises(SpecError) as err:
        _qs(**{"system.geometry": "bilayer", "system.cleft": None})
    assert err.value.field in ("system.snares", "system.cleft")


def test_cleft_too_narrow():
    with pytest.raises(SpecError) as err:
        _qs(**{"system.cleft": "1 nm"})
    assert err.value.field == "system.cleft"
    with pytest.raises(BuildError, match="too close for a SNARE bundle"):
        build_system(_qs(**{"system.cleft": "2.5 nm"}))


def _overlap_error(spec):
    with pytest.raises(BuildError) as err:
        build_system(spec)
    return str(err.value)


def test_bundles_meeting_across_the_boundary_are_refused():
    """Four complexes point at each other in pairs (azimuths 0 and 180 degrees): on a ring of 8 nm in a 30 nm box
    each reaches past the edge into its partner's periodic image. The message names the pair, says that they meet
    across the boundary, and gives the reach and the box it compared."""
    spec = _qs(**{"system.snares.ring_radius": "8 nm"})
    msg = _overlap_error(spec)
    assert "complexes 0 and 2 overlap" in msg and "across the periodic boundary" in msg, msg
    m = re.search(r"reaches ([\d.]+) nm from the contact axis \(ring radius 8.00 nm\) in a box ([\d.]+) nm wide", msg)
    assert m, msg
    assert float(m.group(1)) > float(m.group(2)) / 2  # past the edge: that is what made them meet
    assert float(m.group(2)) == pytest.approx(spec.system.lateral_box_nm, abs=0.01)
    assert "smaller ring_radius" in msg and "system.bilayer.n_lipids" in msg


def test_bundles_may_cross_the_box_edge_clear_of_every_image():
    """Three complexes (120 degrees apart) on a 6 nm ring reach past half the 30 nm box without meeting any
    periodic image: the build accepts them, and no bead of one complex comes within the minimum separation of
    any image of another (or of itself)."""
    from scipy.spatial import cKDTree

    from snarefuse.build.proteins import MIN_COMPLEX_SEPARATION_NM

    built = build_system(_qs(**{"system.snares.n_complexes": 3, "system.snares.ring_radius": "6 nm"}))
    box = np.array(built.manifest["box_nm"])
    n_lip = built.manifest["n_lipids"] * 3
    chains = [c for c in built.topology.chains() if c.index >= 2]
    by_complex: dict[str, list[int]] = {}
    for c in chains:
        by_complex.setdefault(c.id[1:], []).extend(a.index for a in c.atoms())
    assert len(by_complex) == 3 and min(min(v) for v in by_complex.values()) >= n_lip
    pos = [np.mod(built.positions[v], box) for v in by_complex.values()]
    reach = max(np.hypot(*(built.positions[v][:, :2] - box[:2] / 2).T).max() for v in by_complex.values())
    assert reach > box[0] / 2  # the case the old half-box rule refused
    for i in range(3):
        for j in range(i + 1, 3):
            d, _ = cKDTree(pos[i], boxsize=box).query(pos[j])
            assert d.min() >= MIN_COMPLEX_SEPARATION_NM


def test_ring_past_half_the_box():
    msg = _overlap_error(_qs(**{"system.snares.ring_radius": "16 nm"}))
    assert "system.snares.ring_radius" in msg and "half the box width" in msg


def test_overlapping_complexes():
    with pytest.raises(BuildError, match="overlap"):
        build_system(_qs(**{"system.snares.n_complexes": 12, "system.snares.ring_radius": "1 nm"}))


def test_bad_snare_fields():
    with pytest.raises(SpecError) as err:
        _qs(**{"system.snares.zipped_layers": [3, -2]})
    assert err.value.field == "system.snares.zipped_layers"
    with pytest.raises(SpecError) as err:
        _qs(**{"system.snares.proteins": "VAMP7"})
    assert err.value.field == "system.snares.proteins"


def test_saved_run_keeps_real_residue_numbers(tmp_path):
    """Users select "VAMP2 R56" in the files of a run: in the topology of ``load_run_topology`` (which the analysis
    pipeline reads), in the trajectory loaded by ``load_trajectory`` (system.pdb numbers each chain from 1) and in
    system.psf, every protein residue carries its real number and name."""
    import mdtraj

    from snarefuse.rundir import load_run_topology, load_trajectory
    from snarefuse.runner import run_simulation

    d = tmp_path / "run"
    build_system(load_spec(example_spec_path("snare_two_bilayers")).with_overrides(
        {"run.steps": 10, "run.trajectory_interval": 10, "run.report_interval": 10, "run.checkpoint_interval": 10,
         "run.platform": "CPU"})).save(d)
    run_simulation(d, progress=False)
    for top in (load_run_topology(d), load_trajectory(d).topology, mdtraj.load_psf(str(d / "system.psf"))):
        protein = [c for c in top.chains if c.residue(0).name != "CKL"]
        assert len(protein) == 16  # four complexes x (VAMP2, syntaxin, SN1, SN2)
        for chain, (prefix, segs) in zip(protein, list(SEQUENCES.items()) * 4):
            got = {r.resSeq: ONE[r.name] for r in chain.residues}
            want = {first + i: aa for first, seq in segs for i, aa in enumerate(seq)}
            assert got == want, prefix
            resid, name = ZERO_LAYER[prefix]
            assert [r.name for r in chain.residues if r.resSeq == resid] == [name]


#: The Trp/Tyr/Lys/Arg of the juxtamembrane linkers and the TMD's C-terminal residue
ANCHORS = {"V": {90: "TRP", 91: "LYS", 94: "LYS", 116: "THR"},
           "S": {256: "LYS", 257: "TYR", 260: "LYS", 262: "ARG", 263: "ARG", 264: "LYS", 265: "LYS", 288: "GLY"}}


def _anchor_force(built):
    found = [f for f in built.system.getForces() if f.getName() == "SNARE interface anchor"]
    return found[0] if found else None


def test_interfacial_anchors_are_the_flank_residues_and_attract_heads(quickstart):
    from snarefuse import forces

    f = _anchor_force(quickstart)
    pair = [g for g in quickstart.system.getForces() if g.getName() == "CookePair"][0]
    params = np.array([f.getParticleParameters(i) for i in range(f.getNumParticles())])
    heads = {a.index for a in quickstart.topology.atoms() if a.name == "H"}
    assert set(np.flatnonzero(params[:, 0]).tolist()) == heads
    expected = set()
    chains = _chains(quickstart)
    for k in range(4):
        for prefix, want in ANCHORS.items():
            for r in chains[f"{prefix}{k}"].residues():
                if int(r.id) in want:
                    assert r.name == want[int(r.id)]
                    expected |= {a.index for a in r.atoms()}
                    if int(r.id) in (116, 288):  # polar C-terminus: no tail attraction
                        assert pair.getParticleParameters(next(iter(r.atoms())).index)[1] == 0.0
                elif int(r.id) >= (95 if prefix == "V" else 266):  # hydrophobic TMD residue
                    assert pair.getParticleParameters(next(iter(r.atoms())).index)[1] == pytest.approx(0.25**2)
    assert set(np.flatnonzero(params[:, 1]).tolist()) == expected and len(expected) == 4 * 12
    # the whole built system's anchor energy against the NumPy reference (periodic box, all pairs)
    eps = quickstart.spec.model.units.epsilon_kjmol * quickstart.spec.system.snares.anchor_strength
    sigma = quickstart.spec.model.sigma_nm
    kw = dict(epsilon_kjmol=eps, plateau_nm=forces.ANCHOR_PLATEAU_SIGMA * sigma,
              width_nm=forces.ANCHOR_WIDTH_SIGMA * sigma)
    system = openmm.System()
    for _ in range(quickstart.positions.shape[0]):
        system.addParticle(1.0)
    system.setDefaultPeriodicBoxVectors(*quickstart.system.getDefaultPeriodicBoxVectors())
    system.addForce(openmm.XmlSerializer.clone(f))
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(quickstart.positions)
    e = ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    box = np.diag(np.array([[v.x, v.y, v.z] for v in system.getDefaultPeriodicBoxVectors()]))
    ref = forces.interface_anchor_energy(quickstart.positions, sorted(heads), sorted(expected), **kw, box=box)
    assert ref < -eps  # at build, anchors sit at the head surfaces
    np.testing.assert_allclose(e, ref, rtol=1e-6)


def test_force_is_minus_gradient_on_anchor_beads(quickstart):
    params = _anchor_force(quickstart)
    anchors = [i for i in range(params.getNumParticles()) if params.getParticleParameters(i)[1] == 1.0]
    _check_minus_gradient(quickstart, anchors[:2] + anchors[-2:])


def test_anchor_strength_zero_builds_without_the_anchor_force():
    built = build_system(_qs(**{"system.snares.anchor_strength": 0}))
    assert _anchor_force(built) is None


@pytest.fixture(scope="module")
def snares_and_gas():
    """SNARE complexes between a planar bilayer and a vesicle whose lumen holds gas (the gas beads are the last
    particles, added after the proteins)."""
    return build_system(load_spec(example_spec_path("snare_vesicle_planar")).with_overrides(
        {"system.vesicle.radius": "8 nm", "system.vesicle.lumen": {"tension": "5 mN/m"}}))


def test_snares_with_a_lumen_cover_every_particle_and_run(snares_and_gas):
    """Every nonbonded force has an entry per particle (the anchor force once lacked the gas beads and no context
    could be created); the gas beads take no part in the anchoring, and the system evaluates finite energies."""
    from snarefuse.lumen import GAS_BEAD_SIZE

    built = snares_and_gas
    n = built.system.getNumParticles()
    lumen = built.manifest["membranes"][1]["lumen"]
    gas = np.arange(lumen["first_atom"], lumen["first_atom"] + lumen["n_gas"])
    assert len(gas) > 0 and gas[-1] == n - 1
    assert all(a.residue.name == "GAS" for a in built.topology.atoms() if a.index >= gas[0])
    for f in built.system.getForces():
        if isinstance(f, (openmm.NonbondedForce, openmm.CustomNonbondedForce)):
            assert f.getNumParticles() == n, f.getName()
    anchor = _anchor_force(built)
    pair = [g for g in built.system.getForces() if g.getName() == "CookePair"][0]
    for i in gas:
        assert list(anchor.getParticleParameters(int(i))) == [0.0, 0.0]
        assert list(pair.getParticleParameters(int(i))) == [GAS_BEAD_SIZE, 0.0]
    ctx = openmm.Context(built.system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU"),
                         {"Threads": "1"})
    ctx.setPositions(built.positions)
    e = ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    assert np.isfinite(e)


def test_a_force_short_of_particles_is_refused_at_build():
    from snarefuse.build.assemble import check_per_particle_forces

    system = openmm.System()
    for _ in range(3):
        system.addParticle(1.0)
    f = openmm.CustomNonbondedForce("0")
    f.setName("probe")
    f.addParticle([])
    f.addParticle([])
    system.addForce(f)
    with pytest.raises(BuildError, match=r"3 particles but 'probe' \(CustomNonbondedForce: 2 particles\)"):
        check_per_particle_forces(system)
    f.addParticle([])
    check_per_particle_forces(system)
