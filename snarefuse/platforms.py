"""Which OpenMM platforms load here, their properties, the order ``platform: auto`` tries them in, and why one
is missing."""

from __future__ import annotations

from typing import Any

import openmm

from .errors import PlatformError

#: Order in which ``platform: auto`` tries platforms (fastest first). An OpenCL platform whose only
#: devices are CPUs (POCL, Intel's CPU runtime) is tried after CPU: OpenMM's own CPU platform runs
#: the Cooke model ~1.8x faster than POCL on the same cores (BENCHMARKS.md).
AUTO_ORDER = ("CUDA", "HIP", "OpenCL", "CPU")


def available_platforms() -> list[str]:
    """Names of the OpenMM platforms that loaded."""
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


def platform_report() -> dict[str, Any]:
    """Loaded platforms with their default properties and speed, plus plugin load failures."""
    out: dict[str, Any] = {"openmm_version": openmm.__version__, "platforms": [], "load_failures":
                           list(openmm.Platform.getPluginLoadFailures())}
    for name in available_platforms():
        p = openmm.Platform.getPlatformByName(name)
        out["platforms"].append({"name": name, "speed": p.getSpeed(),
                                 "properties": {k: p.getPropertyDefaultValue(k) for k in p.getPropertyNames()}})
    return out


def opencl_has_accelerator() -> bool | None:
    """Whether any OpenCL device is a GPU or accelerator (None: the OpenCL library cannot be queried).

    Asks the OpenCL ICD loader directly (``clGetDeviceIDs``), which takes milliseconds, rather
    than creating an OpenMM context, which compiles kernels.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("OpenCL") or "libOpenCL.so.1"
    try:
        cl = ctypes.CDLL(name)
    except OSError:
        return None
    n = ctypes.c_uint32(0)
    if cl.clGetPlatformIDs(0, None, ctypes.byref(n)) != 0 or n.value == 0:
        return None
    ids = (ctypes.c_void_p * n.value)()
    cl.clGetPlatformIDs(n.value, ids, None)
    cl_device_type_gpu, cl_device_type_accelerator = 1 << 2, 1 << 3
    for pid in ids:
        count = ctypes.c_uint32(0)
        err = cl.clGetDeviceIDs(ctypes.c_void_p(pid), ctypes.c_uint64(cl_device_type_gpu | cl_device_type_accelerator),
                                0, None, ctypes.byref(count))
        if err == 0 and count.value > 0:
            return True
    return False


def auto_order() -> list[str]:
    """Loaded platforms in the order ``platform: auto`` tries them."""
    names = [p for p in AUTO_ORDER if p in available_platforms()]
    if "OpenCL" in names and "CPU" in names and opencl_has_accelerator() is False:
        names.remove("OpenCL")
        names.insert(names.index("CPU") + 1, "OpenCL")
    return names


def platform_properties(name: str, precision: str, device_index: str | None, threads: int | None) -> dict[str, str]:
    """OpenMM platform properties for a platform name."""
    props: dict[str, str] = {}
    if name in ("CUDA", "OpenCL", "HIP"):
        props["Precision"] = precision
        if device_index is not None:
            props["DeviceIndex"] = str(device_index)
    elif name == "CPU" and threads is not None:
        props["Threads"] = str(threads)
    return props


def unavailable(name: str) -> PlatformError:
    failures = "\n  ".join(openmm.Platform.getPluginLoadFailures()) or "(none reported)"
    return PlatformError(f"OpenMM platform {name!r} is not available. Loaded platforms: "
                         f"{', '.join(available_platforms())}. Plugin load failures:\n  {failures}\n"
                         "For CUDA install the matching extra (pip install 'snarefuse[cuda12]' or [cuda13]); "
                         "for OpenCL an ICD (e.g. apt-get install ocl-icd-libopencl1 pocl-opencl-icd).")
