"""The native kernel's HIP factory (plugin/platforms/hip): it compiles and links against OpenMM's HIP platform.

There is no AMD GPU and no ROCm runtime here, so the kernel never runs on HIP in these tests. What is checked is the
build: CMake configures the HIP kernel or says why not, the factory compiles with ROCm's hip/hip_runtime.h and
OpenMM's HIP headers and links against libOpenMMHIP (OpenMM's HIP platform library, from the openmm-hip-6/-7 wheel),
the library exports the plugin entry points OpenMM calls, and every OpenMM symbol it needs is defined by that
libOpenMMHIP or libOpenMM. The platform library has to be a dependency of the kernel library: OpenMM loads its
platform plugins with RTLD_LOCAL, so the common-compute symbols each GPU platform compiles in bind only through a
library's own dependencies.

Skipped, with the reason CMake gives, where ROCm's HIP headers (Debian: libamdhip64-dev) or libOpenMMHIP are missing.
libOpenMMHIP is looked for where CMake looks (the openmm wheel's OpenMM.libs/lib/plugins, $OPENMM_PLUGIN_DIR) and in
$SNAREFUSE_TEST_OPENMM_HIP_DIR, where .ci/run puts the one of the openmm-hip-6 wheel: installed beside OpenMM without
ROCm's runtime, OpenMM would try to load it at every import and fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import openmm
import pytest

from snarefuse import native

#: A directory holding libOpenMMHIP.so for this test only (it is not on OpenMM's own plugin path).
HIP_DIR_ENV = "SNAREFUSE_TEST_OPENMM_HIP_DIR"
HIP_TARGET = "SnarefuseCookeHIP"
#: The HIP runtime's C API, which the kernel library must not call itself (libOpenMMHIP's HipContext does).
HIP_RUNTIME_LIBRARIES = ("libamdhip64", "libhiprtc")


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def _symbols(library: Path, *flags: str) -> list[str]:
    """``nm -D`` lines of a shared library: (address) type name[@version]."""
    out = _run(["nm", "-D", *flags, str(library)])
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.fixture(scope="module")
def hip_configured(tmp_path_factory) -> tuple[Path, dict[str, str], list[str]]:
    """CMake's configure step on plugin/ in a scratch build directory: (build dir, {platform: why its kernel is not
    built}, the libraries configured)."""
    builder = native._plugin_builder()
    cmake = builder.find_cmake()
    if cmake is None or native.missing_build_tools() is not None:
        pytest.skip(f"cannot configure the plugin here: {native.missing_build_tools()}")
    build_dir = tmp_path_factory.mktemp("hip_build")
    env = dict(os.environ)
    if os.environ.get(HIP_DIR_ENV):
        env["OPENMM_PLUGIN_DIR"] = os.environ[HIP_DIR_ENV]  # where CMakeLists.txt looks for libOpenMMHIP
    out = _run([cmake, "-S", str(native.PLUGIN_SOURCE), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                f"-DPython3_EXECUTABLE={sys.executable}"], env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    configured = (build_dir / builder.CONFIGURED_LIST).read_text().split()
    return build_dir, builder.not_built_platforms(build_dir), configured


@pytest.fixture(scope="module")
def hip_library(hip_configured) -> Path:
    """The HIP kernel library, compiled and linked in the scratch build directory (skipped where CMake did not
    configure it, with its reason)."""
    build_dir, not_built, _ = hip_configured
    if "HIP" in not_built:
        pytest.skip(f"the HIP kernel is not built here: {not_built['HIP']} (for this test, ${HIP_DIR_ENV} may name "
                    "a directory with libOpenMMHIP.so)")
    if shutil.which("nm") is None or shutil.which("readelf") is None:
        pytest.skip("binutils (nm, readelf) are not installed")
    out = _run([native._plugin_builder().find_cmake(), "--build", str(build_dir), "--target", HIP_TARGET,
                "--parallel", "1"])
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return build_dir / native.HIP_LIBRARY


def _cache_entry(build_dir: Path, name: str) -> str:
    match = re.search(rf"^{name}:\w+=(.*)$", (build_dir / "CMakeCache.txt").read_text(), re.MULTILINE)
    assert match, f"{name} is not in CMakeCache.txt"
    return match.group(1)


def test_cmake_configures_the_hip_kernel_or_says_what_is_missing(hip_configured):
    _, not_built, configured = hip_configured
    if "HIP" in not_built:
        assert native.HIP_LIBRARY not in configured
        assert re.search(r"hip/hip_runtime\.h|libOpenMMHIP|OpenMM's HIP headers", not_built["HIP"]), not_built["HIP"]
    else:
        assert native.HIP_LIBRARY in configured


def test_hip_kernel_library_exports_the_plugin_entry_points_and_the_hip_factory(hip_library):
    defined = _symbols(hip_library, "--defined-only")
    exported = {line.split()[-1] for line in defined if line.split()[1] == "T"}
    assert {"registerKernelFactories", "registerPlatforms"} <= exported
    demangled = "\n".join(_symbols(hip_library, "--defined-only", "-C"))
    assert "CommonCookePairKernelFactory<OpenMM::HipPlatform>::createKernelImpl" in demangled
    assert "registerCommonCookePairKernelFactory<OpenMM::HipPlatform>" in demangled
    assert "Snarefuse::CommonCalcCookePairForceKernel::execute" in demangled  # the common kernel is compiled in


def test_hip_kernel_library_links_openmms_hip_platform_and_not_the_hip_runtime(hip_library):
    dynamic = _run(["readelf", "-d", str(hip_library)]).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic)
    assert "libOpenMMHIP.so" in needed and native.API_LIBRARY in needed
    assert not [lib for lib in needed if lib.startswith(HIP_RUNTIME_LIBRARIES)], needed
    undefined = [line.split()[-1] for line in _symbols(hip_library, "--undefined-only")]
    assert not [s for s in undefined if s.startswith("hip")], "the kernel library calls the HIP runtime itself"


def test_every_openmm_symbol_the_hip_kernel_needs_is_in_this_openmms_hip_platform(hip_library):
    """Unversioned undefined symbols (OpenMM's; the C and C++ runtimes' are versioned) are each defined by
    libOpenMMHIP, libOpenMM or the plugin's API library: the HIP kernel binds where OpenMM's HIP platform loads. Some
    are defined only by the platform library (the common-compute classes), which is why it is linked."""
    build_dir = hip_library.parent
    openmm_hip = Path(_cache_entry(build_dir, "OPENMM_HIP_LIBRARY"))
    openmm_core = Path(_cache_entry(build_dir, "OPENMM_LIBRARY"))
    needed = {line.split()[-1] for line in _symbols(hip_library, "--undefined-only") if line.split()[0] == "U"}
    openmm_needed = {s for s in needed if "@" not in s}
    from_platform = {line.split()[-1] for line in _symbols(openmm_hip, "--defined-only")}
    elsewhere = {line.split()[-1] for lib in (openmm_core, build_dir / native.API_LIBRARY)
                 for line in _symbols(lib, "--defined-only")}
    assert openmm_needed - from_platform - elsewhere == set()
    only_in_platform = openmm_needed & from_platform - elsewhere
    assert "_ZTIN6OpenMM16ComputeForceInfoE" in only_in_platform  # typeinfo: bound when the library is loaded


def _with_record(tmp_path: Path, record: dict) -> Path:
    """A plugin directory with this build's API library and ``record`` as its build record."""
    api = native.library_dir() / native.API_LIBRARY
    if not native.available():
        pytest.skip(f"native plugin absent: {native.why_unavailable()}")
    shutil.copy2(api, tmp_path / native.API_LIBRARY)
    (tmp_path / native.BUILD_RECORD).write_text(json.dumps(record))
    return tmp_path


