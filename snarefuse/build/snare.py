"""The neuronal SNARE complex at one bead per residue (the C-alpha), built as geometry only.

Sequences (UniProt P32851, P60881, P63045), residue numbering, layers (Sutton et al., Nature 395, 347, 1998)
and geometry (PDB 3HD7 for linkers and TMDs) as in docs/model.md, "SNARE complexes":

* rat syntaxin-1A 191-288 (H3 SNARE motif 191-253, polybasic linker 254-265, TMD 266-288),
  VAMP2 (synaptobrevin-2) 28-116 (motif 28-89, linker 90-94, TMD 95-116),
  SNAP-25B SN1 7-83 and SN2 141-204.
* SNAP-25B is built as **two chains** (C = SN1, D = SN2) with the real residue numbers and the same
  protein name. The palmitoylated loop 84-140 that joins them (and anchors SNAP-25 to the plasma
  membrane) is not modelled; two chains keep a spurious 83-141 bond out of the topology (the two
  ends are ~10 nm apart in the bundle) and make per-helix analyses trivial.
* Chain ids follow PDB 1SFC: A = synaptobrevin/VAMP2, B = syntaxin-1A, C = SNAP-25 SN1, D = SNAP-25 SN2.

Layers (-7 ... +8) are assigned from the heptad rule, not read from 1SFC coordinates: the
0-layer residues (VAMP2 R56, syntaxin Q226, SNAP-25 Q53 and Q174; Sutton et al., Nature 395, 347,
1998) sit at heptad position ``d``; the a/d positions alternate with spacings 4, 3, 4, 3, ... towards
the C-terminus and 3, 4, 3, 4, ... towards the N-terminus. This reproduces the published
C-terminal layers (e.g. VAMP2 F77 = +6, L84 = +8; SNAP-25 I67 = +4) and the hydrophobic
N-terminal layers of syntaxin (I202, L205, I209, L212, F216, M219, V223) and SN2; in VAMP2 and SN1
it puts a few polar residues (VAMP2 T35, N49; SN1 S39, G43, T46) at layer positions, where the real
bundle has small register irregularities. Syntaxin's +8 position by this rule is A254, the first
residue of the linker segment.

Geometry: an ideal left-handed, parallel four-helix coiled coil (Crick parametrisation). Each helix
has a C-alpha radius of 0.23 nm, a rise of 0.15 nm per residue along its own (supercoiled) axis and
100 degrees of twist per residue in a non-rotating frame (3.6 residues per turn). In the supercoil's
Frenet frame the heptad repeats exactly (720/7 degrees per residue), which fixes the Frenet
torsion tau = -2.857 deg / 0.15 nm and hence, with the 0.94 nm supercoil radius, a pitch of 16.8 nm
and a helix crossing angle of 19.3 degrees. a/d residues point to within 26 degrees of the bundle axis.
The bundle axis is +z, N-termini (layer -7) at low z. The helix order around the bundle is
VAMP2, syntaxin, SN2, SN1: VAMP2 and syntaxin are neighbours (complexin binds in the groove between
them; Chen et al., Neuron 33, 397, 2002) and so are SN1 and SN2 (both take part in the
synaptotagmin-1 primary interface; Zhou et al., Nature 525, 62, 2015); which SNAP-25 helix touches
VAMP2 is a modelling choice not checked against 1SFC coordinates.

Unzipped juxtamembrane residues (``linker_unzipped``) are a flexible worm-like chain (bond 0.365 nm
per residue, :data:`snarefuse.constants.NM_PER_RESIDUE`), the TMDs straight alpha-helices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq

from ..errors import BuildError
from .snare_model import (  # the complex as data; re-exported: this module is where complexes come from
    ANCHORED_CHAINS,
    BUNDLE_AZIMUTH_DEG,
    CA_RADIUS_NM,
    CHAIN_HELIX,
    CHAIN_ORDER,
    CHAIN_PROTEIN,
    COIL_BOND_NM,
    D_PHASE_DEG,
    HEPTAD_TWIST_DEG,
    LAYER_MAX,
    LAYER_MIN,
    RESIDUES_PER_TURN,
    RISE_NM,
    SEGMENTS,
    SUPERCOIL_RADIUS_NM,
    SegmentSpec,
    SnareComplex,
    SnareResidue,
    THREE_LETTER,
    ZERO_LAYER_RESID,
    heptad_position,
    ideal_helix_distance,
    layer_of,
    supercoil_geometry,
)
__all__ = [
    "RISE_NM",
    "RESIDUES_PER_TURN",
    "CA_RADIUS_NM",
    "SUPERCOIL_RADIUS_NM",
    "COIL_BOND_NM",
    "LAYER_MIN",
    "LAYER_MAX",
    "SegmentSpec",
    "SEGMENTS",
    "ZERO_LAYER_RESID",
    "CHAIN_PROTEIN",
    "CHAIN_HELIX",
    "THREE_LETTER",
    "SnareResidue",
    "SnareComplex",
    "heptad_position",
    "layer_of",
    "ideal_helix_distance",
    "supercoil_geometry",
    "build_snare_complex",
    "place_complex_between",
    "clamped_native_contacts",
]

# ---- construction --------------------------------------------------------------------------


def _normalise_unzipped(linker_unzipped: int | Sequence[int] | None) -> tuple[int, int]:
    if linker_unzipped is None:
        return (5, 11)
    if isinstance(linker_unzipped, (int, np.integer)):
        return (int(linker_unzipped), int(linker_unzipped))
    vals = tuple(int(v) for v in linker_unzipped)
    if len(vals) != 2:
        raise BuildError(f"linker_unzipped: expected an int or (VAMP2, syntaxin) pair, got {linker_unzipped!r}")
    return vals  # type: ignore[return-value]


def _vamp2_hinge(zipped_layers: tuple[int, int]) -> range:
    """VAMP2 residues between its last zipped layer position and the next layer position (empty when VAMP2 is
    zipped to +8): the break between the zipped helix and the open, clamped helix of a half-zipped build."""
    hi = zipped_layers[1]
    if hi >= LAYER_MAX:
        return range(0)
    core = {layer_of("A", r)[0]: r for s in SEGMENTS if s.chain_id == "A" and s.segment != "tmd"
            for r in range(s.first_resid, s.last_resid + 1) if layer_of("A", r)[1]}
    return range(core[hi] + 1, core[hi + 1])


def _residue_table(zipped_layers: tuple[int, int], unzipped: tuple[int, int],
                   open_helix: bool = False) -> list[SnareResidue]:
    lo, hi = zipped_layers
    n_coil = dict(zip(ANCHORED_CHAINS, unzipped))
    hinge = _vamp2_hinge(zipped_layers) if open_helix else range(0)
    table: list[SnareResidue] = []
    for chain in CHAIN_ORDER:
        segs = [s for s in SEGMENTS if s.chain_id == chain]
        tmd_first = next((s.first_resid for s in segs if s.segment == "tmd"), None)
        coil_first = tmd_first - n_coil[chain] if tmd_first is not None else None
        if tmd_first is not None:
            # coil residues must lie C-terminal to the last zipped layer position of the chain
            zipped_core = [
                r for s in segs if s.segment != "tmd" for r in range(s.first_resid, s.last_resid + 1)
                if layer_of(chain, r)[1] and lo <= layer_of(chain, r)[0] <= hi
            ]
            first_free = max(zipped_core) + 1 if zipped_core else segs[0].first_resid
            max_coil = tmd_first - first_free
            if not 0 <= n_coil[chain] <= max_coil:
                name = "VAMP2" if chain == "A" else "syntaxin"
                raise BuildError(
                    f"linker_unzipped: {n_coil[chain]} {name} residues; accepted 0..{max_coil} with "
                    f"zipped_layers=({lo}, {hi}) (residues C-terminal to the last zipped layer position); "
                    f"unzip more layers to free more"
                )
        for seg in segs:
            for k, aa in enumerate(seg.sequence):
                resid = seg.first_resid + k
                if seg.segment == "tmd":
                    layer, core, heptad = LAYER_MAX, False, "-"
                else:
                    layer, core = layer_of(chain, resid)
                    heptad = heptad_position(chain, resid)
                in_coil = coil_first is not None and tmd_first is not None and coil_first <= resid < tmd_first
                in_coil = in_coil or (chain == "A" and resid in hinge)
                structure = "coil" if in_coil else "helix"
                zipped = seg.segment != "tmd" and structure == "helix" and lo <= layer <= hi
                table.append(SnareResidue(
                    index=len(table), chain_id=chain, protein=CHAIN_PROTEIN[chain], resname=THREE_LETTER[aa],
                    resid=resid, segment=seg.segment, layer=layer, heptad=heptad, is_core=core,
                    structure=structure, zipped=zipped,
                ))
    return table


def _coiled_coil(chain: str, resids: np.ndarray) -> np.ndarray:
    """C-alpha positions of residues of one bundle helix (Crick parametrisation), nm, (n, 3)."""
    alpha, _ = supercoil_geometry()
    r0 = SUPERCOIL_RADIUS_NM
    t = (resids - ZERO_LAYER_RESID[chain]).astype(np.float64)
    s = t * RISE_NM  # arc length along the supercoiled helix axis
    phi = math.radians(BUNDLE_AZIMUTH_DEG[chain]) - s * math.sin(alpha) / r0  # left-handed: azimuth decreases
    cphi, sphi = np.cos(phi), np.sin(phi)
    axis = np.stack([r0 * cphi, r0 * sphi, s * math.cos(alpha)], axis=1)
    tangent = np.stack([math.sin(alpha) * sphi, -math.sin(alpha) * cphi, np.full_like(s, math.cos(alpha))], axis=1)
    normal = -np.stack([cphi, sphi, np.zeros_like(s)], axis=1)  # towards the bundle axis
    binormal = np.cross(tangent, normal)
    theta = np.radians(D_PHASE_DEG + HEPTAD_TWIST_DEG * t)
    return axis + CA_RADIUS_NM * (np.cos(theta)[:, None] * normal + np.sin(theta)[:, None] * binormal)


def _straight_helix(n: int, first: np.ndarray, direction: np.ndarray, radial: np.ndarray) -> np.ndarray:
    """n C-alpha positions of a straight ideal alpha-helix whose first residue is at ``first``.

    ``direction`` is the N->C axis direction, ``radial`` the direction from the axis to the first residue.
    """
    d = direction / np.linalg.norm(direction)
    e1 = radial - np.dot(radial, d) * d
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(d, e1)  # right-handed about d
    k = np.arange(n, dtype=np.float64)
    theta = 2.0 * math.pi * k / RESIDUES_PER_TURN
    origin = first - CA_RADIUS_NM * e1
    return origin + RISE_NM * k[:, None] * d + CA_RADIUS_NM * (np.cos(theta)[:, None] * e1 + np.sin(theta)[:, None] * e2)


def _arc(p0: np.ndarray, p1: np.ndarray, n: int, bulge: np.ndarray, bond: float = COIL_BOND_NM) -> np.ndarray:
    """n points between p0 and p1 on a circular arc with n+1 equal chords of length ``bond``."""
    chord = p1 - p0
    d = float(np.linalg.norm(chord))
    if n == 0:
        return np.zeros((0, 3))
    if d >= (n + 1) * bond:
        raise BuildError(f"coil of {n} residues cannot span {d:.2f} nm (contour {(n + 1) * bond:.2f} nm)")
    c = chord / d
    q = bulge - np.dot(bulge, c) * c
    q /= np.linalg.norm(q)
    m = n + 1
    if d < 1e-9:
        beta = math.pi / m
    else:
        beta = brentq(lambda b: math.sin(m * b) / math.sin(b) - d / bond, 1e-12, math.pi / m - 1e-12)
    rho = bond / (2.0 * math.sin(beta))
    big = m * beta
    center = 0.5 * (p0 + p1) - q * rho * math.cos(big)
    theta = -big + 2.0 * beta * np.arange(1, m)
    return center + rho * (np.sin(theta)[:, None] * c + np.cos(theta)[:, None] * q)


def _clear_arc(p0: np.ndarray, p1: np.ndarray, n: int, base: np.ndarray, others: np.ndarray,
               rng: np.random.Generator | None) -> np.ndarray:
    """Arc of n beads from p0 to p1 bulging towards ``base`` turned about the chord (15 degree steps up
    to +/-90, optional +/-15 degree jitter) to the direction that keeps it furthest from ``others``."""
    chord = p1 - p0
    best, best_d = None, -1.0
    for turn in np.radians(np.arange(-90.0, 91.0, 15.0)):
        bulge = _jitter(rng, _rotate(base, chord, turn), chord, math.pi / 12)
        arc = _arc(p0, p1, n, bulge)
        if n == 0 or others.size == 0:
            return arc
        dmin = float(np.min(np.linalg.norm(arc[:, None, :] - others[None, :, :], axis=-1)))
        if dmin > best_d + 1e-9:
            best, best_d = arc, dmin
    assert best is not None
    return best


def _rotate(vec: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotate vec about axis by angle (Rodrigues)."""
    k = axis / np.linalg.norm(axis)
    return vec * math.cos(angle) + np.cross(k, vec) * math.sin(angle) + k * np.dot(k, vec) * (1 - math.cos(angle))


