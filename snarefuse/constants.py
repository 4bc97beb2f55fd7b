"""Geometric constants of the coarse-grained membrane and protein models, each defined once.

Unit conversions live in :mod:`snarefuse.units`; everything here is a length in the model's own units
(sigma) or a property of the protein chain. Where a spec exists the lengths are scaled by its
``model.sigma`` (:attr:`snarefuse.spec.ModelSpec.head_offset_nm`), never by a hard-coded 0.88 nm.
See docs/model.md for the model.
"""

from __future__ import annotations

#: Distance of a membrane's head-bead layer from its midplane, in sigma: half the 4.4 sigma head-head
#: distance of a tension-free Cooke bilayer at kT = 1.1 epsilon, w_c = 1.6 sigma (Cooke, Kremer & Deserno,
#: Phys. Rev. E 72, 011506, 2005). Vesicle shells are built there, and the lumen and proteins placed from it.
HEAD_OFFSET_SIGMA = 2.2
#: Contour length of one amino-acid residue in an unstructured chain, nm (the C-alpha - C-alpha distance of
#: a trans peptide; bond length of the unzipped SNARE linkers and of their worm-like-chain length).
NM_PER_RESIDUE = 0.365
#: The neuronal SNARE bundle's layers, N- to C-terminal: -7 ... +8 around the ionic 0 layer (Sutton, Fasshauer,
#: Jahn & Brunger, Nature 395, 347, 1998). The builder numbers residues by them and the analysis measures them.
SNARE_LAYER_MIN, SNARE_LAYER_MAX = -7, 8
