"""AppTest: the Explore page defines a sweep from its link, runs it through the job runner, fills in the plot and
the leaderboard, and opens the best configurations in Compare."""

import time

QUERY = {"frames": "24", "size": "32", "diam": "6", "xf": "rbf;theta=0.1,1", "xseeds": "0-1", "xepochs": "1"}


def wait_for_sweep(at, timeout: float = 180.0):
    deadline = time.time() + timeout
    while at.session_state["x_sweep"] is not None and time.time() < deadline:
        time.sleep(0.5)  # AppTest has no push: poll the page as the fragment would
        at.run()
    assert at.session_state["x_sweep"] is None, "the sweep did not finish"


def test_a_tiny_sweep_fills_in_and_opens_in_compare(app):
    at = app("pages/5_explore.py", QUERY)
    assert not at.error
    assert at.text_input(key="x_values_0").value == "0.1,1" and at.text_input(key="x_seeds").value == "0-1"
    assert any("8 runs" in c.value and "8 to train" in c.value for c in at.caption)  # 2 θ x 2 seeds + 4 references
    at.button(key="x_run").click().run()
    assert not at.exception and not at.error
    wait_for_sweep(at)
    assert any("4 of 4 points stored" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 2  # L2 against θ, and the parallel coordinates over the parameters
    table = at.dataframe[0].value
    assert len(table) == 4 and set(table["family"]) == {"rbf", "supervised", "untrained"}
    assert list(table["seeds"]) == [2, 2, 2, 2]
    assert {b.label for b in at.get("download_button")} == {"CSV (one row per run)", "JSON (one row per run)"}
    assert any("one row per run" in b.label for b in at.get("download_button"))
    at.button(key="x_compare").click().run()
    assert not at.exception
    runs = at.session_state["view"].runs
    assert len(runs) == 2 and len(set(runs)) == 2  # one run per configuration, never one twice


def test_the_view_lives_in_the_url_and_bad_input_is_a_message(app):
    at = app("pages/5_explore.py", QUERY)
    at.text_input(key="x_seeds").input("4").run()
    assert not at.exception
    assert at.query_params["xseeds"] in (["4"], "4")
    assert any("4 runs" in c.value for c in at.caption)  # one chosen seed: 2 θ + 2 references
    at.text_input(key="x_seeds").input("99").run()
    assert not at.exception and at.error and "seeds" in at.error[0].value
    at.text_input(key="x_values_0").input("0.1,oops").run()
    assert not at.exception and any("oops" in e.value for e in at.error)


def test_families_can_be_added_and_removed(app):
    at = app("pages/5_explore.py", QUERY)
    at.button(key="x_add").click().run()
    assert at.selectbox(key="x_kind_1").value == "linear" and at.selectbox(key="x_param_1").value == "w_init"
    at.selectbox(key="x_param_1").select("epochs").run()
    assert at.text_input(key="x_values_1").value == "10,30,60"
    at.button(key="x_drop_0").click().run()
    assert not at.exception
    assert [f.coupling for f in at.session_state["view"].explore.families] == ["linear"]
