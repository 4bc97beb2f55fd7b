"""Typed, strict system/run specs loaded from YAML, with a canonical ``key()``.

A spec has four sections::

    name: bilayer-small
    seed: 2024
    model:   {lipid_model, sigma, temperature, kT_over_epsilon, wc, bead_mass}
    lipids:  {SPECIES: {head_size, tail_attraction}, ...}
    system:  {geometry: bilayer, bilayer: {...}}
    run:     {steps, timestep, friction, barostat, intervals, platform, ...}

Quantities may carry units as strings (``"310 K"``, ``"0.88 nm"``, ``"0.01 tau"``,
``"1.2 sigma^2"``). A bare number is in OpenMM's MD units (nm, ps, K, amu, kJ/mol); the
reduced units ``sigma``, ``tau``, ``epsilon`` and ``kT`` are resolved through the model
section. Unknown keys, wrong types, negative counts and impossible geometries raise
:class:`~snarefuse.errors.SpecError` naming the dotted field path and what is accepted.

The validated spec is written back (``to_dict``) with every quantity explicit in MD units;
``key()`` hashes that canonical form, so two specs that mean the same thing share a key.

A spec keeps the mapping it was parsed from (``as_written``): overrides (``--set``, sweep grids and
conditions) are applied to that mapping and parsed again, so that ``model.sigma: 1 nm`` given as an
override turns ``box_z: 20 sigma`` into 20 nm exactly as the same line in the file does.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .constants import SNARE_LAYER_MAX, SNARE_LAYER_MIN
from .errors import SpecError
from .io import atomic_write_text
from .lumen import MAX_PACKING_FRACTION, LumenSpec
from .protocol import accepted_parameters, parse_protocol
from .quantities import Section, parse_quantity, show_value
from .spec_fields import FIELD_DOCS, documented_paths
from .spec_types import (DEFAULT_ANCHOR_STRENGTH, DEFAULT_CONTACT_STRENGTH_KT, EXECUTION_FIELDS, FORMULATIONS,
                         GEOMETRIES, LIPID_MODELS, MAX_ANCHOR_STRENGTH, MAX_BOX_NM, MAX_HOLD_STRENGTH, MAX_LIPIDS,
                         MAX_TMD_TAIL_ATTRACTION, PLATFORMS, PRECISIONS, TRAJECTORY_FORMATS, BarostatSpec,
                         BilayerSpec, ClampSpec, DiscSpec, HoldSpec, LipidSpecies, ModelSpec, RunSpec, SnareSpec,
                         SystemGeometry, VesicleSpec)
from .units import DEFAULT_SIGMA_NM, ReducedUnits
from .yaml_input import read_yaml

__all__ = [
    "Spec", "load_spec", "load_yaml", "example_spec_path", "set_dotted", "parse_quantity", "vesicle_head_offset_nm",
    "FIELD_DOCS", "documented_paths", "EXECUTION_FIELDS", "FORMULATIONS", "GEOMETRIES", "LIPID_MODELS", "PLATFORMS",
    "PRECISIONS", "TRAJECTORY_FORMATS", "MAX_LIPIDS", "MAX_BOX_NM", "MAX_TMD_TAIL_ATTRACTION",
    "MAX_ANCHOR_STRENGTH", "DEFAULT_CONTACT_STRENGTH_KT", "DEFAULT_ANCHOR_STRENGTH", "ModelSpec", "LipidSpecies",
    "BilayerSpec", "VesicleSpec", "SnareSpec", "SystemGeometry", "BarostatSpec", "RunSpec",
]

_SPECIES_RE = re.compile(r"^[A-Z][A-Z0-9]{1,3}$")


@dataclass(frozen=True)
class Spec:
    """A validated system + run spec. Build with :func:`load_spec` or :meth:`Spec.from_dict`."""

    name: str
    seed: int
    model: ModelSpec
    lipids: dict[str, LipidSpecies]
    system: SystemGeometry
    run: RunSpec
    source: str | None = None
    #: The mapping this spec was parsed from, with units and defaults as written (None: only the resolved
    #: form is known). Not part of equality or the key: two specs that resolve alike are the same system.
    as_written: dict[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The resolved spec, every quantity explicit in MD units (YAML/JSON-ready)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "model": self.model.to_dict(),
            "lipids": {k: v.to_dict() for k, v in sorted(self.lipids.items())},
            "system": self.system.to_dict(),
            "run": self.run.to_dict(),
        }

    def key(self) -> str:
        """Canonical content hash (16 hex digits) of everything that determines the physics.

        ``name`` and the execution fields (platform, device, threads, wall-time limit) are
        excluded.
        """
        d = self.to_dict()
        d.pop("name")
        for k in EXECUTION_FIELDS:
            d["run"].pop(k)
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def dump(self, path: str | Path) -> None:
        """Write the resolved spec as YAML (atomically)."""
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    def with_overrides(self, overrides: dict[str, Any]) -> "Spec":
        """Return a new validated spec with dotted-path fields replaced, as if the spec had been written so.

        The overrides are applied in order to :attr:`as_written` and the result is parsed again, so every
        quantity in reduced units or defaulted from the model ("20 sigma", "0.01 tau", "1.6 sigma", "2 kT")
        follows an overridden ``model.sigma``, ``temperature``, ``kT_over_epsilon`` or ``bead_mass``, and a
        value given with units ("1.5 nm", "3 sigma") is converted with the new model. A path must name a
        field of the resolved spec (:meth:`to_dict`) or a new key of one of its sections; anything else is a
        :class:`SpecError` naming the path.
        """
        resolved = self.to_dict()
        written = _unshared(self.as_written) if self.as_written is not None else copy.deepcopy(resolved)
        for dotted, value in overrides.items():
            set_dotted(resolved, dotted, copy.deepcopy(value), source=self.source)  # the path check
            set_dotted(written, dotted, copy.deepcopy(value), source=self.source, create=True)
        return Spec.from_dict(written, source=self.source)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> "Spec":
        try:
            spec = _parse_spec(copy.deepcopy(data))
        except SpecError as e:
            if source and e.source is None:
                raise SpecError(e.field, e.message, source) from None
            raise
        return dataclasses.replace(spec, as_written=_unshared(data) if isinstance(data, dict) else {})


def set_dotted(d: dict[str, Any], dotted: str, value: Any, source: str | None = None, create: bool = False) -> None:
    """Set ``d['a']['b']['c'] = value`` for ``dotted = 'a.b.c'``.

    The parent mapping must exist (``create``: missing parent mappings are added, as in a spec file that
    leaves a section to its defaults); a missing leaf is created and then validated like any key (an
    unknown one is refused by the parser, naming the field)."""
    parts = dotted.split(".")
    node: Any = d
    for i, part in enumerate(parts[:-1]):
        if create and isinstance(node, dict) and part not in node:
            node[part] = {}
        if not isinstance(node, dict) or part not in node:
            raise SpecError(dotted, f"no such spec field (at {'.'.join(parts[:i + 1])!r})", source)
        if node[part] is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            raise SpecError(dotted, f"{'.'.join(parts[:i + 1])!r} is a value, not a section", source)
        node = node[part]
    node[parts[-1]] = value


def _unshared(data: Any) -> Any:
    """A copy of a parsed YAML document in which no mapping or list is shared: a YAML alias (``*a``) becomes
    its own copy, so an override of one use of an anchored section leaves the other uses as written."""
    if isinstance(data, dict):
        return {k: _unshared(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_unshared(v) for v in data]
    return copy.deepcopy(data)


def _parse_spec(data: Any) -> Spec:
    top = Section(data, "", ["name", "seed", "model", "lipids", "system", "run"])
    name = top.string("name", "snarefuse")
    seed = top.integer("seed", 2024)
    model = _parse_model(top.raw("model", {}))
    units = model.units
    lipids = _parse_lipids(top.raw("lipids", {"CKL": {}}))
    system = _parse_system(top.raw("system"), units, model, lipids)
    run = _parse_run(top.raw("run", {}), units, system.geometry, system.snares)
    return Spec(name=name, seed=seed, model=model, lipids=lipids, system=system, run=run)


def _parse_model(data: Any) -> ModelSpec:
    s = Section(data, "model", ["lipid_model", "sigma", "temperature", "kT_over_epsilon", "wc", "bead_mass"])
    lipid_model = s.string("lipid_model", "cooke3", list(LIPID_MODELS))
    sigma = s.qty("sigma", "length", DEFAULT_SIGMA_NM)
    temperature = s.qty("temperature", "temperature", 310.0)
    kte = s.number("kT_over_epsilon", 1.1, minimum=0.0, exclusive=True)
    mass = s.qty("bead_mass", "mass", 250.0)
    provisional = ReducedUnits(sigma, temperature, kte, mass)
    wc = s.qty("wc", "length", "1.6 sigma", units=provisional)
    if wc > 5 * sigma:
        raise SpecError("model.wc", f"{wc:g} nm is {wc / sigma:.2f} sigma; the Cooke model is defined for "
                                    "0 < w_c <= 5 sigma (fluid bilayers need ~1.4-1.8 sigma)")
    return ModelSpec(lipid_model, sigma, temperature, kte, wc, mass)


def _parse_lipids(data: Any) -> dict[str, LipidSpecies]:
    if not isinstance(data, dict) or not data:
        raise SpecError("lipids", "expected a non-empty mapping of species name -> "
                                  "{head_size, tail_attraction}, e.g. {CKL: {}}")
    out = {}
    for name, params in data.items():
        path = f"lipids.{name}"
        if not isinstance(name, str) or not _SPECIES_RE.match(name):
            raise SpecError(path, "species names are 2-4 characters, upper-case letters and digits, "
                                  "starting with a letter (they become residue names), e.g. CKL")
        s = Section(params, path, ["head_size", "tail_attraction"])
        head = s.number("head_size", 0.95, minimum=0.0, exclusive=True)
        if head > 2.0:
            raise SpecError(f"{path}.head_size", f"is the head bead size in sigma (Cooke: 0.95); "
                                                 f"accepted 0 < head_size <= 2, got {head:g}")
        att = s.number("tail_attraction", 1.0, minimum=0.0)
        out[name] = LipidSpecies(name, head, att)
    return out


def _parse_composition(data: Any, path: str, lipids: dict[str, LipidSpecies]) -> dict[str, float]:
    if data is None:
        if len(lipids) == 1:
            return {next(iter(lipids)): 1.0}
        raise SpecError(path, f"required when several lipid species are defined ({', '.join(lipids)})")
    if not isinstance(data, dict) or not data:
        raise SpecError(path, "expected a mapping species -> fraction, e.g. {CKL: 0.7, CKS: 0.3}")
    comp = {}
    for k, v in data.items():
        if k not in lipids:
            raise SpecError(f"{path}.{k}", f"unknown lipid species; defined in 'lipids': {', '.join(lipids)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise SpecError(f"{path}.{k}", f"fraction must be a number >= 0, got {show_value(v)}")
        comp[k] = float(v)
    total = sum(comp.values())
    if total <= 0:
        raise SpecError(path, "fractions sum to zero")
    return {k: v / total for k, v in comp.items()}


def _parse_system(data: Any, units: ReducedUnits, model: ModelSpec,
                  lipids: dict[str, LipidSpecies]) -> SystemGeometry:
    s = Section(data, "system", ["geometry", "bilayer", "vesicle", "box_xy", "box_z", "cleft", "snares",
                                     "hold"])
    geometry = s.string("geometry", "bilayer", GEOMETRIES)
    cutoff = model.cutoff_nm
    n_beads = model.beads_per_lipid
    planar = geometry in ("bilayer", "two_bilayers", "vesicle_planar")
    has_vesicle = geometry in ("vesicle_planar", "vesicle_vesicle")
    bilayer = _parse_bilayer(s.raw("bilayer"), units, model, lipids, geometry) if planar else None
    if not planar and s.raw("bilayer", None) is not None:
        raise SpecError("system.bilayer", f"not used with geometry: {geometry} (it has no planar membrane)")
    vesicle = _parse_vesicle(s.raw("vesicle"), units, model, lipids) if has_vesicle else None
    if not has_vesicle and s.raw("vesicle", None) is not None:
        raise SpecError("system.vesicle", f"not used with geometry: {geometry}")
    thickness = 2 * (n_beads - 1) * model.sigma_nm + model.sigma_nm  # generous planar bilayer extent
    cleft = None
    if geometry == "bilayer":
        if s.raw("cleft", None) is not None:
            raise SpecError("system.cleft", "only used with two-membrane geometries (two_bilayers, vesicle_planar, "
                                            "vesicle_vesicle)")
    else:
        cleft = s.qty("cleft", "length", "2 sigma", units=units, allow_zero=True)
    box_xy_top = s.opt_qty("box_xy", "length", units)
    if planar and box_xy_top is not None:
        raise SpecError("system.box_xy", "only used with geometry: vesicle_vesicle; planar geometries take the "
                                         "lateral box from system.bilayer (n_lipids or box_xy)")
    if vesicle is not None:
        outer = vesicle.radius_nm + vesicle_head_offset_nm(model)
        need_xy = 2 * outer + 2 * cutoff
        if bilayer is not None:
            box_xy = bilayer.lateral_box_nm
            if box_xy < need_xy:
                raise SpecError("system.bilayer.n_lipids" if bilayer.n_lipids is not None else "system.bilayer.box_xy",
                                f"the lateral box ({box_xy:.2f} nm) must exceed the vesicle's outer diameter plus "
                                f"twice the cutoff ({need_xy:.2f} nm) so the vesicle does not meet its periodic image")
        else:
            box_xy = box_xy_top if box_xy_top is not None else need_xy + 2 * model.sigma_nm
            if box_xy < need_xy:
                raise SpecError("system.box_xy", f"{box_xy:.2f} nm is smaller than the vesicle's outer diameter plus "
                                                 f"twice the cutoff ({need_xy:.2f} nm)")
        box_xy_top = box_xy if bilayer is None else None
    if geometry == "bilayer":
        need = thickness + 2 * cutoff
    elif geometry == "two_bilayers":
        assert cleft is not None
        need = 2 * thickness + cleft + 2 * cutoff
    elif geometry == "vesicle_planar":
        assert cleft is not None and vesicle is not None
        need = thickness + cleft + 2 * (vesicle.radius_nm + vesicle_head_offset_nm(model)) + 2 * cutoff
    else:
        assert cleft is not None and vesicle is not None
        need = 4 * (vesicle.radius_nm + vesicle_head_offset_nm(model)) + cleft + 2 * cutoff
    box_z = s.qty("box_z", "length", max(need + 2 * model.sigma_nm, 20 * model.sigma_nm), units=units)
    if box_z < need:
        raise SpecError("system.box_z", f"{box_z:.3f} nm is too small for this geometry; the membranes plus "
                                        f"twice the cutoff need >= {need:.3f} nm")
    snares = None
    if s.raw("snares", None) is not None:
        if geometry == "bilayer":
            raise SpecError("system.snares", "SNARE complexes bridge two membranes; use geometry two_bilayers, "
                                             "vesicle_planar or vesicle_vesicle")
        snares = _parse_snares(s.raw("snares"), units)
        if snares.n_complexes > 0 and cleft is not None and cleft < 1.5:
            raise SpecError("system.cleft", f"{cleft:.2f} nm is narrower than a SNARE bundle lying in the cleft "
                                            "allows (~1.5 nm at least; docked membranes sit 2-3 nm apart)")
    hold = None
    if s.raw("hold", None) is not None:
        if geometry != "two_bilayers":
            raise SpecError("system.hold", f"holds two planar membranes together; geometry two_bilayers only, "
                                           f"not {geometry}")
        h = Section(s.raw("hold"), "system.hold", ["distance", "strength"])
        distance = h.qty("distance", "length", units=units)
        if distance >= box_z / 2:
            raise SpecError("system.hold.distance", f"{distance:g} nm; accepted below half the box height "
                                                    f"({box_z / 2:.4g} nm), the distance of the membranes' centres")
        strength = h.number("strength", minimum=0.0)
        if strength > MAX_HOLD_STRENGTH:
            raise SpecError("system.hold.strength", f"{strength:g} kT/nm^2; accepted 0 <= strength <= "
                                                    f"{MAX_HOLD_STRENGTH:g} (a restraint, not a constraint)")
        hold = HoldSpec(distance, strength)
    return SystemGeometry(geometry, bilayer, box_z, cleft, vesicle, box_xy_top, snares, hold)


def _int_pair(value: Any, path: str, lo: int, hi: int) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise SpecError(path, f"expected two integers [first, second], got {show_value(value)}")
    if not all(lo <= v <= hi for v in value):
        raise SpecError(path, f"values must lie in {lo}...{hi}, got {list(value)}")
    return int(value[0]), int(value[1])


def _parse_snares(data: Any, units: ReducedUnits) -> SnareSpec:
    n = Section(data, "system.snares", ["n_complexes", "ring_radius", "zipped_layers", "linker_unzipped",
                                         "contact_strength", "tmd_tail_attraction", "anchor_strength", "clamp"])
    count = n.integer("n_complexes", 0, minimum=0)
    if count > 64:
        raise SpecError("system.snares.n_complexes", f"{count} complexes; accepted 0-64")
    ring = n.qty("ring_radius", "length", "4 nm", units=units, allow_zero=True)
    zipped = _int_pair(n.raw("zipped_layers", list(SnareSpec.zipped_layers)), "system.snares.zipped_layers",
                       SNARE_LAYER_MIN, SNARE_LAYER_MAX)
    if zipped[0] > zipped[1]:
        raise SpecError("system.snares.zipped_layers", f"first layer must not exceed the last, got {list(zipped)}")
    unz = _int_pair(n.raw("linker_unzipped", [5, 11]), "system.snares.linker_unzipped", 1, 40)
    strength = n.qty("contact_strength", "energy", f"{DEFAULT_CONTACT_STRENGTH_KT} kT", units=units) / units.kt_kjmol
    tmd = n.number("tmd_tail_attraction", 0.25, minimum=0.0)
    if tmd > MAX_TMD_TAIL_ATTRACTION:
        raise SpecError("system.snares.tmd_tail_attraction",
                        f"{tmd:g} epsilon: above {MAX_TMD_TAIL_ATTRACTION:g} the quickstart system blew up within 500 "
                        f"steps at dt = 0.01 tau (1.0 was tried; tail beads collapse onto the small protein beads); "
                        f"accepted 0 <= value <= {MAX_TMD_TAIL_ATTRACTION:g}")
    anchor = n.number("anchor_strength", DEFAULT_ANCHOR_STRENGTH, minimum=0.0)
    if anchor > MAX_ANCHOR_STRENGTH:
        raise SpecError("system.snares.anchor_strength",
                        f"{anchor:g} epsilon per anchor-head pair; accepted 0 <= value <= {MAX_ANCHOR_STRENGTH:g} "
                        f"(0 switches the interfacial anchors off)")
    clamp = None
    if n.raw("clamp", None) is not None:
        c = Section(n.raw("clamp"), "system.snares.clamp", ["layers", "factor"])
        layers = _int_pair(c.raw("layers", list(ClampSpec.layers)), "system.snares.clamp.layers",
                           SNARE_LAYER_MIN, SNARE_LAYER_MAX)
        if layers[0] > layers[1]:
            raise SpecError("system.snares.clamp.layers", f"first layer must not exceed the last, got {list(layers)}")
        factor = c.number("factor", 0.0, minimum=0.0)
        if factor > 1.0:
            raise SpecError("system.snares.clamp.factor", f"{factor:g}; accepted 0 (held) <= factor <= 1 (released)")
        clamp = ClampSpec(layers, factor)
    return SnareSpec(count, ring, zipped, unz, strength, tmd, anchor, clamp)


def vesicle_head_offset_nm(model: ModelSpec) -> float:
    """Distance of a vesicle's head shells from its midplane (nm): :attr:`ModelSpec.head_offset_nm`."""
    return model.head_offset_nm


