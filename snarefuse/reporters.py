"""In-run observables following OpenMM's reporter protocol (``describeNextReport`` / ``report``).

Every file reporter knows its byte size after each flush, so that a checkpoint can record it and
a resumed run can cut the file back to exactly the state of that checkpoint: no lost and no
duplicated frames or rows.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import IO, Any, Sequence

import numpy as np
import openmm
from openmm import app

from .errors import BlowUpError
from .units import BOLTZMANN_KJ_PER_MOL_K, ReducedUnits

#: A potential energy above this many epsilon per particle is treated as a blow-up (a fluid
#: Cooke membrane sits near +10 epsilon per bead, dominated by the FENE/WCA bond terms).
BLOWUP_ENERGY_PER_PARTICLE_EPS = 1.0e3

#: Columns of ``log.csv``. ``area_per_lipid_sigma2`` is the projected area per lipid of the planar bilayer(s),
#: ``box_x * box_y`` over the lipids in one leaflet of a planar bilayer, in sigma^2 (see
#: :func:`planar_lipids_per_leaflet`): vesicle lipids do not count, and each of two planar bilayers spans the
#: whole box on its own. It is ``nan`` in a system without a planar bilayer (``vesicle_vesicle``).
LOG_COLUMNS = ["step", "time_ps", "time_tau", "time_ns_diffusion", "potential_energy_kjmol",
               "kinetic_energy_kjmol", "temperature_k", "box_x_nm", "box_y_nm", "box_z_nm",
               "area_per_lipid_sigma2", "steps_per_second"]
#: Columns of log.csv measured on the wall clock (the speed since the previous row, as OpenMM's StateDataReporter
#: reports it): the only ones that differ between a resumed run and an uninterrupted one.
WALL_CLOCK_COLUMNS = ("steps_per_second",)


def log_columns(parameters: Sequence[str] = ()) -> list[str]:
    """The columns of a run's log.csv: :data:`LOG_COLUMNS`, then the value of each global parameter its
    ``run.protocol`` sets (:mod:`snarefuse.protocol`), as in the Context when the row's state was taken."""
    return [*LOG_COLUMNS, *parameters]


def planar_lipids_per_leaflet(manifest: dict[str, Any]) -> float | None:
    """Lipids in one leaflet of a planar bilayer, from a build's ``manifest.json``: half of each planar
    bilayer's lipids, averaged over the planar bilayers (their leaflets differ by the odd lipid and by the
    lipids removed for SNARE transmembrane domains). None when the system has no planar bilayer."""
    planar = [m for m in manifest.get("membranes", []) if m.get("kind") == "planar"]
    if not planar:
        return None
    return sum(int(m["n_lipids"]) for m in planar) / (2 * len(planar))


def _interval_report(simulation: app.Simulation, interval: int, **needs: bool) -> dict[str, Any]:
    steps = interval - simulation.currentStep % interval
    d = {"steps": steps, "periodic": True, "include": [k for k, v in needs.items() if v]}
    return d


def worst_particles(state: openmm.State, n: int = 5) -> list[int]:
    """Indices of the particles with non-finite or the largest forces."""
    f = state.getForces(asNumpy=True).value_in_unit(openmm.unit.kilojoule_per_mole / openmm.unit.nanometer)
    mag = np.linalg.norm(f, axis=1)
    mag = np.where(np.isfinite(mag), mag, np.inf)
    return [int(i) for i in np.argsort(-mag)[:n]]


