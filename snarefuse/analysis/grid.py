"""Periodic geometry and lateral grids: the array layer under every analysis kernel.

Minimum-image vectors, wrapping and periodic centres in an orthorhombic box, and :class:`LateralGrid`, the map
of columns in a contact frame's ``(u, v)`` coordinates (the whole periodic box for planar membranes, a square
patch on the contact axis for vesicles) on which gaps, holes and diaphragms are computed
(:mod:`snarefuse.analysis.holes`). Re-exported by :mod:`snarefuse.analysis.kernels`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from ..units import DEFAULT_SIGMA_NM

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Default lipid-bead length unit in nm (:data:`snarefuse.units.DEFAULT_SIGMA_NM`). Thresholds in nm are at this
#: sigma; analyses of a model with another sigma take them scaled (``block_radius``, ``leaflet_cutoff``).
SIGMA_NM = DEFAULT_SIGMA_NM

# ---------------------------------------------------------------------------------------------
# periodic geometry
# ---------------------------------------------------------------------------------------------
def minimum_image(d: FloatArray, box: FloatArray) -> FloatArray:
    """Minimum-image displacement(s) ``d`` (..., D) in an orthorhombic box of lengths ``box`` (D,)."""
    box = np.asarray(box, dtype=float)
    return d - box * np.round(d / box)


def wrap(x: FloatArray, box: FloatArray) -> FloatArray:
    """Positions wrapped into ``[0, box)`` (safe for ``cKDTree(boxsize=box)``: never exactly ``box``)."""
    box = np.asarray(box, dtype=float)
    y = np.mod(x, box)
    return np.where(y >= box, 0.0, y)


def circular_mean(x: FloatArray, length: float) -> float:
    """Mean of periodic coordinates ``x`` (n,) in a period ``length``, in ``[0, length)``.

    Exact for any distribution symmetric about its centre (a slab or a sphere split by the boundary).
    Falls back to the plain mean when the coordinates are spread uniformly over the period.
    """
    ang = 2.0 * np.pi * np.asarray(x, dtype=float) / length
    c, s = np.cos(ang).mean(), np.sin(ang).mean()
    if np.hypot(c, s) < 1e-9:
        return float(np.mod(np.mean(x), length))
    return float(np.mod(np.arctan2(s, c) / (2.0 * np.pi) * length, length))


def periodic_center(x: FloatArray, box: FloatArray, dims: tuple[int, ...] = (0, 1, 2)) -> FloatArray:
    """Centre of a compact periodic object ``x`` (n, 3): circular mean, then the mean of the unwrapped cloud.

    Only the dimensions in ``dims`` are computed; the others are returned as NaN.
    """
    c = np.full(3, np.nan)
    for d in dims:
        c0 = circular_mean(x[:, d], float(box[d]))
        c[d] = c0 + float(np.mean(minimum_image(x[:, d] - c0, box[d])))
    return c


# ---------------------------------------------------------------------------------------------
# lateral grids
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LateralGrid:
    """A square-celled lateral grid in the contact frame's ``(u, v)`` coordinates.

    ``periodic=True``: the whole periodic box, ``u`` in ``[-Lu/2, Lu/2)``, cells wrap around.
    ``periodic=False``: a ``(2m+1) x (2m+1)`` patch whose centre cell is centred on the axis ``u = v = 0``;
    only cells whose centre lies within ``radius`` of the axis are ``inside``.
    """

    shape: tuple[int, int]
    spacing: tuple[float, float]
    periodic: bool
    radius: float = np.inf

    @classmethod
    def periodic_box(cls, lengths: FloatArray, shape: tuple[int, int]) -> "LateralGrid":
        return cls(shape, (float(lengths[0]) / shape[0], float(lengths[1]) / shape[1]), True)

    @classmethod
    def disc(cls, radius: float, spacing: float) -> "LateralGrid":
        m = int(np.ceil(radius / spacing - 0.5))
        return cls((2 * m + 1, 2 * m + 1), (spacing, spacing), False, float(radius))

    @property
    def lo(self) -> tuple[float, float]:
        return (-0.5 * self.shape[0] * self.spacing[0], -0.5 * self.shape[1] * self.spacing[1])

    @property
    def cell_area(self) -> float:
        return self.spacing[0] * self.spacing[1]

    def centers(self) -> tuple[FloatArray, FloatArray]:
        """Cell-centre coordinates ``(U, V)``, each of shape ``shape``."""
        cu = self.lo[0] + (np.arange(self.shape[0]) + 0.5) * self.spacing[0]
        cv = self.lo[1] + (np.arange(self.shape[1]) + 0.5) * self.spacing[1]
        return np.meshgrid(cu, cv, indexing="ij")

    def inside(self) -> NDArray[np.bool_]:
        """Cells analysed: all of them (periodic) or those with centre within ``radius``."""
        if self.periodic:
            return np.ones(self.shape, dtype=bool)
        U, V = self.centers()
        return np.hypot(U, V) <= self.radius

    def axis_cell(self) -> tuple[int, int]:
        """Cell containing the contact axis ``u = v = 0``."""
        return (int(np.floor(-self.lo[0] / self.spacing[0])) % self.shape[0],
                int(np.floor(-self.lo[1] / self.spacing[1])) % self.shape[1])

    def cell_index(self, u: FloatArray, v: FloatArray) -> tuple[IntArray, NDArray[np.bool_]]:
        """Flat cell index of each point and whether it falls on the grid."""
        iu = np.floor((np.asarray(u) - self.lo[0]) / self.spacing[0]).astype(np.int64)
        iv = np.floor((np.asarray(v) - self.lo[1]) / self.spacing[1]).astype(np.int64)
        if self.periodic:
            iu %= self.shape[0]
            iv %= self.shape[1]
            ok = np.ones(iu.shape, dtype=bool)
        else:
            ok = (iu >= 0) & (iu < self.shape[0]) & (iv >= 0) & (iv < self.shape[1])
        flat = np.where(ok, iu * self.shape[1] + iv, 0)
        return flat, ok

    def lateral_box(self) -> FloatArray | None:
        """Periodic lengths of the grid (for KD-trees), or None for a patch."""
        if not self.periodic:
            return None
        return np.array([self.shape[0] * self.spacing[0], self.shape[1] * self.spacing[1]])


def column_mean(grid: LateralGrid, u: FloatArray, v: FloatArray, values: FloatArray) -> FloatArray:
    """Mean of ``values`` per grid column (NaN where a column holds no point), shape ``grid.shape``."""
    flat, ok = grid.cell_index(u, v)
    n = grid.shape[0] * grid.shape[1]
    cnt = np.bincount(flat[ok], minlength=n).astype(float)
    tot = np.bincount(flat[ok], weights=np.asarray(values, dtype=float)[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = tot / cnt
    return out.reshape(grid.shape)


def compute_gap_map(grid: LateralGrid, u_a: FloatArray, v_a: FloatArray, s_a: FloatArray,
                    u_b: FloatArray, v_b: FloatArray, s_b: FloatArray) -> FloatArray:
    """Gap between two facing head surfaces, per column.

    ``(u_a, v_a, s_a)`` are the proximal heads of the lower membrane (normal coordinate ``s`` grows
    towards the upper one), ``(u_b, v_b, s_b)`` those of the upper membrane. The gap of a column is
    ``mean(s_b) - mean(s_a)`` over the heads in that column; NaN where either surface is missing.
    """
    return column_mean(grid, u_b, v_b, s_b) - column_mean(grid, u_a, v_a, s_a)
