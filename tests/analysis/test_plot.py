"""Every plot function takes ax=None or an Axes and returns the Axes, with units on the axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from snarefuse import plot as P  # noqa: E402
from snarefuse.analysis import FusionAnalysis, MembraneAnalysis, testsystems as ts  # noqa: E402


@pytest.fixture(scope="module")
def fusion() -> FusionAnalysis:
    return FusionAnalysis(ts.hemifusion_diaphragm(3.0, n_side=16, n_frames=4)).run()


@pytest.mark.parametrize("given_ax", [True, False])
@pytest.mark.parametrize("name", ["separation", "pore", "timeline", "map"])
def test_plot_functions_return_axes(fusion: FusionAnalysis, name: str, given_ax: bool) -> None:
    ax = Figure().add_subplot() if given_ax else None
    t, m = fusion.table, fusion.results.maps
    if name == "separation":
        out = P.plot_separation(t, ax=ax, time_unit="tau", tau_ps=9.0)
        assert out.get_xlabel() == "time (τ)" and "nm" in out.get_ylabel()
    elif name == "pore":
        out = P.plot_pore_radius(t, ax=ax)
        assert out.get_xlabel() == "time (ns)" and "nm" in out.get_ylabel()
    elif name == "timeline":
        out = P.plot_timeline(t, ax=ax, first_passage=fusion.results.first_passage, time_unit="ps")
        assert [x.get_text() for x in out.get_yticklabels()] == list(P.STATES)
    else:
        out = P.plot_contact_map(m["gap_mean"], m["gap_extent"], ax=ax, contact_radius=m["contact_radius"],
                                 diaphragm_mask=m["diaphragm_last"], diaphragm_extent=m["diaphragm_extent"])
        assert out.get_xlabel() == "u (nm)"
    if given_ax:
        assert out is ax
    plt.close("all")


def test_analysis_plot_methods(fusion: FusionAnalysis) -> None:
    assert fusion.plot() is not None
    assert fusion.separation.plot() is not None and fusion.pore.plot() is not None
    assert MembraneAnalysis(ts.bilayer(6)).run().plot().get_ylabel() == "head-head thickness (nm)"
    plt.close("all")


def test_tau_needs_tau_ps(fusion: FusionAnalysis) -> None:
    with pytest.raises(ValueError, match="tau_ps"):
        P.plot_separation(fusion.table, ax=Figure().add_subplot(), time_unit="tau")
