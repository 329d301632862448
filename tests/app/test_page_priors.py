"""AppTest: the Priors page previews P(z'|z) for every kind of coupling and checks expressions as they are typed."""


def test_builtin_and_preset_previews(app):
    at = app("pages/2_priors.py")
    assert at.selectbox(key="prior_kind").value == "rbf"
    assert at.select_slider(key="prior_p_rbf_theta").value == 0.1
    assert len(at.get("plotly_chart")) == 1
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
    assert dict(items[-1].coupling.init) == {"theta": 5.0, "alpha": 1.0}
