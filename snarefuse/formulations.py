"""Equivalent formulations of the Cooke pair force, and the fastest one per OpenMM platform.

:func:`snarefuse.forcefield.create_system` writes the lipid pair interaction as one
``CustomNonbondedForce`` named ``CookePair`` (force group 2, per-particle ``b`` and ``a``, globals
``cooke_eps``, ``cooke_sigma``, ``cooke_wc``, cutoff ``r_c + w_c``, no exclusions). The same
potential can be written in several ways that OpenMM's platforms evaluate at very different speeds.
This module rewrites the ``CookePair`` force of a System into any of them:

==========================  ===================================================================
name                        what it is
==========================  ===================================================================
``expression``              the force field's own expression (``forcefields/cooke3.xml``):
                            ``step`` WCA, ``select`` plateau / ``(1 + cos 2x)/2`` tail,
                            ``b_ij = min``, ``a_ij = sqrt(a1 a2)``. The reference for the others.
``step``                    as ``expression``, the plateau/tail switch written with ``step``
                            arithmetic instead of ``select``.
``clamped``                 branch-free: WCA as ``4 eps (x6 - 1/2)^2`` with
                            ``x6 = (b_ij / min(r, 2^(1/6) b_ij))^6`` (exactly 0 beyond the WCA
                            cutoff), attraction ``(1 + cos(pi max(r - r_c, 0)/w_c))/2`` (exactly
                            1 on the plateau).
``poly``                    ``clamped`` with the cosine replaced by an odd polynomial of degree 11
                            (max. error 7e-12 eps in the pair energy, 1.4e-9 relative in the tail
                            force: below single-precision round-off). OpenMM's CPU platform
                            evaluates ``cos``/``sin`` by one scalar library call per SIMD lane;
                            the polynomial keeps the whole pair kernel in SIMD registers.
``poly_computed``           ``poly`` with ``sqrt(a)`` as a per-particle computed value
                            (``a_ij = sa1 sa2``), saving one square root per pair.
``tabulated``               ``clamped`` with the tail shape from a ``Continuous1DFunction`` of the
                            reduced distance ``u = max(r - r_c, 0)/w_c`` (1001 points on
                            [-1/2, 3/2], where the natural-spline end conditions are exact;
                            max. error 2e-12 eps in the pair energy, 2e-9 relative in the force).
``tabulated_types``         ``tabulated`` with ``b_ij`` and ``a_ij`` looked up in
                            ``Discrete2DFunction`` tables over a per-particle type index ``t``
                            (one type per distinct (b, a)) instead of ``min``/``sqrt``.
``split``                   two forces: WCA over all pairs at the WCA cutoff
                            ``2^(1/6) max(b) sigma`` (``CookePairWCA``, force group 3) and the
                            ``poly`` attraction at ``r_c + w_c`` (``CookePair``, group 2). The WCA
                            cutoff is fixed when the formulation is applied: raising
                            ``cooke_sigma`` in a Context afterwards would cut the WCA short.
``split_tabulated``         ``split`` with the ``tabulated`` attraction.
``native``                  the plugin's ``CookePairForce`` (:mod:`snarefuse.native`, C++ kernels for Reference
                            (double precision) and CPU (single precision, fvec4 SIMD, per-pair cutoffs in a
                            neighbour list with a Verlet skin). Only where the plugin is built, and there the
                            CPU and OpenCL default (:data:`NATIVE_DEFAULT_PLATFORMS`); on CPU its cutoff follows
                            the globals (``r_c + w_c``), so a ``cooke_wc`` raised in a Context is not cut short; on
                            a GPU platform one beyond the Context's cutoff is an error naming both.
``interaction_groups``      two forces with interaction groups: the full pair potential
                            (tabulated tail) between attractive beads (``a > 0``) at
                            ``r_c + w_c`` (``CookePair``, group 2), and WCA between the other
                            beads (heads) and everything at the WCA cutoff (``CookePairWCA``,
                            group 3). Refused on the CPU platform: it enumerates every pair of
                            the groups without a neighbour list (~8e8 pairs, ~6 GB at 2e4
                            lipids; bench/README.md).
==========================  ===================================================================

Every formulation keeps a force named ``CookePair`` in force group 2 whose first two per-particle
parameters are ``b`` and ``a`` and which carries the three globals, so code that reads or changes
species parameters keeps working. Split formulations add a second force ``CookePairWCA`` in force
group :data:`FORCE_GROUP_SHORT_RANGE` (3): OpenMM's GPU platforms need one cutoff per force group,
so group 2 alone then no longer holds the whole pair energy (sum groups 2 and 3).

Which formulation is fastest depends on the platform; :data:`DEFAULT_FORMULATION` records the
winners measured by ``bench/bench_formulations.py`` (see ``BENCHMARKS.md``) and
:func:`default_formulation` looks one up.

Examples
--------
>>> from snarefuse.build import build_system
>>> from snarefuse.spec import example_spec_path, load_spec
>>> built = build_system(load_spec(example_spec_path("bilayer_small")))
>>> system = apply_formulation(built.system, default_formulation("CPU"))
>>> sorted(f.getName() for f in system.getForces())
['CookeFENE', 'CookePair', 'CookeStraighteningSpring']
"""

