"""Compile the native Cooke plugin (this directory) with CMake and put its libraries into a package directory.

The one build of the plugin: ``pip install`` runs it (setup.py) and so does ``python -m snarefuse.native build``
in a source checkout. It needs only the standard library and an importable ``openmm`` (setup.py runs it where
the build requirements are installed, before snarefuse's own dependencies are).

The destination never holds a library that its record does not describe. CMakeLists.txt lists the libraries it
configured in the build directory (:data:`CONFIGURED_LIST`); exactly those are copied, and any other plugin
library in the destination (a platform an earlier build had and this one lacks, built against another OpenMM,
say) is removed. A build that fails removes them all and records why. An incremental build (the same build
directory, as ``pip install -e .`` and ``python -m snarefuse.native build`` use) recompiles what changed, and
the copy replaces each library atomically, so a Python process started afterwards loads the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: The plugin's sources (this directory).
SOURCE = Path(__file__).resolve().parent
#: Every library the CMake project can make: the API (with serialization and the Reference kernel), then one
#: kernel library per platform (snarefuse.native.API_LIBRARY and PLATFORM_LIBRARIES, which load them).
LIBRARIES = ("libSnarefuseCooke.so", "libSnarefuseCookeCPU.so", "libSnarefuseCookeOpenCL.so",
             "libSnarefuseCookeCUDA.so", "libSnarefuseCookeHIP.so")
#: The record of the build written beside the libraries: ``built``, ``reason``, ``openmm_version``, ``libraries``,
#: and ``not_built`` (GPU platform name: why CMake did not configure its kernel).
BUILD_RECORD = "build.json"
#: Written by CMakeLists.txt into the build directory at each configure: the libraries it builds, one per line.
CONFIGURED_LIST = "snarefuse_libraries.txt"
#: Written beside it: one ``Platform: reason`` line per GPU platform whose kernel it does not build.
NOT_BUILT_LIST = "snarefuse_not_built.txt"
#: Lines of CMake and compiler output that say what went wrong, most telling first (see :func:`reason_from`).
_FAILURE_MARKERS = ("No CMAKE_CXX_COMPILER", "could not import openmm", "has no include/OpenMM.h", "error:",
                    "CMake Error")


def find_cmake() -> str | None:
    """cmake on PATH (in pip's build environment, the cmake wheel of the build requirements), else the cmake
    Python package's, else None."""
    found = shutil.which("cmake")
    if found:
        return found
    try:
        import cmake  # the cmake wheel, installed but its scripts not on PATH
    except ImportError:
        return None
    exe = Path(cmake.CMAKE_BIN_DIR) / "cmake"
    return str(exe) if exe.is_file() else None


def openmm_version() -> str | None:
    """The version of the openmm this Python imports (whose headers CMakeLists.txt compiles against)."""
    try:
        import openmm
    except ImportError:
        return None
    return openmm.__version__


def reason_from(output: str) -> str:
    """The line of CMake or compiler output that says what went wrong (else the last line), at most 400
    characters."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for key in _FAILURE_MARKERS:
        for i, ln in enumerate(lines):
            if key in ln:
                detail = " ".join(lines[i + 1:i + 3]) if ln.startswith("CMake Error") else ""
                return f"{ln} {detail}".strip()[:400]
    return lines[-1][:400] if lines else "no output"


def not_built_platforms(build_dir: Path) -> dict[str, str]:
    """{GPU platform: why its kernel was not configured}, from CMake's :data:`NOT_BUILT_LIST` (empty where there
    is none)."""
    try:
        lines = (Path(build_dir) / NOT_BUILT_LIST).read_text().splitlines()
    except OSError:
        return {}
    return dict(ln.split(": ", 1) for ln in lines if ": " in ln)


def write_record(destination: Path, record: dict) -> dict:
    """Write ``record`` as the destination's build record, after removing every plugin library that it does not
    list; returns ``record``."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    keep = set(record.get("libraries", ())) if record.get("built") else set()
    for lib in LIBRARIES:
        if lib not in keep:
            (destination / lib).unlink(missing_ok=True)
    tmp = destination / (BUILD_RECORD + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, destination / BUILD_RECORD)
    return record


def not_built(destination: Path, reason: str) -> dict:
    """Record that no plugin was built, and why (removing any library of an earlier build)."""
    return write_record(destination, {"built": False, "reason": reason, "openmm_version": openmm_version(),
                                      "libraries": []})


def build(destination: Path, build_dir: Path, *, source: Path = SOURCE, jobs: int | None = None,
          cmake: str | None = None) -> tuple[dict, str]:
    """Configure and compile ``source`` in ``build_dir`` against the openmm this Python imports, copy the libraries
    this configuration made to ``destination`` and record the build there.

    Returns (the record written, CMake's and the compiler's output). Never raises for a missing tool or a failed
    build: the record says ``built: false`` and why, and ``destination`` then holds no library.
    """
    source, build_dir, destination = Path(source), Path(build_dir), Path(destination)
    version = openmm_version()
    cmake = cmake or find_cmake()
    if not (source / "CMakeLists.txt").is_file():
        return not_built(destination, f"no plugin sources at {source}"), ""
    if version is None:
        return not_built(destination, "openmm was not importable while building, so its headers were not found"), ""
    if cmake is None:
        return not_built(destination, "cmake was not found (neither on PATH nor the cmake Python package)"), ""
    configure = [cmake, "-S", str(source), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                 f"-DPython3_EXECUTABLE={sys.executable}"]
    compile_ = [cmake, "--build", str(build_dir), "--parallel", str(jobs or os.cpu_count() or 1)]
    output = ""
    for cmd, what in ((configure, "cmake -S ..."), (compile_, "cmake --build ...")):
        result = subprocess.run(cmd, capture_output=True, text=True)
        output += result.stdout + result.stderr
        if result.returncode != 0:
            return not_built(destination, f"`{what}` failed: {reason_from(result.stdout + result.stderr)}"), output
    try:
        configured = (build_dir / CONFIGURED_LIST).read_text().split()
    except OSError:
        return not_built(destination, f"the configure step wrote no {build_dir / CONFIGURED_LIST}"), output
    unknown = sorted(set(configured) - set(LIBRARIES))
    if unknown:
        return not_built(destination, f"CMake configured libraries this build script does not know: {unknown}"), output
    missing = [lib for lib in configured if not (build_dir / lib).is_file()]
    if LIBRARIES[0] not in configured or missing:
        return not_built(destination, f"the build made no {', '.join(missing or [LIBRARIES[0]])}"), output
    destination.mkdir(parents=True, exist_ok=True)
    for lib in configured:
        tmp = destination / (lib + ".tmp")
        shutil.copy2(build_dir / lib, tmp)
        os.replace(tmp, destination / lib)  # a new inode: a process that has the old one open keeps it intact
    absent = [lib for lib in LIBRARIES if lib not in configured]
    skipped = not_built_platforms(build_dir)
    why = ("; ".join(f"{name}: {text}" for name, text in skipped.items())
           or "that platform's OpenMM library or headers were not found")
    reason = f"built without {', '.join(absent)} ({why})" if absent else None
    record = {"built": True, "reason": reason, "openmm_version": version, "libraries": configured,
              "not_built": skipped}
    return write_record(destination, record), output
