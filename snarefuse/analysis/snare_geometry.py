"""Geometry of SNARE complexes on plain arrays, the kernels of :class:`~snarefuse.analysis.snare.SnareAnalysis`
(definitions in that module's docstring): layer distances and the zippering front, the native contacts formed
(the fraction Q per complex and contact group), a helix axis and its tilt,
chains made whole across the periodic box, a membrane's local frame at a TMD, and the Marko-Siggia
worm-like-chain force of a linker.

Examples
--------
>>> round(float(wlc_force_pn(0.5, 1.0, 0.5, temperature_k=310.0)), 2)
10.7
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..constants import NM_PER_RESIDUE, SNARE_LAYER_MAX, SNARE_LAYER_MIN
from ..units import BOLTZMANN_KJ_PER_MOL_K
from . import kernels as K
from .base import AnalysisError
from .membrane import MembraneGeometry

F = NDArray[np.float64]
IA = NDArray[np.int64]

#: Layers of the SNARE bundle, N- to C-terminal.
LAYERS = tuple(range(SNARE_LAYER_MIN, SNARE_LAYER_MAX + 1))
#: Mean inter-helix C-alpha distance of a layer of the builder's ideal bundle, nm.
IDEAL_LAYER_DISTANCE_NM = 1.189
#: Default zipping threshold on a layer's mean inter-helix distance, nm.
ZIP_CUTOFF_NM = 1.8
#: A native contact counts as formed below this multiple of its native distance r0: the hard-cutoff form of the
#: fraction of native contacts Q used for C-alpha Go models (Clementi, Nymeyer & Onuchic, J. Mol. Biol. 298, 937,
#: 2000; Best, Hummer & Eaton, PNAS 110, 17874, 2013 use a smooth switch at 1.5-1.8 r0 for atomistic contacts).
#: The Go well of the model's contacts (5 (r0/r)^12 - 6 (r0/r)^10) is at half its depth near 1.2 r0.
CONTACT_FORMED_R0 = 1.2
#: Contour length per unzipped-linker virtual bond, nm: one residue (:data:`snarefuse.constants.NM_PER_RESIDUE`).
WLC_CONTOUR_PER_BOND_NM = NM_PER_RESIDUE
#: Default linker persistence length, nm (the model linker's ~0.5 nm; measured for unstructured residues: 0.3-0.7 nm).
PERSISTENCE_LENGTH_NM = 0.5
#: Relative extension x/L at which the Marko-Siggia force is clamped.
WLC_MAX_FRACTION = 0.95
#: 1 kJ/mol/nm in pN.
KJMOL_NM_TO_PN = 1.66053906660
#: Default temperature, K (the shipped specs' 310 K).
DEFAULT_TEMPERATURE_K = 310.0
#: Lateral radius (nm) of the lipid patch that defines a TMD's local membrane frame.
LOCAL_RADIUS_NM = 2.5
#: Half-height (nm, along the global normal) of that patch.
LOCAL_HALF_HEIGHT_NM = 4.0
#: Fewest lipids in the patch for a local frame (else the global one is used).
MIN_LOCAL_LIPIDS = 6
#: Consecutive residues averaged for the helix axis fit (one turn).
HELIX_AXIS_WINDOW = 4


def layer_label(layer: int) -> str:
    """Column fragment of a layer: ``m7 ... m1, 0, p1 ... p8``."""
    return "0" if layer == 0 else (f"m{-layer}" if layer < 0 else f"p{layer}")


def wlc_force_pn(extension_nm: ArrayLike, contour_nm: ArrayLike, persistence_nm: float = PERSISTENCE_LENGTH_NM,
                 temperature_k: float = DEFAULT_TEMPERATURE_K, max_fraction: float = WLC_MAX_FRACTION) -> F:
    """Marko-Siggia worm-like-chain force (pN) at extension ``x`` of a chain of contour ``L``.

    ``F = (kT / P) [1 / (4 (1 - x/L)^2) - 1/4 + x/L]`` with ``x/L`` clamped to ``[0, max_fraction]``.

    Parameters
    ----------
    extension_nm, contour_nm : array_like of float
        End-to-end distance ``x`` and contour length ``L``, nm (broadcast together).
    persistence_nm : float
        Persistence length ``P``, nm.
    temperature_k : float
        Temperature, K (``kT = k_B T``).
    max_fraction : float
        Clamp of ``x/L`` (< 1).

    Returns
    -------
    ndarray of float64
        Force in pN (NaN where ``L`` is not positive or ``x`` is NaN).

    Examples
    --------
    >>> kt_pn_nm = 0.0083144626181532 * 310 * 1.66053906660  # 4.28 pN nm
    >>> bool(np.isclose(wlc_force_pn(0.5, 1.0, 0.5), kt_pn_nm / 0.5 * (1.0 - 0.25 + 0.5)))
    True
    """
    if not persistence_nm > 0 or not temperature_k > 0:
        raise AnalysisError(f"persistence_length_nm={persistence_nm}, temperature_k={temperature_k}; accepted > 0")
    if not 0 < max_fraction < 1:
        raise AnalysisError(f"max_fraction: {max_fraction}; accepted 0 < max_fraction < 1")
    x = np.asarray(extension_nm, dtype=float)
    L = np.asarray(contour_nm, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(x / np.where(L > 0, L, np.nan), 0.0, max_fraction)
    kt_pn_nm = BOLTZMANN_KJ_PER_MOL_K * temperature_k * KJMOL_NM_TO_PN
    return kt_pn_nm / persistence_nm * (0.25 / (1.0 - r) ** 2 - 0.25 + r)  # type: ignore[no-any-return]


def unwrap_chains(xyz: F, box: F, chain: NDArray[Any]) -> F:
    """Make a multi-chain molecule whole: each chain (consecutive beads with equal ``chain`` label) is
    unwrapped along its sequence by minimum image, then shifted by box vectors so that its centroid is
    the minimum image of the first chain's centroid.

    Parameters
    ----------
    xyz : ndarray, shape (n, 3), nm
    box : ndarray, shape (3,), nm (orthorhombic)
    chain : ndarray, shape (n,)
        Chain label of each bead; beads of one chain are consecutive.

    Returns
    -------
    ndarray, shape (n, 3)
    """
    out = np.array(xyz, dtype=float)
    if len(out) == 0:
        return out
    step = K.minimum_image(np.diff(out, axis=0), box)
    new = np.r_[True, chain[1:] != chain[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(out)]
    ref = None
    for a, b in zip(starts, ends):
        seg = out[a] + np.r_[np.zeros((1, 3)), np.cumsum(step[a:b - 1], axis=0)]
        c = seg.mean(axis=0)
        if ref is None:
            ref = c
        else:
            seg = seg + (ref + K.minimum_image(c - ref, box) - c)
        out[a:b] = seg
    return out


def compute_layer_distances(xyz: F, layer_atoms: IA, box: F | None = None) -> F:
    """Mean of the six pairwise distances among the four residues of each layer.

    Parameters
    ----------
    xyz : ndarray, shape (n, 3), nm
    layer_atoms : ndarray of int, shape (n_layers, 4)
        Row of ``xyz`` of each layer's residue on each helix (-1: missing; the layer is then NaN).
    box : ndarray, shape (3,), optional
        Minimum-image distances when given.

    Returns
    -------
    ndarray, shape (n_layers,), nm
    """
    idx = np.asarray(layer_atoms, dtype=np.int64)
    p = xyz[np.where(idx >= 0, idx, 0)]  # (n_layers, 4, 3)
    iu, ju = np.triu_indices(4, k=1)
    d = p[:, iu] - p[:, ju]
    if box is not None:
        d = K.minimum_image(d, box)
    out = np.linalg.norm(d, axis=-1).mean(axis=1)
    out[(idx < 0).any(axis=1)] = np.nan
    return out  # type: ignore[no-any-return]


def zippering_progress(zipped: NDArray[np.bool_], layers: Sequence[int] = LAYERS) -> tuple[int, float]:
    """``(n_zipped, front)``: the number of zipped layers, and the zipping front: the most C-terminal
    layer of the longest contiguous run of zipped layers (ties: the more C-terminal run), where a single
    unzipped layer between two zipped ones is bridged (a thermal excursion of one layer does not cut
    the run); NaN when no layer is zipped.

    Examples
    --------
    >>> z = np.zeros(16, bool); z[:10] = True; z[12] = True
    >>> zippering_progress(z)
    (11, 2.0)
    >>> z[4] = False  # layer -3 open inside the zipped run: bridged
    >>> zippering_progress(z)
    (10, 2.0)
    """
    z = np.asarray(zipped, dtype=bool)
    bridged = z.copy()
    bridged[1:-1] |= z[:-2] & z[2:]
    best_len, front, run = 0, float("nan"), 0
    for i, on in enumerate(bridged):
        run = run + 1 if on else 0
        if on and run >= best_len:
            best_len, front = run, float(layers[i])
    return int(z.sum()), front


def contacts_formed(xyz: F, pairs: IA, r0: F, box: F | None = None, factor: float = CONTACT_FORMED_R0
                    ) -> NDArray[np.bool_]:
    """Which native contacts are formed: ``|x_i - x_j| < factor * r0`` per pair, by minimum image in ``box``.

    Parameters
    ----------
    xyz : (N, 3) nm
    pairs : (M, 2) int
        Atom indices into ``xyz``.
    r0 : (M,) nm
        Native distances.
    box : (3,) nm, optional
        Orthorhombic box lengths; None: no periodic images.

    Examples
    --------
    >>> x = np.array([[0.0, 0, 0], [0.6, 0, 0], [9.5, 0, 0]])
    >>> contacts_formed(x, np.array([[0, 1], [0, 2]]), np.array([0.55, 0.55]), box=np.array([10.0, 10, 10])).tolist()
    [True, True]
    """
    d = xyz[pairs[:, 0]] - xyz[pairs[:, 1]]
    if box is not None:
        d -= box * np.round(d / box)
    return np.einsum("ij,ij->i", d, d) < (factor * r0) ** 2


def contact_fractions(formed: NDArray[np.bool_], group: IA, n_groups: int) -> F:
    """Fraction of formed contacts in each group ``0 ... n_groups - 1`` (``group`` per contact); NaN for a group
    without contacts.

    >>> contact_fractions(np.array([True, False, True, True]), np.array([0, 0, 1, 1]), 3).tolist()
    [0.5, 1.0, nan]
    """
    n = np.bincount(group, minlength=n_groups).astype(float)
    k = np.bincount(group, weights=formed.astype(float), minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, k / n, np.nan)


def compute_helix_axis(xyz: F, window: int = HELIX_AXIS_WINDOW, passes: int = 2) -> tuple[F, F]:
    """``(centre, axis)`` of an alpha-helix from its C-alpha beads: the centroid, and the unit axis
    oriented first -> last bead.

    The axis is the principal axis (largest singular vector) of the beads after ``passes`` moving
    averages over ``window`` consecutive beads (one turn: 4 residues span 400 degrees). The averaged
    points hug the helix axis, so an ideal helix of 12 or more residues gives its axis to 0.2 degree
    (0.1 degree from 16), where the principal axis of the beads themselves is off by up to ~1.4
    degrees (incomplete last turn). A pass is skipped when fewer than ``window + 2`` points remain.
    """
    c = xyz.mean(axis=0)
    pts = xyz
    for _ in range(passes):
        if window > 1 and len(pts) >= window + 2:
            cs = np.cumsum(np.r_[np.zeros((1, 3)), pts], axis=0)
            pts = (cs[window:] - cs[:-window]) / window
    _, _, vt = np.linalg.svd(pts - pts.mean(axis=0), full_matrices=False)
    a = vt[0]
    if a @ (xyz[-1] - xyz[0]) < 0:
        a = -a
    return c, a


def tilt_angle_deg(axis: F, normal: F) -> float:
    """Angle (deg, 0-90) between two lines given by direction vectors."""
    c = abs(float(axis @ normal)) / float(np.linalg.norm(axis) * np.linalg.norm(normal))
    return math.degrees(math.acos(min(1.0, c)))


# ---------------------------------------------------------------------------------------------
# local membrane frame
# ---------------------------------------------------------------------------------------------
def global_membrane_frame(g: MembraneGeometry, other: MembraneGeometry | None, p: F, box: F) -> tuple[F, F]:
    """(normal towards the cleft, mid-surface point nearest ``p``) of a membrane's global geometry."""
    if g.kind == "planar":
        if other is None:
            sgn = 1.0
        else:
            oz = other.center[2]
            sgn = 1.0 if K.minimum_image(oz - g.center[2], box[2]) >= 0 else -1.0
        n = np.array([0.0, 0.0, sgn])
        return n, np.array([p[0], p[1], p[2] - K.minimum_image(p[2] - g.center[2], box[2])])
    d = K.minimum_image(p - g.center, box)
    r = float(np.linalg.norm(d))
    n = d / r if r > 0 else np.array([0.0, 0.0, 1.0])
    return n, p - d + g.radius * n


