"""Structure files of a build that every tool reads the same way: PDB (``system.pdb``) or, past the PDB
format's limits, PDBx/mmCIF (``system.cif``), beside the PSF (:mod:`snarefuse.psf`).

All three carry the same names and numbers: the real residue numbers (VAMP2 28-116, syntaxin 191-288, ...; the
lipids and gas beads numbered as in the PSF), every bond (lipids, proteins, nothing left to a reader's residue
templates), and one segment per chain. A chain's PSF segment id (``A``, ``V0``, ``C0``, ``G1``, ...) is the PDB
segment id (columns 73-76) and the PDBx chain id; the PDB's one-letter chain id is its first letter, so PDB chain
``C`` is SNAP-25 SN2 as PSF segment ``C0`` is (each chain ends with a TER record, so two chains sharing a letter
stay two chains in mdtraj and MDAnalysis).

A PDB holds at most 99,999 atoms and 9,999 residue numbers (OpenMM then writes hexadecimal fields that mdtraj
reads with no bonds and colliding residues), residue names of 4 characters and segment ids of 4. A build beyond
any of these writes ``system.cif`` instead of ``system.pdb``; :attr:`snarefuse.rundir.RunDirectory.system_pdb`
finds whichever a directory has.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from openmm import app

from .psf import residue_number, segment_id

#: The structure files a build may hold, in the order they are looked for: exactly one of them is written.
STRUCTURE_FILES = ("system.pdb", "system.cif")
#: PDB format limits (fixed columns): atom serial (5 digits), residue number (4), residue name, atom name and
#: segment id (4 each).
PDB_MAX_ATOMS = 99_999
PDB_MAX_RESID = 9_999
PDB_MAX_NAME = 4
#: Coordinates in Å that the PDB's 8.3f columns hold.
PDB_MIN_COORD_A, PDB_MAX_COORD_A = -999.999, 9999.999
#: Element column for beads that have no element (OpenMM's "extra particle" marker, as before).
NO_ELEMENT = "EP"


def pdb_limits_exceeded(topology: app.Topology, positions_nm: np.ndarray | None = None) -> list[str]:
    """Why ``topology`` (at ``positions_nm``, if given) cannot be written as a complete PDB file (empty when it
    can)."""
    why = []
    if positions_nm is not None and len(positions_nm):
        x = np.asarray(positions_nm, dtype=float) * 10.0
        if x.min() < PDB_MIN_COORD_A or x.max() > PDB_MAX_COORD_A:
            why.append(f"coordinates from {x.min():.1f} to {x.max():.1f} Å (PDB: {PDB_MIN_COORD_A} to "
                       f"{PDB_MAX_COORD_A})")
    if topology.getNumAtoms() > PDB_MAX_ATOMS:
        why.append(f"{topology.getNumAtoms()} atoms (PDB: at most {PDB_MAX_ATOMS:,})")
    top_res = max((residue_number(r) for r in topology.residues()), default=0)
    if top_res > PDB_MAX_RESID:
        why.append(f"residue number {top_res} (PDB: at most {PDB_MAX_RESID})")
    long_names = sorted({r.name for r in topology.residues() if len(r.name) > PDB_MAX_NAME}
                        | {a.name for a in topology.atoms() if len(a.name) > PDB_MAX_NAME}
                        | {segment_id(c) for c in topology.chains() if len(segment_id(c)) > PDB_MAX_NAME})
    if long_names:
        why.append(f"names longer than {PDB_MAX_NAME} characters: {', '.join(long_names[:5])}")
    return why


def structure_file_name(topology: app.Topology, positions_nm: np.ndarray | None = None) -> str:
    """``system.pdb`` when the topology (and positions) fit the PDB format, else ``system.cif``."""
    return STRUCTURE_FILES[1] if pdb_limits_exceeded(topology, positions_nm) else STRUCTURE_FILES[0]


def read_openmm_structure(path: str | Path) -> app.PDBFile | app.PDBxFile:
    """OpenMM's reader for a structure file (``.pdb`` or ``.cif``); both give ``topology`` and ``positions``."""
    p = Path(path)
    return app.PDBxFile(str(p)) if p.suffix in (".cif", ".pdbx") else app.PDBFile(str(p))


def _atom_name(name: str) -> str:
    # PDB convention: names shorter than 4 start in column 14 (one-letter element names)
    return f" {name:<3s}" if len(name) < 4 else name[:4]