from __future__ import annotations

import copy as _copy
import functools
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable

import numpy as np
import openmm

from . import native as _native
from .errors import PlatformError, SnarefuseError
from .forcefield import FORCE_GROUP_NONBONDED, PAIR_FORCE_NAME, forcefield_file  # the force every formulation keeps

__all__ = [
    "DEFAULT_FORMULATION",
    "FALLBACK_FORMULATION",
    "FORCE_GROUP_SHORT_RANGE",
    "FORMULATIONS",
    "FormulationError",
    "NATIVE_DEFAULT_PLATFORMS",
    "NATIVE_FORMULATION",
    "apply_formulation",
    "check_platform",
    "cooke_pair_forces",
    "default_formulation",
    "formulation_of",
]

#: Name of the second (short-range) force of the split formulations.
WCA_FORCE_NAME = "CookePairWCA"
#: Force group of ``CookePairWCA`` (GPU platforms need one cutoff per force group).
FORCE_GROUP_SHORT_RANGE = 3
GLOBALS = ("cooke_eps", "cooke_sigma", "cooke_wc")
TWO_SIXTH = 2.0 ** (1.0 / 6.0)

#: Points of the ``Continuous1DFunction`` of the tail shape on [-1/2, 3/2] (reduced distance).
TABLE_POINTS = 1001
TABLE_MIN, TABLE_MAX = -0.5, 1.5

#: Fastest pure formulation per platform (``bench/bench_formulations.py`` on 3k- and 30k-bead bilayers, OpenCL
#: through POCL; numbers per CPU model in BENCHMARKS.md). CPU: ``poly``, 1.3-1.6x ``expression``: the CPU
#: platform evaluates ``cos`` by one scalar library call per SIMD lane, which the polynomial avoids; tables are
#: 2.5x slower than it, and a split gains little (1.0-1.2x) because the CPU platform shares one neighbour list at
#: the largest cutoff among all nonbonded forces. OpenCL: ``split``,
#: 1.7-2.1x ``expression`` and 1.05-1.15x ``poly``, because the WCA force gets its own short neighbour list.
#: CUDA/HIP: ``poly`` is chosen without a GPU measurement: it is one pass over one neighbour list of branch-free
#: multiply-adds with no table reads, whereas the split's gain on POCL comes from saving arithmetic, which a GPU
#: has in excess. Replace it with a measured winner (``bench_formulations.py --platforms CUDA``).
DEFAULT_FORMULATION: dict[str, str] = {
    "Reference": "expression",
    "CPU": "poly",
    "OpenCL": "split",
    "CUDA": "poly",
    "HIP": "poly",
}
#: Formulation for platforms not in :data:`DEFAULT_FORMULATION`.
FALLBACK_FORMULATION = "expression"
#: Platforms on which the native plugin (``native``) is the default wherever its kernel is built: those where it
#: was measured faster than the pure default (BENCHMARKS.md). CPU: 6.4-7.2x ``poly`` per CPU second on an Intel Xeon.
#: OpenCL (POCL, same machine, idle): 1.07x / 1.14x ``split`` per CPU second at 3k / 30k beads. CUDA and HIP wait for
#: a GPU measurement.
NATIVE_DEFAULT_PLATFORMS = ("CPU", "OpenCL")


class FormulationError(SnarefuseError, ValueError):
    """A formulation name is unknown, or a System has no Cooke pair force to reformulate."""


