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
from ..rundir import RunDirectory
from ..structure import read_openmm_structure

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
    def run_dir(self) -> RunDirectory:
        """The build directory's files."""
        return RunDirectory(self.directory)

    @property
    def sigma_nm(self) -> float:
        return float(self.spec.model.sigma_nm)


def load_build(directory: str | Path) -> BuildFiles:
    """Read ``spec.yaml``, ``manifest.json`` and the structure file of a build directory."""
    rd = RunDirectory(directory)
    d = rd.path
    for path in (rd.spec_yaml, rd.manifest_json, rd.system_psf, rd.system_pdb):
        if not path.exists():
            raise ExportError(f"{path}: missing; export needs a directory written by 'snarefuse build SPEC -o {d}'")
    try:
        manifest = json.loads(rd.manifest_json.read_text())
    except ValueError as e:
        raise ExportError(f"{rd.manifest_json}: not valid JSON ({e})") from None
    structure = rd.system_pdb
    s = read_openmm_structure(structure)
    positions = np.asarray(s.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=float)
    box = np.asarray(manifest.get("box_nm") or [], dtype=float)
    if box.shape != (3,):
        raise ExportError(f"{rd.manifest_json}: box_nm must hold the three box lengths in nm")
    return BuildFiles(d, load_spec(rd.spec_yaml), manifest, s.topology, positions, box, structure)
