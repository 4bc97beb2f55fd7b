"""Build step of ``pip install``: compiles the native Cooke pair plugin (plugin/, CMake) against OpenMM.

Everything else about the package is declared in setup.cfg. The plugin is optional: where it cannot be built (no
C++ compiler, no OpenMM headers, a failed compile) the install still succeeds, snarefuse runs on its pure
formulations, and the reason is kept in ``snarefuse/_native/build.json``, which ``snarefuse platforms`` and
``python -m snarefuse.native status`` report. OpenMM comes from the build environment: with pip's default build
isolation that is the ``openmm`` wheel named in pyproject.toml's build requirements (the same release pip installs
as the dependency in a fresh environment); ``pip install --no-build-isolation .`` compiles against the OpenMM
already installed (a conda-forge openmm, say). ``python -m snarefuse.native build`` rebuilds it in a checkout.

Setting ``SNAREFUSE_BUILD_NATIVE=0`` skips the plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parent
PLUGIN_SOURCE = ROOT / "plugin"
#: The libraries the plugin's CMake project makes (snarefuse.native.API_LIBRARY, then PLATFORM_LIBRARIES).
LIBRARIES = ("libSnarefuseCooke.so", "libSnarefuseCookeCPU.so", "libSnarefuseCookeOpenCL.so",
             "libSnarefuseCookeCUDA.so")
#: The record of the build next to the libraries (snarefuse.native.BUILD_RECORD).
BUILD_RECORD = "build.json"
SKIP_ENV = "SNAREFUSE_BUILD_NATIVE"


def _cmake() -> str | None:
    try:  # the cmake wheel of the build requirements
        import cmake

        exe = Path(cmake.CMAKE_BIN_DIR) / "cmake"
        if exe.is_file():
            return str(exe)
    except ImportError:
        pass
    return shutil.which("cmake")


def _openmm_version() -> str | None:
    try:
        import openmm

        return openmm.__version__
    except ImportError:
        return None


def _reason_from(output: str) -> str:
    """The line of CMake/compiler output that says what went wrong (else the last line)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for key in ("No CMAKE_CXX_COMPILER", "could not import openmm", "has no include/OpenMM.h", "error:",
                "CMake Error"):
        for i, ln in enumerate(lines):
            if key in ln:
                detail = " ".join(lines[i + 1:i + 3]) if ln.startswith("CMake Error") else ""
                return f"{ln} {detail}".strip()[:400]
    return lines[-1][:400] if lines else "no output"


def build_native_plugin(destination: Path, build_dir: Path) -> dict:
    """Configure and compile plugin/ into ``build_dir``, copy the libraries to ``destination``; returns the record
    written there (``built``, ``reason``, ``openmm_version``). Never raises for a missing tool or a failed build."""
    record: dict = {"built": False, "reason": None, "openmm_version": _openmm_version()}
    if os.environ.get(SKIP_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        record["reason"] = f"skipped: {SKIP_ENV}={os.environ[SKIP_ENV]} at install time"
    elif not (PLUGIN_SOURCE / "CMakeLists.txt").is_file():
        record["reason"] = f"no plugin sources at {PLUGIN_SOURCE}"
    elif record["openmm_version"] is None:
        record["reason"] = "openmm was not importable while building, so its headers were not found"
    elif (cmake := _cmake()) is None:
        record["reason"] = "cmake was not found (neither the cmake package nor cmake on PATH)"
    else:
        configure = [cmake, "-S", str(PLUGIN_SOURCE), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                     f"-DPython3_EXECUTABLE={sys.executable}"]
        build = [cmake, "--build", str(build_dir), "--parallel", str(os.cpu_count() or 1)]
        for cmd in (configure, build):
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                record["reason"] = (f"`cmake {'--build' if cmd is build else '-S'} ...` failed: "
                                    f"{_reason_from(result.stdout + result.stderr)}")
                break
        else:
            missing = [lib for lib in LIBRARIES if not (build_dir / lib).is_file()]
            if LIBRARIES[0] in missing:
                record["reason"] = f"the build made no {LIBRARIES[0]}"
            else:
                destination.mkdir(parents=True, exist_ok=True)
                for lib in LIBRARIES:
                    if (build_dir / lib).is_file():
                        tmp = destination / (lib + ".tmp")
                        shutil.copy2(build_dir / lib, tmp)
                        os.replace(tmp, destination / lib)
                record["built"] = True
                if missing:
                    record["reason"] = (f"built without {', '.join(missing)} (that platform's OpenMM library or "
                                        "headers were not found)")
    destination.mkdir(parents=True, exist_ok=True)
    if not record["built"]:
        for lib in LIBRARIES:  # never leave libraries of an earlier build next to a record saying none was built
            (destination / lib).unlink(missing_ok=True)
    (destination / BUILD_RECORD).write_text(json.dumps(record, indent=1) + "\n")
    status = "built" if record["built"] else "NOT built"
    print(f"snarefuse: native Cooke plugin {status}" + (f" ({record['reason']})" if record["reason"] else "")
          + f"; record in {destination / BUILD_RECORD}", file=sys.stderr)
    return record


class BuildPyWithNativePlugin(build_py):
    """build_py, then the native plugin into the package's _native/ (the source tree's for an editable install)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            destination = ROOT / "snarefuse" / "_native"
            build_dir = PLUGIN_SOURCE / "build"
            build_native_plugin(destination, build_dir)
        else:
            destination = Path(self.build_lib) / "snarefuse" / "_native"
            with tempfile.TemporaryDirectory(prefix="snarefuse-plugin-") as tmp:
                build_native_plugin(destination, Path(tmp))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        native = Path(self.build_lib) / "snarefuse" / "_native"
        return outputs + [str(p) for p in native.glob("*")] if native.is_dir() else outputs


class BinaryDistribution(Distribution):
    """The wheel holds compiled libraries: tag it for this platform and Python."""

    def has_ext_modules(self) -> bool:
        return True


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import build_native_plugin from it
    setup(cmdclass={"build_py": BuildPyWithNativePlugin}, distclass=BinaryDistribution)
