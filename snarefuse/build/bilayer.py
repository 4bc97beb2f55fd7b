"""Planar bilayer geometry (positions only; no OpenMM).

Lipids stand on a square lateral grid per leaflet (sites chosen at random when the grid has more
sites than lipids), straight along the normal, tails meeting at the midplane; the lower leaflet's
grid is offset by half a spacing. The packing relaxes within a few tau of dynamics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Initial bead spacing along a lipid, in sigma (near the FENE+WCA bond minimum ~0.97 sigma).
BEAD_SPACING_SIGMA = 0.97
#: Initial distance of the last tail bead from the midplane, in sigma.
TAIL_END_OFFSET_SIGMA = 0.55


@dataclass
class LeafletGeometry:
    """Lipids of one leaflet: ``positions`` (n, beads, 3) nm and ``species`` (n,) names."""

    positions: np.ndarray
    species: np.ndarray


def split_counts(n: int, composition: dict[str, float]) -> dict[str, int]:
    """Integer counts per species summing to ``n`` (largest remainder on the fractions).

    >>> split_counts(10, {"A": 0.5, "B": 0.25, "C": 0.25})
    {'A': 5, 'B': 3, 'C': 2}
    """
    raw = {k: n * f for k, f in composition.items()}
    counts = {k: int(math.floor(v)) for k, v in raw.items()}
    rest = n - sum(counts.values())
    for k in sorted(raw, key=lambda k: (-(raw[k] - counts[k]), k))[:rest]:
        counts[k] += 1
    return counts


def head_plane_offset(beads: int, sigma_nm: float) -> float:
    """Initial distance (nm) of the head beads from the midplane."""
    return (TAIL_END_OFFSET_SIGMA + (beads - 1) * BEAD_SPACING_SIGMA) * sigma_nm


@dataclass(frozen=True)
class Disc:
    """Lipids whose lateral site lies within ``radius_nm`` of the box centre take ``composition``."""

    radius_nm: float
    composition: dict[str, float]


def leaflet(n: int, box_xy: float, z_mid: float, direction: int, beads: int, sigma_nm: float,
            composition: dict[str, float], rng: np.random.Generator, offset: float = 0.0,
            disc: Disc | None = None) -> LeafletGeometry:
    """Place ``n`` lipids of one leaflet.

    Parameters
    ----------
    n : int
        Number of lipids.
    box_xy : float
        Lateral box edge, nm (square).
    z_mid : float
        Midplane height, nm.
    direction : {+1, -1}
        +1 for the upper leaflet (heads at larger z), -1 for the lower.
    beads : int
        Beads per lipid (head first).
    offset : float
        Lateral grid offset as a fraction of the spacing.
    disc : Disc, optional
        A disc around the box centre (the contact axis) with a composition of its own; ``composition``
        then holds for the lipids outside it. Each part is split by :func:`split_counts` on its own.
    """
    species = np.array([s for s, c in split_counts(n, composition).items() for _ in range(c)], dtype=object)
    rng.shuffle(species)
    nx = max(1, math.ceil(math.sqrt(n)))
    spacing = box_xy / nx
    sites = rng.choice(nx * nx, size=n, replace=False) if n else np.zeros(0, dtype=int)
    sites.sort()
    ix, iy = sites % nx, sites // nx
    xy = np.stack([(ix + 0.5 + offset) * spacing, (iy + 0.5 + offset) * spacing], axis=1) % box_xy
    xy += rng.normal(scale=0.02 * sigma_nm, size=xy.shape)
    if disc is not None:
        # sites lie in [0, box_xy) and the centre at box_xy / 2, so the plain distance is the periodic one
        inside = np.hypot(xy[:, 0] - box_xy / 2, xy[:, 1] - box_xy / 2) < disc.radius_nm
        species = np.empty(n, dtype=object)
        for mask, comp in ((inside, disc.composition), (~inside, composition)):
            part = np.array([s for s, c in split_counts(int(mask.sum()), comp).items() for _ in range(c)],
                            dtype=object)
            rng.shuffle(part)
            species[mask] = part
    z_bead = np.array([TAIL_END_OFFSET_SIGMA + (beads - 1 - k) * BEAD_SPACING_SIGMA for k in range(beads)]) * sigma_nm
    pos = np.empty((n, beads, 3))
    pos[:, :, 0:2] = xy[:, None, :]
    pos[:, :, 2] = z_mid + direction * z_bead[None, :]
    return LeafletGeometry(pos, species)


def planar_bilayer(n_upper: int, n_lower: int, box_xy: float, z_mid: float, beads: int, sigma_nm: float,
                   upper: dict[str, float], lower: dict[str, float], rng: np.random.Generator,
                   upper_disc: Disc | None = None,
                   lower_disc: Disc | None = None) -> tuple[LeafletGeometry, LeafletGeometry]:
    """Both leaflets of a planar bilayer (upper first); a disc, if given, is placed in that leaflet."""
    return (leaflet(n_upper, box_xy, z_mid, +1, beads, sigma_nm, upper, rng, 0.0, upper_disc),
            leaflet(n_lower, box_xy, z_mid, -1, beads, sigma_nm, lower, rng, 0.5, lower_disc))
