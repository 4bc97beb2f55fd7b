"""Tiny membrane systems with known answers, for tests, examples and benchmarks.

Pattern of lipyphilic ``_simple_systems`` and openmmtools ``testsystems``: each function returns an
``mdtraj.Trajectory`` whose topology follows the builder's conventions (one residue per lipid named
``CKL`` with atoms ``H, T1, T2`` (or ``T3``), bonds along the chain, elements virtual, one chain per
membrane; markers are ``GAS`` residues in a last chain, as the builder writes a lumen's gas). Lipids sit on a square lattice (planar
leaflets; the lower leaflet offset by half a cell, as in a fluid bilayer) or on a Fibonacci sphere
(vesicles) at area per lipid 1.2 sigma^2, head-head thickness 4.4 sigma (sigma = 0.88 nm; Cooke, Kremer &
Deserno 2005), straight lipids along the local normal, with seeded Gaussian jitter of every bead.
``shift`` translates everything and wraps it into the box, so any membrane can be split by the periodic
boundary. Frames are ``dt_ps`` apart, each with fresh jitter.

All lengths in nm. Known answers are the construction parameters (``gap``, ``radius``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mdtraj
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..lumen import GAS_ATOM_NAME, GAS_RESNAME
from .kernels import SIGMA_NM

#: Area per lipid of the fluid Cooke bilayer, nm^2 (1.2 sigma^2).
AREA_PER_LIPID = 1.2 * SIGMA_NM**2
#: Head-head thickness, nm (4.4 sigma).
THICKNESS = 4.4 * SIGMA_NM
#: Lattice spacing of a leaflet, nm.
SPACING = float(np.sqrt(AREA_PER_LIPID))
#: Gap kept between the tail ends of the two leaflets, nm (0.2 sigma from the midplane each).
_TAIL_END = 0.2 * SIGMA_NM

F = NDArray[np.float64]


@dataclass
class _Chain:
    heads: list[F] = field(default_factory=list)  # (n, 3) blocks
    dirs: list[F] = field(default_factory=list)  # head -> tail unit vectors

    def add(self, heads: ArrayLike, dirs: ArrayLike) -> None:
        h = np.asarray(heads, dtype=np.float64).reshape(-1, 3)
        if len(h):
            self.heads.append(h)
            self.dirs.append(np.broadcast_to(np.asarray(dirs, dtype=np.float64), (len(h), 3)).copy())

    def arrays(self) -> tuple[F, F]:
        if not self.heads:
            return np.zeros((0, 3)), np.zeros((0, 3))
        return np.concatenate(self.heads), np.concatenate(self.dirs)


class _Builder:
    def __init__(self, box: F, n_tail: int = 2, thickness: float = THICKNESS):
        self.box = np.asarray(box, float)
        self.n_tail = n_tail
        self.thickness = thickness
        self.bond = (thickness / 2 - _TAIL_END) / n_tail
        self.chains: list[_Chain] = []
        self.markers: list[F] = []  # per frame: (n_markers, 3)

    def chain(self, m: int) -> _Chain:
        while len(self.chains) <= m:
            self.chains.append(_Chain())
        return self.chains[m]

    # geometry pieces ---------------------------------------------------------------------
    def leaflet(self, m: int, z_head: float, up: bool, offset: float = 0.0, keep=None) -> None:  # type: ignore[no-untyped-def]
        """A planar leaflet at height ``z_head``; ``up``: heads above the tails."""
        nx = max(1, int(round(self.box[0] / SPACING)))
        ny = max(1, int(round(self.box[1] / SPACING)))
        x = (np.arange(nx) + 0.5 + offset) * self.box[0] / nx
        y = (np.arange(ny) + 0.5 + offset) * self.box[1] / ny
        X, Y = np.meshgrid(x, y, indexing="ij")
        h = np.column_stack([X.ravel(), Y.ravel(), np.full(X.size, z_head)])
        if keep is not None:
            h = h[keep(h)]
        self.chain(m).add(h, (0.0, 0.0, -1.0 if up else 1.0))

    def bilayer(self, m: int, z_mid: float, keep_upper=None, keep_lower=None) -> None:  # type: ignore[no-untyped-def]
        self.leaflet(m, z_mid + self.thickness / 2, True, 0.0, keep_upper)
        self.leaflet(m, z_mid - self.thickness / 2, False, 0.5, keep_lower)

    def sphere(self, m: int, center: F, r_head: float, outward: bool, rotation: float = 0.0) -> None:
        n = max(4, int(round(4 * np.pi * r_head**2 / AREA_PER_LIPID)))
        i = np.arange(n) + 0.5
        zc = 1 - 2 * i / n
        phi = i * np.pi * (3 - np.sqrt(5)) + rotation
        rr = np.sqrt(1 - zc**2)
        u = np.column_stack([rr * np.cos(phi), rr * np.sin(phi), zc])
        self.chain(m).add(np.asarray(center) + r_head * u, -u if outward else u)

    def ring(self, m: int, center_xy: F, z: float, r_head: float, inward: bool, phase: float = 0.0,
             tilt_z: float = 0.0) -> None:
        """Lipids with heads on a horizontal circle; tails radial (towards the axis if ``inward``), the lipid
        axis (tail -> head) tilted by adding ``tilt_z`` along z before normalising."""
        n = max(3, int(round(2 * np.pi * r_head / SPACING)))
        phi = 2 * np.pi * (np.arange(n) + phase) / n
        u = np.column_stack([np.cos(phi), np.sin(phi), np.zeros(n)])
        h = np.column_stack([center_xy[0] + r_head * u[:, 0], center_xy[1] + r_head * u[:, 1], np.full(n, z)])
        axis = (u if inward else -u) + np.array([0.0, 0.0, tilt_z])
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        self.chain(m).add(h, -axis)

    # output --------------------------------------------------------------------------------
    def build(self, n_frames: int, jitter: float, seed: int, shift: F, dt_ps: float,
              markers: list[F] | None = None) -> mdtraj.Trajectory:
        top = mdtraj.Topology()
        blocks = []
        for ch in self.chains:
            c = top.add_chain()
            heads, dirs = ch.arrays()
            for _ in range(len(heads)):
                r = top.add_residue("CKL", c)
                prev = top.add_atom("H", mdtraj.element.virtual, r)
                for k in range(self.n_tail):
                    a = top.add_atom(f"T{k + 1}", mdtraj.element.virtual, r)
                    top.add_bond(prev, a)
                    prev = a
            steps = np.arange(self.n_tail + 1)[None, :, None] * self.bond
            blocks.append((heads[:, None, :] + steps * dirs[:, None, :]).reshape(-1, 3))
        n_mark = len(markers[0]) if markers else 0
        if n_mark:
            c = top.add_chain()
            for _ in range(n_mark):
                top.add_atom(GAS_ATOM_NAME, mdtraj.element.virtual, top.add_residue(GAS_RESNAME, c))
        base = np.concatenate(blocks) if blocks else np.zeros((0, 3))
        rng = np.random.default_rng(seed)
        xyz = np.empty((n_frames, top.n_atoms, 3), dtype=np.float32)
        for f in range(n_frames):
            pos = base + rng.normal(0.0, jitter, base.shape) if jitter > 0 else base.copy()
            if n_mark:
                assert markers is not None
                pos = np.concatenate([pos, markers[min(f, len(markers) - 1)]])
            xyz[f] = np.mod(pos + shift, self.box)
        return mdtraj.Trajectory(xyz, top, time=np.arange(n_frames) * dt_ps,
                                 unitcell_lengths=np.tile(self.box.astype(np.float32), (n_frames, 1)),
                                 unitcell_angles=np.full((n_frames, 3), 90.0, dtype=np.float32))


def _box_xy(n_side: int) -> float:
    return n_side * SPACING


def _common(n_frames: int, jitter: float, seed: int, shift: tuple[float, float, float], dt_ps: float):  # type: ignore[no-untyped-def]
    return dict(n_frames=n_frames, jitter=jitter, seed=seed, shift=np.asarray(shift, float), dt_ps=dt_ps)


def bilayer(n_side: int = 16, *, box_z: float = 12.0, n_tail: int = 2, hole_radius: float = 0.0,
            jitter: float = 0.05, n_frames: int = 1, seed: int = 0, shift: tuple[float, float, float] = (0, 0, 0),
            dt_ps: float = 10.0) -> mdtraj.Trajectory:
    """One flat bilayer (chain 0), midplane at ``box_z / 2``, ``n_side^2`` lipids per leaflet.

    With ``hole_radius > 0`` the lipids within that lateral distance of the box-centre axis are replaced
    by a ring of lipids on the rim in each leaflet, so the bead-free hole has radius ``hole_radius``.
    """
    L = _box_xy(n_side)
    b = _Builder(np.array([L, L, box_z]), n_tail)
    c = np.array([L / 2, L / 2])
    if hole_radius > 0:
        def keep(h: F) -> NDArray[np.bool_]:
            return np.hypot(h[:, 0] - c[0], h[:, 1] - c[1]) >= hole_radius + 0.5 * SPACING
        b.bilayer(0, box_z / 2, keep, keep)
        b.ring(0, c, box_z / 2 + THICKNESS / 2, hole_radius, inward=False)
        b.ring(0, c, box_z / 2 - THICKNESS / 2, hole_radius, inward=False, phase=0.5)
        # rim lipids keep their tails vertical, along the leaflet
        ch = b.chain(0)
        ch.dirs[-1][:] = (0, 0, 1)
        ch.dirs[-2][:] = (0, 0, -1)
    else:
        b.bilayer(0, box_z / 2)
    return b.build(**_common(n_frames, jitter, seed, shift, dt_ps))


def bilayer_with_hole(radius: float = 3.0, n_side: int = 20, **kwargs) -> mdtraj.Trajectory:  # type: ignore[no-untyped-def]
    """A bilayer with a cylindrical hole of bead-free radius ``radius`` around the box-centre axis."""
    return bilayer(n_side, hole_radius=radius, **kwargs)


def _stack(b: _Builder, gap: float, zc: float) -> tuple[float, float]:
    """Mid-planes of the lower (A, chain 0) and upper (B, chain 1) bilayers for a head-head ``gap``."""
    return zc - gap / 2 - b.thickness / 2, zc + gap / 2 + b.thickness / 2


def _connected_pair(gap: float, n_side: int, n_tail: int) -> tuple[_Builder, F, float, float, float]:
    """Builder, contact axis ``(x, y)``, box centre ``zc`` and the two bilayer mid-planes for the systems
    whose membranes are joined on the axis (stalk, diaphragm, pore): default box height, head-head ``gap``."""
    L = _box_xy(n_side)
    bz = 2 * THICKNESS + gap + 6.0 + 2 * SIGMA_NM
    b = _Builder(np.array([L, L, bz]), n_tail)
    zc = bz / 2
    za, zb = _stack(b, gap, zc)
    return b, np.array([L / 2, L / 2]), zc, za, zb


def two_bilayers(gap: float = 2.0, n_side: int = 16, *, box_z: float | None = None, n_tail: int = 2,
                 jitter: float = 0.05, n_frames: int = 1, seed: int = 0,
                 shift: tuple[float, float, float] = (0, 0, 0), dt_ps: float = 10.0) -> mdtraj.Trajectory:
    """Two flat bilayers stacked along z (chains 0 below, 1 above) whose facing head surfaces are ``gap``
    apart, centred on ``box_z / 2`` (default box height: both bilayers plus 6 nm)."""
    L = _box_xy(n_side)
    bz = box_z if box_z is not None else 2 * THICKNESS + gap + 6.0 + 2 * SIGMA_NM
    b = _Builder(np.array([L, L, bz]), n_tail)
    za, zb = _stack(b, gap, bz / 2)
    b.bilayer(0, za)
    b.bilayer(1, zb)
    return b.build(**_common(n_frames, jitter, seed, shift, dt_ps))


def _n_levels(height: float) -> int:
    return max(2, int(np.ceil(height / (0.75 * SPACING))) + 1)


def stalk(gap: float = 2.0, radius: float = 2.5, n_side: int = 16, *, n_tail: int = 2, jitter: float = 0.05,
          n_frames: int = 1, seed: int = 0, shift: tuple[float, float, float] = (0, 0, 0),
          dt_ps: float = 10.0) -> mdtraj.Trajectory:
    """Two bilayers ``gap`` apart joined by a stalk on the box-centre axis.

    The proximal leaflets are cut at lateral distance ``radius`` and joined by a neck: rings of lipids
    with heads on a cylinder of that radius across the gap and tails pointing to the axis (lower half
    from membrane 0, upper half from membrane 1; the lipid axis turns smoothly from one proximal leaflet's
    to the other's), so the two membranes' tails touch in the neck and the proximal leaflets form one
    monolayer, while the distal leaflets stay intact (no pore, no diaphragm).
    """
    b, c, zc, za, zb = _connected_pair(gap, n_side, n_tail)

    def outside(h: F) -> NDArray[np.bool_]:
        return np.hypot(h[:, 0] - c[0], h[:, 1] - c[1]) >= radius + 0.5 * SPACING

    b.bilayer(0, za, keep_upper=outside)
    b.bilayer(1, zb, keep_lower=outside)
    n = _n_levels(gap)
    n += n % 2  # even: no level on the mid-plane
    for j, z in enumerate(np.linspace(zc - gap / 2, zc + gap / 2, n)):
        # axis turns from +z (membrane 0's proximal leaflet) through radial (tails meet) to -z (membrane 1's)
        b.ring(0 if z < zc else 1, c, z, radius, inward=True, phase=0.5 * (j % 2), tilt_z=-(((z - zc) / (gap / 2)) ** 3))
    return b.build(**_common(n_frames, jitter, seed, shift, dt_ps))


def hemifusion_diaphragm(radius: float = 4.0, gap: float = 2.0, n_side: int = 24, *, n_tail: int = 2,
                         jitter: float = 0.05, n_frames: int = 1, seed: int = 0,
                         shift: tuple[float, float, float] = (0, 0, 0), dt_ps: float = 10.0) -> mdtraj.Trajectory:
    """Two bilayers ``gap`` apart that are hemifused within lateral distance ``radius`` of the axis.

    Inside the disc the proximal leaflets are gone and the two distal leaflets (lower one from membrane 0,
    upper one from membrane 1) form a single bilayer centred between the membranes (the diaphragm);
    outside it the two bilayers are intact. The rim is idealised as a step.
    """
    b, c, zc, za, zb = _connected_pair(gap, n_side, n_tail)
    t = b.thickness

    def out(h: F) -> NDArray[np.bool_]:
        return np.hypot(h[:, 0] - c[0], h[:, 1] - c[1]) >= radius

    def inside(h: F) -> NDArray[np.bool_]:
        return ~out(h)

    b.leaflet(0, za - t / 2, False, 0.5, out)
    b.leaflet(0, za + t / 2, True, 0.0, out)
    b.leaflet(1, zb - t / 2, False, 0.5, out)
    b.leaflet(1, zb + t / 2, True, 0.0, out)
    b.leaflet(0, zc - t / 2, False, 0.5, inside)
    b.leaflet(1, zc + t / 2, True, 0.0, inside)
    return b.build(**_common(n_frames, jitter, seed, shift, dt_ps))


def fusion_pore(radius: float = 3.0, gap: float = 2.0, n_side: int = 24, *, n_tail: int = 2, jitter: float = 0.05,
                n_frames: int = 1, seed: int = 0, shift: tuple[float, float, float] = (0, 0, 0),
                dt_ps: float = 10.0) -> mdtraj.Trajectory:
    """Two bilayers ``gap`` apart fused by a cylindrical pore of bead-free radius ``radius`` on the axis.

    Lipids within ``radius + thickness`` of the axis are removed; the pore is lined by rings of lipids with
    heads at ``radius`` over the full height (the joined distal leaflets) and closed outside by rings with
    heads at ``radius + thickness`` across the gap (the joined proximal leaflets), tails radial.
    """
    b, c, zc, za, zb = _connected_pair(gap, n_side, n_tail)
    t = b.thickness

    def out(h: F) -> NDArray[np.bool_]:
        return np.hypot(h[:, 0] - c[0], h[:, 1] - c[1]) >= radius + t + 0.5 * SPACING

    b.bilayer(0, za, out, out)
    b.bilayer(1, zb, out, out)
    lo, hi = zc - gap / 2 - t, zc + gap / 2 + t
    for j, z in enumerate(np.linspace(lo, hi, _n_levels(hi - lo) + 1)):
        # lining: axis turns from -z (membrane 0's distal leaflet) to +z (membrane 1's)
        b.ring(0 if z < zc else 1, c, z, radius, inward=False, phase=0.5 * (j % 2), tilt_z=((z - zc) / (hi - zc)) ** 3)
    # the distal leaflets reach the lining through annuli of upright lipids
    r = radius + SPACING
    while r < radius + t + 0.5 * SPACING:
        for m, z, up in ((0, lo, False), (1, hi, True)):
            b.ring(m, c, z, r, inward=False)
            b.chain(m).dirs[-1][:] = (0.0, 0.0, -1.0 if up else 1.0)
        r += SPACING
    n = _n_levels(gap)
    n += n % 2
    for j, z in enumerate(np.linspace(zc - gap / 2, zc + gap / 2, n)):
        b.ring(0 if z < zc else 1, c, z, radius + t, inward=True, phase=0.5 * (j % 2), tilt_z=-(((z - zc) / (gap / 2)) ** 3))
    return b.build(**_common(n_frames, jitter, seed, shift, dt_ps))


def vesicle(radius: float = 8.0, *, box: float | None = None, n_tail: int = 2, n_markers: int = 0,
            jitter: float = 0.05, n_frames: int = 1, seed: int = 0, shift: tuple[float, float, float] = (0, 0, 0),
            dt_ps: float = 10.0) -> mdtraj.Trajectory:
    """A vesicle of midplane radius ``radius`` at the box centre (outer heads at ``radius + 2.2 sigma``,
    inner heads at ``radius - 2.2 sigma``), optionally with ``n_markers`` content markers inside."""
    bl = box if box is not None else 2 * radius + THICKNESS + 8.0
    b = _Builder(np.full(3, bl), n_tail)
    c = np.full(3, bl / 2)
    b.sphere(0, c, radius + THICKNESS / 2, outward=True)
    b.sphere(0, c, radius - THICKNESS / 2, outward=False, rotation=1.0)
    markers = None
    if n_markers:
        markers = [c + _ball(np.random.default_rng(seed + 1), n_markers, radius - THICKNESS / 2 - SIGMA_NM)]
    return b.build(**_common(n_frames, jitter, seed, shift, dt_ps), markers=markers)


def _ball(rng: np.random.Generator, n: int, r: float) -> F:
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d * r * rng.random((n, 1)) ** (1 / 3)


def vesicle_on_bilayer(radius: float = 8.0, gap: float = 2.0, n_side: int = 28, *, n_tail: int = 2,
                       n_markers: int = 0, crossed_markers: int = 0, jitter: float = 0.05, n_frames: int = 1,
                       seed: int = 0, shift: tuple[float, float, float] = (0, 0, 0),
                       dt_ps: float = 10.0) -> mdtraj.Trajectory:
    """A planar bilayer (chain 0) and a vesicle above it (chain 1) whose facing head surfaces are ``gap``
    apart on the axis through the vesicle centre (the box-centre axis).

    With markers, all ``n_markers`` are inside the vesicle on frame 0; on later frames the first
    ``crossed_markers`` of them sit below the bilayer (content released across it).
    """
    L = _box_xy(n_side)
    t = THICKNESS
    r_out = radius + t / 2
    z_plane = t / 2 + 3.0
    zv = z_plane + t / 2 + gap + r_out
    bz = zv + r_out + 4.0
    b = _Builder(np.array([L, L, bz]), n_tail)
    c = np.array([L / 2, L / 2, zv])
    b.bilayer(0, z_plane)
    b.sphere(1, c, r_out, outward=True)
    b.sphere(1, c, radius - t / 2, outward=False, rotation=1.0)
    markers = None
    if n_markers:
        inside = c + _ball(np.random.default_rng(seed + 1), n_markers, radius - t / 2 - SIGMA_NM)
        later = inside.copy()
        later[:crossed_markers, 2] = z_plane - t / 2 - 1.0
        markers = [inside, later]
    return b.build(**_common(n_frames, jitter, seed, shift, dt_ps), markers=markers)


def two_vesicles(radius: float = 6.0, gap: float = 2.0, *, direction: tuple[float, float, float] = (1, 1, 0),
                 n_tail: int = 2, jitter: float = 0.05, n_frames: int = 1, seed: int = 0,
                 shift: tuple[float, float, float] = (0, 0, 0), dt_ps: float = 10.0) -> mdtraj.Trajectory:
    """Two equal vesicles (chains 0 and 1) whose outer head surfaces are ``gap`` apart along ``direction``."""
    t = THICKNESS
    r_out = radius + t / 2
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    sep = 2 * r_out + gap
    span = np.abs(d) * sep + 2 * r_out + 6.0
    box = np.full(3, float(span.max()))
    mid = box / 2
    b = _Builder(box, n_tail)
    for m, sgn in ((0, -1), (1, 1)):
        c = mid + sgn * d * sep / 2
        b.sphere(m, c, r_out, outward=True)
        b.sphere(m, c, radius - t / 2, outward=False, rotation=1.0)
    return b.build(**_common(n_frames, jitter, seed, shift, dt_ps))


# ---------------------------------------------------------------------------------------------
# a synthetic fusion path: the stages above as one multi-frame trajectory
# ---------------------------------------------------------------------------------------------
#: Frames of :func:`fusion_path`: (known state, known gap (nm) where the proximal heads face each other,
#: stalk neck radius, diaphragm radius, pore radius), one tuple per frame. A single stalk frame at
#: frame 6 is a flicker (shorter than the default ``persist`` of 3 frames).
FUSION_PATH_FRAMES: tuple[tuple[str, float, float, float, float], ...] = (
    ("docked", 4.0, 0, 0, 0), ("docked", 3.5, 0, 0, 0), ("docked", 3.0, 0, 0, 0), ("docked", 2.5, 0, 0, 0),
    ("docked", 2.0, 0, 0, 0), ("docked", 2.0, 0, 0, 0),
    ("stalk", 2.0, 2.0, 0, 0),  # flicker
    ("docked", 2.0, 0, 0, 0), ("docked", 2.0, 0, 0, 0),
    ("stalk", 2.0, 2.0, 0, 0), ("stalk", 2.0, 2.0, 0, 0), ("stalk", 2.0, 2.5, 0, 0), ("stalk", 2.0, 2.5, 0, 0),
    ("hemifused", 2.0, 0, 2.5, 0), ("hemifused", 2.0, 0, 3.0, 0), ("hemifused", 2.0, 0, 3.5, 0),
    ("hemifused", 2.0, 0, 4.0, 0),
    ("pore", 2.0, 0, 0, 1.5), ("pore", 2.0, 0, 0, 2.0), ("pore", 2.0, 0, 0, 2.5),
    ("expanded_pore", 2.0, 0, 0, 3.5), ("expanded_pore", 2.0, 0, 0, 4.0), ("expanded_pore", 2.0, 0, 0, 4.0),
)
#: Default time between frames of :func:`fusion_path`, ps: 5 tau (500 steps of 0.01 tau, tau = 9.09 ps),
#: the frame interval of the quickstart run.
FUSION_PATH_DT_PS = 45.45


def _fusion_stage(state: str, gap: float, stalk_r: float, dia_r: float, pore_r: float, n_side: int, box_z: float,
                  jitter: float, seed: int) -> mdtraj.Trajectory:
    kw = {"n_side": n_side, "jitter": jitter, "seed": seed}
    if state == "docked":
        return two_bilayers(gap, box_z=box_z, **kw)  # type: ignore[arg-type]
    if state == "stalk":
        return stalk(gap, stalk_r, **kw)  # type: ignore[arg-type]
    if state == "hemifused":
        return hemifusion_diaphragm(dia_r, gap, **kw)  # type: ignore[arg-type]
    return fusion_pore(pore_r, gap, **kw)  # type: ignore[arg-type]


def fusion_path(n_side: int = 24, *, jitter: float = 0.05, seed: int = 0, dt_ps: float = FUSION_PATH_DT_PS,
                shift: tuple[float, float, float] = (0, 0, 0)) -> mdtraj.Trajectory:
    """A synthetic two-bilayer fusion trajectory with known answers: docked -> stalk -> hemifused -> pore
    -> expanded pore, one frame per entry of :data:`FUSION_PATH_FRAMES` (see :func:`fusion_path_answers`).

    Every frame is one of the systems above (:func:`two_bilayers`, :func:`stalk`,
    :func:`hemifusion_diaphragm`, :func:`fusion_pore`) in the same box, with fresh jitter. Those hold
    slightly different numbers of lipids, and a trajectory needs one topology, so each frame keeps the
    smallest count of each membrane: the surplus lipids are removed at random from the membrane's
    *distal* leaflet, more than 9 nm laterally from the contact axis. There the facing (proximal)
    leaflets of both membranes stay complete, so the removal opens no column through the membranes and
    changes neither the gap nor the contact zone; it does thin the distal leaflets far from the axis by
    a few per cent (area per lipid and leaflet sizes of this trajectory are not known answers). Lipids
    are not the same molecules from frame to frame: do not track lipid identity over time here.

    Examples
    --------
    >>> t = fusion_path()
    >>> t.n_frames == len(FUSION_PATH_FRAMES)
    True
    """
    box_z = 2 * THICKNESS + 2.0 + 6.0 + 2 * SIGMA_NM  # the box of the gap = 2 nm stages
    rng = np.random.default_rng(seed)
    stages = [_fusion_stage(*f, n_side=n_side, box_z=box_z, jitter=jitter, seed=seed + i)
              for i, f in enumerate(FUSION_PATH_FRAMES)]
    memb = [np.array([a.residue.chain.index for a in s.topology.atoms]) for s in stages]
    n_keep = [min(len({a.residue.index for a in s.topology.atoms if a.residue.chain.index == m}) for s in stages)
              for m in (0, 1)]
    xyz = []
    top = None
    for s, chain in zip(stages, memb):
        pos = s.xyz[0].astype(np.float64)
        keep_atoms: list[int] = []
        for m in (0, 1):
            res = np.array(sorted({a.residue.index for a in s.topology.atoms if a.residue.chain.index == m}))
            first = np.array([next(iter(s.topology.residue(r).atoms)).index for r in res])
            head, last = pos[first], pos[first + 2]
            r_lat = np.hypot(head[:, 0] - s.unitcell_lengths[0, 0] / 2, head[:, 1] - s.unitcell_lengths[0, 1] / 2)
            distal = (head[:, 2] < last[:, 2]) if m == 0 else (head[:, 2] > last[:, 2])
            pool = np.flatnonzero(distal & (r_lat > 9.0))
            surplus = len(res) - n_keep[m]
            if surplus > len(pool):
                raise ValueError(f"n_side: {n_side} is too small for the fusion path; accepted n_side >= 24")
            drop = set(rng.choice(pool, size=surplus, replace=False).tolist())
            for k, r in enumerate(res):
                if k not in drop:
                    keep_atoms.extend(a.index for a in s.topology.residue(r).atoms)
        sl = s.atom_slice(np.array(keep_atoms))
        top = top or sl.topology
        xyz.append(sl.xyz[0])
    assert top is not None
    box = stages[0].unitcell_lengths[0].astype(np.float64)
    out = np.mod(np.stack(xyz).astype(np.float64) + np.asarray(shift, float), box).astype(np.float32)
    n = len(xyz)
    return mdtraj.Trajectory(out, top, time=np.arange(n) * dt_ps,
                             unitcell_lengths=np.tile(box.astype(np.float32), (n, 1)),
                             unitcell_angles=np.full((n, 3), 90.0, dtype=np.float32))


def fusion_path_answers(dt_ps: float = FUSION_PATH_DT_PS, persist: int = 3) -> dict[str, NDArray[np.generic]]:
    """Known answers of :func:`fusion_path`, per frame: ``time_ps``, ``state_name``, ``gap_nm`` (the gap
    between the facing head surfaces away from any connection), ``stalk_radius_nm``,
    ``diaphragm_radius_nm``, ``pore_radius_nm``; and ``first_passage_ps`` per state (NaN: never), by the
    flicker rule with ``persist`` frames (the one-frame stalk at frame 6 does not count)."""
    from .kernels import STATES

    n = len(FUSION_PATH_FRAMES)
    state = np.array([STATES.index(f[0]) for f in FUSION_PATH_FRAMES])
    fp = np.full(len(STATES), np.nan)
    for k in range(len(STATES)):
        for i in range(n - persist + 1):
            if np.all(state[i:i + persist] >= k):
                fp[k] = i * dt_ps
                break
    cols = list(zip(*FUSION_PATH_FRAMES))
    return {"time_ps": np.arange(n) * dt_ps, "state_name": np.array(cols[0]), "gap_nm": np.array(cols[1], float),
            "stalk_radius_nm": np.array(cols[2], float), "diaphragm_radius_nm": np.array(cols[3], float),
            "pore_radius_nm": np.array(cols[4], float),
            "first_passage_ps": dict(zip(STATES, fp))}  # type: ignore[dict-item]
