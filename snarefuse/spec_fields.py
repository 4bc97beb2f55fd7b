"""The reference of every spec field: dotted path -> (kind, default, description).

The generated docs/reference/spec.md is built from :data:`FIELD_DOCS`, and a test fails when a field
the parser (:mod:`snarefuse.spec`) accepts is missing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import Spec

#: dotted path -> (kind, default, description). ``<SPECIES>`` stands for any species name.
FIELD_DOCS: dict[str, tuple[str, str, str]] = {
    "name": ("string", "snarefuse", "Free-form name of the system (not part of the key)."),
    "seed": ("integer >= 0", "2024", "Seed for the builder, the thermostat and the barostat."),
    "model": ("section", "", "The coarse-grained lipid model and the reduced-unit mapping."),
    "model.lipid_model": ("cooke3 | cooke4", "cooke3",
                          "3-bead Cooke-Kremer-Deserno lipid or its 4-bead variant (Butu et al. 2025)."),
    "model.sigma": ("length", "0.88 nm", "Length unit sigma."),
    "model.temperature": ("temperature", "310 K", "Physical temperature T; sets epsilon = k_B T / (kT/epsilon)."),
    "model.kT_over_epsilon": ("number > 0", "1.1", "Reduced temperature (1.1: fluid bilayer at w_c = 1.6 sigma)."),
    "model.wc": ("length", "1.6 sigma", "Range w_c of the cos^2 tail attraction (0 < w_c <= 5 sigma)."),
    "model.bead_mass": ("mass", "250 amu", "Mass m of one lipid bead; with sigma and epsilon it sets tau."),
    "lipids": ("mapping", "{CKL: {}}", "Lipid species: residue name (2-4 upper-case characters) -> parameters."),
    "lipids.<SPECIES>.head_size": ("number in (0, 2]", "0.95", "Head bead size b in sigma (WCA b = min of the pair)."),
    "lipids.<SPECIES>.tail_attraction": ("number >= 0", "1.0",
                                         "Tail attraction strength in epsilon (pair: geometric mean)."),
    "system": ("section", "", "Geometry of the system."),
    "system.geometry": ("bilayer | two_bilayers | vesicle_planar | vesicle_vesicle", "bilayer",
                        "One planar bilayer; two apposed planar bilayers; a vesicle above a planar bilayer; two "
                        "vesicles. Membranes are stacked along z; the contact axis is z through the box centre."),
    "system.bilayer": ("section", "", "Each planar bilayer."),
    "system.bilayer.n_lipids": ("integer >= 2", "(one of n_lipids, box_xy)", "Total lipids per bilayer."),
    "system.bilayer.box_xy": ("length", "(one of n_lipids, box_xy)", "Lateral edge of the square box."),
    "system.bilayer.area_per_lipid": ("area", "1.2 sigma^2", "Initial area per lipid (0.5-4 sigma^2)."),
    "system.bilayer.upper": ("mapping species -> fraction", "the only species",
                             "Composition of the upper leaflet (normalised)."),
    "system.bilayer.lower": ("mapping species -> fraction", "the only species",
                             "Composition of the lower leaflet (normalised)."),
    "system.bilayer.proximal": ("mapping species -> fraction", "(instead of upper/lower)",
                                "two_bilayers only: composition of the two leaflets facing the cleft (the upper "
                                "bilayer is built turned over); with distal, replaces upper/lower."),
    "system.bilayer.distal": ("mapping species -> fraction", "(instead of upper/lower)",
                              "two_bilayers only: composition of the two leaflets away from the cleft."),
    "system.bilayer.proximal_disc": ("section", "null",
                                     "two_bilayers with proximal/distal only: a disc of both facing leaflets, "
                                     "centred on the contact axis, with a composition of its own (e.g. cone-shaped "
                                     "lipid where the stalk should form); the facing lipids outside it take "
                                     "proximal. See docs/fusion.md."),
    "system.bilayer.proximal_disc.radius": ("length", "-", "Radius of the disc (0 < radius < half the lateral "
                                                           "box); a lipid belongs to it by its lateral site."),
    "system.bilayer.proximal_disc.composition": ("mapping species -> fraction", "-",
                                                 "Composition of the facing lipids inside the disc (normalised)."),
    "system.bilayer.distal_disc": ("section", "null",
                                   "As proximal_disc, for the two distal leaflets (those that form the diaphragm "
                                   "where the disc hemifuses); the distal lipids outside it take distal."),
    "system.bilayer.distal_disc.radius": ("length", "-", "Radius of the disc (0 < radius < half the lateral box)."),
    "system.bilayer.distal_disc.composition": ("mapping species -> fraction", "-",
                                               "Composition of the distal lipids inside the disc (normalised)."),
    "system.cleft": ("length", "2 sigma", "Two-membrane geometries: gap between the facing head-group surfaces (head-bead planes) of the built lattice. The straight-lipid lattice is thicker than the relaxed bilayer, so the gap widens by ~0.5 nm (cooke3) in the first few tau as the bilayers thin."),
    "system.box_xy": ("length", "vesicle diameter + 2 cutoff + 2 sigma",
                      "vesicle_vesicle only: lateral box edge (planar geometries take it from system.bilayer)."),
    "system.vesicle": ("section", "", "The vesicle(s) of vesicle_planar / vesicle_vesicle."),
    "system.vesicle.radius": ("length", "(required)", "Midplane radius of each vesicle."),
    "system.vesicle.area_per_lipid": ("area", "1.2 sigma^2", "Area per lipid at each leaflet's head shell."),
    "system.vesicle.outer": ("mapping species -> fraction", "the only species", "Outer leaflet composition."),
    "system.vesicle.inner": ("mapping species -> fraction", "the only species", "Inner leaflet composition."),
    "system.vesicle.lumen": ("section: one of n_gas, pressure, tension", "none (empty lumen)",
                             "Gas beads in each vesicle's lumen that keep a solvent-free vesicle pressurised (Butu "
                             "et al. 2025): WCA beads of size sigma, no attraction. The lumen is the sphere of radius "
                             "radius - 3.2 sigma (inner head shell less one sigma). manifest.json records per vesicle "
                             "the count, pressure and Laplace tension (pressure * radius / 2) at build time."),
    "system.vesicle.lumen.n_gas": ("integer >= 0", "-", "Gas beads per vesicle."),
    "system.vesicle.lumen.pressure": ("pressure (bar, atm, Pa, kPa, kT/nm^3, epsilon/sigma^3)", "-",
                                      "Gas pressure at build; the count follows from the Carnahan-Starling equation "
                                      "of state of the WCA gas (at ~1 bar 3% fewer beads than the ideal-gas law P V / kT). "
                                      "Packing fraction <= 0.1 (~17 bar at 310 K)."),
    "system.vesicle.lumen.tension": ("tension (mN/m, bar*nm, epsilon/sigma^2)", "-",
                                     "Membrane tension at build, through Laplace's law: pressure = 2 tension / radius."),
    "system.hold": ("section", "null",
                    "two_bilayers only: a flat-bottom harmonic restraint on the distance along z between the two "
                    "membranes' centres of mass (all their lipid beads), zero up to distance; it keeps the two "
                    "membranes in contact where nothing else would (lipid-only, no proteins). See docs/fusion.md."),
    "system.hold.distance": ("length", "-", "Centre-to-centre distance up to which the restraint is zero "
                                            "(0 < distance < half the box height)."),
    "system.hold.strength": ("number >= 0", "-", "Spring constant of the restraint beyond distance, in kT/nm^2 "
                                                 "(<= 1000)."),
    "system.box_z": ("length", "max(20 sigma, what the membranes need)", "Box height (fixed during runs)."),
    "system.snares": ("section", "none", "Neuronal SNARE complexes bridging the two membranes (one bead per residue)."),
    "system.snares.n_complexes": ("integer 0-64", "0", "Number of trans-SNARE complexes, on a ring around the contact axis."),
    "system.snares.ring_radius": ("length", "4 nm", "Radius of the ring of membrane-proximal (+8 layer) ends."),
    "system.snares.zipped_layers": ("[first, last] in -7...8", "[-7, 8]",
                                    "Layers whose native contacts are on (zippered); the rest are unzipped."),
    "system.snares.linker_unzipped": ("[VAMP2, syntaxin] residues", "[5, 11]",
                                      "Unstructured linker residues before each TMD (worm-like chain, 0.365 nm each)."),
    "system.snares.contact_strength": ("energy", "1.4 kT", "Depth of each Go native contact between helices. The default gives a zippering free energy of 37-62 kT per complex (bench/zipper_free_energy.py), within the 35-65 kT measured by calorimetry and optical tweezers; 1 kT gives 16-25 kT."),
    "system.snares.tmd_tail_attraction": ("0 <= number <= 0.5", "0.25", "TMD bead - lipid tail attraction, in epsilon."),
    "system.snares.anchor_strength": ("0 <= number <= 10", "3", "Interfacial anchor residue (juxtamembrane W/Y/K/R, "
                                      "TMD C-terminus) - lipid head attraction, in epsilon; 0: off."),
    "system.snares.clamp": ("section", "null (no clamp)",
                            "Clamp: the attraction of VAMP2's native contacts in the layers 'layers' is scaled by "
                            "the global parameter snare_clamp (run.trigger or a run.protocol event releases it); the "
                            "t-SNARE contacts of those layers stay on. See docs/regulated.md."),
    "system.snares.clamp.layers": ("[first, last] in -7...8", "[1, 8]",
                                   "Clamped layer range (default the C-terminal half)."),
    "system.snares.clamp.factor": ("0 <= number <= 1", "0", "snare_clamp as built: 0 holds the clamped contacts "
                                   "off, a fraction leaves a leaky clamp, 1 is no clamp."),
    "run": ("section", "", "How to run."),
    "run.steps": ("integer >= 0", "10000", "Total MD steps (the CLI's --steps overrides)."),
    "run.timestep": ("time", "0.01 tau", "Integration time step (<= 0.05 tau)."),
    "run.friction": ("rate", "1 /tau", "Langevin friction coefficient."),
    "run.minimize": ("boolean", "true", "Energy-minimise before the first step."),
    "run.barostat": ("section", "", "Tension-free MonteCarloMembraneBarostat (XY isotropic, Z fixed)."),
    "run.barostat.enabled": ("boolean", "true with a planar membrane", "Use the barostat (not with vesicle_vesicle)."),
    "run.barostat.surface_tension": ("tension", "0 bar*nm", "Lateral tension (accepts mN/m, epsilon/sigma^2)."),
    "run.barostat.interval": ("integer >= 1", "50", "Steps between barostat moves."),
    "run.report_interval": ("integer >= 1", "1000", "Steps between log.csv rows (and progress updates)."),
    "run.trajectory_interval": ("integer >= 1", "1000", "Steps between trajectory frames."),
    "run.trajectory_format": ("dcd | xtc", "dcd", "Trajectory file format."),
    "run.checkpoint_interval": ("integer >= 1", "10000",
                                "Steps between checkpoints; a multiple of both output intervals."),
    "run.platform": ("auto | Reference | CPU | OpenCL | CUDA | HIP", "auto", "OpenMM platform (not in the key)."),
    "run.precision": ("single | mixed | double", "mixed", "Precision on GPU/OpenCL platforms."),
    "run.device_index": ("integer or '0,1'", "null", "GPU device(s) (not in the key)."),
    "run.threads": ("integer >= 1", "null", "CPU platform threads (not in the key)."),
    "run.max_wall_time": ("wall-clock time", "null", "Stop cleanly after this long, e.g. '23.5 h' (not in the key)."),
    "run.protocol": ("list of events", "[]",
                     "Timed events setting OpenMM global parameters: each {at: time or steps, set: {parameter: "
                     "value}, ramp: duration (optional, linear)}; parameters: snare_contact_scale, snare_clamp, snare_anchor_eps "
                     "(energy), MembraneMonteCarloSurfaceTension (tension), where the system has them. "
                     "See docs/protocols.md."),
    "run.trigger": ("event {at, ramp, set}", "null",
                    "The trigger of regulated exocytosis: one protocol event (same form as a run.protocol entry) "
                    "whose step the analysis times first passages from; set defaults to {snare_clamp: 1} (release "
                    "system.snares.clamp), ramp is the Ca2+ rise. See docs/regulated.md."),
    "run.trigger.at": ("time or steps", "-", "When the trigger fires ('50 tau', '2 ns', 5000 or '5000 steps'); a whole "
                                             "number of time steps, within run.steps."),
    "run.trigger.ramp": ("time or steps", "0", "Linear ramp from the value in force to the value set (the Ca2+ rise)."),
    "run.trigger.set": ("mapping parameter -> value", "{snare_clamp: 1}",
                        "What the trigger sets: protocol parameters as in run.protocol (default: release the clamp)."),
    "run.formulation": ("auto | expression | poly | split | native | ... (snarefuse.formulations)", "auto",
                        "How the Cooke pair force is written for OpenMM; auto: the fastest measured for the "
                        "platform (native on CPU where the plugin is built; same physics; not in the key)."),
}


def documented_paths(spec: Spec) -> set[str]:
    """Dotted paths of a spec's resolved form, species names replaced by ``<SPECIES>``."""
    out: set[str] = set()

    def walk(d: dict[str, Any], prefix: str) -> None:
        for k, v in d.items():
            key = "<SPECIES>" if prefix == "lipids" else k
            p = f"{prefix}.{key}" if prefix else key
            if not (prefix == "lipids"):
                out.add(p)
            if isinstance(v, dict) and not p.endswith((".upper", ".lower", ".proximal", ".distal", ".outer", ".inner",
                                                       ".composition", "trigger.set")):
                walk(v, p)

    walk(spec.to_dict(), "")
    return out
