"""Reduced <-> physical units for the coarse-grained model.

The Cooke–Kremer–Deserno model is defined in reduced units: length sigma, energy epsilon,
mass m (one bead) and time tau = sigma * sqrt(m / epsilon). snarefuse runs OpenMM in MD
units (nm, kJ/mol, amu, ps) and maps the model onto them with:

* ``sigma = 0.88 nm``: the field's mapping, giving a head–head thickness of ~4 nm
  (Cooke, Kremer & Deserno, Phys. Rev. E 72, 011506, 2005; Butu, An & O'Shaughnessy,
  Biophys. J. 2025).
* ``epsilon = k_B T / (kT/epsilon)``: the model is specified by the reduced temperature
  kT/epsilon (1.1 for the fluid 3-bead bilayer); the physical temperature T then fixes epsilon.
* ``m``: the bead mass (default 250 amu, one third of a phospholipid of ~750 amu).
* ``tau_md = sigma * sqrt(m / epsilon)``: the time unit the integrator sees.

Solvent-free dynamics are faster than real lipid dynamics, so the *physical* meaning of tau is
usually calibrated by lateral diffusion instead: a Cooke lipid at kT = 1.1 epsilon, w_c = 1.6
sigma diffuses with D ~= 0.01 sigma^2/tau (Cooke & Deserno, J. Chem. Phys. 123, 224710, 2005),
and fluid phosphatidylcholine with D ~= 1 um^2/s, so tau_diffusion = 0.01 sigma^2 / D ~= 8 ns.
Every output records both mappings; plots and summaries report reduced time (tau) and the
diffusion-calibrated physical time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

#: Default length unit sigma (nm): the field's mapping of the Cooke model (see the module docstring).
DEFAULT_SIGMA_NM = 0.88
#: 1 kJ/mol/nm^3 in bar: the pressure unit that follows from MD units (kJ/mol over N_A nm^3), and equally
#: 1 kJ/mol/nm^2 in bar*nm, OpenMM's unit of surface tension. 1 kJ/mol = 1.66054e-21 J, 1 nm^3 = 1e-27 m^3.
BAR_PER_KJMOL_NM3 = 16.6054
#: Boltzmann constant in kJ/(mol K) (CODATA 2018, as used by OpenMM).
BOLTZMANN_KJ_PER_MOL_K = 0.0083144626181532
#: Default reduced diffusion coefficient of a Cooke lipid, sigma^2/tau (Cooke & Deserno 2005).
DEFAULT_D_REDUCED = 0.01
#: Default lateral diffusion coefficient of a fluid PC lipid for calibration, nm^2/ns (1 um^2/s = 1e-3 nm^2/ns).
DEFAULT_D_PHYSICAL_NM2_PER_NS = 1.0e-3


@dataclass(frozen=True)
class ReducedUnits:
    """The mapping between the model's reduced units and OpenMM's MD units.

    Parameters
    ----------
    sigma_nm : float
        Length unit sigma in nm.
    temperature_k : float
        Physical temperature in K.
    kt_over_epsilon : float
        Reduced temperature kT/epsilon.
    mass_amu : float
        Bead mass m in amu (g/mol).
    d_reduced : float
        Lateral diffusion coefficient of a lipid in sigma^2/tau, used for time calibration.
    d_physical_nm2_per_ns : float
        Target physical lateral diffusion coefficient in nm^2/ns.

    Examples
    --------
    >>> u = ReducedUnits(0.88, 310.0, 1.1, 250.0)
    >>> round(u.epsilon_kjmol, 4)
    2.3432
    >>> round(u.tau_ps, 2)
    9.09
    """

    sigma_nm: float
    temperature_k: float
    kt_over_epsilon: float
    mass_amu: float
    d_reduced: float = DEFAULT_D_REDUCED
    d_physical_nm2_per_ns: float = DEFAULT_D_PHYSICAL_NM2_PER_NS

    @property
    def kt_kjmol(self) -> float:
        """Thermal energy k_B T in kJ/mol."""
        return BOLTZMANN_KJ_PER_MOL_K * self.temperature_k

    @property
    def epsilon_kjmol(self) -> float:
        """Energy unit epsilon in kJ/mol."""
        return self.kt_kjmol / self.kt_over_epsilon

    @property
    def tau_ps(self) -> float:
        """MD time unit tau = sigma sqrt(m/epsilon) in ps (what the integrator sees)."""
        # nm * sqrt(amu / (kJ/mol)) = ps exactly in MD units.
        return self.sigma_nm * math.sqrt(self.mass_amu / self.epsilon_kjmol)

    @property
    def tau_diffusion_ns(self) -> float:
        """Physical duration of one tau calibrated by lateral lipid diffusion, in ns."""
        return self.d_reduced * self.sigma_nm**2 / self.d_physical_nm2_per_ns

    # conversions -------------------------------------------------------------------------
    def length(self, reduced: float) -> float:
        """sigma -> nm."""
        return reduced * self.sigma_nm

    def energy(self, reduced: float) -> float:
        """epsilon -> kJ/mol."""
        return reduced * self.epsilon_kjmol

    def time(self, reduced: float) -> float:
        """tau -> ps (MD time)."""
        return reduced * self.tau_ps

    def to_reduced_time(self, ps: float) -> float:
        """ps (MD time) -> tau."""
        return ps / self.tau_ps

    def spring(self, reduced: float) -> float:
        """epsilon/sigma^2 -> kJ/mol/nm^2."""
        return reduced * self.epsilon_kjmol / self.sigma_nm**2

    def as_dict(self) -> dict[str, float | str]:
        """All inputs and derived units, for manifests and logs."""
        d: dict[str, float | str] = dict(asdict(self))
        d.update(
            kt_kjmol=self.kt_kjmol,
            epsilon_kjmol=self.epsilon_kjmol,
            tau_ps=self.tau_ps,
            tau_diffusion_ns=self.tau_diffusion_ns,
            time_calibration=(
                "tau_ps = sigma*sqrt(m/epsilon) is the MD time unit; tau_diffusion_ns maps one tau "
                "to physical time by matching the lipid lateral diffusion coefficient "
                f"D = {self.d_reduced} sigma^2/tau to {self.d_physical_nm2_per_ns} nm^2/ns"
            ),
        )
        return d