def _parse_bilayer(data: Any, units: ReducedUnits, model: ModelSpec, lipids: dict[str, LipidSpecies],
                   geometry: str) -> BilayerSpec:
    b = Section(data, "system.bilayer", ["n_lipids", "box_xy", "area_per_lipid", "upper", "lower", "proximal",
                                         "distal", "proximal_disc", "distal_disc"])
    n_lipids = b.opt_integer("n_lipids", minimum=0)
    box_xy = b.opt_qty("box_xy", "length", units)
    apl = b.qty("area_per_lipid", "area", "1.2 sigma^2", units=units)
    if (n_lipids is None) == (box_xy is None):
        raise SpecError("system.bilayer", "give exactly one of n_lipids (total lipids in the bilayer) or "
                                          "box_xy (lateral box edge)")
    if n_lipids is not None:
        if n_lipids < 2:
            raise SpecError("system.bilayer.n_lipids", f"a bilayer needs at least 2 lipids (one per leaflet), "
                                                       f"got {n_lipids}")
        if n_lipids > MAX_LIPIDS:
            raise SpecError("system.bilayer.n_lipids", f"{n_lipids} lipids is beyond what can be built or run; "
                                                       f"accepted <= {MAX_LIPIDS}")
        box_xy = math.sqrt(n_lipids / 2 * apl)
    assert box_xy is not None
    if box_xy > MAX_BOX_NM:
        raise SpecError("system.bilayer.box_xy", f"{box_xy:.4g} nm is beyond what can be built or run; "
                                                 f"accepted <= {MAX_BOX_NM:g} nm")
    _check_apl(apl, model, "system.bilayer.area_per_lipid")
    cutoff = model.cutoff_nm
    if box_xy < 2 * cutoff:
        raise SpecError("system.bilayer.box_xy" if n_lipids is None else "system.bilayer.n_lipids",
                        f"the lateral box ({box_xy:.3f} nm) must be at least twice the interaction cutoff "
                        f"({cutoff:.3f} nm = r_c + w_c); use more lipids or a larger box_xy")
    facing = b.raw("proximal", None) is not None or b.raw("distal", None) is not None
    if facing:
        if geometry != "two_bilayers":
            raise SpecError("system.bilayer.proximal", "proximal/distal leaflets are defined for geometry "
                                                       "two_bilayers only; use upper/lower")
        if b.raw("upper", None) is not None or b.raw("lower", None) is not None:
            raise SpecError("system.bilayer", "give the leaflets either as upper/lower (both bilayers alike) or as "
                                              "proximal/distal (the leaflets facing the cleft / away from it), "
                                              "not both")
        upper = _parse_composition(b.raw("proximal", None), "system.bilayer.proximal", lipids)
        lower = _parse_composition(b.raw("distal", None), "system.bilayer.distal", lipids)
    else:
        upper = _parse_composition(b.raw("upper", None), "system.bilayer.upper", lipids)
        lower = _parse_composition(b.raw("lower", None), "system.bilayer.lower", lipids)
    discs: dict[str, DiscSpec | None] = {}
    for side in ("proximal", "distal"):
        discs[side] = None
        if b.raw(f"{side}_disc", None) is not None:
            if not facing:
                raise SpecError(f"system.bilayer.{side}_disc", "needs the leaflets given as proximal/distal "
                                                               f"(geometry two_bilayers): the disc is part of the "
                                                               f"{side} leaflets")
            discs[side] = _parse_disc(b.raw(f"{side}_disc"), f"system.bilayer.{side}_disc", units, lipids, box_xy)
    return BilayerSpec(n_lipids, None if n_lipids is not None else box_xy, apl, upper, lower, facing,
                       discs["proximal"], discs["distal"])


