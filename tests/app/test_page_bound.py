"""AppTest: the Bound page draws its four views from the shipped runs without training, its controls change what the
captions say, and every number in its captions is recomputed here from the runs with the engine's maths."""

import math
import re

import numpy as np

from explorer import home
from explorer.catalog import SHIPPED_ROOT, Catalog
from explorer.state import default_stride
from rpm_engine import bound
from rpm_engine.config import default_frame
from rpm_engine.data import generate_video, simulate
from rpm_engine.evaluate import heatmap_of, l2_errors
from rpm_engine.store import RunStore

PAGE = "pages/6_bound.py"
# Equation, section and appendix numbers the captions cite (eqs. 5, 6, 11, 18, 21, 23-25, 37; Sec. 4.5; App. A.1).
CONSTANTS = {"5", "6", "11", "18", "21", "23", "25", "37", "4.5", "1", "2"}
SCIENTIFIC = r"\d\.\d+e[+-]\d+"


def fmt(*values, spec=".2f") -> set[str]:
    return {format(v, spec) for v in values}


def measured_numbers() -> set[str]:
    """Every number the default view's captions may print, from the shipped runs and rpm_engine.bound."""
    store = RunStore(SHIPPED_ROOT, read_only=True)
    fig1 = Catalog([("shipped", store)]).shipped_fig1()
    runs = {m: [store.load(e.key) for e in fig1[m]] for m in fig1}
    vcfg = runs["rbf"][0].config.video
    out = {str(vcfg.frames), str(vcfg.size), str(vcfg.balls), f"{vcfg.diameter:g}", f"{vcfg.step_px:g}"}
    out |= {f"{vcfg.noise_deg:g}", str(vcfg.seed), "64"}  # the video caption: 64×64 px
    pairs = {m: [bound.pairs(r.z) for r in rs] for m, rs in runs.items()}
    m_pairs = len(pairs["rbf"][0][0])
    out |= {str(m_pairs), *fmt(math.log(2), math.log(m_pairs))}
    logits = {m: [bound.log_f(r.coupling(), *p) for r, p in zip(runs[m], pairs[m])] for m in ("rbf", "linear")}
    # A: RBF's mean I_N at N = 2 and N = M, the gap to log M; linear's highest I_N at any N
    ns = bound.batch_sizes(m_pairs)
    curves = {m: [bound.infonce_curve(lg, ns) for lg in logits[m]] for m in logits}
    half = min(ns[:-1], key=lambda n: abs(n - m_pairs / 2))  # the last doubling: does it level off?
    at2, at_half, at_m = (np.mean([c[ns.index(n)] for c in curves["rbf"]]) for n in (2, half, m_pairs))
    out |= fmt(at2, at_m, math.log(m_pairs) - at_m, abs(at_m - at_half), math.log(m_pairs / half))
    out |= {str(half)} | fmt(max(float(c.max()) for c in curves["linear"]))
    probs = [np.exp(lg - np.log(np.exp(lg).sum(1, keepdims=True))) for lg in logits["rbf"]]  # row softmax, by hand
    out.add(f"{100 * np.mean([np.mean(np.diag(p)) for p in probs]):.0f}")  # the true next frame's share
    out.add(f"{100 * np.mean([np.mean(np.diag(p, -1)) for p in probs]):.0f}")  # z'_(i-1) = z_i: the frame itself
    # B: MI = log M; per method the mean ELBO (I_M) and MI minus it
    for m in logits:
        elbo = np.mean([bound.infonce(lg) for lg in logits[m]])
        out |= fmt(elbo, math.log(m_pairs) - elbo)
    # C: the first RBF run warped by p = 2 against p = 1
    run = runs["rbf"][0]
    centres = simulate(vcfg)[0]
    rows = {}
    for p in (1.0, 2.0):
        warp = bound.PowerWarp.fit(p, run.z)
        z, zp = bound.pairs(warp(run.z))
        _, refit = bound.fit_rbf(bound.squared_distances(z, zp))
        rows[p] = {
            "mi": bound.empirical_mi(z, zp),
            "fixed": bound.infonce(bound.log_f(run.coupling(), warp.inverse(z), warp.inverse(zp))),
            "trained": bound.infonce(bound.log_f(run.coupling(), z, zp)),
            "refit": refit,
            "l2": l2_errors(warp(run.z), centres, run.config.train.train_frac)["mean"],
        }
        out |= fmt(*rows[p].values(), rows[p]["mi"] - refit)
    out.add("2")  # p = 2
    # D: the first RBF run's prior over ball 0's next position, R(z') uniform and the latents' marginal
    video = generate_video(vcfg)
    frame, stride = default_frame(vcfg), default_stride(vcfg)
    xs, ys, ok, z, zp = bound.candidate_latents(run.encoder(), video, frame, 0, stride)
    lf, log_r = bound.log_f(run.coupling(), z, zp)[0], bound.log_marginal(zp, run.z)
    maps = [heatmap_of(video, frame, 0, xs, ys, ok, bound.prior_probabilities(lf, r)) for r in (None, log_r)]
    for hm in maps:
        out.add(f"{100 * home.mass_within(hm, hm.current, vcfg.step_px):.0f}")
        out.add(f"{np.nanmax(hm.prob) * hm.n:.1f}")
    tv = 0.5 * np.abs(np.nan_to_num(maps[0].prob) - np.nan_to_num(maps[1].prob)).sum()
    out |= {f"{100 * tv:.0f}", f"{math.exp(log_r.max() - log_r.min()):.3g}"}
    return out


