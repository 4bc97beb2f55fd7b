"""Membrane, fusion and SNARE analyses of snarefuse trajectories.

Kernels on NumPy arrays live in :mod:`.kernels`; the ``*Analysis`` classes stream frames with
``mdtraj.iterload`` (``run(start, stop, step)`` returns ``self``, per-frame results in ``.table``, a
pandas-free dict of arrays with ``to_csv``); :func:`analyze_run` does everything for a run directory;
:func:`detect_pore` is a pure function for in-run reporters; :mod:`.testsystems` ships known-answer
systems.

Examples
--------
>>> from snarefuse.analysis import testsystems, FusionAnalysis
>>> fa = FusionAnalysis(testsystems.two_bilayers(gap=2.0)).run()
>>> round(float(fa.table["axis_gap_nm"][0]), 1), str(fa.table["state_name"][0])
(2.0, 'docked')
"""

from .base import AnalysisBase, AnalysisError, Frame, LipidIndex, Results, Table, TrajectorySource, run_analyses
from .fusion import (ContactFrame, ContentMixingAnalysis, DiaphragmAnalysis, FusionAnalysis, LipidMixingAnalysis,
                     PoreAnalysis, SeparationAnalysis, compute_contact_frame, detect_pore)
from .kernels import STATES
from .membrane import LeafletAnalysis, MembraneAnalysis, MembraneGeometry, compute_membrane_geometry
from .pipeline import analyze_run
from .snare import SnareAnalysis, SnareIndex, compute_helix_axis, compute_layer_distances, wlc_force_pn

__all__ = [
    "AnalysisBase", "AnalysisError", "ContactFrame", "ContentMixingAnalysis", "DiaphragmAnalysis", "Frame",
    "FusionAnalysis", "LeafletAnalysis", "LipidIndex", "LipidMixingAnalysis", "MembraneAnalysis",
    "MembraneGeometry", "PoreAnalysis", "Results", "STATES", "SeparationAnalysis", "SnareAnalysis", "SnareIndex",
    "Table", "TrajectorySource", "analyze_run", "compute_contact_frame", "compute_helix_axis",
    "compute_layer_distances", "compute_membrane_geometry", "detect_pore", "run_analyses", "wlc_force_pn",
]