def _parse_disc(data: Any, path: str, units: ReducedUnits, lipids: dict[str, LipidSpecies],
                box_xy: float) -> DiscSpec:
    d = Section(data, path, ["radius", "composition"])
    radius = d.qty("radius", "length", units=units)
    if radius >= box_xy / 2:
        raise SpecError(f"{path}.radius", f"{radius:g} nm must be less than half the lateral box "
                                          f"({box_xy / 2:.4g} nm), so that the rest of the leaflet bounds the disc")
    if d.raw("composition", None) is None:
        raise SpecError(f"{path}.composition", "required: the mapping species -> fraction of the lipids inside "
                                               "the disc")
    comp = _parse_composition(d.raw("composition"), f"{path}.composition", lipids)
    return DiscSpec(radius, comp)


def _check_apl(apl: float, model: ModelSpec, field: str) -> None:
    if apl < 0.5 * model.sigma_nm**2 or apl > 4 * model.sigma_nm**2:
        raise SpecError(field, f"{apl:g} nm^2 = {apl / model.sigma_nm**2:.2f} sigma^2 is outside 0.5-4 sigma^2 "
                               "(a fluid Cooke bilayer has ~1.2 sigma^2)")


def _parse_vesicle(data: Any, units: ReducedUnits, model: ModelSpec, lipids: dict[str, LipidSpecies]) -> VesicleSpec:
    v = Section(data, "system.vesicle", ["radius", "area_per_lipid", "outer", "inner", "lumen"])
    radius = v.qty("radius", "length", units=units)
    ho = vesicle_head_offset_nm(model)
    n = model.beads_per_lipid
    tail_span = (n - 1) * 2 * ho / (2 * n - 1)
    r_min = ho + tail_span + model.sigma_nm
    if radius < r_min:
        raise SpecError("system.vesicle.radius", f"{radius:.2f} nm is too small: the inner leaflet needs a midplane "
                                                 f"radius >= {r_min:.2f} nm (head offset + tail length + sigma)")
    if radius > 500:
        raise SpecError("system.vesicle.radius", f"{radius:.1f} nm would need millions of lipids; accepted <= 500 nm")
    apl = v.qty("area_per_lipid", "area", "1.2 sigma^2", units=units)
    _check_apl(apl, model, "system.vesicle.area_per_lipid")
    outer = _parse_composition(v.raw("outer", None), "system.vesicle.outer", lipids)
    inner = _parse_composition(v.raw("inner", None), "system.vesicle.inner", lipids)
    lumen = None if v.raw("lumen", None) is None else _parse_lumen(v.raw("lumen"), units, model, radius)
    return VesicleSpec(radius, apl, outer, inner, lumen)