# ------------------------------------------------------------------------------ the model
@dataclass
class CookePairModel:
    """Everything a formulation needs, read from a System's Cooke pair force(s)."""

    b: np.ndarray             # (N,) float64, head size factor per particle
    a: np.ndarray             # (N,) float64, tail attraction per particle
    globals: dict[str, float]  # cooke_eps (kJ/mol), cooke_sigma (nm), cooke_wc (nm)
    cutoff_nm: float          # r_c + w_c
    method: int               # CustomNonbondedForce nonbonded method
    exclusions: list[tuple[int, int]]

    @property
    def wca_cutoff_nm(self) -> float:
        """The largest WCA range, 2^(1/6) max(b) sigma (b_ij = min(b_i, b_j) <= max b)."""
        return TWO_SIXTH * float(self.b.max()) * self.globals["cooke_sigma"]


def cooke_pair_forces(system: openmm.System) -> list[int]:
    """Indices of the Cooke pair forces (``CookePair`` and, for split formulations, ``CookePairWCA``)."""
    return [i for i, f in enumerate(system.getForces()) if f.getName() in (PAIR_FORCE_NAME, WCA_FORCE_NAME)]


def _read_model(system: openmm.System) -> CookePairModel:
    pair = [f for f in system.getForces() if f.getName() == PAIR_FORCE_NAME]
    if len(pair) == 1 and _native.is_native(pair[0]):
        p = _native.force_parameters(pair[0])
        glob = {"cooke_eps": p.epsilon, "cooke_sigma": p.sigma, "cooke_wc": p.wc}
        method = (openmm.CustomNonbondedForce.CutoffPeriodic if p.periodic
                  else openmm.CustomNonbondedForce.CutoffNonPeriodic)
        return CookePairModel(b=p.b, a=p.a, globals=glob, cutoff_nm=TWO_SIXTH * p.sigma + p.wc, method=method,
                              exclusions=p.exclusions)
    if len(pair) != 1 or not isinstance(pair[0], openmm.CustomNonbondedForce):
        raise FormulationError(f"the System has {len(pair)} CustomNonbondedForce named {PAIR_FORCE_NAME!r}; "
                               "expected exactly one (create it with snarefuse.forcefield.create_system)")
    f = pair[0]
    names = [f.getPerParticleParameterName(i) for i in range(f.getNumPerParticleParameters())]
    if names[:2] != ["b", "a"]:
        raise FormulationError(f"force {PAIR_FORCE_NAME!r}: per-particle parameters {names}; expected 'b', 'a' first")
    params = np.array([f.getParticleParameters(i)[:2] for i in range(f.getNumParticles())], dtype=float)
    glob = {f.getGlobalParameterName(i): f.getGlobalParameterDefaultValue(i) for i in range(f.getNumGlobalParameters())}
    missing = [g for g in GLOBALS if g not in glob]
    if missing:
        raise FormulationError(f"force {PAIR_FORCE_NAME!r}: global parameters {missing} missing; has {sorted(glob)}")
    if f.getNumInteractionGroups() and formulation_of(system) != "interaction_groups":
        raise FormulationError(f"force {PAIR_FORCE_NAME!r} already uses interaction groups; the formulations here "
                               "rewrite a pair force over all particles only")
    return CookePairModel(
        b=params[:, 0].copy(), a=params[:, 1].copy(), globals={g: glob[g] for g in GLOBALS},
        cutoff_nm=f.getCutoffDistance().value_in_unit(openmm.unit.nanometer), method=f.getNonbondedMethod(),
        exclusions=[tuple(f.getExclusionParticles(i)) for i in range(f.getNumExclusions())])  # type: ignore[misc]


# ------------------------------------------------------------------------------ expressions
RC = f"rc={TWO_SIXTH!r}*cooke_sigma"
BIJ = "bij=cooke_sigma*min(b1,b2)"
AIJ = "aij=sqrt(a1*a2)"
#: WCA without branches: x6 = 1/2 beyond 2^(1/6) b_ij, where 4 eps (x6 - 1/2)^2 vanishes (value and slope).
WCA = f"4*cooke_eps*(x6-0.5)^2; x6=(bij/min(r,{TWO_SIXTH!r}*bij))^6"
#: Reduced distance into the cos^2 tail, 0 on the plateau.
U = "u=max(r-rc,0)/cooke_wc"