def _jitter(rng: np.random.Generator | None, vec: np.ndarray, axis: np.ndarray, max_angle: float) -> np.ndarray:
    """Rotate vec about axis by a random angle in [-max_angle, max_angle] (no-op without rng)."""
    if rng is None:
        return vec
    return _rotate(vec, axis, rng.uniform(-max_angle, max_angle))


#: Smallest distance of an open (clamped) VAMP2 residue from each of its native partners, as a multiple of
#: their native distance r0, in a half-zipped build: outside the contact, where the clamped force is zero.
OPEN_CLEARANCE_R0 = 1.15
#: Largest hinge span as a fraction of its coil contour (the hinge arc needs slack to be built).
HINGE_MAX_EXTENSION = 0.8


def _radial(p: np.ndarray) -> np.ndarray:
    """Unit vector from the bundle axis (local z) to ``p`` in the xy plane."""
    r = np.array([p[0], p[1], 0.0])
    return r / np.linalg.norm(r)


def _open_helix_pose(pos: np.ndarray, hinge: np.ndarray, helix: np.ndarray, away: np.ndarray) -> np.ndarray:
    """Positions of VAMP2's open helix in a half-zipped build (local frame: bundle axis +z).

    The helix keeps its bundle (supercoil) geometry, moved rigidly out of the t-SNARE groove: shifted by
    ``shift`` along a direction ``out`` in the xy plane and tilted towards it by ``tilt`` about its first
    residue. ``out`` is the radial direction at the hinge turned by up to 90 degrees (10 degree steps), tried
    closest to ``away`` first; for each, the smallest move (tilt, then shift, on a 5 degree / 0.05 nm grid) that
    puts every residue of the helix at >= :data:`OPEN_CLEARANCE_R0` times the native distance from each of its
    partners and leaves the hinge within reach is taken. The open helix so sits just outside its contacts, where
    the clamped force is zero, and zips once the clamp is released.
    """
    full = build_snare_complex((LAYER_MIN, LAYER_MAX))
    pairs, r0 = full.native_contacts()
    mine = np.isin(pairs, helix)
    sel = mine.any(axis=1) & ~mine.all(axis=1)
    own = np.where(mine[sel, 0], pairs[sel, 0], pairs[sel, 1])
    partner = np.where(mine[sel, 0], pairs[sel, 1], pairs[sel, 0])
    r0 = r0[sel]
    start, stop = pos[hinge[0] - 1], pos[helix[0]]  # last zipped residue, first open one (groove position)
    z = np.array([0.0, 0.0, 1.0])
    radial, target = _radial(start), _radial(away)
    turns = sorted(np.radians(np.arange(-90.0, 91.0, 10.0)),
                   key=lambda b: -float(np.dot(_rotate(radial, z, b), target)))
    reach = HINGE_MAX_EXTENSION * (hinge.size + 1) * COIL_BOND_NM
    base = pos[helix] - stop
    moved_pos = pos.copy()
    for turn in turns:
        out = _rotate(radial, z, turn)
        tangent = np.cross(z, out)
        for tilt in np.radians(np.arange(0.0, 61.0, 5.0)):
            tilted = _rotate_about(base, tangent, tilt) + stop
            for shift in np.arange(0.0, 1.51, 0.05):
                moved = tilted + shift * out
                if np.linalg.norm(moved[0] - start) > reach:
                    break
                moved_pos[helix] = moved
                r = np.linalg.norm(moved_pos[own] - moved_pos[partner], axis=1)
                if (r >= OPEN_CLEARANCE_R0 * r0).all():
                    return moved
    raise BuildError(f"zipped_layers / clamp: VAMP2's open helix ({len(helix)} residues after a hinge of "
                     f"{hinge.size}) cannot be placed clear of its partners")


