"""Solvent-free vesicle geometry: lipids on two concentric Fibonacci spheres, plus helpers.

Lipids are straight and radial. The outer leaflet's heads sit at ``radius + head_offset``, its tails
point inward; the inner leaflet's heads sit at ``radius - head_offset``, its tails point outward.
With the defaults (``head_offset`` = 2.2 sigma, half the 4.4 sigma head-head distance of a Cooke
bilayer, :data:`snarefuse.constants.HEAD_OFFSET_SIGMA`) the bond length is 2 head_offset / (2 n_beads - 1), which spaces all
bead shells of the bilayer equally (0.774 nm for 3 beads with sigma = 0.88 nm): no two beads start
closer than ~0.8 sigma. Each leaflet holds ``round(4 pi R_head^2 / area_per_lipid)`` lipids,
R_head being its head-shell radius.

Points come from the Fibonacci (golden-angle) lattice, rotated at random per leaflet (seeded) so
the two leaflets are not in register. A few ideal-gas beads inside keep a solvent-free vesicle
pressurised (Butu, An & O'Shaughnessy, Biophys. J. 2025); :func:`interior_gas_positions` places them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from ..constants import HEAD_OFFSET_SIGMA
from ..errors import BuildError
from ..units import DEFAULT_SIGMA_NM

__all__ = [
    "DEFAULT_HEAD_OFFSET_NM",
    "VesicleLipids",
    "fibonacci_sphere",
    "vesicle_lipid_positions",
    "remove_overlapping",
    "cut_hole",
    "interior_gas_positions",
]

#: Head shell distance from the bilayer midplane at the default sigma, nm; the builder passes the spec's
#: (:attr:`snarefuse.spec.ModelSpec.head_offset_nm`).
DEFAULT_HEAD_OFFSET_NM = HEAD_OFFSET_SIGMA * DEFAULT_SIGMA_NM
#: Leaflet labels.
OUTER, INNER = "outer", "inner"


@dataclass(frozen=True)
class VesicleLipids:
    """Bead coordinates of a vesicle's lipids.

    Attributes
    ----------
    positions : ndarray, shape (n_lipids, n_beads, 3), float64
        nm; bead 0 is the head, beads 1.. the tails from the head outward.
    leaflet : ndarray, shape (n_lipids,), str
        ``"outer"`` or ``"inner"``.
    center_nm : ndarray, shape (3,)
    radius_nm : float
        Midplane radius.
    outer_head_radius_nm, inner_head_radius_nm : float
    """

    positions: np.ndarray
    leaflet: np.ndarray
    center_nm: np.ndarray
    radius_nm: float
    outer_head_radius_nm: float
    inner_head_radius_nm: float

    @property
    def n_lipids(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_beads(self) -> int:
        return int(self.positions.shape[1])

    def flat_positions(self) -> np.ndarray:
        """(n_lipids * n_beads, 3) coordinates, lipid by lipid, head first."""
        return self.positions.reshape(-1, 3)

    def subset(self, keep: np.ndarray) -> VesicleLipids:
        """Only the lipids where ``keep`` (bool mask or index array over lipids) selects them."""
        return VesicleLipids(self.positions[keep], self.leaflet[keep], self.center_nm, self.radius_nm,
                             self.outer_head_radius_nm, self.inner_head_radius_nm)


def fibonacci_sphere(n: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """n near-uniform unit vectors (golden-angle lattice), shape (n, 3); randomly rotated if ``rng``.

    Examples
    --------
    >>> fibonacci_sphere(4).shape
    (4, 3)
    """
    k = np.arange(n, dtype=np.float64)
    z = 1.0 - (2.0 * k + 1.0) / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    phi = k * math.pi * (3.0 - math.sqrt(5.0))
    pts = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    if rng is not None:
        pts = Rotation.random(random_state=rng).apply(pts)
    return pts


def vesicle_lipid_positions(
    radius_nm: float,
    area_per_lipid_nm2: float,
    n_beads: int = 3,
    bond_nm: float | None = None,
    seed: int | None = None,
    *,
    head_offset_nm: float = DEFAULT_HEAD_OFFSET_NM,
    center_nm: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
) -> VesicleLipids:
    """Lipids of a spherical vesicle, outer leaflet first.

    Parameters
    ----------
    radius_nm : float
        Radius of the bilayer midplane, nm.
    area_per_lipid_nm2 : float
        Area per lipid at each leaflet's head shell, nm^2 (1.2 sigma^2 = 0.929 nm^2 is the Cooke
        tension-free value; a smaller area puts the vesicle under compression, larger under tension).
    n_beads : int
        Beads per lipid (3 for Cooke, 4 for the Butu et al. variant).
    bond_nm : float or None
        Distance between consecutive beads; None: ``2 head_offset / (2 n_beads - 1)`` (equal spacing
        of all bead shells across the bilayer).
    seed : int or None
        Seed for the random orientation of each leaflet's lattice (None: unrotated, deterministic).
    head_offset_nm : float
        Head shell distance from the midplane (2.2 sigma).
    center_nm : (3,) float
        Vesicle centre.

    Returns
    -------
    VesicleLipids

    Examples
    --------
    >>> v = vesicle_lipid_positions(10.0, 0.929, seed=1)
    >>> v.positions.shape[1:], sorted(set(v.leaflet.tolist()))
    ((3, 3), ['inner', 'outer'])
    """
    if n_beads < 2:
        raise BuildError(f"n_beads: got {n_beads}; accepted >= 2")
    if bond_nm is None:
        bond_nm = 2.0 * head_offset_nm / (2 * n_beads - 1)
    span = (n_beads - 1) * bond_nm
    r_out, r_in = radius_nm + head_offset_nm, radius_nm - head_offset_nm
    if r_in - span <= 0 or area_per_lipid_nm2 <= 0:
        raise BuildError(
            f"radius_nm={radius_nm}: the inner leaflet needs radius > head_offset + tail length = "
            f"{head_offset_nm + span:.2f} nm, and area_per_lipid_nm2 > 0"
        )
    if 2 * span >= 2 * head_offset_nm + 1e-9:
        raise BuildError(
            f"bond_nm={bond_nm}: the two leaflets' tails ({span:.2f} nm each) overlap within the "
            f"{2 * head_offset_nm:.2f} nm head-head distance; accepted bond_nm < {head_offset_nm / (n_beads - 1):.3f}"
        )
    rng = np.random.default_rng(seed) if seed is not None else None
    center = np.asarray(center_nm, dtype=np.float64).reshape(3)
    blocks, labels = [], []
    for r_head, sign, label in ((r_out, -1.0, OUTER), (r_in, 1.0, INNER)):
        n = int(round(4.0 * math.pi * r_head * r_head / area_per_lipid_nm2))
        u = fibonacci_sphere(n, rng)
        radii = r_head + sign * bond_nm * np.arange(n_beads)
        blocks.append(center + u[:, None, :] * radii[None, :, None])
        labels.append(np.full(n, label, dtype="U5"))
    return VesicleLipids(np.concatenate(blocks), np.concatenate(labels), center, float(radius_nm),
                         float(r_out), float(r_in))


def _as_lipids(positions: np.ndarray) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 2:
        pos = pos[:, None, :]
    if pos.ndim != 3 or pos.shape[-1] != 3:
        raise BuildError(f"positions: expected shape (n_lipids, n_beads, 3) or (n_lipids, 3), got {pos.shape}")
    return pos


def remove_overlapping(positions: np.ndarray, other_positions: np.ndarray, cutoff: float,
                       box: Sequence[float] | None = None) -> np.ndarray:
    """Which lipids to keep: those with no bead within ``cutoff`` of any of ``other_positions``.

    Parameters
    ----------
    positions : ndarray, shape (n_lipids, n_beads, 3) or (n_lipids, 3)
        Lipid beads, nm.
    other_positions : ndarray, shape (m, 3)
        Beads that win (protein, another membrane), nm.
    cutoff : float
        Minimum accepted distance, nm.
    box : (3,) float or None
        Orthorhombic periodic box lengths, nm (minimum image); None: no periodicity.

    Returns
    -------
    keep : ndarray, shape (n_lipids,), bool
    """
    pos = _as_lipids(positions)
    other = np.asarray(other_positions, dtype=np.float64).reshape(-1, 3)
    keep = np.ones(pos.shape[0], dtype=bool)
    if other.size == 0 or pos.size == 0:
        return keep
    flat = pos.reshape(-1, 3)
    if box is not None:
        L = np.asarray(box, dtype=np.float64)
        tree = cKDTree(np.mod(other, L), boxsize=L)
        hits = tree.query_ball_point(np.mod(flat, L), r=cutoff, return_length=True)
    else:
        tree = cKDTree(other)
        hits = tree.query_ball_point(flat, r=cutoff, return_length=True)
    keep &= ~(np.asarray(hits).reshape(pos.shape[:2]) > 0).any(axis=1)
    return keep


def cut_hole(positions: np.ndarray, center: Sequence[float], axis: Sequence[float], radius: float,
             *, any_bead: bool = True) -> np.ndarray:
    """Which lipids to keep after cutting a cylindrical hole (axis through ``center``), radius nm.

    Parameters
    ----------
    positions : ndarray, shape (n_lipids, n_beads, 3) or (n_lipids, 3)
    center, axis : (3,) float
        A point on the cylinder axis and its direction.
    radius : float
        Hole radius, nm.
    any_bead : bool
        Remove a lipid if any bead (True) or its head (False) lies inside the cylinder.

    Returns
    -------
    keep : ndarray, shape (n_lipids,), bool
    """
    pos = _as_lipids(positions)
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    rel = pos - np.asarray(center, dtype=np.float64)
    radial = rel - (rel @ a)[..., None] * a
    inside = np.linalg.norm(radial, axis=-1) < radius
    return ~(inside.any(axis=1) if any_bead else inside[:, 0])


def interior_gas_positions(n: int, vesicle: VesicleLipids, *, margin_nm: float = DEFAULT_SIGMA_NM,
                           min_separation_nm: float = 0.0, seed: int | None = None,
                           avoid_nm: np.ndarray | None = None, avoid_clearance_nm: float = 0.0) -> np.ndarray:
    """Positions of ``n`` gas beads uniformly inside a vesicle's lumen.

    Beads are drawn inside the sphere ``inner_head_radius - margin_nm`` around the vesicle centre
    (Butu et al. 2025 keep solvent-free vesicles pressurised this way; :mod:`snarefuse.lumen`).

    Parameters
    ----------
    n : int
        Number of beads.
    vesicle : VesicleLipids
        Only its centre and inner head radius are used.
    margin_nm : float
        Distance kept from the inner head shell.
    min_separation_nm : float
        Smallest distance between two gas beads (0: independent uniform points, which may overlap);
        > 0: random sequential addition, in batches checked with k-d trees (fast up to 10^4 beads at
        the densities of :data:`snarefuse.lumen.MAX_PACKING_FRACTION`).
    seed : int or None
    avoid_nm : ndarray, shape (m, 3), optional
        Other beads (proteins) that no gas bead may come within ``avoid_clearance_nm`` of.

    Returns
    -------
    ndarray, shape (n, 3), float64, nm

    Examples
    --------
    >>> v = vesicle_lipid_positions(10.0, 0.929, seed=1)
    >>> interior_gas_positions(20, v, min_separation_nm=1.0, seed=2).shape
    (20, 3)
    """
    r_max = vesicle.inner_head_radius_nm - margin_nm
    if r_max <= 0:
        raise BuildError(f"margin_nm={margin_nm}: larger than the lumen radius {vesicle.inner_head_radius_nm:.2f} nm")
    rng = np.random.default_rng(seed)
    centre = np.asarray(vesicle.center_nm, dtype=np.float64)

    def draw(m: int) -> np.ndarray:
        u = rng.normal(size=(m, 3))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        return centre + u * (r_max * rng.random(m) ** (1.0 / 3.0))[:, None]

    avoid = None if avoid_nm is None or avoid_clearance_nm <= 0 else np.asarray(avoid_nm, dtype=np.float64).reshape(-1, 3)
    avoid_tree = cKDTree(avoid) if avoid is not None and len(avoid) else None
    if min_separation_nm <= 0 and avoid_tree is None:
        return draw(n)
    out = np.zeros((0, 3))
    for _ in range(1000):
        if len(out) >= n:
            break
        need = n - len(out)
        cand = draw(max(2 * need, 16))
        if avoid_tree is not None:
            cand = cand[~np.isfinite(avoid_tree.query(cand, distance_upper_bound=avoid_clearance_nm)[0])]
        if min_separation_nm > 0 and len(cand):
            if len(out):
                cand = cand[~np.isfinite(cKDTree(out).query(cand, distance_upper_bound=min_separation_nm)[0])]
            pairs = cKDTree(cand).query_pairs(min_separation_nm, output_type="ndarray")
            keep = np.ones(len(cand), dtype=bool)
            keep[pairs.max(axis=1)] = False  # of two candidates too close, the later one goes
            cand = cand[keep]
        out = np.concatenate([out, cand[:need]])
    if len(out) < n:
        raise BuildError(f"min_separation_nm={min_separation_nm}: cannot place {n} gas beads in the lumen "
                         f"(radius {r_max:.2f} nm); placed {len(out)}")
    return out
