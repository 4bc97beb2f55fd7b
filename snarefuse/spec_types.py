"""The sections of a validated spec: frozen dataclasses with their canonical ``to_dict``, and the limits
the parser checks against. :mod:`snarefuse.spec` builds them from YAML; they hold no parsing code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .constants import HEAD_OFFSET_SIGMA, SNARE_LAYER_MAX, SNARE_LAYER_MIN
from .lumen import LumenSpec
from .protocol import Protocol
from .quantities import fmt_float as _fmt
from .units import DEFAULT_SIGMA_NM, ReducedUnits

LIPID_MODELS = {"cooke3": 3, "cooke4": 4}
GEOMETRIES = ["bilayer", "two_bilayers", "vesicle_planar", "vesicle_vesicle"]
TRAJECTORY_FORMATS = ["dcd", "xtc"]
PLATFORMS = ["auto", "Reference", "CPU", "OpenCL", "CUDA", "HIP"]
PRECISIONS = ["single", "mixed", "double"]
#: Upper limits that keep absurd input (1e300 lipids) from hanging the builder: 10^7 lipids is ~3e7
#: beads, far beyond a single OpenMM context.
MAX_LIPIDS = 10_000_000
MAX_BOX_NM = 5000.0
#: Largest accepted TMD bead - lipid tail attraction (epsilon): 0.5 ran stably for 4000 steps of the quickstart
#: system, 1.0 blew up within 500 steps at dt = 0.01 tau.
MAX_TMD_TAIL_ATTRACTION = 0.5
#: Default ``system.snares.contact_strength``, kT per native contact: snarefuse.forces.DEFAULT_CONTACT_EPSILON_KT
#: (why 1.4 kT is there; kept in step by a test, and here so that reading a spec does not import OpenMM).
DEFAULT_CONTACT_STRENGTH_KT = 1.4
#: Default ``system.snares.anchor_strength`` (epsilon per anchor residue - lipid head pair):
#: snarefuse.forces.DEFAULT_ANCHOR_STRENGTH (kept in step by a test). Why 3: docs/model.md, "TMD anchoring".
DEFAULT_ANCHOR_STRENGTH = 3.0
#: Largest accepted anchor strength (epsilon): a bound on typos, not a stability limit (the attraction is
#: bounded by -strength x epsilon per pair and the heads' WCA keeps beads apart); values above 3 were not run.
MAX_ANCHOR_STRENGTH = 10.0
#: Largest accepted system.hold strength (kT/nm^2): a bound on typos. The restraint acts on two centres of mass of
#: thousands of beads, so even this spreads to a small force per bead.
MAX_HOLD_STRENGTH = 1000.0
#: ``run.formulation`` values: ``auto``, a key of snarefuse.formulations.FORMULATIONS, or ``native`` (the plugin,
#: where built) (kept in step by a test; listed here so that reading a spec does not import OpenMM).
FORMULATIONS = ["auto", "expression", "step", "clamped", "poly", "poly_computed", "tabulated", "tabulated_types",
                "split", "split_tabulated", "interaction_groups", "native"]


@dataclass(frozen=True)
class ModelSpec:
    """The coarse-grained lipid model and the unit mapping."""

    lipid_model: str = "cooke3"
    sigma_nm: float = DEFAULT_SIGMA_NM
    temperature_k: float = 310.0
    kt_over_epsilon: float = 1.1
    wc_nm: float = 1.6 * DEFAULT_SIGMA_NM
    bead_mass_amu: float = 250.0

    @property
    def beads_per_lipid(self) -> int:
        return LIPID_MODELS[self.lipid_model]

    @property
    def units(self) -> ReducedUnits:
        return ReducedUnits(self.sigma_nm, self.temperature_k, self.kt_over_epsilon, self.bead_mass_amu)

    @property
    def head_offset_nm(self) -> float:
        """Distance of a membrane's head-bead layer from its midplane (nm):
        :data:`~snarefuse.constants.HEAD_OFFSET_SIGMA` in this model's sigma."""
        return HEAD_OFFSET_SIGMA * self.sigma_nm

    @property
    def cutoff_nm(self) -> float:
        """Interaction range of the lipid model: r_c + w_c with r_c = 2^(1/6) sigma."""
        return 2.0 ** (1.0 / 6.0) * self.sigma_nm + self.wc_nm

    def to_dict(self) -> dict[str, Any]:
        return {
            "lipid_model": self.lipid_model,
            "sigma": f"{_fmt(self.sigma_nm)} nm",
            "temperature": f"{_fmt(self.temperature_k)} K",
            "kT_over_epsilon": self.kt_over_epsilon,
            "wc": f"{_fmt(self.wc_nm)} nm",
            "bead_mass": f"{_fmt(self.bead_mass_amu)} amu",
        }


