"""Statistics of fusion outcomes: binomial intervals that stay honest at 0/n and n/n, Kaplan-Meier with its
band and median against a textbook data set, the log-rank test, Spearman's trend and Holm's adjustment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snarefuse.analysis.stats import holm, kaplan_meier, logrank_test, proportion_ci, spearman, survival_estimate
from snarefuse.sweep_results import SweepResults

#: Freireich et al. (Blood 21, 699, 1963) remission times in weeks as tabulated by Gehan (Biometrika 52, 203,
#: 1965): the 6-MP group (0 = censored) and the placebo group (all relapsed). The textbook Kaplan-Meier example
#: (Kleinbaum & Klein, Survival Analysis, ch. 2; Collett, Modelling Survival Data, ch. 2).
SIX_MP = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_EVENT = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
#: The published Kaplan-Meier estimates and Greenwood standard errors of the 6-MP group at its event times,
#: and the 95 % log-log band (R: survfit(..., conf.type = "log-log")).
SIX_MP_TIMES = [6, 7, 10, 13, 16, 22, 23]
SIX_MP_S = [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448]
SIX_MP_SE = [0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346]
SIX_MP_LOGLOG_LOW = [0.620, 0.563, 0.503, 0.432, 0.368, 0.268, 0.188]
SIX_MP_LOGLOG_HIGH = [0.952, 0.923, 0.889, 0.849, 0.805, 0.747, 0.680]
Z95 = 1.959964


# ------------------------------------------------------------------------------ proportions
@pytest.mark.parametrize("k, method, low, high", [
    (0, "wilson", 0.0, 0.3244), (0, "clopper-pearson", 0.0, 0.3694),
    (8, "wilson", 0.6756, 1.0), (8, "clopper-pearson", 0.6306, 1.0),
    (3, "wilson", 0.1368, 0.6943), (3, "clopper-pearson", 0.0852, 0.7551),
])
def test_proportion_interval_of_k_in_8(k, method, low, high):
    """Wilson: (k + z²/2 ± z sqrt(k(n-k)/n + z²/4)) / (n + z²); Clopper-Pearson: beta quantiles. At 0/8 and 8/8
    the interval keeps a width of a third, where the percentile bootstrap collapsed onto the estimate."""
    p, lo, hi = proportion_ci(k, 8, method=method)
    assert p == k / 8
    np.testing.assert_allclose([lo, hi], [low, high], atol=5e-5)


def test_wilson_interval_matches_its_formula_and_covers_the_truth():
    k, n = 3, 8
    z2 = Z95**2
    centre, half = (k + z2 / 2) / (n + z2), Z95 * math.sqrt(k * (n - k) / n + z2 / 4) / (n + z2)
    np.testing.assert_allclose(proportion_ci(k, n)[1:], [centre - half, centre + half], rtol=1e-6)
    rng = np.random.default_rng(11)
    p_true, n = 0.1, 20
    covered = [lo <= p_true <= hi for lo, hi in (proportion_ci(int(k), n)[1:] for k in rng.binomial(n, p_true, 2000))]
    assert 0.93 <= np.mean(covered) <= 0.99


def test_proportion_interval_rejects_bad_input():
    assert all(math.isnan(x) for x in proportion_ci(0, 0))
    with pytest.raises(ValueError, match="ci_method"):
        proportion_ci(1, 2, method="bootstrap")
    with pytest.raises(ValueError, match="0 <= k <= n"):
        proportion_ci(3, 2)


# ------------------------------------------------------------------------------ Kaplan-Meier
def test_kaplan_meier_textbook_estimate_standard_errors_and_band():
    est = survival_estimate(SIX_MP, SIX_MP_EVENT, method="linear")
    np.testing.assert_allclose(est.time, [0, *SIX_MP_TIMES])
    np.testing.assert_allclose(est.survival[1:], SIX_MP_S, atol=5e-4)
    # the linear band is S -+ z * Greenwood SE (clipped to [0, 1])
    np.testing.assert_allclose((est.survival[1:] - est.low[1:]) / Z95, SIX_MP_SE, atol=5e-5)
    est = survival_estimate(SIX_MP, SIX_MP_EVENT)  # log-log, the default
    np.testing.assert_allclose(est.low[1:], SIX_MP_LOGLOG_LOW, atol=5e-4)
    np.testing.assert_allclose(est.high[1:], SIX_MP_LOGLOG_HIGH, atol=5e-4)
    assert (est.n, est.n_events) == (21, 9)


def test_kaplan_meier_median_and_its_interval():
    """6-MP: median 23 weeks; the lower band reaches 1/2 at 13 weeks, the upper never does (R reports NA)."""
    est = survival_estimate(SIX_MP, SIX_MP_EVENT)
    assert (est.median, est.median_low, est.median_high) == (23.0, 13.0, None)
    placebo = survival_estimate(PLACEBO, np.ones(len(PLACEBO), bool))
    assert placebo.median == 8.0 and placebo.median_low <= 8.0 <= placebo.median_high


def test_kaplan_meier_without_events_is_flat_and_has_no_band():
    est = survival_estimate([5.0, 7.0, 9.0], [False, False, False])
    np.testing.assert_array_equal(est.survival, [1.0])
    assert est.median is None and np.isnan(est.low).all()


def test_kaplan_meier_textbook_example():
    # events at 1, 2, 3, 5; censored at 2 and 4: S = 5/6, 5/6*4/5, *2/3, *0
    t, s = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(t, [0, 1, 2, 3, 5])
    np.testing.assert_allclose(s, [1, 5 / 6, 2 / 3, 4 / 9, 0])


def test_kaplan_meier_recovers_an_exponential_waiting_time():
    """Physical check: first-passage times of a Poisson process, censored at random run ends."""
    rng = np.random.default_rng(7)
    rate, n = 1 / 100.0, 2000
    event = rng.exponential(1 / rate, n)
    end = rng.uniform(50, 300, n)
    est = survival_estimate(np.minimum(event, end), event <= end)
    probe = np.array([25.0, 50.0, 100.0, 150.0])
    i = np.searchsorted(est.time, probe, side="right") - 1
    np.testing.assert_allclose(est.survival[i], np.exp(-rate * probe), atol=0.03)
    assert np.all((est.low[i] <= np.exp(-rate * probe)) & (np.exp(-rate * probe) <= est.high[i]))
    assert est.median_low <= math.log(2) / rate <= est.median_high


def test_kaplan_meier_without_censoring_is_the_empirical_survival():
    x = np.random.default_rng(3).exponential(10, 50)
    t, s = kaplan_meier(x, np.ones(50, bool))
    np.testing.assert_allclose(s[1:], 1 - np.arange(1, 51) / 50)


# ------------------------------------------------------------------------------ comparisons and trends
def test_logrank_textbook_six_mp_against_placebo():
    """Log-rank chi² = 16.79 (p = 4.2e-5) for 6-MP against placebo (Kleinbaum & Klein, ch. 2)."""
    stat, p = logrank_test(SIX_MP, np.array(SIX_MP_EVENT, bool), PLACEBO, np.ones(len(PLACEBO), bool))
    np.testing.assert_allclose(stat**2, 16.79, atol=0.01)
    np.testing.assert_allclose(p, 4.17e-5, rtol=0.01)
    assert all(math.isnan(x) for x in logrank_test([1, 2], [False, False], [3], [False]))


def test_spearman_of_per_run_outcomes():
    # 3 levels x 4 runs, fused 0, 2, 4: a clear trend, ties ranked as ties
    level = np.repeat([2, 4, 8], 4)
    fused = np.array([0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1], bool)
    r = spearman(level, fused)
    # Pearson correlation of the mid-ranks, written out
    rx = np.repeat([2.5, 6.5, 10.5], 4)
    ry = np.where(fused, 9.5, 3.5)
    np.testing.assert_allclose(r["rho"], np.corrcoef(rx, ry)[0, 1])
    assert r["n"] == 12 and r["pvalue"] < 0.01
    assert spearman(level, np.zeros(12, bool))["rho"] is None
    assert "levels" in spearman(np.ones(4), [0, 1, 0, 1])["note"]


def test_holm_adjustment():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert math.isnan(holm([0.2, math.nan])[1])


# ------------------------------------------------------------------------------ on a collected table
def _rows(fused: dict[int, list[float | None]], hemi_first: dict[int, list[bool]], duration: float = 100.0):
    rows = []
    for level, times in fused.items():
        for i, t in enumerate(times):
            hemi = None if t is None else (t / 2 if hemi_first[level][i] else t)
            rows.append({"n": level, "state": "done", "pore_ps": t, "hemifusion_ps": hemi, "duration_ps": duration,
                         "pore_tau": None if t is None else t / 10, "hemifusion_tau": None if hemi is None else hemi / 10,
                         "duration_tau": duration / 10})
    return rows


def test_statistics_of_a_sweep_table():
    fused = {0: [None] * 4, 4: [30.0, None, 50.0, None], 8: [10.0, 20.0, 15.0, 40.0]}
    first = {0: [], 4: [True, False, False, False], 8: [True, True, False, True]}
    res = SweepResults(_rows(fused, first), ["n"])
    stats = res.statistics("n")
    by = {lv["value"]: lv for lv in stats["levels"]}
    assert (by[0]["pore_k"], by[0]["pore_n"], by[0]["pore_low"]) == (0, 4, 0.0)
    np.testing.assert_allclose(by[0]["pore_high"], proportion_ci(0, 4)[2])
    assert (by[8]["pore_k"], by[8]["pore_high"]) == (4, 1.0)
    assert (by[8]["hemifusion_first_n_fused"], by[8]["hemifusion_first_k"]) == (4, 3)
    assert (by[4]["hemifusion_first_n_fused"], by[4]["hemifusion_first_k"]) == (2, 1)
    # S reaches 1/2 at the second of four events (the first time with S <= 1/2, no midpoint rule)
    assert by[8]["pore_median_tau"] == 1.5 and by[0]["pore_median_tau"] is None
    (sp,) = stats["spearman"]["pore"]
    np.testing.assert_allclose(sp["rho"], spearman(np.repeat([0, 4, 8], 4),
                                                   [t is not None for v in fused.values() for t in v])["rho"])
    lr = {r["value"]: r for r in stats["logrank"]["pore"]}
    assert set(lr) == {4, 8} and all(r["reference"] == 0 for r in lr.values())
    assert lr[8]["pvalue"] < lr[4]["pvalue"] and lr[8]["pvalue_holm"] >= lr[8]["pvalue"]


def test_runs_still_going_without_the_event_are_not_counted_as_failures():
    rows = _rows({2: [None, None, 5.0]}, {2: [False, False, True]})
    rows[0]["state"] = "pending"  # stopped by the wall-time limit, may fuse later
    (p,) = SweepResults(rows, ["n"]).probability("n")
    assert (p["k"], p["n"]) == (1, 2)
    (s,) = SweepResults(rows, ["n"]).survival("n")
    assert s["n"] == 3  # but it is in the survival estimate, censored at its end


def test_times_in_tau_come_from_ps_and_the_units_where_the_table_has_no_tau_columns():
    rows = [{"n": 1, "state": "done", "pore_ps": 20.0, "duration_ps": 100.0, "tau_ps": 10.0},
            {"n": 1, "state": "done", "pore_ps": None, "duration_ps": 100.0, "tau_ps": 10.0}]
    assert SweepResults(rows, ["n"]).groups("n", "pore", time="tau") == {"": {1: [(2.0, True), (10.0, False)]}}
