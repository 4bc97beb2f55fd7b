"""Export a build to HOOMD-blue's GSD format (``system.gsd``) through the ``gsd`` package.

One frame: the build's start positions in reduced units (lengths in sigma, HOOMD's box centred on the origin:
``[-L/2, L/2)``), masses in bead masses, diameters the beads' sizes ``b`` (sigma); one particle type per role
(``<species>_H``, ``<species>_T`` for each lipid species, ``GAS``, ``SNARE`` and ``SNARE_TMD`` for protein beads);
bonds of types ``fene`` (along each lipid), ``spring`` (head to last tail bead, the straightening spring) and
``snare`` (along each SNARE helix and linker, as in the PSF). The unit mapping (sigma, epsilon, bead mass, tau)
goes into the frame's ``log/snarefuse/*`` entries so that a reader can convert back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..lumen import GAS_RESNAME
from . import ExportError, load_build

GSD_FILE = "system.gsd"
BOND_TYPES = ["fene", "spring", "snare"]


def _gsd_hoomd():  # noqa: ANN202 - the module, imported here so that snarefuse works without the extra
    try:
        import gsd.hoomd
    except ImportError:
        raise ExportError("export gsd needs the 'gsd' package: pip install 'snarefuse[export]' (or pip install gsd)") \
            from None
    return gsd.hoomd


def export_gsd(build_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``system.gsd`` of the build in ``build_dir`` into ``out_dir`` (created); returns the files written."""
    hoomd = _gsd_hoomd()
    b = load_build(build_dir)
    sigma = b.sigma_nm
    tmd: set[int] = set()
    for cx in b.manifest.get("snares") or []:
        tmd |= {int(cx["first_atom"]) + i for i, s in enumerate(cx["segment"]) if s == "tmd"}
    types: list[str] = []
    typeid = np.empty(len(b.positions), dtype=np.uint32)
    diameter = np.ones(len(b.positions), dtype=np.float32)
    bonds: list[tuple[int, int]] = []
    bond_type: list[int] = []

    def type_index(name: str) -> int:
        if name not in types:
            types.append(name)
        return types.index(name)

    for res in b.topology.residues():
        atoms = list(res.atoms())
        idx = [a.index for a in atoms]
        species = b.spec.lipids.get(res.name)
        if species is not None:
            typeid[idx[0]] = type_index(f"{res.name}_H")
            typeid[idx[1:]] = type_index(f"{res.name}_T")
            diameter[idx[0]] = species.head_size
            bonds += list(zip(idx[:-1], idx[1:]))
            bond_type += [0] * (len(idx) - 1)
            bonds.append((idx[0], idx[-1]))
            bond_type.append(1)
        elif res.name == GAS_RESNAME:
            typeid[idx] = type_index("GAS")
        elif len(idx) != 1:
            raise ExportError(f"{b.structure_file}: residue {res.name} {res.id} is neither a lipid species of "
                              f"spec.yaml ({sorted(b.spec.lipids)}), {GAS_RESNAME}, nor a one-bead SNARE residue")
        else:
            for i in idx:
                typeid[i] = type_index("SNARE_TMD" if i in tmd else "SNARE")
    lipid_bonds = {(min(i, j), max(i, j)) for i, j in bonds}
    for a1, a2 in b.topology.bonds():
        pair = (min(a1.index, a2.index), max(a1.index, a2.index))
        if pair not in lipid_bonds:
            bonds.append(pair)
            bond_type.append(2)

    frame = hoomd.Frame()
    frame.configuration.step = 0
    frame.configuration.box = [*(b.box / sigma), 0.0, 0.0, 0.0]
    half = b.box / sigma / 2
    x = np.mod(b.positions / sigma, b.box / sigma) - half
    frame.particles.N = len(x)
    frame.particles.position = x.astype(np.float32)
    frame.particles.types = types
    frame.particles.typeid = typeid
    frame.particles.mass = np.ones(len(x), dtype=np.float32)
    frame.particles.diameter = diameter
    frame.bonds.N = len(bonds)
    frame.bonds.types = BOND_TYPES
    frame.bonds.typeid = np.asarray(bond_type, dtype=np.uint32)
    frame.bonds.group = np.asarray(bonds, dtype=np.uint32).reshape(-1, 2)
    units = b.spec.model.units
    frame.log = {"snarefuse/sigma_nm": np.array([units.sigma_nm]),
                 "snarefuse/epsilon_kjmol": np.array([units.epsilon_kjmol]),
                 "snarefuse/mass_amu": np.array([units.mass_amu]),
                 "snarefuse/tau_ps": np.array([units.tau_ps]),
                 "snarefuse/kT_over_epsilon": np.array([units.kt_over_epsilon])}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / GSD_FILE
    with hoomd.open(str(path), "w") as f:
        f.append(frame)
    return [path]