@dataclass(frozen=True)
class LipidSpecies:
    """A lipid species: residue name, head size factor and tail attraction strength."""

    name: str
    head_size: float = 0.95
    tail_attraction: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"head_size": self.head_size, "tail_attraction": self.tail_attraction}


@dataclass(frozen=True)
class DiscSpec:
    """A disc of the facing leaflets, centred on the contact axis, with a composition of its own."""

    radius_nm: float
    composition: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"radius": f"{_fmt(self.radius_nm)} nm", "composition": dict(self.composition)}


@dataclass(frozen=True)
class BilayerSpec:
    """One planar bilayer (geometry ``bilayer``) or each of the two (``two_bilayers``)."""

    n_lipids: int | None
    box_xy_nm: float | None
    area_per_lipid_nm2: float
    upper: dict[str, float]
    lower: dict[str, float]
    #: two_bilayers only: the top bilayer is the bottom one turned over, so ``upper`` describes both facing
    #: (proximal) leaflets and ``lower`` both distal ones; given in the spec as ``proximal``/``distal``.
    facing: bool = False
    #: two_bilayers with proximal/distal only: the facing lipids whose lateral site lies within the disc
    #: take its composition, the rest ``upper`` (a stalk starts where the contact is, not over the whole box).
    proximal_disc: DiscSpec | None = None
    #: the same for the distal leaflets (the diaphragm is made of them where the disc hemifuses)
    distal_disc: DiscSpec | None = None

    @property
    def lateral_box_nm(self) -> float:
        """Lateral box edge (nm): from n_lipids and the area per lipid, or as given."""
        if self.n_lipids is not None:
            return math.sqrt(self.n_lipids / 2 * self.area_per_lipid_nm2)
        assert self.box_xy_nm is not None
        return self.box_xy_nm

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_lipids": self.n_lipids,
            "box_xy": None if self.box_xy_nm is None else f"{_fmt(self.box_xy_nm)} nm",
            "area_per_lipid": f"{_fmt(self.area_per_lipid_nm2)} nm^2",
            **({"proximal": dict(self.upper), "distal": dict(self.lower)} if self.facing else
               {"upper": dict(self.upper), "lower": dict(self.lower)}),
            **({"proximal_disc": self.proximal_disc.to_dict()} if self.proximal_disc is not None else {}),
            **({"distal_disc": self.distal_disc.to_dict()} if self.distal_disc is not None else {}),
        }


@dataclass(frozen=True)
class VesicleSpec:
    """A spherical vesicle (geometries ``vesicle_planar``, ``vesicle_vesicle``; both vesicles alike).

    ``lumen`` (None: an empty lumen) pressurises each vesicle with gas beads (:mod:`snarefuse.lumen`).
    """

    radius_nm: float
    area_per_lipid_nm2: float
    outer: dict[str, float]
    inner: dict[str, float]
    lumen: LumenSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"radius": f"{_fmt(self.radius_nm)} nm", "area_per_lipid": f"{_fmt(self.area_per_lipid_nm2)} nm^2",
             "outer": dict(self.outer), "inner": dict(self.inner)}
        if self.lumen is not None:  # absent when unset, so that older specs keep their key
            d["lumen"] = self.lumen.to_dict()
        return d


@dataclass(frozen=True)
class ClampSpec:
    """``system.snares.clamp``: the native contacts touching the layers ``layers`` (inclusive) are scaled by the
    global parameter ``snare_clamp`` (built as ``factor``; 0 holds them off, a fraction leaves a leaky clamp)."""

    layers: tuple[int, int] = (1, SNARE_LAYER_MAX)  # the C-terminal half
    factor: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "factor": self.factor}


@dataclass(frozen=True)
class SnareSpec:
    """Neuronal SNARE complexes (VAMP2 / syntaxin-1A / SNAP-25B) bridging the two membranes."""

    n_complexes: int = 0
    ring_radius_nm: float = 4.0
    zipped_layers: tuple[int, int] = (SNARE_LAYER_MIN, SNARE_LAYER_MAX)
    linker_unzipped: tuple[int, int] = (5, 11)
    contact_strength_kt: float = DEFAULT_CONTACT_STRENGTH_KT
    tmd_tail_attraction: float = 0.25
    anchor_strength: float = DEFAULT_ANCHOR_STRENGTH
    clamp: ClampSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"n_complexes": self.n_complexes, "ring_radius": f"{_fmt(self.ring_radius_nm)} nm",
             "zipped_layers": list(self.zipped_layers), "linker_unzipped": list(self.linker_unzipped),
             "contact_strength": f"{_fmt(self.contact_strength_kt)} kT",
             "tmd_tail_attraction": self.tmd_tail_attraction, "anchor_strength": self.anchor_strength}
        if self.clamp is not None:  # absent when unset, so that specs without one keep their key
            d["clamp"] = self.clamp.to_dict()
        return d