#: Coefficients c_k of t^(2k+1), k = 0..5, of the odd polynomial ~ sin(pi t) on [-1/2, 1/2]: least squares on
#: 4001 Chebyshev nodes (:func:`sin_pi_coefficients`), written out so that the expression (and the physics) does
#: not depend on the linear-algebra library. Max. error 1.3e-11 in value, 4.5e-9 in slope (of pi). Six terms
#: (degree 11) is the cheapest whose error is below float32 round-off; five are ~3% faster on the CPU platform but
#: their force error (8e-7 relative) is not.
SIN_PI_COEFFICIENTS = (3.141592653242811, -5.16771274114509, 2.5501627929836825, -0.599247388799448,
                       0.08203116484506252, -0.007000404110874433)


def sin_pi_coefficients(n_terms: int = len(SIN_PI_COEFFICIENTS)) -> np.ndarray:
    """Odd polynomial sum_k c_k t^(2k+1) ~ sin(pi t) on [-1/2, 1/2], least squares on Chebyshev nodes.

    How :data:`SIN_PI_COEFFICIENTS` was computed (``n_terms=6``).
    """
    t = 0.5 * np.cos(np.linspace(0.0, math.pi, 4001))
    powers = np.arange(1, 2 * n_terms, 2)
    coef, *_ = np.linalg.lstsq(t[:, None] ** powers, np.sin(math.pi * t), rcond=None)
    return coef


def poly_tail_expression() -> str:
    """``tail = (1 + cos(pi u))/2`` for ``u`` in [0, 1], as an OpenMM expression without trig calls.

    (1 + cos(pi u))/2 = 1/2 - sin(pi t)/2 with t = u - 1/2, a Horner polynomial in s = t^2
    (:data:`SIN_PI_COEFFICIENTS`). The caller defines ``u``.
    """
    c = [k / 2 for k in SIN_PI_COEFFICIENTS]
    horner = repr(c[-1])
    for k in c[-2::-1]:
        horner = f"{k!r}+s*({horner})"
    return f"tail=0.5-t*({horner}); s=t*t; t=u-0.5"


def _tail_table() -> openmm.Continuous1DFunction:
    x = np.linspace(TABLE_MIN, TABLE_MAX, TABLE_POINTS)
    return openmm.Continuous1DFunction((0.5 * (1.0 + np.cos(math.pi * x))).tolist(), TABLE_MIN, TABLE_MAX)


@functools.lru_cache(maxsize=None)
def _xml_expression() -> str:
    """The pair expression of the shipped force field (identical in cooke3.xml and cooke4.xml)."""
    root = ET.parse(forcefield_file("cooke3")).getroot()
    nb = root.find("CustomNonbondedForce")
    assert nb is not None
    return nb.attrib["energy"]


#: Attraction forms: (energy line, helper definitions). ``tail`` is the cos^2 shape, 1 on the plateau.
#: ("select", the force field's own form, exists only inside its expression: see :func:`_xml_expression`.)
_ATTRACTION: dict[str, tuple[str, str]] = {
    "step": ("1-step(r-rc)*0.5*(1-cos(3.141592653589793*(r-rc)/cooke_wc))", ""),
    "clamped": ("0.5*(1+cos(3.141592653589793*u))", U),
    "poly": ("tail", f"{poly_tail_expression()}; {U}"),
    "table": ("cooke_tail(u)", U),
}


@dataclass(frozen=True)
class _Form:
    """A formulation: how the pair is split into forces and how each term is written."""

    layout: str       # single | split | groups
    attraction: str   # key of _ATTRACTION, or "select" for the force field's expression
    mixing: str       # minsqrt | computed | types
    cpu_ok: bool = True


def _mixing_defs(mixing: str) -> str:
    if mixing == "minsqrt":
        return f"{BIJ}; {AIJ}"
    if mixing == "computed":
        return f"{BIJ}; aij=sa1*sa2"
    if mixing == "types":
        return "bij=cooke_sigma*cooke_btab(t1,t2); aij=cooke_atab(t1,t2)"
    raise AssertionError(mixing)


