"""The file names of a build/run directory (:mod:`snarefuse.rundir` is their one user; see its layout)."""

from __future__ import annotations

import re

SPEC_YAML = "spec.yaml"
MANIFEST_JSON = "manifest.json"
SYSTEM_XML = "system.xml"
SYSTEM_PDB = "system.pdb"
#: What a build past the PDB format's limits writes instead of system.pdb (snarefuse.structure)
SYSTEM_CIF = "system.cif"
SYSTEM_PSF = "system.psf"
FORCEFIELD_XML = "forcefield.xml"
RUN_JSON = "run.json"
LOG_CSV = "log.csv"
CHECKPOINT_JSON = "checkpoint.json"
FINAL_STATE_XML = "final_state.xml"
LOCK = ".lock"
EVENTS_CSV = "events.csv"
EVENTS_JSON = "events.json"
ANALYSIS_DIR = "analysis"
SUMMARY_JSON = "summary.json"
RENDER_DIR = "render"
EXPORT_DIR = "export"
#: Trajectory formats the runner writes, as ``trajectory.<format>``.
TRAJECTORY_FORMATS = ("dcd", "xtc")
#: Files every run needs from the build.
BUILD_FILES = (SPEC_YAML, MANIFEST_JSON, SYSTEM_XML, SYSTEM_PDB)
#: Build files whose checksums a checkpoint records: a run resumes only on the build it started on.
CHECKED_BUILD_FILES = (SYSTEM_XML, SYSTEM_PDB)
#: The only names a checkpoint record may give its files: plain names in this directory, of the step recorded.
CHECKPOINT_NAME = re.compile(r"checkpoint-(\d{12})\.chk")
STATE_NAME = re.compile(r"state-(\d{12})\.xml")
#: Name prefixes of the temporary files of the runner's own atomic writes (``.<name>.<random>.tmp``);
#: a run killed inside such a write leaves one, and the next run removes it.
OWN_TEMP_PREFIXES = (".checkpoint", ".state-", ".run.json.", ".final_state.xml.")
