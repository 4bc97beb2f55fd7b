"""The pressurised lumen of a solvent-free vesicle: a nearly ideal gas of repulsive beads.

A solvent-free vesicle has nothing inside to hold its volume. Following Butu, An & O'Shaughnessy
(Biophys. J. 2025) a few gas beads in each lumen keep it pressurised; by Laplace's law for a thin
spherical shell the pressure difference sets the membrane tension,

    tension = Delta P * R / 2        (R: midplane radius; outside the vesicle the pressure is 0),

so ``system.vesicle.lumen`` accepts exactly one of a bead count ``n_gas``, a ``pressure`` or a
``tension``, and this module converts between them. In OpenMM's MD units the conversion is exact
and unit-free: ``P [bar] = 2 tension [bar nm] / R [nm]`` (1 mN/m = 10 bar nm).

The gas beads
-------------
Each gas bead is one particle in the lipids' ``CookePair`` force with size ``b =`` :data:`GAS_BEAD_SIZE`
(1.0: the Cooke rule ``b_ij = min(b_i, b_j)`` then gives gas-lipid pairs exactly the lipid-lipid WCA
size) and no tail attraction (``a = 0``): pure WCA repulsion with lipids, proteins and each other.
A smaller bead would make the gas more ideal but leaks through the membrane: the bead must be as large
as a lipid bead for the bilayer's WCA shell to hold it (at ``b = 0.5`` most beads of a 6 nm vesicle
crossed within 40 tau; from ``b = 0.95`` on none did within 200 tau, up to the largest accepted
pressure). Gas-gas pairs stay in the single pair force: switching them off would need O(n^2)
exclusions or interaction groups, which the CPU platform does not run efficiently (docs/model.md).

The gas beads are also the vesicle's *content*: the analysis counts them to detect content mixing
(:class:`snarefuse.analysis.fusion.ContentMixingAnalysis` looks for :data:`GAS_RESNAME` residues).

The volume and the equation of state
------------------------------------
The gas occupies the sphere inside the inner head shell less a margin of one sigma (the closest
approach of a gas bead to a head bead at ~kT): radius ``R - 2.2 sigma - 1 sigma`` at build time
(:func:`lumen_radius_nm`; the head offset is :data:`~snarefuse.constants.HEAD_OFFSET_SIGMA`). Its non-ideality is that of a WCA fluid: second virial coefficient
``B2 = 2 pi int (1 - exp(-u/kT)) r^2 dr`` (:func:`wca_second_virial_nm3`; 2.18 sigma^3 = 1.49 nm^3 at
kT = 1.1 epsilon, sigma = 0.88 nm), i.e. ``P / (rho kT) = 1 + B2 rho + ...``: a 3.4% correction at
1 bar and 310 K, 40% at the accepted maximum. The bead count is therefore taken from the
Carnahan-Starling equation of state of hard spheres whose diameter reproduces B2
(:func:`gas_pressure_bar`; exact to second order in the density). Checked against NVT simulations of
1000 WCA beads (kT = 1.1 epsilon, pressure from the volume derivative of the energy): at packing
fractions 0.02 / 0.05 / 0.1 simulation 2.498(6) / 7.07(2) / 17.55(8) bar, Carnahan-Starling 2.496 /
7.065 / 17.51 bar, ideal gas 2.30 / 5.76 / 11.5 bar. A lumen fuller than :data:`MAX_PACKING_FRACTION`
is refused: that gas is far from ideal and pushes its beads into the membrane.

The pressure and tension are those of the *build*: the bead count is then fixed, so a vesicle that
swells (or shrinks) relaxes toward the radius where membrane elasticity balances the gas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .constants import HEAD_OFFSET_SIGMA
from .quantities import fmt_float
from .units import BAR_PER_KJMOL_NM3

__all__ = [
    "GAS_RESNAME", "GAS_ATOM_NAME", "GAS_BEAD_SIZE", "LUMEN_MARGIN_SIGMA", "HEAD_OFFSET_SIGMA",
    "MAX_PACKING_FRACTION", "LumenSpec", "LumenGas", "lumen_radius_nm", "lumen_volume_nm3",
    "wca_second_virial_nm3", "gas_pressure_bar", "gas_count",
]

#: Residue (and chain prefix) of the gas beads; one bead per residue.
GAS_RESNAME = "GAS"
#: Atom name of a gas bead.
GAS_ATOM_NAME = "G"
#: WCA size of a gas bead in sigma (Cooke rule: b_ij = min(b_i, b_j)).
GAS_BEAD_SIZE = 1.0
#: Margin between the inner head shell and the gas volume, in sigma.
LUMEN_MARGIN_SIGMA = 1.0
#: Largest accepted packing fraction pi rho d^3 / 6 of the gas (Z = P / rho kT = 1.52 there).
MAX_PACKING_FRACTION = 0.1
#: Points of the midpoint rule for B2.
_B2_POINTS = 4000


def lumen_radius_nm(radius_nm: float, sigma_nm: float) -> float:
    """Radius of the gas volume of a vesicle with midplane radius ``radius_nm``: R - 3.2 sigma.

    Examples
    --------
    >>> round(lumen_radius_nm(25.0, 0.88), 3)
    22.184
    """
    return radius_nm - (HEAD_OFFSET_SIGMA + LUMEN_MARGIN_SIGMA) * sigma_nm


def lumen_volume_nm3(radius_nm: float, sigma_nm: float) -> float:
    """Volume of the gas (nm^3): the sphere of :func:`lumen_radius_nm`."""
    return 4.0 / 3.0 * math.pi * max(lumen_radius_nm(radius_nm, sigma_nm), 0.0) ** 3


def wca_second_virial_nm3(b_nm: float, kt_over_epsilon: float) -> float:
    """Second virial coefficient (nm^3) of the WCA potential of size ``b_nm`` at ``kT / epsilon``.

    ``B2 = 2 pi int_0^{2^(1/6) b} (1 - exp(-u(r)/kT)) r^2 dr``, ``u = 4 eps [(b/r)^12 - (b/r)^6 + 1/4]``
    (midpoint rule, relative error < 1e-6).

    Examples
    --------
    >>> round(wca_second_virial_nm3(1.0, 1.1) / (2 * math.pi / 3), 3)  # in units of the hard-sphere B2
    1.042
    """
    rw = 2.0 ** (1.0 / 6.0) * b_nm
    h = rw / _B2_POINTS
    total = 0.0
    for k in range(_B2_POINTS):
        r = (k + 0.5) * h
        x6 = (b_nm / r) ** 6
        total += (1.0 - math.exp(-4.0 * (x6 * (x6 - 1.0) + 0.25) / kt_over_epsilon)) * r * r
    return 2.0 * math.pi * total * h


def _effective_diameter_nm(b_nm: float, kt_over_epsilon: float) -> float:
    """Hard-sphere diameter with the WCA fluid's B2 (B2 = 2 pi d^3 / 3)."""
    return (3.0 * wca_second_virial_nm3(b_nm, kt_over_epsilon) / (2.0 * math.pi)) ** (1.0 / 3.0)