def _energy(form: _Form, part: str) -> str:
    """Energy expression of one force: part = full | wca | attraction."""
    if form.attraction == "select":
        return _xml_expression()
    att_expr, att_defs = _ATTRACTION[form.attraction]
    mixing = _mixing_defs(form.mixing)
    if form.attraction == "step":
        # keep the force field's step() WCA, only the plateau/tail switch changes
        wca = "step(rw-r)*4*cooke_eps*(x6*(x6-1)+0.25); x6=(bij/r)^6; rw=" + f"{TWO_SIXTH!r}*bij"
    else:
        wca = WCA
    wca_head, wca_defs = wca.split("; ", 1)
    if part == "wca":
        return f"{wca_head}; {wca_defs}; {mixing.split('; ')[0]}"
    if part == "attraction":
        return f"-cooke_eps*aij*({att_expr}); {att_defs + '; ' if att_defs else ''}{RC}; {mixing.split('; ')[1]}"
    return f"{wca_head} - cooke_eps*aij*({att_expr}); {wca_defs}; {att_defs + '; ' if att_defs else ''}{RC}; {mixing}"


def _new_force(model: CookePairModel, energy: str, name: str, group: int, cutoff: float, form: _Form,
               types: np.ndarray | None) -> openmm.CustomNonbondedForce:
    f = openmm.CustomNonbondedForce(energy)
    f.setName(name)
    f.setForceGroup(group)
    for g in GLOBALS:
        f.addGlobalParameter(g, model.globals[g])
    f.addPerParticleParameter("b")
    f.addPerParticleParameter("a")
    if types is not None:
        f.addPerParticleParameter("t")
    for i in range(len(model.b)):
        p = [float(model.b[i]), float(model.a[i])]
        if types is not None:
            p.append(float(types[i]))
        f.addParticle(p)
    if form.mixing == "computed" and "aij" in energy:
        f.addComputedValue("sa", "sqrt(a)")
    if "cooke_tail(" in energy:
        f.addTabulatedFunction("cooke_tail", _tail_table())
    if types is not None:
        n = int(types.max()) + 1
        b_of = {int(t): float(model.b[i]) for i, t in enumerate(types)}
        a_of = {int(t): float(model.a[i]) for i, t in enumerate(types)}
        tb = np.array([[min(b_of[i], b_of[j]) for j in range(n)] for i in range(n)])
        ta = np.array([[math.sqrt(a_of[i] * a_of[j]) for j in range(n)] for i in range(n)])
        # Discrete2DFunction values are indexed x + xsize*y
        f.addTabulatedFunction("cooke_btab", openmm.Discrete2DFunction(n, n, tb.T.ravel().tolist()))
        f.addTabulatedFunction("cooke_atab", openmm.Discrete2DFunction(n, n, ta.T.ravel().tolist()))
    f.setNonbondedMethod(model.method)
    f.setCutoffDistance(cutoff)
    f.setUseSwitchingFunction(False)
    f.setUseLongRangeCorrection(False)
    for i, j in model.exclusions:
        f.addExclusion(i, j)
    return f


def _apply(form: _Form, name: str, system: openmm.System, platform: str | None = None) -> openmm.System:
    if not form.cpu_ok:
        if platform is None:
            raise PlatformError(f"formulation {name!r} must be applied with platform=... (the OpenMM platform the "
                                "System will run on): it is refused on the CPU platform")
        _refuse_cpu(name, platform)
    model = _read_model(system)
    for i in sorted(cooke_pair_forces(system), reverse=True):
        system.removeForce(i)
    types = None
    if form.mixing == "types":
        _, types = np.unique(np.stack([model.b, model.a], axis=1), axis=0, return_inverse=True)
        types = np.asarray(types).ravel()
    if form.layout == "single":
        system.addForce(_new_force(model, _energy(form, "full"), PAIR_FORCE_NAME, FORCE_GROUP_NONBONDED,
                                   model.cutoff_nm, form, types))
    elif form.layout == "split":
        system.addForce(_new_force(model, _energy(form, "attraction"), PAIR_FORCE_NAME, FORCE_GROUP_NONBONDED,
                                   model.cutoff_nm, form, types))
        system.addForce(_new_force(model, _energy(form, "wca"), WCA_FORCE_NAME, FORCE_GROUP_SHORT_RANGE,
                                   model.wca_cutoff_nm, form, types))
    elif form.layout == "groups":
        attractive = set(np.flatnonzero(model.a > 0).tolist())
        others = set(range(len(model.a))) - attractive
        full = _new_force(model, _energy(form, "full"), PAIR_FORCE_NAME, FORCE_GROUP_NONBONDED, model.cutoff_nm,
                          form, types)
        full.addInteractionGroup(attractive, attractive)
        system.addForce(full)
        if others:
            wca = _new_force(model, _energy(form, "wca"), WCA_FORCE_NAME, FORCE_GROUP_SHORT_RANGE,
                             model.wca_cutoff_nm, form, types)
            wca.addInteractionGroup(others, set(range(len(model.a))))
            system.addForce(wca)
    else:  # pragma: no cover
        raise AssertionError(form.layout)
    return system


