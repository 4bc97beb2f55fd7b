"""Quantities with units and the strict section reader of the spec parser.

``parse_quantity("0.88 nm", "length", "model.sigma")`` turns a number or a string with a unit into a float in
OpenMM's MD units (nm, ps, K, amu, kJ/mol, bar*nm, s), resolving the reduced units (sigma, tau, epsilon, kT)
through a :class:`~snarefuse.units.ReducedUnits`. :class:`Section` reads one mapping of a spec, rejecting
unknown keys and naming the dotted field of every error. :func:`show_value` is how an error message quotes
what the user wrote: bounded, so that a hostile value (a YAML alias bomb, a megabyte string) cannot make the
message itself exhaust memory.
"""

from __future__ import annotations

import math
import re
import reprlib
from typing import Any

from .errors import SpecError
from .units import BAR_PER_KJMOL_NM3 as _BAR, ReducedUnits


#: For each dimension: unit string -> factor to MD units, or a reduced unit name.
_UNITS: dict[str, dict[str, float | str]] = {
    "length": {"nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0, "angstrom": 0.1,
               "angstroms": 0.1, "a": 0.1, "å": 0.1, "pm": 1e-3, "um": 1e3, "sigma": "sigma"},
    "area": {"nm^2": 1.0, "nm2": 1.0, "angstrom^2": 0.01, "a^2": 0.01, "å^2": 0.01, "sigma^2": "sigma^2"},
    "time": {"fs": 1e-3, "ps": 1.0, "ns": 1e3, "us": 1e6, "ms": 1e9, "femtosecond": 1e-3, "femtoseconds": 1e-3,
             "picosecond": 1.0, "picoseconds": 1.0, "nanosecond": 1e3, "nanoseconds": 1e3, "tau": "tau"},
    "rate": {"/ps": 1.0, "1/ps": 1.0, "/ns": 1e-3, "1/ns": 1e-3, "/tau": "1/tau", "1/tau": "1/tau"},
    # Celsius is an offset, not a factor: parse_quantity adds CELSIUS_ZERO_K
    "temperature": {"k": 1.0, "kelvin": 1.0, "degc": "degC", "°c": "degC", "celsius": "degC"},
    "mass": {"amu": 1.0, "da": 1.0, "g/mol": 1.0},
    "energy": {"kj/mol": 1.0, "kcal/mol": 4.184, "kt": "kT", "epsilon": "epsilon", "eps": "epsilon"},
    # surface tension in OpenMM's unit for MonteCarloMembraneBarostat, bar*nm
    "tension": {"bar*nm": 1.0, "mn/m": 10.0, "kj/mol/nm^2": _BAR, "epsilon/sigma^2": "epsilon/sigma^2"},
    "wallclock": {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0, "minute": 60.0,
                  "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0, "d": 86400.0,
                  "day": 86400.0, "days": 86400.0},
    # OpenMM's pressure unit is the bar
    "pressure": {"bar": 1.0, "atm": 1.01325, "pa": 1e-5, "kpa": 1e-2, "mpa": 10.0, "kj/mol/nm^3": _BAR,
                 "kt/nm^3": "kT/nm^3", "kt/sigma^3": "kT/sigma^3", "epsilon/sigma^3": "epsilon/sigma^3"},
}
#: 0 °C in kelvin.
CELSIUS_ZERO_K = 273.15
_MD_UNIT = {
    "length": "nm", "area": "nm^2", "time": "ps", "rate": "/ps", "temperature": "K", "mass": "amu",
    "energy": "kJ/mol", "tension": "bar*nm", "wallclock": "s",
    "pressure": "bar",
}
#: Most characters of a user's value that an error message quotes.
MAX_SHOWN_CHARS = 120
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxtuple, _REPR.maxset = 3, 6, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = MAX_SHOWN_CHARS, MAX_SHOWN_CHARS, 40


def show_value(value: Any) -> str:
    """``repr(value)`` for an error message, at most :data:`MAX_SHOWN_CHARS` characters.

    Nested containers are cut at depth 3 and 6 items per level before any text is made, so the cost is
    bounded even for a value whose full repr would be astronomically long (YAML aliases nest one list
    into another; ``[a]*9`` nine levels deep is a 9^9-element repr).

    Examples
    --------
    >>> show_value("x" * 1000)[-5:]
    "...'"
    >>> len(show_value([[[[[1] * 10] * 10] * 10] * 10] * 10)) <= MAX_SHOWN_CHARS
    True
    """
    text = _REPR.repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS - 3] + "..."