def _parse_lumen(data: Any, units: ReducedUnits, model: ModelSpec, radius_nm: float) -> LumenSpec:
    s = Section(data, "system.vesicle.lumen", ["n_gas", "pressure", "tension"])
    given = [k for k in ("n_gas", "pressure", "tension") if s.raw(k, None) is not None]
    if len(given) != 1:
        raise SpecError("system.vesicle.lumen", "give exactly one of n_gas (gas beads per vesicle), pressure "
                                                "(e.g. '1 bar') or tension (Laplace: pressure * radius / 2, "
                                                f"e.g. '0.5 mN/m'); got {given or 'none'}")
    key = given[0]
    if key == "n_gas":
        lumen = LumenSpec(n_gas=s.integer("n_gas", minimum=0))
    elif key == "pressure":
        lumen = LumenSpec(pressure_bar=s.qty("pressure", "pressure", units=units, allow_zero=True))
    else:
        lumen = LumenSpec(tension_barnm=s.qty("tension", "tension", units=units, allow_zero=True))
    gas = lumen.resolve(radius_nm, model.sigma_nm, model.kt_over_epsilon, units.kt_kjmol)
    if gas.packing_fraction > MAX_PACKING_FRACTION:
        n_max = int(gas.n_gas * MAX_PACKING_FRACTION / gas.packing_fraction)
        top = LumenSpec(n_gas=n_max).resolve(radius_nm, model.sigma_nm, model.kt_over_epsilon, units.kt_kjmol)
        raise SpecError(s.p(key), f"{gas.n_gas} gas beads in a lumen of {gas.volume_nm3:.4g} nm^3 (radius "
                                  f"{gas.lumen_radius_nm:.2f} nm) are too many: packing fraction "
                                  f"{gas.packing_fraction:.3f} > {MAX_PACKING_FRACTION}, no longer a gas; accepted "
                                  f"n_gas <= {n_max}, pressure <= {top.pressure_bar:.3g} bar, tension <= "
                                  f"{top.tension_mn_per_m:.3g} mN/m at this radius")
    return lumen