def _native_cutoff(model: CookePairModel) -> float:
    """The native force's interaction range (nm) under the globals' defaults: r_c + w_c where any pair attracts,
    at least the widest WCA range (CookePairPotential.h ``pairCutoff``)."""
    rc_wc = TWO_SIXTH * model.globals["cooke_sigma"] + model.globals["cooke_wc"]
    return max(model.wca_cutoff_nm, rc_wc) if float(model.a.max()) > 0 else model.wca_cutoff_nm


def _check_native_box(system: openmm.System, model: CookePairModel) -> None:
    """Refuse, naming box and cutoff, a periodic box narrower than twice the native force's range: the kernels
    would only fail at the first force evaluation (CustomNonbondedForce refuses when the Context is made)."""
    box = system.getDefaultPeriodicBoxVectors()
    sides = [box[k][k].value_in_unit(openmm.unit.nanometer) for k in range(3)]
    cutoff = _native_cutoff(model)
    if 2 * cutoff > min(sides):
        raise FormulationError(
            f"formulation 'native': the periodic box ({' x '.join(f'{x:.3f}' for x in sides)} nm) is narrower than "
            f"twice the pair cutoff r_c + w_c = {cutoff:.3f} nm (each side must be at least {2 * cutoff:.3f} nm)")


def _apply_native(system: openmm.System, platform: str | None = None) -> openmm.System:
    if platform is not None and not _native.available(platform):
        raise PlatformError(f"formulation 'native' on platform {platform!r}: {_native.why_unavailable(platform)}")
    model = _read_model(system)
    if model.method not in (openmm.CustomNonbondedForce.CutoffPeriodic, openmm.CustomNonbondedForce.CutoffNonPeriodic):
        raise FormulationError(f"formulation 'native' needs a cutoff method (CutoffPeriodic or CutoffNonPeriodic); "
                               f"the CookePair force uses method {model.method}")
    if model.method == openmm.CustomNonbondedForce.CutoffPeriodic:
        _check_native_box(system, model)
    force = _native.create_force(
        model.b, model.a, epsilon=model.globals["cooke_eps"], sigma=model.globals["cooke_sigma"],
        wc=model.globals["cooke_wc"], exclusions=model.exclusions,
        periodic=model.method == openmm.CustomNonbondedForce.CutoffPeriodic, name=PAIR_FORCE_NAME,
        force_group=FORCE_GROUP_NONBONDED)
    for i in sorted(cooke_pair_forces(system), reverse=True):
        system.removeForce(i)
    system.addForce(force)
    return system


_FORMS: dict[str, _Form] = {
    "expression": _Form("single", "select", "minsqrt"),
    "step": _Form("single", "step", "minsqrt"),
    "clamped": _Form("single", "clamped", "minsqrt"),
    "poly": _Form("single", "poly", "minsqrt"),
    "poly_computed": _Form("single", "poly", "computed"),
    "tabulated": _Form("single", "table", "minsqrt"),
    "tabulated_types": _Form("single", "table", "types"),
    "split": _Form("split", "poly", "minsqrt"),
    "split_tabulated": _Form("split", "table", "minsqrt"),
    "interaction_groups": _Form("groups", "table", "minsqrt", cpu_ok=False),
}

#: Formulation name -> callable ``f(system, platform=None) -> system`` (modifies ``system`` in place).
FORMULATIONS: dict[str, Callable[..., openmm.System]] = {
    name: functools.partial(_apply, form, name) for name, form in _FORMS.items()}
#: The plugin's force (:mod:`snarefuse.native`): accepted by :func:`apply_formulation` but kept out of
#: :data:`FORMULATIONS`, which lists the formulations every installation has.
NATIVE_FORMULATION = "native"


