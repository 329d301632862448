"""The Priors page's view model: the preview in true pixels, its sliders from the coupling metadata, what the
"Add" button sends, and the lesson the default view must show (RBF concentrates where the ball can go; linear not)."""

import numpy as np
import pytest

from explorer import priors
from explorer.state import Item, ViewState, default_stride
from rpm_engine.config import PAPER_VIDEO, QUICK_RECIPE, QUICK_VIDEO, VideoConfig, default_frame
from rpm_engine.couplings import make_coupling
from rpm_engine.data import generate_video


@pytest.fixture(scope="module")
def quick():
    return generate_video(QUICK_VIDEO)


def test_at_the_defaults_rbf_concentrates_where_the_ball_can_go_more_than_linear(quick):
    les = priors.lesson(quick, default_frame(QUICK_VIDEO), ViewState().ball, default_stride(QUICK_VIDEO))
    rbf, lin = les["rbf"], les["linear"]
    assert rbf["values"] == {"theta": QUICK_VIDEO.step_px}  # θ = one step, in true px
    assert rbf["mass_near_now"] > lin["mass_near_now"]
    assert rbf["mass_near_true"] > lin["mass_near_true"]
    assert rbf["mass_near_now"] > 3 * rbf["uniform_near_now"] and rbf["mass_near_true"] > 3 * rbf["uniform_near_true"]
    assert rbf["argmax_from_now_px"] <= default_stride(QUICK_VIDEO)  # centred on ○, not on ×
    text = priors.lesson_text(les)
    assert f"{rbf['mass_near_now']:.0%}" in text and f"{lin['mass_near_true']:.0%}" in text


def test_a_length_scale_starts_at_one_step_and_one_step_is_on_the_slider():
    for video in (QUICK_VIDEO, PAPER_VIDEO, VideoConfig(frames=24, size=32, diameter=6, step=3)):
        (theta,) = priors.param_specs("rbf", video)
        assert theta.default == video.step_px and video.step_px in theta.options
        assert priors.slider_value(theta, None) == video.step_px
        assert "true px" in theta.label
    (tau,) = priors.param_specs("cosine", QUICK_VIDEO)
    assert tau.default == 1.0 and tau.positive and min(tau.options) == 0.01 and max(tau.options) == 1000
    (w,) = priors.param_specs("linear", QUICK_VIDEO)
    assert w.default == QUICK_RECIPE.w_init and min(w.options) == 1e-6 and max(w.options) == 0.1
    free = priors.param_specs("-sum(abs(z - zp)) + alpha", QUICK_VIDEO)
    assert [(p.name, p.positive, p.lo, p.hi) for p in free] == [("alpha", False, -10.0, 10.0)]
    assert priors.slider_value(free[0], 42.0) == 10.0
    assert priors.nearest(priors.SCALE_OPTIONS, 0.12) == 0.1


def test_the_button_sends_the_recipe_start_for_lengths_and_the_preview_for_the_rest():
    assert priors.training_item("rbf", {"theta": 8.0}) == Item.of("rbf", theta=QUICK_RECIPE.theta0)
    assert priors.training_item("linear", {"w_init": 0.05}) == Item.of("linear", w_init=QUICK_RECIPE.w_init)
    assert priors.training_item("cosine", {"tau": 0.5}) == Item.of("cosine", tau=0.5)  # τ does not depend on z's scale
    sent = priors.training_item("-sum(abs(z - zp)) / theta + alpha", {"theta": 16.0, "alpha": 1.0})
    assert dict(sent.coupling.init) == {"theta": QUICK_RECIPE.theta0, "alpha": 1.0}
    assert priors.training_item("rbf", {"theta": 8.0}) == ViewState().items[0]  # the default run: its shipped key


def test_preview_values_ignore_the_default_prior_and_other_couplings():
    assert priors.preview_values(ViewState().prior, "rbf", ViewState().prior) == {}
    assert priors.preview_values(Item.of("rbf", theta=16), "rbf", ViewState().prior) == {"theta": 16.0}
    assert priors.preview_values(Item.of("rbf", theta=16), "laplace", ViewState().prior) == {}


def test_summary_of_a_prior_without_preference_is_the_uniform_share():
    video = generate_video(VideoConfig(frames=24, size=32, diameter=6))
    hm = priors.latent_prior(make_coupling("linear", 6, w_init=1e-6), video, 5, 0, stride=2)
    s = priors.summary(hm, video.config.step_px)
    assert np.isclose(np.nansum(hm.prob), 1.0)
    assert s["mass_near_now"] == pytest.approx(s["uniform_near_now"], abs=0.01)
    assert s["mass_near_true"] == pytest.approx(s["uniform_near_true"], abs=0.01)
    assert s["max_over_uniform"] == pytest.approx(1.0, abs=0.05)
    sharp = priors.summary(priors.latent_prior(make_coupling("rbf", 6, theta=0.5), video, 5, 0, 2), 6.0)
    assert sharp["mass_near_now"] > 0.99 and sharp["argmax_from_now_px"] <= 2


def test_the_menu_comes_from_the_couplings_metadata():
    kinds = priors.kinds()
    assert list(kinds)[:2] == ["linear", "rbf"] and "eq. 27" in kinds["rbf"]
    assert {"laplace", "cauchy", "student-t", "cosine", priors.CUSTOM} <= set(kinds)
    assert priors.strides(QUICK_VIDEO, 2) == [1, 2, 4, 8]
    assert priors.strides(VideoConfig(frames=24, size=16, diameter=4), 2) == [1, 2, 4]
