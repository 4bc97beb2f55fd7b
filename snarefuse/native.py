"""The native Cooke pair force: an OpenMM plugin (``plugin/``) loaded at run time.

The plugin's ``CookePairForce`` is the Cooke pair interaction written in C++ (a double-precision Reference kernel,
a single-precision SIMD CPU kernel, and one common-compute kernel for OpenCL, CUDA and HIP; the potential is the one
of ``forcefields/cooke3.xml`` and ``docs/model.md``: WCA size ``b_ij = sigma min(b_i, b_j)``, tail attraction ``a_ij = sqrt(a_i a_j)``, globals
``cooke_eps``, ``cooke_sigma``, ``cooke_wc`` changeable in a Context). ``pip install`` compiles it (setup.py; needs a C++17 compiler, and takes
cmake and the OpenMM headers from its build requirements) where it can; where it cannot, the install still
succeeds, everything else runs without it, and the reason is kept beside the libraries (:data:`BUILD_RECORD`) and
reported by :func:`why_unavailable`. Where it loads, it is the CPU platform's default formulation
(:func:`snarefuse.formulations.default_formulation`).

In a source checkout it can be rebuilt by hand::

    python -m snarefuse.native build                # compiles plugin/ and copies the libraries next to this module
    python -m snarefuse.native build --if-possible  # the same, or a note and exit 0 without cmake/a compiler
    python -m snarefuse.native status               # says whether it loads, and why not

Python reaches the force without a SWIG wrapper of its own: the plugin registers an XML serialization proxy,
so :func:`create_force` writes the force as XML and lets ``openmm.XmlSerializer`` build the C++ object. What comes
back is an ordinary ``openmm.Force`` that ``System.addForce``, ``copy.deepcopy`` and ``XmlSerializer`` handle
like any other, as long as the plugin is loaded (:func:`load`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import openmm

from .errors import SnarefuseError
from .forcefield import PAIR_FORCE_NAME

__all__ = [
    "NativeError",
    "NativeForceParameters",
    "available",
    "build",
    "create_force",
    "force_parameters",
    "is_native",
    "library_dir",
    "load",
    "missing_build_tools",
    "native_platforms",
    "report",
    "why_unavailable",
]

#: Environment variable naming a directory with the built libraries (overrides :data:`DEFAULT_LIBRARY_DIR`).
LIBRARY_DIR_ENV = "SNAREFUSE_NATIVE_DIR"
#: Where ``python -m snarefuse.native build`` puts the libraries.
DEFAULT_LIBRARY_DIR = Path(__file__).resolve().parent / "_native"
#: The plugin's sources in a source checkout.
PLUGIN_SOURCE = Path(__file__).resolve().parent.parent / "plugin"
#: The API + serialization + Reference kernel library (loaded first), then one kernel library per platform.
API_LIBRARY = "libSnarefuseCooke.so"
CPU_LIBRARY = "libSnarefuseCookeCPU.so"
OPENCL_LIBRARY = "libSnarefuseCookeOpenCL.so"
CUDA_LIBRARY = "libSnarefuseCookeCUDA.so"
HIP_LIBRARY = "libSnarefuseCookeHIP.so"
#: Kernel library per platform, each loaded where OpenMM has that platform. The GPU ones are the common-compute
#: kernel, built where the platform's OpenMM library and headers were found (CUDA: the openmm-cuda-12/-13 wheel and
#: the CUDA toolkit's cuda.h; HIP: the openmm-hip-6/-7 wheel and ROCm's hip/hip_runtime.h).
PLATFORM_LIBRARIES = {"CPU": CPU_LIBRARY, "OpenCL": OPENCL_LIBRARY, "CUDA": CUDA_LIBRARY, "HIP": HIP_LIBRARY}
#: What the install-time build (setup.py) writes beside the libraries: ``{"built": bool, "reason": str | None,
#: "openmm_version": str | None, "not_built": {GPU platform: why its kernel was not built}}``.
BUILD_RECORD = "build.json"
#: The ``type`` the plugin's serialization proxy writes.
XML_TYPE = "CookePairForce"
#: ``CookePairForce::NonbondedMethod``.
CUTOFF_NONPERIODIC, CUTOFF_PERIODIC = 1, 2


class NativeError(SnarefuseError, RuntimeError):
    """The native plugin is not built, does not load, or was asked for something it cannot do."""


def library_dir() -> Path:
    """Directory the plugin libraries are loaded from (``$SNAREFUSE_NATIVE_DIR`` or :data:`DEFAULT_LIBRARY_DIR`)."""
    env = os.environ.get(LIBRARY_DIR_ENV)
    return Path(env) if env else DEFAULT_LIBRARY_DIR


def _build_record(directory: Path) -> dict:
    """The install-time build's record in ``directory`` (empty where there is none or it is unreadable)."""
    try:
        record = json.loads((directory / BUILD_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _version_note(record: dict) -> str:
    built_with = record.get("openmm_version")
    if built_with and built_with != openmm.__version__:
        return (f" (it was built against OpenMM {built_with}, this is OpenMM {openmm.__version__}: rebuild with "
                "`pip install --no-build-isolation .` or `python -m snarefuse.native build`)")
    return ""


def _load() -> tuple[tuple[str, ...], str | None]:
    """(platforms with a kernel, why what is missing is missing, or None)."""
    platforms, reasons = _load_libraries()
    return platforms, "; ".join(reasons.values()) or None


@functools.lru_cache(maxsize=None)
def _load_libraries() -> tuple[tuple[str, ...], dict[str, str]]:
    """Load the libraries once. Returns (platforms with a kernel, {platform or "": why its kernel is missing})."""
    directory = library_dir()
    record = _build_record(directory)
    api = directory / API_LIBRARY
    if not api.is_file():
        if record.get("built") is False and record.get("reason"):
            return (), {"": "the native Cooke plugin was not built (by pip install or python -m snarefuse.native "
                            f"build): {record['reason']}. snarefuse runs on its pure formulations; install a C++17 "
                            "compiler and reinstall, or run `python -m snarefuse.native build` in a source checkout"}
        return (), {"": f"the native Cooke plugin is not built ({api} does not exist): reinstall snarefuse with a "
                        "C++17 compiler present, or run `python -m snarefuse.native build` in a source checkout"}
    try:
        openmm.Platform.loadPluginLibrary(str(api))
    except Exception as exc:  # OpenMMException from dlopen: a broken or mismatched build
        return (), {"": f"the native Cooke plugin {api} does not load: {exc}{_version_note(record)}"}
    platforms = ["Reference"]
    reasons = {}
    loaded = {openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())}
    not_built = record.get("not_built") or {}
    for name, library in PLATFORM_LIBRARIES.items():
        path = directory / library
        if not path.is_file():
            # the build's own reason where it gave one (a GPU platform's OpenMM library or headers missing), said
            # whether or not OpenMM has that platform here, so that a user setting it up learns both
            if name in not_built:
                reasons[name] = (f"the native {name} kernel was not built: {not_built[name]}"
                                 + ("" if name in loaded else f" (and OpenMM has no {name} platform here)"))
            elif name in loaded:
                reasons[name] = f"the native {name} kernel was not built ({path} does not exist)"
            continue
        if name not in loaded:
            continue  # OpenMM itself has no such platform here (no driver, say), so its kernel cannot be loaded
        try:
            openmm.Platform.loadPluginLibrary(str(path))
            platforms.append(name)
        except Exception as exc:
            reasons[name] = f"the native {name} kernel {path} does not load: {exc}{_version_note(record)}"
    return tuple(platforms), reasons


def load() -> tuple[str, ...]:
    """Load the plugin (once per process) and return the platforms that have a native kernel.

    Raises
    ------
    NativeError
        The plugin is not built or does not load (the message says which and what to do).
    """
    platforms, reason = _load()
    if not platforms:
        raise NativeError(reason)
    return platforms


def available(platform_name: str | None = None) -> bool:
    """Whether the plugin loads (and, given ``platform_name``, has a kernel for that platform)."""
    platforms, _ = _load()
    return bool(platforms) and (platform_name is None or platform_name in platforms)


def native_platforms() -> tuple[str, ...]:
    """Platforms with a native kernel; empty when the plugin is absent."""
    return _load()[0]


def why_unavailable(platform_name: str | None = None) -> str | None:
    """Why the plugin (or its kernel for ``platform_name``) is absent; None when it is there."""
    platforms, reasons = _load_libraries()
    if not platforms:
        return reasons[""]
    if platform_name is not None and platform_name not in platforms:
        if platform_name in reasons:
            return reasons[platform_name]
        loaded = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
        if platform_name not in loaded:
            failures = [f for f in openmm.Platform.getPluginLoadFailures() if platform_name in f]
            return (f"OpenMM has no {platform_name} platform here, so no native kernel is loaded for it"
                    + (f" (plugin load failures: {'; '.join(failures)})" if failures else ""))
        return f"the native Cooke plugin has no kernel for platform {platform_name!r} (it has {', '.join(platforms)})"
    return None


def report() -> dict[str, object]:
    """What ``snarefuse platforms`` says about the plugin: whether it loads, from where, for which platforms, and
    why a kernel is absent (JSON-ready)."""
    platforms, reason = _load()
    return {"available": bool(platforms), "platforms": list(platforms), "library_dir": str(library_dir()),
            "reason": reason}


# ------------------------------------------------------------------------------ the force
@dataclass
class NativeForceParameters:
    """What a native ``CookePairForce`` holds (read back by :func:`force_parameters`)."""

    b: np.ndarray                       # (N,) float64
    a: np.ndarray                       # (N,) float64
    epsilon: float                      # kJ/mol, default of cooke_eps
    sigma: float                        # nm, default of cooke_sigma
    wc: float                           # nm, default of cooke_wc
    exclusions: list[tuple[int, int]]
    periodic: bool
    name: str
    force_group: int


def create_force(b: Sequence[float] | np.ndarray, a: Sequence[float] | np.ndarray, *, epsilon: float, sigma: float,
                 wc: float, exclusions: Iterable[Sequence[int]] = (), periodic: bool = True,
                 name: str = PAIR_FORCE_NAME, force_group: int = 0) -> openmm.Force:
    """A native ``CookePairForce`` as an ``openmm.Force``.

    Parameters
    ----------
    b, a : (N,) float
        Per-particle WCA size factor (> 0, in units of sigma) and tail attraction (>= 0, 0 for heads).
    epsilon, sigma, wc : float
        Defaults of the globals ``cooke_eps`` (kJ/mol), ``cooke_sigma`` (nm), ``cooke_wc`` (nm).
    exclusions : (K, 2) int
        Pairs that do not interact.
    periodic : bool
        Minimum image in the periodic box (True) or no periodicity (False). The cutoff is always the
        potential's own range.
    name, force_group : str, int
        ``Force.setName`` / ``setForceGroup``.

    Raises
    ------
    NativeError
        The plugin is not loaded, or the parameters are refused (the plugin's message is kept).
    """
    load()
    b = np.asarray(b, dtype=float).ravel()
    a = np.asarray(a, dtype=float).ravel()
    if b.shape != a.shape:
        raise NativeError(f"create_force: b has {b.size} values, a has {a.size}; give one of each per particle")
    root = ET.Element("Force", {
        "type": XML_TYPE, "version": "1", "forceGroup": str(int(force_group)), "name": name,
        "method": str(CUTOFF_PERIODIC if periodic else CUTOFF_NONPERIODIC),
        "epsilon": repr(float(epsilon)), "sigma": repr(float(sigma)), "wc": repr(float(wc))})
    particles = ET.SubElement(root, "Particles")
    for bi, ai in zip(b.tolist(), a.tolist()):
        ET.SubElement(particles, "Particle", {"b": repr(bi), "a": repr(ai)})
    excl = ET.SubElement(root, "Exclusions")
    for i, j in exclusions:
        ET.SubElement(excl, "Exclusion", {"p1": str(int(i)), "p2": str(int(j))})
    try:
        return openmm.XmlSerializer.deserialize(ET.tostring(root, encoding="unicode"))
    except Exception as exc:
        raise NativeError(f"the native CookePairForce refused its parameters: {exc}") from exc


def is_native(force: openmm.Force) -> bool:
    """Whether ``force`` is a native ``CookePairForce`` (SWIG shows plugin forces as plain ``openmm.Force``)."""
    if type(force) is not openmm.Force:
        return False
    head = openmm.XmlSerializer.serialize(force)[:300]
    return f'type="{XML_TYPE}"' in head


def force_parameters(force: openmm.Force) -> NativeForceParameters:
    """Read a native ``CookePairForce`` back (through its XML form)."""
    root = ET.fromstring(openmm.XmlSerializer.serialize(force))
    if root.get("type") != XML_TYPE:
        raise NativeError(f"force_parameters: the force is a {root.get('type')!r}, not a native {XML_TYPE}")
    particles = root.find("Particles")
    exclusions = root.find("Exclusions")
    assert particles is not None and exclusions is not None
    ba = np.array([[float(p.get("b", "nan")), float(p.get("a", "nan"))] for p in particles], dtype=float)
    ba = ba.reshape(-1, 2)
    return NativeForceParameters(
        b=ba[:, 0].copy(), a=ba[:, 1].copy(), epsilon=float(root.get("epsilon", "nan")),
        sigma=float(root.get("sigma", "nan")), wc=float(root.get("wc", "nan")),
        exclusions=[(int(e.get("p1", -1)), int(e.get("p2", -1))) for e in exclusions],
        periodic=int(root.get("method", "0")) == CUTOFF_PERIODIC, name=root.get("name", ""),
        force_group=int(root.get("forceGroup", "0")))


# ------------------------------------------------------------------------------ building
#: The plugin's build script in a source checkout (what ``pip install`` runs too, from setup.py).
BUILD_SCRIPT = "build_plugin.py"


def _plugin_builder(source: Path = PLUGIN_SOURCE):
    """``plugin/build_plugin.py`` of the source checkout, as a module (it is not part of the installed package)."""
    import importlib.util

    script = Path(source) / BUILD_SCRIPT
    if not script.is_file():
        raise NativeError(f"no plugin sources at {source} (build from a source checkout of snarefuse, "
                          "or pass source=<path to plugin/>)")
    spec = importlib.util.spec_from_file_location("snarefuse_build_plugin", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing_build_tools(source: Path = PLUGIN_SOURCE) -> str | None:
    """What the build lacks (cmake, a C++ compiler), or None when both are found."""
    missing = []
    cmake = _plugin_builder(source).find_cmake() if (Path(source) / BUILD_SCRIPT).is_file() else shutil.which("cmake")
    if cmake is None:
        missing.append("cmake is not on PATH")
    compilers = [os.environ.get("CXX", ""), "c++", "g++", "clang++"]
    if not any(c and shutil.which(c) for c in compilers):
        missing.append("no C++ compiler on PATH (c++, g++, clang++ or $CXX)")
    return "; ".join(missing) or None


def build(source: Path = PLUGIN_SOURCE, build_dir: Path | None = None, destination: Path | None = None,
          jobs: int = 2) -> Path:
    """Compile ``plugin/`` with CMake against the installed openmm and put the libraries and the build record into
    ``destination`` (default :func:`library_dir`), through the plugin's build script (the one ``pip install``
    runs). Returns ``destination``.

    Raises
    ------
    NativeError
        no plugin sources, cmake or the compiler is missing, or the build fails (with CMake's output); the
        destination then holds no library, only the record of why.
    """
    builder = _plugin_builder(source)
    build_dir = Path(build_dir) if build_dir else Path(source) / "build"
    destination = Path(destination) if destination else library_dir()
    record, output = builder.build(destination, build_dir, source=Path(source), jobs=jobs)
    _load_libraries.cache_clear()
    if not record["built"]:
        raise NativeError(f"{record['reason']}\n{output[-4000:]}".rstrip())
    return destination


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m snarefuse.native build|status``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m snarefuse.native", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "status"])
    parser.add_argument("--source", type=Path, default=PLUGIN_SOURCE, help="the plugin/ directory")
    parser.add_argument("--build-dir", type=Path, default=None, help="CMake build directory (default plugin/build)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--if-possible", action="store_true",
                        help="build: where cmake or a C++ compiler is missing, say so and exit 0 (snarefuse then runs "
                             "on its pure formulations); a build that starts and fails still exits 1")
    args = parser.parse_args(argv)
    if args.command == "build":
        missing = missing_build_tools(args.source)
        if missing and args.if_possible:
            print(f"note: the native Cooke plugin is not built ({missing}); snarefuse runs on its pure formulations")
            return 0
        try:
            where = build(args.source, args.build_dir, jobs=args.jobs)
        except NativeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"built the native Cooke plugin into {where}")
    platforms, reason = _load()
    print(f"native kernels: {', '.join(platforms) if platforms else 'none'}")
    if reason:
        print(f"note: {reason}")
    return 0 if platforms else 1


if __name__ == "__main__":
    raise SystemExit(main())