def _compressibility(eta: float) -> float:
    """Carnahan-Starling Z = P / (rho kT) at packing fraction eta."""
    return (1.0 + eta + eta * eta - eta**3) / (1.0 - eta) ** 3


def gas_pressure_bar(n: int, volume_nm3: float, kt_kjmol: float, diameter_nm: float) -> float:
    """Pressure (bar) of ``n`` gas beads in ``volume_nm3`` (Carnahan-Starling, diameter ``diameter_nm``)."""
    rho = n / volume_nm3
    eta = math.pi * rho * diameter_nm**3 / 6.0
    return rho * kt_kjmol * BAR_PER_KJMOL_NM3 * _compressibility(eta)


def gas_count(pressure_bar: float, volume_nm3: float, kt_kjmol: float, diameter_nm: float) -> int:
    """Number of gas beads whose pressure in ``volume_nm3`` is closest to ``pressure_bar``.

    Examples
    --------
    >>> gas_count(1.0, 1000.0, 2.577, 0.0)  # ideal: P V / kT = 1 bar * 1000 nm^3 / 42.8 bar nm^3
    23
    """
    if pressure_bar <= 0:
        return 0
    v = math.pi * diameter_nm**3 / 6.0
    lo, hi = 0.0, 0.6 / v if v > 0 else pressure_bar / (kt_kjmol * BAR_PER_KJMOL_NM3)
    if v == 0:
        rho = hi
    else:
        for _ in range(100):  # bisection on the density; P(rho) increases monotonically
            mid = 0.5 * (lo + hi)
            if gas_pressure_bar(1, 1.0 / mid, kt_kjmol, diameter_nm) < pressure_bar:
                lo = mid
            else:
                hi = mid
        rho = 0.5 * (lo + hi)
    n0 = math.floor(rho * volume_nm3)
    return min((n0, n0 + 1), key=lambda n: abs(gas_pressure_bar(n, volume_nm3, kt_kjmol, diameter_nm) - pressure_bar))


