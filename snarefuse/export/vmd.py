"""Export a VMD visualisation state: ``view.vmd``, a Tcl script for ``vmd -e view.vmd`` (or File > Load
Visualization State).

It loads ``system.psf`` (every bond, segments, real residue numbers) with the build's coordinates
(``system.pdb``/``system.cif``) and ``trajectory.dcd`` when there is one, then draws: lipid heads (VDW, by
species), tails (thin bonds), the lumen gas (small points), each SNARE helix in its own colour (VAMP2 red,
syntaxin-1A yellow, SNAP-25 SN1 green, SN2 lime, as cartoon-like tubes through the CA beads), the TMD residues
(VDW, orange), and periodic images in x and y (the membranes are periodic laterally) for every representation.
Selections use the PSF's segment ids (``segname A``, ``segname "V.*"``) and bead names (``name H``).
"""

from __future__ import annotations

from pathlib import Path

from ..lumen import GAS_RESNAME
from . import load_build

VMD_FILE = "view.vmd"
#: VMD colour ids (VMD's default colour table) of the SNARE helices, by PSF segment prefix.
HELIX_COLOURS = {"V": ("VAMP2", 1), "S": ("syntaxin-1A", 4), "N": ("SNAP-25B SN1", 7), "C": ("SNAP-25B SN2", 12)}
TMD_COLOUR = 3  # orange
#: Periodic images drawn: +x, -x, +y, -y (VMD's showperiodic letters).
PERIODIC = "xXyY"


def _tcl_path(p: Path, base: Path) -> str:
    try:
        rel = p.resolve().relative_to(base.resolve())
        return "[file join $dir " + "{" + str(rel) + "}]"
    except ValueError:
        return "{" + str(p.resolve()) + "}"


def vmd_script(build_dir: str | Path, out_dir: str | Path) -> str:
    """The text of ``view.vmd`` for the build in ``build_dir``, to be written into ``out_dir`` (paths are relative
    to the script's own directory when the build is below it, else absolute)."""
    b = load_build(build_dir)
    out = Path(out_dir)
    d = b.directory
    lines = [
        f"# VMD visualisation state of the snarefuse build {d} ({b.spec.name}); vmd -e {VMD_FILE}",
        "set dir [file dirname [file normalize [info script]]]",
        f"mol new {_tcl_path(b.run_dir.system_psf, out)} type psf waitfor all",
        f"mol addfile {_tcl_path(b.structure_file, out)} type {'pdbx' if b.structure_file.suffix == '.cif' else 'pdb'}"
        " waitfor all",
    ]
    lx, ly, lz = (10.0 * v for v in b.box)  # Å
    lines += [
        "set mol [molinfo top]",
        "# the build's box on its frame (a DCD loaded next carries its own, frame by frame)",
        f"molinfo $mol set {{a b c alpha beta gamma}} {{{lx:.3f} {ly:.3f} {lz:.3f} 90 90 90}}",
    ]
    traj = b.run_dir.trajectory_file("dcd")
    if traj.exists():
        lines.append(f"mol addfile {_tcl_path(traj, out)} type dcd waitfor all")
    lines += [
        "mol delrep 0 $mol",
        "proc sf_rep {mol style colour selection} {",
        "    mol representation {*}$style",
        "    mol color {*}$colour",
        "    mol selection $selection",
        "    mol material Opaque",
        "    mol addrep $mol",
        "    set rep [expr {[molinfo $mol get numreps] - 1}]",
        f"    mol showperiodic $mol $rep {PERIODIC}",
        "    mol numperiodic $mol $rep 1",
        "}",
        "# lipid heads by species, tails as bonds",
    ]
    lipids = " ".join(sorted(b.spec.lipids))
    lines += [
        f'sf_rep $mol {{VDW 0.45 12}} {{ResName}} {{resname {lipids} and name H}}',
        f'sf_rep $mol {{Bonds 0.25 12}} {{ColorID 2}} {{resname {lipids} and not name H}}',
    ]
    if b.manifest.get("n_gas"):
        lines.append(f"sf_rep $mol {{Points 4}} {{ColorID 10}} {{resname {GAS_RESNAME}}}")
    snares = b.manifest.get("snares") or []
    if snares:
        lines.append("# SNARE helices, one colour per protein; TMD residues as spheres")
        for prefix, (name, colour) in HELIX_COLOURS.items():
            lines.append(f'sf_rep $mol {{Licorice 0.9 12 12}} {{ColorID {colour}}} {{segname "{prefix}[0-9]+"}}'
                         f"  ;# {name}")
        tmd_sel = []
        for cx in snares:
            for chain, seg_label in sorted({(c, s) for c, s in zip(cx["helix"], cx["segment"]) if s == "tmd"}):
                segname = next(k for k in cx["chains"] if k.startswith(_prefix_of(chain)))
                resids = [r for c, s, r in zip(cx["helix"], cx["segment"], cx["resid"]) if c == chain and s == "tmd"]
                tmd_sel.append(f"(segname {segname} and resid {min(resids)} to {max(resids)})")
        lines.append(f"sf_rep $mol {{VDW 0.6 12}} {{ColorID {TMD_COLOUR}}} {{{' or '.join(tmd_sel)}}}  ;# TMDs")
    lines += ["display projection Orthographic", "axes location Off", "color Display Background white",
              "display resetview"]
    return "\n".join(lines) + "\n"


def _prefix_of(helix: str) -> str:
    """PSF segment prefix of a helix letter of the SNARE model (A VAMP2, B syntaxin, C SN1, D SN2)."""
    from ..build.proteins import CHAIN_PREFIX

    return CHAIN_PREFIX[helix]


def export_vmd(build_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``view.vmd`` of the build in ``build_dir`` into ``out_dir`` (created); returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / VMD_FILE
    path.write_text(vmd_script(build_dir, out))
    return [path]
