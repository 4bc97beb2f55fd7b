"""Write a PSF (CHARMM EXT layout with the NAMD flag: space-delimited) of a coarse-grained topology.

The PSF carries the whole bead graph, residue names and numbers, and one segment per chain, whatever the
system's size, so VMD, MDAnalysis and mdtraj draw and select the model correctly
(``mol new system.psf; mol addfile trajectory.dcd``; ``MDAnalysis.Universe("system.psf", "trajectory.dcd")``).
The PDB or PDBx file beside it (:mod:`snarefuse.structure`) uses the same segment ids and residue numbers.
"""

from __future__ import annotations

import io

from openmm import app

def segment_id(chain: app.Chain) -> str:
    """The segment id of a chain in every structure file (PSF segment, PDB columns 73-76, PDBx chain id): the
    chain id (``A``, ``V0``, ``C0``, ``G1``...), or ``M<index>`` if it has none."""
    return (chain.id or f"M{chain.index}")[:8]


def residue_number(res: app.Residue) -> int:
    """The residue's number in every structure file: the topology's residue id (the real number of a SNARE
    residue), else its index + 1."""
    rid = str(res.id).strip()
    return int(rid) if rid.lstrip("-").isdigit() else res.index + 1


def psf_text(topology: app.Topology, masses: list[float], types: list[str] | None = None) -> str:
    """The PSF of ``topology`` (EXT format, no charges, no angles).

    Parameters
    ----------
    topology : openmm.app.Topology
    masses : list of float
        Mass of each atom (amu).
    types : list of str, optional
        Atom type names (default: the atom names).
    """
    atoms = list(topology.atoms())
    out = io.StringIO()
    out.write("PSF EXT NAMD\n\n")  # NAMD flag: space-delimited fields (VMD psfplugin, MDAnalysis)
    out.write(f"{2:10d} !NTITLE\n")
    out.write("* snarefuse coarse-grained topology\n* beads: no elements, masses in amu\n\n")
    out.write(f"{len(atoms):10d} !NATOM\n")
    for a in atoms:
        res = a.residue
        resid = residue_number(res)
        t = types[a.index] if types else a.name
        out.write(f"{a.index + 1:10d} {segment_id(res.chain):<8s} {str(resid):<8s} {res.name:<8s} {a.name:<8s} "
                  f"{t:<6s} {0.0:14.6f}{masses[a.index]:14.6f}{0:12d}\n")
    bonds = [(b[0].index + 1, b[1].index + 1) for b in topology.bonds()]
    out.write(f"\n{len(bonds):10d} !NBOND: bonds\n")
    for k in range(0, len(bonds), 4):
        out.write("".join(f"{i:10d}{j:10d}" for i, j in bonds[k:k + 4]) + "\n")
    for section in ("!NTHETA: angles", "!NPHI: dihedrals", "!NIMPHI: impropers", "!NDON: donors",
                    "!NACC: acceptors"):
        out.write(f"\n{0:10d} {section}\n\n")
    out.write(f"\n{0:10d}{0:10d} !NGRP\n{0:10d}{0:10d}{0:10d}\n\n")
    return out.getvalue()
