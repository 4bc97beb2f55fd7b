"""Source of the example notebooks: ``python notebooks/make_notebooks.py`` writes the .ipynb files
(unexecuted); the test suite executes each of them (tests/test_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

NOTEBOOKS["01_build_a_fusion_system.ipynb"] = [
    ("md", """# Building a fusion system and looking at it

This notebook builds the two-membrane geometries of snarefuse from the shipped example specs, changes a
parameter the way a sweep would, and draws projections of the result. It runs in well under a minute on a
laptop CPU. Lengths are in nm; the model's length unit is sigma = 0.88 nm."""),
    ("code", """import tempfile
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from snarefuse.build import build_system
from snarefuse.spec import example_spec_path, load_spec

workdir = Path(tempfile.mkdtemp(prefix="snarefuse-nb1-"))
spec = load_spec(example_spec_path("quickstart"))
print(spec.name, spec.system.geometry, "cleft", spec.system.cleft_nm, "nm")
print({k: round(v, 4) if isinstance(v, float) else v for k, v in spec.model.units.as_dict().items()})"""),
    ("md", "A spec is validated and fully resolved; any field can be changed by its dotted path, which is how sweeps vary parameters:"),
    ("code", """vp = load_spec(example_spec_path("vesicle_planar")).with_overrides({"system.vesicle.radius": "8 nm",
                                                                    "system.bilayer.n_lipids": 1600,
                                                                    "system.box_z": None})
systems = {"two planar bilayers": build_system(spec), "vesicle above a bilayer": build_system(vp)}
for name, built in systems.items():
    m = built.manifest
    print(f"{name:25s} {m['n_atoms']:6d} beads  {m['n_lipids']:5d} lipids  box {np.round(m['box_nm'], 2)} nm  key {m['spec_key']}")"""),
    ("md", "Side projections (x–z) of a 2 nm slab through the contact axis, heads and tails coloured by membrane:"),
    ("code", """fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
for ax, (name, built) in zip(axes, systems.items()):
    pos = built.positions
    names = np.array([a.name for a in built.topology.atoms()])
    chain = np.array([a.residue.chain.index for a in built.topology.atoms()])
    centre_y = built.box[1] / 2
    slab = np.abs(pos[:, 1] - centre_y) < 1.0
    for m, colour in ((0, "tab:blue"), (1, "tab:orange")):
        for is_head, size, label in ((True, 6, "heads"), (False, 2, "tails")):
            sel = slab & (chain == m) & ((names == "H") == is_head)
            ax.scatter(pos[sel, 0], pos[sel, 2], s=size, color=colour, alpha=1.0 if is_head else 0.35,
                       label=f"membrane {m} {label}")
    ax.set_xlabel("x (nm)")
    ax.set_ylabel("z (nm)")
    ax.set_title(name)
    ax.set_aspect("equal")
axes[0].legend(loc="upper right", fontsize=7, markerscale=2)
fig.savefig(workdir / "projections.png", dpi=100)
print("saved", workdir / "projections.png")"""),
    ("md", "Saving writes the files every other tool reads: a PDB and a PSF (bonds, segments) for viewers, the serialized OpenMM System, the resolved spec and a manifest with the unit mapping."),
    ("code", """out = systems["two planar bilayers"].save(workdir / "quickstart")
print(sorted(p.name for p in out.iterdir()))
import MDAnalysis as mda
u = mda.Universe(str(out / "system.psf"), str(out / "system.pdb"))
print(u.atoms.n_atoms, "beads,", len(u.bonds), "bonds, segments", [s.segid for s in u.segments])"""),
    ("md", "In a viewer: `vmd system.psf trajectory.dcd` (or ChimeraX/PyMOL with `system.pdb`); select a membrane by segment (`segname A`) and heads by name (`name H`)."),
]


def write_all() -> list[Path]:
    out = []
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src)
                                 for kind, src in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = HERE / name
        nbformat.write(nb, path)
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write_all():
        print(p)
