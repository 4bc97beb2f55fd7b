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

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parent
#: The plugin's build script (the one that ``python -m snarefuse.native build`` runs too).
BUILD_SCRIPT = ROOT / "plugin" / "build_plugin.py"
SKIP_ENV = "SNAREFUSE_BUILD_NATIVE"


def plugin_builder():
    """plugin/build_plugin.py as a module (loaded from its file: snarefuse is not importable while it installs)."""
    spec = importlib.util.spec_from_file_location("snarefuse_build_plugin", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_native_plugin(destination: Path, build_dir: Path) -> dict:
    """Compile the plugin into ``build_dir`` and put the libraries and the build record into ``destination``, or
    record there why not (``SNAREFUSE_BUILD_NATIVE=0``, no plugin sources, no compiler, a failed build); returns
    the record. Never raises: the install goes on without the plugin."""
    if not BUILD_SCRIPT.is_file():  # a source tree without plugin/: nothing to build, and no record to write
        print(f"snarefuse: native Cooke plugin NOT built (no {BUILD_SCRIPT})", file=sys.stderr)
        return {"built": False, "reason": f"no {BUILD_SCRIPT}"}
    builder = plugin_builder()
    if os.environ.get(SKIP_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        record = builder.not_built(destination, f"skipped: {SKIP_ENV}={os.environ[SKIP_ENV]} at install time")
    else:
        record, _ = builder.build(destination, build_dir)
    status = "built" if record["built"] else "NOT built"
    print(f"snarefuse: native Cooke plugin {status}" + (f" ({record['reason']})" if record["reason"] else "")
          + f"; record in {destination / builder.BUILD_RECORD}", file=sys.stderr)
    return record


class BuildPyWithNativePlugin(build_py):
    """build_py, then the native plugin into the package's _native/ (the source tree's for an editable install)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            destination = ROOT / "snarefuse" / "_native"
            build_dir = BUILD_SCRIPT.parent / "build"
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