def pdb_text(topology: app.Topology, positions_nm: np.ndarray, box_nm: np.ndarray) -> str:
    """A PDB file of ``topology`` with every bond (CONECT), real residue numbers and segment ids.

    Atom serial numbers are the atom indices + 1 (TER records take no serial), so CONECT and a viewer's
    ``serial`` selections match the PSF. Raises ValueError when :func:`pdb_limits_exceeded` says it cannot.
    """
    why = pdb_limits_exceeded(topology, positions_nm)
    if why:
        raise ValueError(f"the PDB format cannot hold this system: {'; '.join(why)}; write PDBx/mmCIF instead")
    x = np.asarray(positions_nm, dtype=float) * 10.0
    if not np.all(np.isfinite(x)):
        raise ValueError("positions hold NaN or infinite values")
    a, b, c = (float(v) * 10.0 for v in box_nm)
    out = io.StringIO()
    out.write(f"CRYST1{a:9.3f}{b:9.3f}{c:9.3f}{90.0:7.2f}{90.0:7.2f}{90.0:7.2f} P 1           1 \n")
    for chain in topology.chains():
        seg = segment_id(chain)
        for res in chain.residues():
            num = residue_number(res)
            for atom in res.atoms():
                p = x[atom.index]
                out.write(f"HETATM{atom.index + 1:5d} {_atom_name(atom.name)} {res.name:<4s}{seg[0]}{num:4d}    "
                          f"{p[0]:8.3f}{p[1]:8.3f}{p[2]:8.3f}  1.00  0.00      {seg:<4s}{NO_ELEMENT:>2s}  \n")
        out.write("TER\n")
    partners: list[list[int]] = [[] for _ in range(topology.getNumAtoms())]
    for b1, b2 in topology.bonds():
        partners[b1.index].append(b2.index + 1)
        partners[b2.index].append(b1.index + 1)
    for i, js in enumerate(partners):
        for k in range(0, len(js), 4):  # at most four partners per CONECT record
            out.write(f"CONECT{i + 1:5d}" + "".join(f"{j:5d}" for j in sorted(js)[k:k + 4]) + "\n")
    out.write("END\n")
    return out.getvalue()


def pdbx_text(topology: app.Topology, positions_nm: np.ndarray, box_nm: np.ndarray) -> str:
    """A PDBx/mmCIF file of ``topology`` with every bond (``_struct_conn``), real residue numbers and the PSF's
    segment ids as chain ids; no size limit.

    The atom records are OpenMM's (:class:`openmm.app.PDBxFile`, ``keepIds=True``); OpenMM lists bonds only where
    a residue is not a standard one, so the bond loop is written here for every bond (the CA-only SNARE residues
    have standard names but none of the standard bonds).
    """
    top = app.Topology()
    # chain ids = segment ids (A, V0, C0, G1...); residue ids = residue numbers, as in the PSF
    for chain in topology.chains():
        ch = top.addChain(segment_id(chain))
        for res in chain.residues():
            r = top.addResidue(res.name, ch, id=str(residue_number(res)))
            for atom in res.atoms():
                top.addAtom(atom.name, atom.element, r)
    top.setPeriodicBoxVectors(topology.getPeriodicBoxVectors())
    buf = io.StringIO()
    app.PDBxFile.writeHeader(top, buf, keepIds=True)  # before the bonds are added: this module lists them all
    app.PDBxFile.writeModel(top, np.asarray(positions_nm, dtype=float) * 10.0, buf, keepIds=True)
    atoms = list(top.atoms())
    for b1, b2 in topology.bonds():
        top.addBond(atoms[b1.index], atoms[b2.index])
    head, sep, rest = buf.getvalue().partition("loop_\n_atom_site.")
    lines = ["loop_", "_struct_conn.id", "_struct_conn.conn_type_id"]
    lines += [f"_struct_conn.ptnr{k}_label_{f}" for k in (1, 2) for f in ("asym_id", "comp_id", "seq_id", "atom_id")]
    for i, (b1, b2) in enumerate(top.bonds()):
        r1, r2 = b1.residue, b2.residue
        lines.append(f"bond{i + 1} covale {r1.chain.id} {r1.name} {r1.id} {b1.name} "
                     f"{r2.chain.id} {r2.name} {r2.id} {b2.name}")
    bonds = "\n".join(lines) + "\n#\n" if top.getNumBonds() else ""
    return head + bonds + sep + rest


def structure_text(topology: app.Topology, positions_nm: np.ndarray, box_nm: np.ndarray) -> tuple[str, str]:
    """``(file name, text)`` of the build's structure file: a PDB when it fits, else PDBx/mmCIF."""
    name = structure_file_name(topology, positions_nm)
    text = (pdb_text if name.endswith(".pdb") else pdbx_text)(topology, positions_nm, box_nm)
    return name, text