def _rotate_about(points: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotate (n, 3) points about an axis through the origin by angle (Rodrigues); positive tilts +z outward."""
    return np.array([_rotate(p, axis, angle) for p in points]) if len(points) else points


def build_snare_complex(
    zipped_layers: Sequence[int] = (LAYER_MIN, LAYER_MAX),
    linker_unzipped: int | Sequence[int] | None = None,
    seed: int | None = None,
    *,
    coil_extension: float = 0.8,
    clamp_layers: Sequence[int] | None = None,
) -> SnareComplex:
    """Build a free SNARE complex: ideal coiled coil along +z, unzipped linkers and TMDs beyond its C-end.

    Parameters
    ----------
    zipped_layers : (int, int)
        Inclusive range of zipped layers, within -7...+8. Residues outside it keep the bundle geometry
        (SNARE motifs and helical linkers stay helical) but have no native contacts.
    linker_unzipped : int or (int, int) or None
        Residues just before the TMD treated as unstructured coil, for (VAMP2, syntaxin) or both. None:
        (5, 11), the whole VAMP2 linker 90-94 and syntaxin 255-265 (syntaxin A254 is the +8 layer).
        More than that needs the C-terminal layers unzipped (``zipped_layers``).
    seed : int or None
        Random seed for the orientation of the coil arcs (None: deterministic, no randomness).
    coil_extension : float
        End-to-end distance of each free coil as a fraction of its contour length.
    clamp_layers : (int, int) or None
        The clamped layers (``system.snares.clamp.layers``) of a half-zipped build. When VAMP2 stops short of
        +8, its open SNARE motif stays a helix (with its helix restraints: it folds as it zips, Gao et al.,
        Science 337, 1340, 2012) held out of the t-SNARE groove (:func:`_open_helix_pose`), joined to the
        zipped half by a coil hinge (the residues before the next layer position); only the
        ``linker_unzipped`` residues before the TMD are a coil. None: the open half keeps the bundle geometry.

    Returns
    -------
    SnareComplex

    Examples
    --------
    >>> c = build_snare_complex()
    >>> c.n_residues, c.linker_unzipped
    (328, (5, 11))
    """
    if len(zipped_layers) != 2:
        raise BuildError(f"zipped_layers: got {zipped_layers!r}; accepted (lo, hi)")
    lo, hi = int(zipped_layers[0]), int(zipped_layers[1])
    if not (LAYER_MIN <= lo <= hi <= LAYER_MAX):
        raise BuildError(f"zipped_layers: got {zipped_layers!r}; accepted (lo, hi) with {LAYER_MIN} <= lo <= hi <= {LAYER_MAX}")
    unzipped = _normalise_unzipped(linker_unzipped)
    open_helix = clamp_layers is not None and hi < LAYER_MAX
    table = _residue_table((lo, hi), unzipped, open_helix)
    rng = np.random.default_rng(seed) if seed is not None else None
    pos = np.zeros((len(table), 3))
    chain_ids = np.array([r.chain_id for r in table])
    resids = np.array([r.resid for r in table])
    structure = np.array([r.structure for r in table])
    segment = np.array([r.segment for r in table])
    bundle_all = np.flatnonzero((segment != "tmd") & (structure == "helix"))
    for chain in CHAIN_ORDER:
        idx = np.flatnonzero(chain_ids == chain)
        bundle = idx[(segment[idx] != "tmd") & (structure[idx] == "helix")]
        pos[bundle] = _coiled_coil(chain, resids[bundle])
    hinge = np.flatnonzero((chain_ids == "A") & np.isin(resids, list(_vamp2_hinge((lo, hi))))) if open_helix else []
    if len(hinge):
        helix = np.flatnonzero((chain_ids == "A") & (segment != "tmd") & (structure == "helix")
                               & (resids > resids[hinge[-1]]))
        if helix.size:
            # out of the groove on the side away from syntaxin's membrane-proximal end: place_complex_between
            # turns that side towards VAMP2's membrane
            syx = np.flatnonzero((chain_ids == "B") & (segment != "tmd") & (structure == "helix"))[-1]
            away = pos[helix[-1]] - pos[syx]
            pos[helix] = _open_helix_pose(pos, hinge, helix, away)
        pos[hinge] = _clear_arc(pos[hinge[0] - 1], pos[hinge[-1] + 1], hinge.size, _radial(pos[hinge[0] - 1]),
                                pos[np.setdiff1d(bundle_all, [hinge[0] - 1, hinge[-1] + 1])], rng)
        bundle_all = np.flatnonzero(segment != "tmd")  # the linker arcs below keep clear of the hinge too
        bundle_all = bundle_all[structure[bundle_all] == "helix"].tolist() + hinge.tolist()
        bundle_all = np.array(sorted(bundle_all))
    for chain in ANCHORED_CHAINS:
        idx = np.flatnonzero(chain_ids == chain)
        bundle = idx[(segment[idx] != "tmd") & (structure[idx] == "helix")]
        coil = idx[(structure[idx] == "coil") & (idx > bundle[-1])]  # the linker (a hinge is placed above)
        tmd = idx[segment[idx] == "tmd"]
        p0 = pos[bundle[-1]]
        radial = np.array([p0[0], p0[1], 0.0])
        radial /= np.linalg.norm(radial)
        up = np.array([0.0, 0.0, 1.0])
        n = coil.size
        span = coil_extension * (n + 1) * COIL_BOND_NM if n else ideal_helix_distance(1)
        p1 = p0 + span * up
        pos[tmd] = _straight_helix(tmd.size, p1, up, radial)
        others = pos[np.setdiff1d(bundle_all, [bundle[-1]])]
        pos[coil] = _clear_arc(p0, p1, n, radial, others, rng)
    return SnareComplex(residues=tuple(table), positions=pos, zipped_layers=(lo, hi), linker_unzipped=unzipped)


def place_complex_between(
    complex: SnareComplex,
    membrane_a_midplane_z: float,
    membrane_b_midplane_z: float,
    xy: Sequence[float] | np.ndarray,
    angle: float,
    *,
    head_offset_nm: float = 1.95,
    clearance_nm: float = 0.75,
    max_extension: float = 0.9,
    seed: int | None = None,
) -> SnareComplex:
    """Place a complex as a trans-SNAREpin bridging two parallel membranes (normal z).

    Geometry: the coiled coil lies parallel to the membranes in the cleft, its membrane-proximal
    (C-terminal, layer +8) end at lateral position ``xy`` and its N-terminus pointing along
    ``(cos angle, sin angle)``. It is rolled about its axis so that the last helical VAMP2 residue
    faces membrane A and the last helical syntaxin residue faces membrane B. Its height is chosen so
    that both unzipped linkers are stretched to the same fraction x/L of their contour, within the
    window that keeps every bundle bead ``clearance_nm`` away from both proximal head surfaces (at
    ``head_offset_nm`` from each midplane). Each TMD is a straight alpha-helix along the membrane
    normal, centred on its membrane's midplane (VAMP2 95-116 spans +/-1.58 nm, syntaxin 266-288
    +/-1.65 nm: the hydrophobic core), directly below/above the last helical residue of its chain;
    each unzipped linker is a circular arc of equal 0.365 nm chords between them, bulging away from
    the bundle, turned about its chord (in 15 degree steps up to +/-90) to keep furthest from the
    other beads. Build then energy-minimise: bead pairs may start slightly inside the WCA range.

    Parameters
    ----------
    complex : SnareComplex
        From :func:`build_snare_complex`; both linkers need at least one unzipped residue.
    membrane_a_midplane_z, membrane_b_midplane_z : float
        Midplane heights, nm, of the membrane VAMP2 crosses (the vesicle) and of the one syntaxin
        crosses (the plasma membrane). Either may be the upper one.
    xy : (float, float)
        Lateral position of the bundle's membrane-proximal end, nm.
    angle : float
        Direction of the bundle's N-terminus in the membrane plane, radians from +x.
    head_offset_nm, clearance_nm : float
        Head-group surface distance from each midplane, and minimum bead clearance from it.
    max_extension : float
        Largest accepted x/L of a linker coil.
    seed : int or None
        Random jitter (+/-15 degrees) of the coil arc planes; None: none.

    Returns
    -------
    SnareComplex
        Same residues, new positions.

    Raises
    ------
    BuildError
        If the cleft is too narrow for the bundle or too wide for the linkers.
    """
    n_v, n_s = complex.linker_unzipped
    if n_v < 1 or n_s < 1:
        raise BuildError(f"linker_unzipped: {complex.linker_unzipped}; bridging two membranes needs >= 1 unzipped residue per linker")
    z_a, z_b = float(membrane_a_midplane_z), float(membrane_b_midplane_z)
    sep = abs(z_b - z_a)
    flip = z_b < z_a
    helical = complex.bundle_indices()
    end = {c: helical[complex.chain_ids[helical] == c][-1] for c in ANCHORED_CHAINS}
    # the linker coils run from the last helical residue to the TMD; everything before them (the bundle, and a
    # half-zipped build's open VAMP2 helix with its hinge) moves as one rigid body
    linker = {c: np.flatnonzero((complex.chain_ids == c) & (complex.structure == "coil")
                                & (np.arange(complex.n_residues) > end[c])) for c in ANCHORED_CHAINS}
    bundle = np.setdiff1d(np.flatnonzero(complex.segments != "tmd"), np.concatenate(list(linker.values())))

    # rotation: local +z (N->C) -> -x; direction VAMP2 end -> syntaxin end (in local xy) -> +z, both ends taken
    # at their groove positions (an open VAMP2 helix out of the groove does not roll the bundle)
    local = complex.positions
    groove = {c: _coiled_coil(c, complex.resids[[end[c]]])[0] for c in ANCHORED_CHAINS}
    w = groove["B"] - groove["A"]
    w[2] = 0.0
    w /= np.linalg.norm(w)
    ez = np.array([0.0, 0.0, 1.0])
    basis_local = np.stack([w, np.cross(ez, w), ez], axis=1)
    basis_canon = np.stack([ez, np.array([0.0, 1.0, 0.0]), np.array([-1.0, 0.0, 0.0])], axis=1)
    rot = basis_canon @ basis_local.T
    pb = local[bundle] @ rot.T
    ends = {c: local[end[c]] @ rot.T for c in ANCHORED_CHAINS}
    shift = -0.5 * (ends["A"] + ends["B"])
    shift[2] = 0.0
    pb += shift
    ends = {c: v + shift for c, v in ends.items()}
    # pb, ends now with bundle axis at height 0; membrane A at 0, B at sep (canonical frame), axis height h
    zmin, zmax = float(pb[:, 2].min()), float(pb[:, 2].max())
    h_lo = head_offset_nm + clearance_nm - zmin
    h_hi = sep - head_offset_nm - clearance_nm - zmax
    if h_lo > h_hi:
        need = 2 * (head_offset_nm + clearance_nm) + zmax - zmin
        raise BuildError(
            f"membrane midplanes {sep:.2f} nm apart: too close for a SNARE bundle lying in the cleft "
            f"(needs >= {need:.2f} nm with head_offset_nm={head_offset_nm}, clearance_nm={clearance_nm})"
        )
    tmd = {c: complex.select(chain_id=c, segment="tmd") for c in ANCHORED_CHAINS}
    half = {c: 0.5 * (tmd[c].size - 1) * RISE_NM for c in ANCHORED_CHAINS}
    top_a = half["A"]  # first VAMP2 TMD residue, on the cleft side of membrane A
    bot_b = sep - half["B"]  # first syntaxin TMD residue, on the cleft side of membrane B
    l_v, l_s = (n_v + 1) * COIL_BOND_NM, (n_s + 1) * COIL_BOND_NM
    # equal extension: (h + zA_end - top_a)/l_v = (bot_b - h - zB_end)/l_s
    za, zb = ends["A"][2], ends["B"][2]
    h = ((bot_b - zb) / l_s + (top_a - za) / l_v) / (1.0 / l_v + 1.0 / l_s)
    h = min(max(h, h_lo), h_hi)
    ext = {"A": (h + za - top_a) / l_v, "B": (bot_b - h - zb) / l_s}
    for c, e in ext.items():
        if e > max_extension or e <= 0:
            name = "VAMP2" if c == "A" else "syntaxin"
            raise BuildError(
                f"membrane midplanes {sep:.2f} nm apart: the {name} linker would be at x/L = {e:.2f}; accepted "
                f"0 < x/L <= max_extension={max_extension}; change the separation or linker_unzipped={complex.linker_unzipped}"
            )
    rng = np.random.default_rng(seed) if seed is not None else None
    pos = np.empty_like(local)
    pos[bundle] = pb + np.array([0.0, 0.0, h])
    ex = np.array([1.0, 0.0, 0.0])
    placed = list(bundle)
    coils = {}
    for c, (z_tmd, direction) in {"A": (top_a, -ez), "B": (bot_b, ez)}.items():
        p1 = np.array([pos[end[c]][0], pos[end[c]][1], z_tmd])
        pos[tmd[c]] = _straight_helix(tmd[c].size, p1, direction, -ex)
        placed.extend(tmd[c])
        coils[c] = linker[c]
    for c, coil in coils.items():
        # arc bulging away from the bundle (-x), turned about the chord to keep clear of other beads
        others = pos[np.setdiff1d(np.array(placed), [end[c], tmd[c][0]])]
        pos[coil] = _clear_arc(pos[end[c]], pos[tmd[c][0]], coil.size, -ex, others, rng)
        placed.extend(coil)
    # canonical -> lab: A at z=0, B at z=sep above. Flip by a rotation (not a mirror) if B is below A.
    if flip:
        pos = pos * np.array([1.0, -1.0, -1.0])
    ca, sa = math.cos(angle), math.sin(angle)
    rz = np.array([[ca, -sa, 0.0], [sa, ca, 0.0], [0.0, 0.0, 1.0]])
    pos = pos @ rz.T + np.array([float(xy[0]), float(xy[1]), z_a])
    return complex.with_positions(pos)


def clamped_native_contacts(complex: SnareComplex, clamp_layers: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Native contacts of a complex with a clamp: its own, plus those of the clamped layers even where it is
    built unzipped there.

    A clamp holds layers that the complex can zip once released, so their contacts exist whether the complex is
    built with them zipped (fully zipped geometry, contacts scaled off) or open (``zipped_layers`` stopping short
    of them, e.g. VAMP2's C-terminal half built as coil). The pairs and native distances are those of the fully
    zipped bundle (:meth:`SnareComplex.native_contacts` of a complex zipped over every layer; the residue table
    does not depend on the zipped range, so its indices are this complex's). A pair is kept when each of its
    residues is zipped in ``complex`` or lies in the clamped layers.

    Returns
    -------
    pairs : ndarray (M, 2) int64, r0 : ndarray (M,) float64 (nm)
    clamped : ndarray (M,) bool
        Pairs of a VAMP2 residue in the clamped layers (they go into the clamped force). The t-SNARE contacts
        of those layers stay on: VAMP2 zips onto a t-SNARE complex that is already formed (Gao et al., Science
        337, 1340, 2012), and complexin holds VAMP2's C-terminal half off it (Giraudo et al., Science 313, 676,
        2006; Kümmel et al., Nat. Struct. Mol. Biol. 18, 927, 2011).

    Examples
    --------
    >>> half = build_snare_complex((-7, 0), (36, 11))
    >>> p, r0, held = clamped_native_contacts(half, (1, 8))
    >>> len(p), int(held.sum()), len(half.native_contacts()[0])
    (275, 61, 149)
    """
    lo, hi = int(clamp_layers[0]), int(clamp_layers[1])
    full = build_snare_complex((LAYER_MIN, LAYER_MAX))
    pairs, r0 = full.native_contacts()
    layers = complex.layers
    carries = complex.zipped | ((layers >= lo) & (layers <= hi) & (complex.segments != "tmd"))
    keep = carries[pairs].all(axis=1)
    pairs, r0 = pairs[keep], r0[keep]
    vamp2 = (complex.chain_ids == "A") & (layers >= lo) & (layers <= hi)
    return pairs, r0, vamp2[pairs].any(axis=1)
