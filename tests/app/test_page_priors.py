"""AppTest: the Priors page previews P(z'|z) for every kind of coupling in true pixels, shows the lesson at its
defaults, sends training what the button says, and keeps where you look when an expression breaks."""

from rpm_engine.config import QUICK_RECIPE

THETA0 = QUICK_RECIPE.theta0


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def pct(text: str) -> int:
    return int(text.rstrip("%"))


def test_defaults_preview_theta_one_step_and_show_rbf_beats_linear(app):
    at = app("pages/2_priors.py")
    assert at.selectbox(key="prior_kind").value == "rbf"
    assert at.select_slider(key="prior_p_rbf_theta").value == 8.0  # one step of the quick video, in true px
    assert len(at.get("plotly_chart")) == 1 and not at.error
    rbf = metrics(at)
    assert "within one step" in at.caption[-1].value.lower() or any("within one step" in c.value for c in at.caption)
    at.selectbox(key="prior_kind").select("linear").run()
    lin = metrics(at)
    assert pct(rbf["Near ○ (1 step)"]) > pct(lin["Near ○ (1 step)"])
    assert pct(rbf["Near × (½ step)"]) >= pct(lin["Near × (½ step)"])
    assert "prior" not in at.query_params or "theta" not in str(at.query_params["prior"])


def test_builtin_and_preset_previews(app):
    at = app("pages/2_priors.py")
    for kind, param in (
        ("linear", "prior_p_linear_w_init"),
        ("student-t", "prior_p_student-t_nu"),
        ("cosine", "prior_p_cosine_tau"),
    ):
        at.selectbox(key="prior_kind").select(kind).run()
        assert not at.exception and not at.error, kind
        assert at.select_slider(key=param) is not None
        assert len(at.get("plotly_chart")) == 1
    at.select_slider(key="prior_p_cosine_tau").set_value(0.5).run()
    assert at.session_state["view"].prior.coupling.init == (("tau", 0.5),)


def test_add_sends_the_recipe_start_and_says_so(app):
    at = app("pages/2_priors.py")
    at.select_slider(key="prior_p_rbf_theta").set_value(16.0).run()
    assert at.session_state["view"].prior.coupling.init == (("theta", 16.0),)  # the preview's value, in the URL
    assert at.button(key="prior_add").label == f"Add rbf (theta={THETA0:g}) to the training list"
    at.selectbox(key="prior_kind").select("laplace").run()
    at.select_slider(key="prior_p_laplace_theta").set_value(4.0).run()
    assert at.button(key="prior_add").label == f"Add laplace (theta={THETA0:g}) to the training list"
    at.button(key="prior_add").click().run()
    assert dict(at.session_state["view"].items[-1].coupling.init) == {"theta": THETA0}


def test_custom_expression_is_validated_with_its_column(app):
    at = app("pages/2_priors.py")
    at.selectbox(key="prior_kind").select("custom").run()
    at.text_input(key="prior_expr").input("-sum(abs(z - zp)) / thetta").run()
    assert not at.exception
    assert at.error and "column 21" in at.error[0].value and "theta" in at.error[0].value
    assert at.code[0].value.endswith("^ column 21")
    assert not at.get("plotly_chart")
    at.text_input(key="prior_expr").input("-sum(abs(z - zp)) / theta + alpha").run()
    assert not at.error and at.success
    at.select_slider(key="prior_p_custom_theta").set_value(5.0)
    at.slider(key="prior_p_custom_alpha").set_value(1.0).run()
    assert len(at.get("plotly_chart")) == 1
    at.button(key="prior_add").click().run()
    items = at.session_state["view"].items
    assert items[-1].coupling.spec == "-sum(abs(z - zp)) / theta + alpha"
    assert dict(items[-1].coupling.init) == {"theta": THETA0, "alpha": 1.0}  # θ: the recipe's start, α as previewed


def test_a_broken_expression_keeps_the_frame_and_the_grid(app):
    at = app("pages/2_priors.py")
    at.slider(key="prior_frame").set_value(50).run()
    at.select_slider(key="prior_stride").set_value(4).run()
    at.selectbox(key="prior_kind").select("custom").run()
    at.text_input(key="prior_expr").input("-sum(abs(z - zp)) / (theta").run()
    assert at.error and not at.get("plotly_chart")
    assert at.slider(key="prior_frame").value == 50 and at.select_slider(key="prior_stride").value == 4
    assert (at.session_state["view"].frame, at.session_state["view"].stride) == (50, 4)
    at.text_input(key="prior_expr").input("-sum(abs(z - zp)) / theta").run()
    assert not at.error and len(at.get("plotly_chart")) == 1
    assert at.select_slider(key="prior_p_custom_theta").value == 8.0  # back at one step, not at the slider's end
    assert at.slider(key="prior_frame").value == 50 and at.select_slider(key="prior_stride").value == 4


def test_a_link_sets_the_preview_and_short_videos_work(app):
    at = app("pages/2_priors.py", {"prior": "rbf;theta=16", "frames": "16", "size": "32", "diam": "6"})
    assert not at.error
    assert at.select_slider(key="prior_p_rbf_theta").value == 16.0
    assert at.slider(key="prior_frame").max == 14