@dataclass(frozen=True)
class HoldSpec:
    """two_bilayers: a flat-bottom harmonic restraint on the distance along z between the two membranes' centres of
    mass, zero up to ``distance_nm`` and ``strength_kt_nm2`` / 2 * (d - distance)^2 beyond (in kT, d in nm). It
    stands in for what presses membranes together (adhesion, osmotic or SNARE force) without any protein."""

    distance_nm: float
    strength_kt_nm2: float

    def to_dict(self) -> dict[str, Any]:
        return {"distance": f"{_fmt(self.distance_nm)} nm", "strength": self.strength_kt_nm2}


@dataclass(frozen=True)
class SystemGeometry:
    """The geometry of the system.

    ``bilayer`` describes the planar membrane(s) (None for ``vesicle_vesicle``), ``vesicle`` the
    vesicle(s) (None for planar-only geometries). ``box_xy_nm`` is set only where no planar
    membrane defines the lateral box.
    """

    geometry: str
    bilayer: BilayerSpec | None
    box_z_nm: float
    cleft_nm: float | None = None  # gap between the facing head-group surfaces of the two membranes
    vesicle: VesicleSpec | None = None
    box_xy_nm: float | None = None
    snares: SnareSpec | None = None
    hold: HoldSpec | None = None

    @property
    def lateral_box_nm(self) -> float:
        if self.bilayer is not None:
            return self.bilayer.lateral_box_nm
        assert self.box_xy_nm is not None
        return self.box_xy_nm

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"geometry": self.geometry}
        if self.bilayer is not None:
            d["bilayer"] = self.bilayer.to_dict()
        if self.vesicle is not None:
            d["vesicle"] = self.vesicle.to_dict()
        if self.box_xy_nm is not None:
            d["box_xy"] = f"{_fmt(self.box_xy_nm)} nm"
        d["box_z"] = f"{_fmt(self.box_z_nm)} nm"
        if self.cleft_nm is not None:
            d["cleft"] = f"{_fmt(self.cleft_nm)} nm"
        if self.snares is not None:
            d["snares"] = self.snares.to_dict()
        if self.hold is not None:  # absent when unset, so that specs without one keep their key
            d["hold"] = self.hold.to_dict()
        return d


@dataclass(frozen=True)
class BarostatSpec:
    """Tension-free MonteCarloMembraneBarostat (XY isotropic, Z fixed)."""

    enabled: bool = True
    surface_tension_barnm: float = 0.0
    interval: int = 50

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "surface_tension": f"{_fmt(self.surface_tension_barnm)} bar*nm",
                "interval": self.interval}


@dataclass(frozen=True)
class RunSpec:
    """How to run: integrator, outputs, platform."""

    steps: int = 10000
    timestep_ps: float = 0.0
    friction_per_ps: float = 0.0
    minimize: bool = True
    barostat: BarostatSpec = field(default_factory=BarostatSpec)
    report_interval: int = 1000
    trajectory_interval: int = 1000
    trajectory_format: str = "dcd"
    checkpoint_interval: int = 10000
    platform: str = "auto"
    precision: str = "mixed"
    device_index: str | None = None
    threads: int | None = None
    max_wall_time_s: float | None = None
    formulation: str = "auto"
    protocol: Protocol = field(default_factory=Protocol)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "steps": self.steps,
            "timestep": f"{_fmt(self.timestep_ps)} ps",
            "friction": f"{_fmt(self.friction_per_ps)} /ps",
            "minimize": self.minimize,
            "barostat": self.barostat.to_dict(),
            "report_interval": self.report_interval,
            "trajectory_interval": self.trajectory_interval,
            "trajectory_format": self.trajectory_format,
            "checkpoint_interval": self.checkpoint_interval,
            "platform": self.platform,
            "precision": self.precision,
            "device_index": self.device_index,
            "threads": self.threads,
            "max_wall_time": None if self.max_wall_time_s is None else f"{_fmt(self.max_wall_time_s)} s",
            "formulation": self.formulation,
        }
        if self.protocol.events:  # absent when empty, so that specs without one keep their key
            d["protocol"] = self.protocol.to_dict()
        if self.protocol.trigger is not None:  # likewise
            d["trigger"] = self.protocol.trigger_dict()
        return d


#: Fields that choose where and how fast a run executes but not what it computes; they are
#: left out of ``key()`` so that the same physics on another machine shares its key.
EXECUTION_FIELDS = ("platform", "device_index", "threads", "max_wall_time", "formulation")