# ------------------------------------------------------------------------------ public API
def _refuse_cpu(name: str, platform: str) -> None:
    if platform == "CPU":
        raise PlatformError(f"formulation {name!r} uses interaction groups, which OpenMM's CPU platform evaluates "
                            "without a neighbour list (every pair of the groups, ~6 GB at 2e4 lipids): use it on "
                            f"OpenCL/CUDA/HIP only; on CPU use {default_formulation('CPU')!r}")


def apply_formulation(system: openmm.System, name: str, *, platform: str | None = None,
                      copy: bool = False) -> openmm.System:
    """Replace the Cooke pair force(s) of ``system`` by formulation ``name``.

    Parameters
    ----------
    system : openmm.System
        A System from :func:`snarefuse.forcefield.create_system` (possibly already reformulated:
        formulations can be switched back and forth).
    name : str
        A key of :data:`FORMULATIONS`.
    platform : str, optional
        The OpenMM platform the System is meant for. Required by ``interaction_groups``, which
        refuses ``"CPU"``.
    copy : bool
        False (default): modify ``system`` in place and return it. True: leave ``system``
        untouched and return a modified deep copy.

    Returns
    -------
    openmm.System
        The reformulated System. The Cooke pair forces are removed and re-added at the end of the
        force list, so the indices of the forces after them shift down; other forces are untouched.

    Raises
    ------
    FormulationError
        Unknown ``name``, or no Cooke pair force in ``system``.
    PlatformError
        ``interaction_groups`` for the CPU platform (or without ``platform``).
    """
    if name == NATIVE_FORMULATION:
        if copy:
            system = _copy.deepcopy(system)
        return _apply_native(system, platform=platform)
    if name not in FORMULATIONS:
        raise FormulationError(f"unknown force formulation {name!r}; known: {', '.join(FORMULATIONS)}")
    if copy:
        system = _copy.deepcopy(system)
    return FORMULATIONS[name](system, platform=platform)


def default_formulation(platform_name: str) -> str:
    """The fastest measured formulation for an OpenMM platform name (``"auto"`` is not a platform).

    ``native`` on the platforms of :data:`NATIVE_DEFAULT_PLATFORMS` where the plugin's kernel loads (see
    :func:`snarefuse.native.why_unavailable` for why it may not), else :data:`DEFAULT_FORMULATION`'s entry.
    """
    if platform_name in NATIVE_DEFAULT_PLATFORMS and _native.available(platform_name):
        return NATIVE_FORMULATION
    return DEFAULT_FORMULATION.get(platform_name, FALLBACK_FORMULATION)


def formulation_of(system: openmm.System) -> str | None:
    """Name of the formulation the System's ``CookePair`` force is written in, or None if unrecognised."""
    pair = [f for f in system.getForces() if f.getName() == PAIR_FORCE_NAME]
    if len(pair) == 1 and _native.is_native(pair[0]):
        return "native"
    if len(pair) != 1 or not isinstance(pair[0], openmm.CustomNonbondedForce):
        return None
    f = pair[0]
    has_wca = any(g.getName() == WCA_FORCE_NAME for g in system.getForces())
    grouped = f.getNumInteractionGroups() > 0
    for name, form in _FORMS.items():
        part = "attraction" if form.layout == "split" else "full"
        if (f.getEnergyFunction() == _energy(form, part) and (form.layout == "single") != has_wca
                and (form.layout == "groups") == grouped):
            return name
        if form.layout == "groups" and grouped and f.getEnergyFunction() == _energy(form, "full"):
            return name
    return None


def check_platform(system: openmm.System, platform_name: str) -> None:
    """Raise :class:`~snarefuse.errors.PlatformError` if the System's Cooke pair formulation must not
    run on ``platform_name`` (interaction groups on the CPU platform)."""
    for i in cooke_pair_forces(system):
        f = system.getForce(i)
        if _native.is_native(f) and not _native.available(platform_name):
            raise PlatformError("the System uses the native Cooke pair force: "
                                f"{_native.why_unavailable(platform_name)}")
        if isinstance(f, openmm.CustomNonbondedForce) and f.getNumInteractionGroups() > 0:
            _refuse_cpu(formulation_of(system) or "interaction_groups", platform_name)
