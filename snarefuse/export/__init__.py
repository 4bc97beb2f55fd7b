"""Exports of a built system for the other engines and viewers this field uses.

* :func:`~snarefuse.export.lammps.export_lammps`: a LAMMPS data file and input script (``pair_style
  cosine/squared`` + ``bond_style fene``/``harmonic``: the mapping of :mod:`snarefuse.reference.lammps_cooke`, which
  the test suite runs in LAMMPS against OpenMM's energy and forces; SNARE terms included).
* :func:`~snarefuse.export.gsd.export_gsd`: a HOOMD-blue GSD file (particles, types, bonds, box) through the
  ``gsd`` package (extra ``snarefuse[export]``).
* :func:`~snarefuse.export.vmd.export_vmd`: a VMD visualisation state ``view.vmd`` (heads, tails, TMDs, SNARE
  helices coloured, bonds drawn, periodic images).

Each reads the build files of a directory (:func:`load_build`), never a running Context.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from openmm import app, unit

from ..errors import SnarefuseError
from ..spec import Spec, load_spec
from ..structure import read_openmm_structure, topology_path

__all__ = ["BuildFiles", "ExportError", "load_build"]


class ExportError(SnarefuseError):
    """A build cannot be exported as asked; the message names the file or force at fault and what is accepted."""


@dataclass
class BuildFiles:
    """What an export needs of a build directory.

    Attributes
    ----------
    directory : Path
    spec : Spec
    manifest : dict
    topology : openmm.app.Topology
    positions : np.ndarray, shape (N, 3), float64, nm (the build's start positions)
    box : np.ndarray, shape (3,), nm (orthorhombic)
    structure_file : Path (``system.pdb`` or ``system.cif``)
    """

    directory: Path
    spec: Spec
    manifest: dict[str, Any]
    topology: app.Topology
    positions: np.ndarray
    box: np.ndarray
    structure_file: Path

    @property
    def sigma_nm(self) -> float:
        return float(self.spec.model.sigma_nm)


def load_build(directory: str | Path) -> BuildFiles:
    """Read ``spec.yaml``, ``manifest.json`` and the structure file of a build directory."""
    d = Path(directory)
    for name in ("spec.yaml", "manifest.json", "system.psf"):
        if not (d / name).exists():
            raise ExportError(f"{d / name}: missing; export needs a directory written by 'snarefuse build SPEC -o {d}'")
    try:
        structure = topology_path(d)
    except FileNotFoundError as e:
        raise ExportError(str(e)) from None
    try:
        manifest = json.loads((d / "manifest.json").read_text())
    except ValueError as e:
        raise ExportError(f"{d / 'manifest.json'}: not valid JSON ({e})") from None
    s = read_openmm_structure(structure)
    positions = np.asarray(s.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=float)
    box = np.asarray(manifest.get("box_nm") or [], dtype=float)
    if box.shape != (3,):
        raise ExportError(f"{d / 'manifest.json'}: box_nm must hold the three box lengths in nm")
    return BuildFiles(d, load_spec(d / "spec.yaml"), manifest, s.topology, positions, box, structure)
