"""What `pip install .` ships: every subpackage of the source tree is listed in setup.cfg; the native plugin is
compiled by setup.py where it can be, and where it cannot the install goes on and says why."""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import snarefuse

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(snarefuse.__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "snarefuse").rglob("__init__.py")
               if "__pycache__" not in p.parts}
    assert on_disk - listed == set(), "subpackages a plain `pip install .` would leave out"


# ------------------------------------------------------------------------------ the native plugin in `pip install`
def _setup_module():
    spec = importlib.util.spec_from_file_location("snarefuse_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _why_unavailable_in(directory: Path) -> str:
    """snarefuse.native's reason in a fresh interpreter that loads the plugin from ``directory``."""
    env = dict(os.environ, SNAREFUSE_NATIVE_DIR=str(directory))
    out = subprocess.run([sys.executable, "-c", "from snarefuse import native; print(native.why_unavailable())"],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _plugin_builder():
    from snarefuse import native

    return native._plugin_builder()


def test_the_build_script_names_the_libraries_and_record_that_snarefuse_native_loads():
    """The build script runs without snarefuse importable, so it names the libraries and the record itself; a
    library named differently from snarefuse.native's would be built and never loaded (or loaded and never
    shipped). CMakeLists.txt lists what it configures under those names."""
    from snarefuse import native

    builder = _plugin_builder()
    assert builder.LIBRARIES == (native.API_LIBRARY, *native.PLATFORM_LIBRARIES.values())
    assert builder.BUILD_RECORD == native.BUILD_RECORD
    cmake = (ROOT / "plugin" / "CMakeLists.txt").read_text()
    assert builder.CONFIGURED_LIST in cmake
    for lib in builder.LIBRARIES:
        assert lib.removeprefix("lib").removesuffix(".so") in cmake


def test_pip_install_and_snarefuse_native_build_run_the_same_build_script():
    """One implementation: setup.py loads plugin/build_plugin.py and so does snarefuse.native."""
    setup = _setup_module()
    from snarefuse import native

    assert setup.BUILD_SCRIPT == native.PLUGIN_SOURCE / native.BUILD_SCRIPT
    assert setup.plugin_builder().build.__code__.co_filename == _plugin_builder().build.__code__.co_filename
    setup_text = (ROOT / "setup.py").read_text()
    native_text = (ROOT / "snarefuse" / "native.py").read_text()
    for text in (setup_text, native_text):  # neither runs cmake itself
        assert "subprocess" not in text and '"--build"' not in text


def test_pip_build_requirements_bring_cmake_and_the_openmm_headers():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    names = {re.split(r"[<>=!\[ ]", r, maxsplit=1)[0] for r in build["requires"]}
    assert {"setuptools", "cmake", "openmm"} <= names
    manifest = (ROOT / "MANIFEST.in").read_text().split("\n")
    assert "graft plugin" in manifest and "prune plugin/build" in manifest  # the sdist carries the sources


def test_install_without_a_compiler_succeeds_and_says_why_native_is_absent(tmp_path, monkeypatch):
    """setup.py's build step with no usable C++ compiler: no exception (the install goes on), no library left in the
    package, and a record whose reason snarefuse.native reports."""
    setup = _setup_module()
    builder = setup.plugin_builder()
    if builder.find_cmake() is None:
        pytest.skip("no cmake here to run the configure step")
    destination = tmp_path / "_native"
    destination.mkdir()
    (destination / builder.LIBRARIES[0]).write_text("a library of an earlier build")
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    record = setup.build_native_plugin(destination, tmp_path / "build")
    assert record["built"] is False and "compiler" in record["reason"].lower()
    assert sorted(p.name for p in destination.iterdir()) == [builder.BUILD_RECORD]
    assert json.loads((destination / builder.BUILD_RECORD).read_text()) == record
    why = _why_unavailable_in(destination)
    assert "native Cooke plugin was not built" in why and record["reason"] in why


def test_install_can_skip_the_plugin_and_says_so(tmp_path, monkeypatch):
    setup = _setup_module()
    monkeypatch.setenv(setup.SKIP_ENV, "0")
    (tmp_path / "libSnarefuseCooke.so").write_text("a library of an earlier build")
    record = setup.build_native_plugin(tmp_path, tmp_path / "build")
    assert record["built"] is False and setup.SKIP_ENV in record["reason"]
    assert not (tmp_path / "libSnarefuseCooke.so").exists()
    assert setup.SKIP_ENV in _why_unavailable_in(tmp_path)


def test_a_plugin_built_against_another_openmm_says_so_when_it_does_not_load(tmp_path):
    (tmp_path / "libSnarefuseCooke.so").write_bytes(b"not a shared library")
    (tmp_path / "build.json").write_text(json.dumps({"built": True, "reason": None, "openmm_version": "0.0.1"}))
    why = _why_unavailable_in(tmp_path)
    assert "does not load" in why and "built against OpenMM 0.0.1" in why


def test_ci_runs_exactly_the_readme_test_command():
    """README.md's second set-up command is the last line of .ci/run, character for character."""
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [ln.strip() for ln in readme[:15] if ln.startswith("    pip install")]
    assert len(commands) == 2, "README.md should open with the quickstart and the test command, indented as code"
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci[-1].strip() == commands[1]
    assert commands[0].startswith("pip install . && snarefuse quickstart")


def _fake_cmake(tmp_path, configured: list[str], *, fail_build: bool = False) -> Path:
    """A stand-in for cmake: the configure step lists ``configured`` as CMakeLists.txt does, the build step makes
    each of them (or fails)."""
    fake = tmp_path / "bin" / "cmake"
    fake.parent.mkdir(exist_ok=True)
    names = " ".join(configured)
    fake.write_text("#!/bin/sh\n"
                    f'if [ "$1" = "-S" ]; then mkdir -p "$4"; printf "%s\\n" {names} > "$4/snarefuse_libraries.txt"; fi\n'
                    + ('if [ "$1" = "--build" ]; then echo "x.cpp:1: error: broken" >&2; exit 2; fi\n' if fail_build
                       else f'if [ "$1" = "--build" ]; then for f in {names}; do echo new > "$2/$f"; done; fi\n'))
    fake.chmod(0o755)
    return fake


def test_a_rebuild_without_a_platform_leaves_no_library_of_the_earlier_build(tmp_path, monkeypatch):
    """``python -m snarefuse.native build`` copies what this configuration built and removes a platform library it
    did not (one left in the build directory by an earlier configuration included), so that no library compiled
    against another OpenMM stays beside the new record."""
    from snarefuse import native

    fake = _fake_cmake(tmp_path, [native.API_LIBRARY])
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    build_dir, destination = tmp_path / "build", tmp_path / "_native"
    build_dir.mkdir()
    destination.mkdir()
    opencl = native.PLATFORM_LIBRARIES["OpenCL"]
    (destination / opencl).write_text("a library of an earlier build")
    (build_dir / opencl).write_text("left in the build directory by an earlier configuration")
    native.build(source=ROOT / "plugin", build_dir=build_dir, destination=destination)
    assert sorted(p.name for p in destination.iterdir()) == sorted([native.API_LIBRARY, native.BUILD_RECORD])
    assert (destination / native.API_LIBRARY).read_text() == "new\n"
    record = json.loads((destination / native.BUILD_RECORD).read_text())
    assert record["built"] is True and record["libraries"] == [native.API_LIBRARY]
    assert opencl in record["reason"]


def test_a_failed_rebuild_leaves_no_library_and_says_why(tmp_path, monkeypatch):
    from snarefuse import native

    fake = _fake_cmake(tmp_path, [native.API_LIBRARY], fail_build=True)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    destination = tmp_path / "_native"
    destination.mkdir()
    (destination / native.API_LIBRARY).write_text("a library of an earlier build")
    with pytest.raises(native.NativeError, match="error: broken"):
        native.build(source=ROOT / "plugin", build_dir=tmp_path / "build", destination=destination)
    assert sorted(p.name for p in destination.iterdir()) == [native.BUILD_RECORD]
    assert "error: broken" in _why_unavailable_in(destination)
