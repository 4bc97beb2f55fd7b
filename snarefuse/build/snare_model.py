"""The neuronal SNARE complex as data: sequences, residue numbering, heptad positions and layers, ideal helix and
coiled-coil geometry, and :class:`SnareComplex` (one bead per residue, with its bonds, helical stretches, native
contacts and TMDs). :mod:`snarefuse.build.snare` builds and places complexes from it and re-exports it; the
sources are those of that module's docstring (docs/model.md, "SNARE complexes").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..constants import SNARE_LAYER_MAX, SNARE_LAYER_MIN
from ..errors import BuildError
# the helix geometry the builder places beads with is the one the helix restraints hold them to
from ..protein_bonds import CA_RADIUS_NM, COIL_BOND_NM, RESIDUES_PER_TURN, RISE_NM, ideal_helix_distance

__all__ = ["RISE_NM", "RESIDUES_PER_TURN", "CA_RADIUS_NM", "SUPERCOIL_RADIUS_NM", "COIL_BOND_NM", "LAYER_MIN", "LAYER_MAX", "SegmentSpec", "SEGMENTS", "ZERO_LAYER_RESID", "CHAIN_PROTEIN", "CHAIN_HELIX", "THREE_LETTER", "SnareResidue", "SnareComplex", "heptad_position", "layer_of", "ideal_helix_distance", "supercoil_geometry"]

#: distance of each helix axis from the bundle axis, nm (1.33 nm between neighbouring helices).
SUPERCOIL_RADIUS_NM = 0.94
#: layer range of the SNARE bundle.
LAYER_MIN, LAYER_MAX = SNARE_LAYER_MIN, SNARE_LAYER_MAX
#: heptad repeat in the supercoil frame: 2 turns per 7 residues, degrees per residue.
HEPTAD_TWIST_DEG = 720.0 / 7.0
#: phase of the d position relative to the direction to the bundle axis; a is at the opposite sign.
D_PHASE_DEG = -0.5 * (4 * HEPTAD_TWIST_DEG - 360.0)

THREE_LETTER = {
    "A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "Q": "GLN", "E": "GLU",
    "G": "GLY", "H": "HIS", "I": "ILE", "L": "LEU", "K": "LYS", "M": "MET", "F": "PHE",
    "P": "PRO", "S": "SER", "T": "THR", "W": "TRP", "Y": "TYR", "V": "VAL",
}


@dataclass(frozen=True)
class SegmentSpec:
    """One contiguous stretch of sequence with its real residue numbering."""

    chain_id: str
    segment: str  # "motif" | "linker" | "tmd"
    first_resid: int
    sequence: str

    @property
    def last_resid(self) -> int:
        return self.first_resid + len(self.sequence) - 1


#: Sequences of rat syntaxin-1A, SNAP-25B and VAMP2 (UniProt P32851, P60881, P63045), chain by chain, N to C.
#: Residue types of the juxtamembrane linkers that anchor at the membrane interface: the aromatic belt (Trp,
#: Tyr) and Lys/Arg, whose side chains snorkel to the phosphates.
ANCHOR_RESNAMES = frozenset({"TRP", "TYR", "LYS", "ARG"})

SEGMENTS: tuple[SegmentSpec, ...] = (
    SegmentSpec("A", "motif", 28, "SNRRLQQTQAQVDEVVDIMRVNVDKVLERDQKLSELDDRADALQAGASQFETSAAKLKRKYW"),
    SegmentSpec("A", "linker", 90, "WKNLK"),
    SegmentSpec("A", "tmd", 95, "MMIILGVICAIILIIIIVYFST"),
    SegmentSpec("B", "motif", 191, "ALSEIETRHSEIIKLENSIRELHDMFMDMAMLVESQGEMIDRIEYNVEHAVDYVERAVSDTKK"),
    SegmentSpec("B", "linker", 254, "AVKYQSKARRKK"),
    SegmentSpec("B", "tmd", 266, "IMIIICCVILGIIIASTIGGIFG"),
    SegmentSpec("C", "motif", 7, "MRNELEEMQRRADQLADESLESTRRMLQLVEESKDAGIRTLVMLDEQGEQLERIEEGMDQINKDMKEAEKNLTDLGK"),
    SegmentSpec("D", "motif", 141, "ARENEMDENLEQVSGIIGNLRHMALDMGNEIDTQNRQIDRIMEKADSNKTRIDEANQRATKMLG"),
)
#: ionic 0-layer residue of each chain.
ZERO_LAYER_RESID = {"A": 56, "B": 226, "C": 53, "D": 174}
CHAIN_PROTEIN = {"A": "VAMP2", "B": "syntaxin-1A", "C": "SNAP-25B", "D": "SNAP-25B"}
CHAIN_HELIX = {"A": "VAMP2", "B": "syntaxin-1A H3", "C": "SNAP-25B SN1", "D": "SNAP-25B SN2"}
#: azimuth of each helix axis around the bundle axis at the 0-layer, degrees (order VAMP2, Syx, SN2, SN1).
BUNDLE_AZIMUTH_DEG = {"A": 0.0, "B": 90.0, "D": 180.0, "C": 270.0}
#: chains anchored by a TMD, and the membrane each crosses in place_complex_between.
ANCHORED_CHAINS = ("A", "B")
CHAIN_ORDER = ("A", "B", "C", "D")


def heptad_position(chain_id: str, resid: int) -> str:
    """Heptad letter ``a``...``g`` of a residue, counted from the 0-layer (position ``d``).

    Examples
    --------
    >>> heptad_position("A", 56), heptad_position("A", 60), heptad_position("A", 53)
    ('d', 'a', 'a')
    """
    offset = resid - ZERO_LAYER_RESID[chain_id]
    return "defgabc"[offset % 7]


def layer_of(chain_id: str, resid: int) -> tuple[int, bool]:
    """Layer of a residue and whether it sits at a layer (a/d) position.

    Core (a/d) positions get the layer they form; other residues get the layer of the nearest core
    position (ties go to the N-terminal one), clamped to -7...+8. ``is_core`` is True only for the
    16 a/d positions per helix that form layers -7...+8.

    Examples
    --------
    >>> layer_of("B", 226), layer_of("B", 230), layer_of("B", 202), layer_of("A", 84)
    ((0, True), (1, True), (-7, True), (8, True))
    """
    offset = resid - ZERO_LAYER_RESID[chain_id]
    candidates = []
    for cycle in (offset // 7 - 1, offset // 7, offset // 7 + 1):
        for pos, extra in ((0, 0), (4, 1)):
            core = 7 * cycle + pos
            candidates.append((abs(offset - core), core, 2 * cycle + extra))
    _, core, layer = min(candidates)  # nearest; ties -> smaller offset (N-terminal)
    is_core = core == offset and LAYER_MIN <= layer <= LAYER_MAX
    return int(min(max(layer, LAYER_MIN), LAYER_MAX)), bool(is_core)




def supercoil_geometry(*, radius_nm: float = SUPERCOIL_RADIUS_NM, rise_nm: float = RISE_NM,
                       residues_per_turn: float = RESIDUES_PER_TURN) -> tuple[float, float]:
    """Crossing angle (rad) and pitch (nm) of the left-handed supercoil with an exact heptad repeat.

    The helix twists 360/residues_per_turn degrees per residue in a non-rotating frame and 720/7 in
    the supercoil's Frenet frame, so the Frenet torsion is tau = -(720/7 - 360/n) / rise. For a helix
    of radius R and reduced pitch b, |tau| = b / (R^2 + b^2); the larger root is the coiled coil.
    """
    dtheta = math.radians(HEPTAD_TWIST_DEG - 360.0 / residues_per_turn)
    tau = dtheta / rise_nm  # magnitude; left-handed => negative torsion
    disc = 1.0 - 4.0 * tau * tau * radius_nm * radius_nm
    if disc <= 0:
        raise BuildError(f"supercoil radius {radius_nm} nm admits no coiled coil with an exact heptad repeat")
    b = (1.0 + math.sqrt(disc)) / (2.0 * tau)
    return math.atan2(radius_nm, b), 2.0 * math.pi * b


@dataclass(frozen=True)
class SnareResidue:
    """One residue (one bead) of the complex.

    Attributes
    ----------
    index : int
        Position in :attr:`SnareComplex.residues` (and row of the coordinates).
    chain_id : str
        ``A`` VAMP2, ``B`` syntaxin-1A, ``C`` SNAP-25B SN1, ``D`` SNAP-25B SN2 (PDB 1SFC convention).
    protein : str
        ``VAMP2``, ``syntaxin-1A`` or ``SNAP-25B``.
    resname : str
        Three-letter residue code.
    resid : int
        Real residue number of the protein.
    segment : str
        ``motif``, ``linker`` or ``tmd``.
    layer : int
        Layer -7...+8 (nearest layer for non-core residues; TMD residues carry +8).
    heptad : str
        ``a``...``g`` for motif and linker residues, ``-`` for TMD residues.
    is_core : bool
        True at the 16 a/d layer positions of each helix.
    structure : str
        ``helix`` (motif, helical linker, TMD) or ``coil`` (unzipped linker).
    zipped : bool
        True for helical bundle residues whose layer is in the zipped range: their native contacts are on.
    """

    index: int
    chain_id: str
    protein: str
    resname: str
    resid: int
    segment: str
    layer: int
    heptad: str
    is_core: bool
    structure: str
    zipped: bool


@dataclass(frozen=True)
class SnareComplex:
    """A SNARE complex: residue records plus C-alpha coordinates.

    Attributes
    ----------
    residues : tuple of SnareResidue
        Chains A, B, C, D in order, each N to C.
    positions : ndarray, shape (N, 3), float64
        C-alpha coordinates, nm.
    zipped_layers : tuple of int
        Inclusive (first, last) zipped layer.
    linker_unzipped : tuple of int
        Unzipped (coil) residues before the TMD of (VAMP2, syntaxin).
    """

    residues: tuple[SnareResidue, ...]
    positions: np.ndarray
    zipped_layers: tuple[int, int]
    linker_unzipped: tuple[int, int]
    _arrays: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pos = np.asarray(self.positions, dtype=np.float64)
        if pos.shape != (len(self.residues), 3):
            raise BuildError(f"positions must have shape ({len(self.residues)}, 3), got {pos.shape}")
        object.__setattr__(self, "positions", pos)

    # ---- per-residue arrays ---------------------------------------------------------------
    def _col(self, name: str, dtype: type | str) -> np.ndarray:
        if name not in self._arrays:
            self._arrays[name] = np.array([getattr(r, name) for r in self.residues], dtype=dtype)
        return self._arrays[name]

    @property
    def n_residues(self) -> int:
        return len(self.residues)

    @property
    def chain_ids(self) -> np.ndarray:
        """(N,) str."""
        return self._col("chain_id", "U1")

    @property
    def resids(self) -> np.ndarray:
        """(N,) int64 real residue numbers."""
        return self._col("resid", np.int64)

    @property
    def layers(self) -> np.ndarray:
        """(N,) int64."""
        return self._col("layer", np.int64)

    @property
    def is_core(self) -> np.ndarray:
        """(N,) bool."""
        return self._col("is_core", bool)

    @property
    def zipped(self) -> np.ndarray:
        """(N,) bool."""
        return self._col("zipped", bool)

    @property
    def segments(self) -> np.ndarray:
        """(N,) str: motif / linker / tmd."""
        return self._col("segment", "U6")

    @property
    def structure(self) -> np.ndarray:
        """(N,) str: helix / coil."""
        return self._col("structure", "U5")

    def sequence(self, chain_id: str) -> str:
        """One-letter sequence of a chain."""
        inv = {v: k for k, v in THREE_LETTER.items()}
        return "".join(inv[r.resname] for r in self.residues if r.chain_id == chain_id)

    def select(self, chain_id: str | None = None, segment: str | None = None) -> np.ndarray:
        """Indices (int64) of residues matching a chain and/or segment."""
        mask = np.ones(self.n_residues, dtype=bool)
        if chain_id is not None:
            mask &= self.chain_ids == chain_id
        if segment is not None:
            mask &= self.segments == segment
        return np.flatnonzero(mask)

    def index_of(self, chain_id: str, resid: int) -> int:
        """Index of residue ``resid`` of chain ``chain_id``."""
        hits = np.flatnonzero((self.chain_ids == chain_id) & (self.resids == resid))
        if hits.size != 1:
            raise BuildError(f"no residue {resid} in chain {chain_id}")
        return int(hits[0])

    def tmd_indices(self) -> np.ndarray:
        """Indices of TMD residues (hydrophobic, attracted to lipid tails)."""
        return self.select(segment="tmd")

    def anchor_indices(self) -> np.ndarray:
        """Indices of the interfacial anchor residues: the Trp, Tyr, Lys and Arg of the juxtamembrane linker
        segments (VAMP2 W90 K91 K94; syntaxin K256 Y257 K260 R262 R263 K264 K265) and the C-terminal residue
        of each TMD (VAMP2 T116, syntaxin G288: the charged carboxylate). They attract lipid head beads
        (:func:`snarefuse.forces.interface_anchor_force`)."""
        names = np.array([r.resname for r in self.residues])
        anchor = (self.segments == "linker") & np.isin(names, sorted(ANCHOR_RESNAMES))
        anchor[self.tmd_cterm_indices()] = True
        return np.flatnonzero(anchor)

    def tmd_cterm_indices(self) -> np.ndarray:
        """Indices of the C-terminal residue of each TMD (polar: no tail attraction)."""
        return np.array([int(self.select(chain_id=c, segment="tmd").max()) for c in ANCHORED_CHAINS], dtype=np.int64)

    def bundle_indices(self) -> np.ndarray:
        """Indices of the helical coiled-coil residues (motif + helical linker)."""
        return np.flatnonzero((self.segments != "tmd") & (self.structure == "helix"))

    # ---- topology terms ----------------------------------------------------------------------
    def helical_stretches(self) -> list[np.ndarray]:
        """Runs of consecutive helical residues, as index arrays.

        The bundle part and the TMD of a chain are separate stretches when unzipped residues lie
        between them, one continuous stretch otherwise. Each gets i,i+1 / i,i+3 / i,i+4 restraints.
        """
        out: list[np.ndarray] = []
        for chain in CHAIN_ORDER:
            run: list[int] = []
            for i in self.select(chain_id=chain):
                if self.residues[i].structure == "helix":
                    run.append(int(i))
                else:
                    if len(run) > 1:
                        out.append(np.array(run, dtype=np.int64))
                    run = []
            if len(run) > 1:
                out.append(np.array(run, dtype=np.int64))
        return out

    def coil_bonds(self) -> np.ndarray:
        """(M, 2) int64: consecutive pairs within a chain that are not inside one helical stretch.

        These are the worm-like-chain bonds of the unzipped linkers (including the helix-coil and
        coil-TMD junctions).
        """
        pairs = []
        for i in range(self.n_residues - 1):
            a, b = self.residues[i], self.residues[i + 1]
            if a.chain_id == b.chain_id and (a.structure == "coil" or b.structure == "coil"):
                pairs.append((i, i + 1))
        return np.array(pairs, dtype=np.int64).reshape(-1, 2)

    def native_contacts(self, cutoff_nm: float = 1.1, *, zipped_only: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Inter-helix residue pairs in contact in the built bundle.

        Parameters
        ----------
        cutoff_nm : float
            C-alpha distance below which two residues of different chains are in contact. The
            default 1.1 nm takes the a/d pairs of neighbouring helices in each layer (1.045 nm apart
            in this geometry) and their nearest flanking residues: 275 pairs when fully zipped.
        zipped_only : bool
            Keep only pairs of which both residues are zipped (layer in ``zipped_layers``).

        Returns
        -------
        pairs : ndarray, shape (M, 2), int64
        r0 : ndarray, shape (M,), float64
            Native distances, nm.

        Notes
        -----
        Distances are taken from :attr:`positions` of the coiled-coil residues, which
        :func:`place_complex_between` moves rigidly, so they are the ideal-bundle distances for any
        complex made by this module.
        """
        idx = self.bundle_indices()
        if zipped_only:
            idx = idx[self.zipped[idx]]
        pos = self.positions[idx]
        d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
        chains = self.chain_ids[idx]
        iu, ju = np.triu_indices(len(idx), k=1)
        keep = (chains[iu] != chains[ju]) & (d[iu, ju] < cutoff_nm)
        pairs = np.stack([idx[iu[keep]], idx[ju[keep]]], axis=1).astype(np.int64)
        return pairs, d[iu[keep], ju[keep]].astype(np.float64)

    def excluded_pairs(self) -> np.ndarray:
        """(K, 2) int64 pairs to exclude from protein-protein excluded volume.

        Bonded neighbours and pairs up to i+4 within a helical stretch (they carry helix restraints).
        Coil residues keep excluded volume from i,i+2 on, which sets the linker stiffness. Native
        contacts need no exclusion: the closest inter-helix pair (0.92 nm) lies beyond the WCA range.
        """
        pairs: set[tuple[int, int]] = set()
        for stretch in self.helical_stretches():
            for k in range(1, 5):
                pairs.update(zip(stretch[:-k].tolist(), stretch[k:].tolist()))
        pairs.update(map(tuple, self.coil_bonds().tolist()))
        return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)

    def with_positions(self, positions: np.ndarray) -> SnareComplex:
        """A copy with new coordinates (N, 3) nm."""
        return replace(self, positions=np.array(positions, dtype=np.float64))