_QUANTITY_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def parse_quantity(value: Any, dimension: str, path: str, units: ReducedUnits | None = None) -> float:
    """Parse a number or a ``"<number> <unit>"`` string into a float in MD units.

    Parameters
    ----------
    value : float or str
        ``0.88`` (MD units), ``"0.88 nm"``, ``"1 sigma"``, ``"0.01 tau"`` ...
    dimension : str
        One of ``length, area, time, rate, temperature, mass, energy, tension, wallclock, pressure``.
    path : str
        Dotted spec field, used in error messages.
    units : ReducedUnits, optional
        Needed to resolve reduced units (sigma, tau, epsilon, kT).

    Examples
    --------
    >>> parse_quantity("8.8 angstrom", "length", "model.sigma")
    0.88
    """
    table = _UNITS[dimension]
    accepted = ", ".join(sorted({k for k in table if k not in ("a", "a^2", "eps")}))
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError(path, f"expected a number or a string like '1.0 {_MD_UNIT[dimension]}', "
                              f"got {type(value).__name__} {show_value(value)}")
    if isinstance(value, (int, float)):
        # an int beyond the float range (YAML reads 1 followed by 400 zeros as one) is not finite either
        number, unit = (float(value) if not isinstance(value, int) or abs(value) < 2**1023 else math.inf), ""
    else:
        m = _QUANTITY_RE.match(value)
        if not m:
            raise SpecError(path, f"cannot read {show_value(value)} as a quantity; write e.g. "
                                  f"'1.0 {_MD_UNIT[dimension]}' (units accepted: {accepted})")
        number, unit = float(m.group(1)), m.group(2).strip().lower().replace(" ", "")
    if not math.isfinite(number):
        raise SpecError(path, f"must be finite, got {show_value(value)}")
    if unit == "":
        return number
    if unit not in table:
        raise SpecError(path, f"unit {show_value(unit)} is not a {dimension} unit; accepted: {accepted}")
    factor = table[unit]
    if isinstance(factor, float):
        return number * factor
    if factor == "degC":
        return number + CELSIUS_ZERO_K
    if units is None:  # pragma: no cover - model is always parsed first
        raise SpecError(path, f"reduced unit {unit!r} needs the model section")
    reduced = {
        "sigma": units.sigma_nm,
        "sigma^2": units.sigma_nm**2,
        "tau": units.tau_ps,
        "1/tau": 1.0 / units.tau_ps,
        "kT": units.kt_kjmol,
        "epsilon": units.epsilon_kjmol,
        "epsilon/sigma^2": units.epsilon_kjmol / units.sigma_nm**2 * _BAR,
        "kT/nm^3": units.kt_kjmol * _BAR,
        "kT/sigma^3": units.kt_kjmol / units.sigma_nm**3 * _BAR,
        "epsilon/sigma^3": units.epsilon_kjmol / units.sigma_nm**3 * _BAR,
    }[factor]
    return number * reduced


# --------------------------------------------------------------------------------------------
# strict section reader
# --------------------------------------------------------------------------------------------

_MISSING = object()


class Section:
    """Reads one mapping strictly: every key must be consumed, unknown keys are errors."""

    def __init__(self, data: Any, path: str, allowed: list[str]):
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SpecError(path or "<top level>", f"expected a mapping with keys {allowed}, "
                                                   f"got {type(data).__name__}")
        unknown = [k for k in data if k not in allowed]
        if unknown:
            key = unknown[0]
            name = key if isinstance(key, str) and len(key) <= MAX_SHOWN_CHARS else show_value(key)
            raise SpecError(join_path(path, name),
                            f"unknown key; accepted keys here: {', '.join(allowed)}")
        self.data = data
        self.path = path

    def p(self, key: str) -> str:
        return join_path(self.path, key)

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.data and self.data[key] is not None:
            return self.data[key]
        if default is _MISSING:
            raise SpecError(self.p(key), "is required")
        return default

    def qty(self, key: str, dim: str, default: Any = _MISSING, units: ReducedUnits | None = None,
            positive: bool = True, allow_zero: bool = False) -> float:
        v = parse_quantity(self.raw(key, default), dim, self.p(key), units)
        if positive and (v < 0 or (v == 0 and not allow_zero)):
            raise SpecError(self.p(key), f"must be {'>= 0' if allow_zero else '> 0'}, got {v:g} "
                                         f"{_MD_UNIT[dim]}")
        return v

    def opt_qty(self, key: str, dim: str, units: ReducedUnits | None = None) -> float | None:
        if self.raw(key, None) is None:
            return None
        return self.qty(key, dim, units=units)

    def integer(self, key: str, default: Any = _MISSING, minimum: int | None = 0) -> int:
        v = self.raw(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise SpecError(self.p(key), f"expected an integer, got {type(v).__name__} {show_value(v)}")
        if minimum is not None and v < minimum:
            raise SpecError(self.p(key), f"must be >= {minimum}, got {v}")
        return int(v)

    def opt_integer(self, key: str, minimum: int | None = 0) -> int | None:
        return None if self.raw(key, None) is None else self.integer(key, minimum=minimum)

    def number(self, key: str, default: Any = _MISSING, minimum: float | None = None,
               exclusive: bool = False) -> float:
        v = self.raw(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(self.p(key), f"expected a number, got {type(v).__name__} {show_value(v)}")
        v = float(v)
        if not math.isfinite(v):
            raise SpecError(self.p(key), f"must be finite, got {show_value(v)}")
        if minimum is not None and (v < minimum or (exclusive and v == minimum)):
            raise SpecError(self.p(key), f"must be {'>' if exclusive else '>='} {minimum:g}, got {v:g}")
        return v

    def string(self, key: str, default: Any = _MISSING, choices: list[str] | None = None) -> str:
        v = self.raw(key, default)
        if not isinstance(v, str):
            raise SpecError(self.p(key), f"expected a string, got {type(v).__name__} {show_value(v)}")
        if choices is not None and v not in choices:
            raise SpecError(self.p(key), f"{show_value(v)} is not accepted; choose one of: {', '.join(choices)}")
        return v

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        v = self.raw(key, default)
        if not isinstance(v, bool):
            raise SpecError(self.p(key), f"expected true or false, got {show_value(v)}")
        return v


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def fmt_float(x: float) -> str:
    """Canonical text of a float: 12 significant digits, so that equal quantities written in
    different units ("8.8 angstrom", "0.88 nm") serialise, and hash, identically."""
    return repr(float(f"{float(x):.12g}"))
