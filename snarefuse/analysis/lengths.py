"""The lengths the membrane analyses judge by, in one table.

Each is a physical length of the membrane model (a bead's radius, a tail-tail contact, a bilayer's thickness, a
pore large enough to count), so it scales with the model's sigma. The table gives each in nm at the default
sigma (:data:`snarefuse.units.DEFAULT_SIGMA_NM` = 0.88 nm), where it was chosen and checked (docs/analysis.md);
:func:`lengths_nm` gives them for another sigma, each times ``sigma_nm / 0.88 nm``, so that a system written with
another sigma (the manifest's ``units.sigma_nm``) is analysed with the same calls as the same system at 0.88 nm.
Lengths of the protein model (SNARE layer distances, linker contour) are in nm and do not scale with it
(:mod:`snarefuse.analysis.snare`).

Examples
--------
>>> round(lengths_nm(1.0)["min_pore_radius"] / lengths_nm()["min_pore_radius"], 4)
1.1364
"""

from __future__ import annotations

import math

from ..units import DEFAULT_SIGMA_NM

#: name -> (nm at the default sigma, what it is). The analyses' parameters of the same name default to these.
LENGTHS_NM: dict[str, tuple[float, str]] = {
    "block_radius": (0.5 * DEFAULT_SIGMA_NM, "bead radius blocking a grid column in pore detection (sigma / 2)"),
    "min_pore_radius": (1.0, "smallest inscribed radius of a pore"),
    "expanded_pore_radius": (3.0, "smallest inscribed pore radius of the expanded-pore state"),
    "max_diaphragm_thickness": (6.0, "largest head-peak span of a diaphragm column (~1.5 bilayer thicknesses)"),
    "diaphragm_min_radius": (1.5, "smallest diaphragm radius of the hemifused state"),
    "pool_radius": (1.0, "lateral pooling of the head profiles of diaphragm detection"),
    "profile_bin": (0.25, "bin along the normal of those head profiles"),
    "profile_smooth": (0.4, "Gaussian smoothing along the normal of those head profiles"),
    "layer_tolerance": (1.0, "how far a diaphragm's edge columns' heads may lie outside its two head layers"),
    "rim_band": (2.0, "rim of a hole for the seal test: the columns within this lateral distance of it"),
    "seal_probe": (1.0, "a rim column is sealed when a tail joining the membranes lies within this distance"),
    "contact_cutoff": (1.1, "tail-tail contact distance (stalk, lipid mixing, the seal of a pore's rim)"),
    "leaflet_cutoff": (1.5 * DEFAULT_SIGMA_NM, "head-head neighbour distance within a leaflet"),
    "contact_radius": (5.0, "disc around the contact axis for the separation statistics"),
    "axis_radius": (1.5, "lateral radius of the heads that give the gap on the contact axis"),
    "separation_spacing": (2.0, "lateral cell of the gap map"),
    "zone_spacing": (0.5, "lateral cell of the pore and diaphragm grids"),
}


def lengths_nm(sigma_nm: float | None = None) -> dict[str, float]:
    """Every length of :data:`LENGTHS_NM`, in nm, for a model of ``sigma_nm`` (None: the default sigma).

    Raises
    ------
    ValueError
        ``sigma_nm`` is not a finite number > 0.
    """
    if sigma_nm is None:
        return {k: v for k, (v, _) in LENGTHS_NM.items()}
    s = float(sigma_nm)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"sigma_nm: {sigma_nm!r}; accepted a finite length > 0 in nm (the model's sigma)")
    return {k: v * s / DEFAULT_SIGMA_NM for k, (v, _) in LENGTHS_NM.items()}