def _parse_run(data: Any, units: ReducedUnits, geometry: str = "bilayer", snares: SnareSpec | None = None) -> RunSpec:
    s = Section(data, "run", ["steps", "timestep", "friction", "minimize", "barostat", "report_interval",
                               "trajectory_interval", "trajectory_format", "checkpoint_interval", "platform",
                               "precision", "device_index", "threads", "max_wall_time", "formulation", "protocol",
                               "trigger"])
    steps = s.integer("steps", 10000, minimum=0)
    dt = s.qty("timestep", "time", "0.01 tau", units=units)
    if dt > 0.05 * units.tau_ps:
        raise SpecError("run.timestep", f"{dt:g} ps = {dt / units.tau_ps:.3f} tau is unstable for the Cooke model; "
                                        "accepted <= 0.05 tau (0.01 tau is standard)")
    friction = s.qty("friction", "rate", "1 /tau", units=units)
    minimize = s.boolean("minimize", True)
    b = Section(s.raw("barostat", {}), "run.barostat", ["enabled", "surface_tension", "interval"])
    planar = geometry != "vesicle_vesicle"
    enabled = b.boolean("enabled", planar)
    if enabled and not planar:
        raise SpecError("run.barostat.enabled", "the membrane barostat scales a periodic planar membrane; "
                                                "vesicle_vesicle has none: set false")
    barostat = BarostatSpec(
        enabled=enabled,
        surface_tension_barnm=b.qty("surface_tension", "tension", 0.0, units=units, positive=False),
        interval=b.integer("interval", 50, minimum=1),
    )
    report = s.integer("report_interval", 1000, minimum=1)
    traj = s.integer("trajectory_interval", 1000, minimum=1)
    ckpt = s.integer("checkpoint_interval", 10000, minimum=1)
    for key, val in (("checkpoint_interval", ckpt),):
        for other_key, other in (("trajectory_interval", traj), ("report_interval", report)):
            if val % other:
                raise SpecError(f"run.{key}", f"must be a multiple of run.{other_key} ({other}) so that a "
                                              f"resumed run continues on the same frames; got {val}")
    fmt = s.string("trajectory_format", "dcd", TRAJECTORY_FORMATS)
    platform = s.string("platform", "auto", PLATFORMS)
    precision = s.string("precision", "mixed", PRECISIONS)
    dev = s.raw("device_index", None)
    if dev is not None:
        if isinstance(dev, bool) or not isinstance(dev, (int, str)) or not re.match(r"^\d+(,\d+)*$", str(dev)):
            raise SpecError("run.device_index", f"expected a device number like 0 or '0,1', got {show_value(dev)}")
        dev = str(dev)
    threads = s.opt_integer("threads", minimum=1)
    wall = s.opt_qty("max_wall_time", "wallclock")
    formulation = s.string("formulation", "auto", FORMULATIONS)
    has_snares = snares is not None and snares.n_complexes > 0
    accepted = accepted_parameters(has_snares, has_snares and snares.anchor_strength > 0, enabled,
                                   has_snares and snares.clamp is not None)
    protocol = parse_protocol(s.raw("protocol", None), units, dt, steps, accepted, s.raw("trigger", None))
    return RunSpec(steps, dt, friction, minimize, barostat, report, traj, fmt, ckpt, platform, precision,
                   dev, threads, wall, formulation, protocol)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------

def load_yaml(path: str | Path) -> Any:
    """Read a YAML input file; read, size and syntax errors are :class:`SpecError` naming the file
    (:func:`snarefuse.yaml_input.read_yaml`: only regular files of sane size, no alias bombs)."""
    return read_yaml(path)


def load_spec(path: str | Path) -> Spec:
    """Load and validate a spec file.

    Examples
    --------
    >>> from snarefuse.spec import load_spec, example_spec_path
    >>> spec = load_spec(example_spec_path("bilayer_small"))
    >>> spec.system.geometry
    'bilayer'
    """
    data = load_yaml(path)
    spec = Spec.from_dict(data, source=str(path))
    return Spec(**{**spec.__dict__, "source": str(path)})


def example_spec_path(name: str) -> Path:
    """Path of an example spec shipped in ``snarefuse.systems`` (``name`` without ``.yaml``)."""
    from importlib.resources import files

    p = Path(str(files("snarefuse.systems").joinpath(f"{name}.yaml")))
    if not p.exists():
        available = sorted(q.stem for q in p.parent.glob("*.yaml"))
        raise SpecError("", f"no example system {name!r}; available: {', '.join(available)}")
    return p