def test_the_page_draws_four_views_from_the_shipped_runs(app):
    at = app(PAGE)
    assert at.title[0].value.startswith("The bound")
    assert len(at.get("plotly_chart")) == 4
    assert not at.error and not at.warning
    assert "training job" not in str(at.caption)
    captions = " ".join(c.value for c in at.caption)
    assert "I_N ≤ log N" in captions and "eq. 18 splits it exactly" in captions
    assert "At p = 2, for this RBF encoder" in captions and "with a uniform R(z′)" in captions


def test_every_number_in_the_captions_is_computed_from_the_runs(app):
    at = app(PAGE)
    captions = [c.value for c in at.main.caption]
    assert len(captions) == 4
    allowed = measured_numbers() | CONSTANTS
    for text in captions:
        for token in re.findall(SCIENTIFIC, text):  # the critic composed with the inverse warp: rounding only
            assert float(token) < 1e-6, text
        for number in re.findall(r"\d+(?:\.\d+)?", re.sub(SCIENTIFIC, "", text)):
            assert number in allowed, f"{number!r} in a caption is not computed from the shipped runs: {text}"


def test_the_controls_change_the_views(app):
    at = app(PAGE)
    at.select_slider(key="b_warp_p").set_value(0.5).run()
    assert not at.exception
    assert any("At p = 0.5, for this RBF encoder" in c.value for c in at.caption)
    at.selectbox(key="b_warp_run").select_index(5).run()  # the first linear run
    assert any("for this linear encoder" in c.value for c in at.caption)
    at.toggle(key="b_marginal").set_value(True).run()
    assert any("with the latents' marginal R(z′)" in c.value for c in at.caption)
    at.radio(key="b_prior").set_value("rbf").run()
    assert any("supervised ELBO" in c.value and "fitted θ" in c.value for c in at.caption)
    at.radio(key="b_pairs").set_value("held_out").run()
    assert not at.exception and not at.error
    assert any("of the 101 pairs" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 4


def test_a_classroom_link_hides_the_captions_not_the_figures(app):
    at = app(PAGE, {"text_hide": "1"})
    assert len(at.get("plotly_chart")) == 4
    assert not any("I_N ≤ log N" in c.value for c in at.caption)


def test_the_page_is_in_the_navigation_and_the_tour(app):
    at = app(None)
    assert any((link.proto.page, link.proto.label) == ("bound", "The bound") for link in at.sidebar.get("page_link"))
    assert any("/bound" in url for _, url, _ in home.tour("a", "b"))