def test_why_the_hip_kernel_is_absent_is_reported_by_snarefuse_platforms(tmp_path):
    """The build record's reason for HIP (CMake's) is what snarefuse.native and `snarefuse platforms` say, also where
    OpenMM has no HIP platform (as here: no ROCm runtime)."""
    reason = "no HIP runtime headers (hip/hip_runtime.h); install ROCm's HIP (Debian: libamdhip64-dev) or set ROCM_PATH"
    directory = _with_record(tmp_path, {"built": True, "reason": None, "openmm_version": openmm.__version__,
                                        "libraries": [native.API_LIBRARY], "not_built": {"HIP": reason}})
    env = dict(os.environ, SNAREFUSE_NATIVE_DIR=str(directory))
    why = _run([sys.executable, "-c", "from snarefuse import native; print(native.why_unavailable('HIP'))"],
               env=env, check=True).stdout.strip()
    assert why.startswith(f"the native HIP kernel was not built: {reason}")
    loaded = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    assert ("OpenMM has no HIP platform here" in why) == ("HIP" not in loaded)
    shown = _run([sys.executable, "-c", "from snarefuse.cli import main; main(['platforms'])"], env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"the native HIP kernel was not built: {reason}" in shown.stdout


def test_snarefuse_native_loads_the_hip_library_cmake_builds():
    """The CMake target, the library the build script copies and the one snarefuse.native loads for HIP are one
    name (tests/test_packaging.py checks the whole list against the build script)."""
    assert native.PLATFORM_LIBRARIES["HIP"] == native.HIP_LIBRARY == f"lib{HIP_TARGET}.so"
    assert native.HIP_LIBRARY in native._plugin_builder().LIBRARIES
