"""Shared fixtures: OpenMM platforms (a skip is visible, never a silent pass) and small built systems."""

from __future__ import annotations

import os
from pathlib import Path

import openmm
import pytest

from snarefuse.build import build_system
from snarefuse.spec import Spec, example_spec_path, load_spec

PLATFORMS = ["Reference", "CPU", "OpenCL", "CUDA", "HIP"]


def _loaded() -> list[str]:
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


@pytest.fixture(scope="session", params=PLATFORMS)
def platform_name(request: pytest.FixtureRequest) -> str:
    """Every OpenMM platform; skipped visibly (with the plugin load failures) where it is not loaded."""
    name = request.param
    if name not in _loaded():
        if os.environ.get("SNAREFUSE_REQUIRE_PLATFORMS", "") and name in os.environ["SNAREFUSE_REQUIRE_PLATFORMS"]:
            pytest.fail(f"platform {name} required by SNAREFUSE_REQUIRE_PLATFORMS but not loaded: "
                        f"{openmm.Platform.getPluginLoadFailures()}")
        pytest.skip(f"OpenMM platform {name} not available here (loaded: {_loaded()})")
    if name in ("CUDA", "HIP"):  # loads wherever the driver library is, also on a machine without a device
        system = openmm.System()
        system.addParticle(1.0)
        try:
            openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(name))
        except Exception as exc:  # OpenMMException: no device
            if name in os.environ.get("SNAREFUSE_REQUIRE_PLATFORMS", ""):
                pytest.fail(f"platform {name} required by SNAREFUSE_REQUIRE_PLATFORMS but has no device: {exc}")
            pytest.skip(f"no {name} device: OpenMM cannot create a {name} Context here ({exc})")
    return name


def small_spec(**overrides: object) -> Spec:
    """The shipped small bilayer spec, shrunk to 200 lipids, with dotted-path overrides."""
    base = load_spec(example_spec_path("bilayer_small"))
    o = {"system.bilayer.n_lipids": 200}
    o.update({k.replace("__", "."): v for k, v in overrides.items()})
    return base.with_overrides(o)


def mixed_species_spec() -> Spec:
    """:func:`small_spec` with two lipid species that differ in head size and tail attraction, the upper
    leaflet mixed and the lower one of the second species only."""
    d = small_spec().to_dict()
    d["lipids"] = {"CKL": {}, "CKB": {"head_size": 1.05, "tail_attraction": 0.7}}
    d["system"]["bilayer"]["upper"] = {"CKL": 0.5, "CKB": 0.5}
    d["system"]["bilayer"]["lower"] = {"CKB": 1.0}
    return Spec.from_dict(d)


def dotted_paths(d: dict, prefix: str = ""):
    """Every dotted path of a nested mapping, sections included, in document order."""
    for k, v in d.items():
        p = f"{prefix}.{k}" if prefix else k
        yield p
        if isinstance(v, dict):
            yield from dotted_paths(v, p)


@pytest.fixture
def small_built(tmp_path: Path):
    """A built 200-lipid bilayer saved in a temporary run directory."""
    built = build_system(small_spec())
    built.save(tmp_path / "run")
    return built, tmp_path / "run"


def without_wall_clock(log_text: str) -> list[str]:
    """The lines of a log.csv without its wall-clock columns (the speed), which differ between two runs of the same
    steps: what is left must be identical between a resumed and an uninterrupted run."""
    from snarefuse.reporters import WALL_CLOCK_COLUMNS

    lines = log_text.splitlines()
    if not lines:
        return lines
    keep = [i for i, name in enumerate(lines[0].split(",")) if name not in WALL_CLOCK_COLUMNS]
    return [",".join(cells[i] for i in keep) for cells in (line.split(",") for line in lines)]
