"""Write a PSF (CHARMM EXT layout with the NAMD flag: space-delimited) of a coarse-grained topology.

PDB files cannot carry bonds past 99,999 atoms; the PSF carries the whole bead graph, residue
names and numbers, and one segment per chain, so VMD, ChimeraX, MDAnalysis and mdtraj draw and
select the model correctly whatever its size (``mol new system.psf; mol addfile trajectory.dcd``).
"""

from __future__ import annotations

import io

from openmm import app

#: segment id of chain k: the chain id, or "M<k>" if it has none
def _segid(chain: app.Chain) -> str:
    return (chain.id or f"M{chain.index}")[:8]


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
        resid = res.id if str(res.id).strip() else str(res.index + 1)
        t = types[a.index] if types else a.name
        out.write(f"{a.index + 1:10d} {_segid(res.chain):<8s} {str(resid):<8s} {res.name:<8s} {a.name:<8s} "
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