@dataclass(frozen=True)
class LumenGas:
    """The gas of one vesicle as built: count, volume, pressure, Laplace tension, non-ideality."""

    n_gas: int
    lumen_radius_nm: float
    volume_nm3: float
    pressure_bar: float
    tension_barnm: float
    packing_fraction: float
    second_virial_term: float  # B2 * rho: the first correction to P = rho kT
    ideal_pressure_bar: float  # n kT / V, for comparison

    @property
    def tension_mn_per_m(self) -> float:
        return self.tension_barnm / 10.0

    def as_dict(self) -> dict[str, Any]:
        """The manifest record (nm, bar, mN/m)."""
        return {"n_gas": self.n_gas, "lumen_radius_nm": self.lumen_radius_nm, "volume_nm3": self.volume_nm3,
                "pressure_bar": self.pressure_bar, "tension_mN_per_m": self.tension_mn_per_m,
                "ideal_gas_pressure_bar": self.ideal_pressure_bar, "packing_fraction": self.packing_fraction,
                "second_virial_term": self.second_virial_term,
                "bead_size_sigma": GAS_BEAD_SIZE, "equation_of_state": "Carnahan-Starling, B2-matched diameter"}


@dataclass(frozen=True)
class LumenSpec:
    """``system.vesicle.lumen``: exactly one of a bead count, a pressure (bar) or a tension (bar nm)."""

    n_gas: int | None = None
    pressure_bar: float | None = None
    tension_barnm: float | None = None

    @property
    def field(self) -> str:
        """The key the spec gave (``n_gas``, ``pressure`` or ``tension``)."""
        return "n_gas" if self.n_gas is not None else "pressure" if self.pressure_bar is not None else "tension"

    def to_dict(self) -> dict[str, Any]:
        if self.n_gas is not None:
            return {"n_gas": self.n_gas}
        if self.pressure_bar is not None:
            return {"pressure": f"{fmt_float(self.pressure_bar)} bar"}
        assert self.tension_barnm is not None
        return {"tension": f"{fmt_float(self.tension_barnm)} bar*nm"}

    def resolve(self, radius_nm: float, sigma_nm: float, kt_over_epsilon: float, kt_kjmol: float) -> LumenGas:
        """The gas of a vesicle of midplane radius ``radius_nm`` (nm) under this spec."""
        r_gas = lumen_radius_nm(radius_nm, sigma_nm)
        vol = lumen_volume_nm3(radius_nm, sigma_nm)
        b2 = wca_second_virial_nm3(GAS_BEAD_SIZE * sigma_nm, kt_over_epsilon)
        d = _effective_diameter_nm(GAS_BEAD_SIZE * sigma_nm, kt_over_epsilon)
        if self.n_gas is not None:
            n = self.n_gas
        else:
            p = self.pressure_bar if self.pressure_bar is not None else 2.0 * (self.tension_barnm or 0.0) / radius_nm
            n = gas_count(p, vol, kt_kjmol, d)
        rho = n / vol if vol > 0 else math.inf
        pressure = gas_pressure_bar(n, vol, kt_kjmol, d) if n else 0.0
        return LumenGas(n, r_gas, vol, pressure, pressure * radius_nm / 2.0, math.pi * rho * d**3 / 6.0, b2 * rho,
                        rho * kt_kjmol * BAR_PER_KJMOL_NM3)