def local_membrane_frame(p: F, xyz: F, box: F, heads: IA, last_tails: IA, g: MembraneGeometry,
                         other: MembraneGeometry | None, radius: float = LOCAL_RADIUS_NM,
                         half_height: float = LOCAL_HALF_HEIGHT_NM,
                         min_lipids: int = MIN_LOCAL_LIPIDS) -> tuple[F, F, int]:
    """Local ``(normal, midplane point, n_lipids)`` of a membrane at point ``p`` (module docstring).

    ``heads`` / ``last_tails`` are the head and last-tail atoms of the membrane's lipids; ``n_lipids`` is
    0 when the global frame was used.
    """
    n0, mid0 = global_membrane_frame(g, other, p, box)
    d = K.minimum_image(xyz[last_tails] - p, box)
    h = d @ n0
    lat = np.linalg.norm(d - h[:, None] * n0, axis=1)
    sel = np.flatnonzero((lat <= radius) & (np.abs(h) <= half_height))
    if len(sel) < min_lipids:
        return n0, mid0, 0
    ax = K.minimum_image(xyz[heads[sel]] - xyz[last_tails[sel]], box)
    up = ax @ n0 >= 0
    n = np.where(up[:, None], ax, -ax).mean(axis=0)
    n /= np.linalg.norm(n)
    ds = d[sel]
    # the two leaflets' tail ends sit either side of the midplane: average their means, not the beads
    mid = 0.5 * (ds[up].mean(axis=0) + ds[~up].mean(axis=0)) if up.any() and (~up).any() else ds.mean(axis=0)
    return n, p + mid, len(sel)