class CSVLogReporter:
    """Energies, temperature and box to a CSV file; raises :class:`BlowUpError` on NaN/explosion."""

    def __init__(self, path: str | Path, interval: int, units: ReducedUnits, n_particles: int,
                 n_lipids_per_leaflet: float | None, append: bool = False, parameters: Sequence[str] = ()):
        """``n_lipids_per_leaflet``: lipids in one leaflet of the planar bilayer(s)
        (:func:`planar_lipids_per_leaflet`), the denominator of ``area_per_lipid_sigma2``; None (no planar
        bilayer) logs ``nan``. ``parameters``: Context parameters logged after the standard columns."""
        self.parameters = list(parameters)
        self.path = Path(path)
        self.interval = interval
        self.units = units
        self.dof = 3 * n_particles
        self.n_particles = n_particles
        self.n_per_leaflet = n_lipids_per_leaflet if n_lipids_per_leaflet else None
        self._clock: tuple[int, float] | None = None  # (step, time.perf_counter()) of the last row or the first step
        new = not append or not self.path.exists() or self.path.stat().st_size == 0
        self._f: IO[str] = open(self.path, "a" if append else "w")
        if new:
            self._f.write(",".join(log_columns(self.parameters)) + "\n")
            self.flush()

    def describeNextReport(self, simulation: app.Simulation) -> dict[str, Any]:  # noqa: N802
        if self._clock is None:
            self._clock = (simulation.currentStep, time.perf_counter())
        return _interval_report(simulation, self.interval, energy=True)

    def report(self, simulation: app.Simulation, state: openmm.State) -> None:
        step = simulation.currentStep
        now = time.perf_counter()
        last_step, last_time = self._clock or (step, now)
        speed = (step - last_step) / (now - last_time) if step > last_step and now > last_time else math.nan
        self._clock = (step, now)
        pe = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
        ke = state.getKineticEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
        if not (math.isfinite(pe) and math.isfinite(ke)) or \
                pe > BLOWUP_ENERGY_PER_PARTICLE_EPS * self.units.epsilon_kjmol * self.n_particles:
            bad = worst_particles(simulation.context.getState(getForces=True))
            raise BlowUpError(
                f"simulation blew up at step {step}: potential energy {pe:.4g} kJ/mol, kinetic {ke:.4g} kJ/mol "
                f"(particles with the largest forces: {bad}). The time step may be too large or the start "
                "overlapping; the last good state is the last checkpoint.", step=step, particles=bad)
        a, b, c = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(openmm.unit.nanometer)
        t_ps = state.getTime().value_in_unit(openmm.unit.picosecond)
        t_tau = t_ps / self.units.tau_ps
        temp = 2 * ke / (self.dof * BOLTZMANN_KJ_PER_MOL_K)
        apl = math.nan if self.n_per_leaflet is None else a[0] * b[1] / self.n_per_leaflet / self.units.sigma_nm**2
        row = [step, t_ps, t_tau, t_tau * self.units.tau_diffusion_ns, pe, ke, temp, a[0], b[1], c[2], apl, speed,
               *(simulation.context.getParameter(p) for p in self.parameters)]
        self._f.write(",".join(str(step) if i == 0 else f"{v:.8g}" for i, v in enumerate(row)) + "\n")

    def flush(self) -> int:
        """Flush to disk; return the file size in bytes."""
        self._f.flush()
        os.fsync(self._f.fileno())
        return self.path.stat().st_size

    def close(self) -> None:
        self._f.close()


class TrajectoryReporter:
    """DCD or XTC trajectory, molecules kept whole and wrapped into the box."""

    def __init__(self, path: str | Path, fmt: str, interval: int, topology: app.Topology, dt_ps: float,
                 append: bool = False):
        self.path = Path(path)
        self.interval = interval
        self.fmt = fmt
        self._dcd: IO[bytes] | None = None
        self._writer: Any = None
        self._topology = topology
        self._dt = dt_ps
        self._append = append and self.path.exists() and self.path.stat().st_size > 0

    def _open(self, simulation: app.Simulation) -> None:
        if self.fmt == "dcd":
            self._dcd = open(self.path, "r+b" if self._append else "wb")
            if self._append:
                self._dcd.seek(0, os.SEEK_END)
            self._writer = app.DCDFile(self._dcd, self._topology, self._dt, self.interval, self.interval, append=self._append)
        else:
            if not self._append and self.path.exists():
                self.path.unlink()
            self._writer = app.XTCFile(str(self.path), self._topology, self._dt, self.interval, self.interval,
                                       append=self._append)

    def describeNextReport(self, simulation: app.Simulation) -> dict[str, Any]:  # noqa: N802
        d = _interval_report(simulation, self.interval, positions=True)
        d["enforcePeriodicBox"] = True
        return d

    def report(self, simulation: app.Simulation, state: openmm.State) -> None:
        if self._writer is None:
            self._open(simulation)
        pos = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
        if not np.all(np.isfinite(pos)):
            raise BlowUpError(f"non-finite positions at step {simulation.currentStep}; the last good state "
                              "is the last checkpoint", step=simulation.currentStep)
        self._writer.writeModel(pos * openmm.unit.nanometer,
                                periodicBoxVectors=state.getPeriodicBoxVectors())

    def flush(self) -> int:
        if self._dcd is not None:
            self._dcd.flush()
            os.fsync(self._dcd.fileno())
        return self.path.stat().st_size if self.path.exists() else 0

    def close(self) -> None:
        if self._dcd is not None:
            self._dcd.close()


class ProgressReporter:
    """A one-line progress bar with throughput and ETA, on a terminal only."""

    def __init__(self, interval: int, total_steps: int, dt_ps: float, units: ReducedUnits,
                 stream: IO[str] | None = None):
        self.interval = interval
        self.total = total_steps
        self.dt_ps = dt_ps
        self.units = units
        self.stream = stream or sys.stderr
        self._t0: float | None = None
        self._s0 = 0

    def describeNextReport(self, simulation: app.Simulation) -> dict[str, Any]:  # noqa: N802
        return _interval_report(simulation, self.interval)

    def report(self, simulation: app.Simulation, state: openmm.State) -> None:
        step = simulation.currentStep
        now = time.perf_counter()
        if self._t0 is None:
            self._t0, self._s0 = now, step
            return
        rate = (step - self._s0) / max(now - self._t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        frac = step / self.total if self.total else 1.0
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        tau_day = rate * 86400 * self.dt_ps / self.units.tau_ps
        self.stream.write(f"\r[{bar}] {100 * frac:5.1f}% step {step}/{self.total}  {rate:,.0f} steps/s  "
                          f"{tau_day:,.0f} tau/day  ETA {_hms(eta)}   ")
        self.stream.flush()

    def close(self) -> None:
        if self._t0 is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._t0 = None


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--:--"
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
