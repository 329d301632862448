"""AppTest: the Train page trains a tiny configuration to completion off the script thread, then opens the
comparison; asking again opens the stored run at once."""

import time

from tiny import TINY_QUERY


def run_until(at, done, timeout=90.0):
    """Rerun the page (as its auto-refreshing fragment would) until ``done(at)`` or the timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if done(at):
            return at
        time.sleep(0.3)
    raise AssertionError("timed out; page says: " + " | ".join(m.value for m in at.markdown))


def jobs_text(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_train_a_tiny_run_to_completion_and_compare(app):
    at = app("pages/3_train.py", TINY_QUERY)
    assert at.multiselect(key="train_items").value == ["rbf;theta=1"]
    assert at.number_input(key="train_epochs").value == 2 and at.number_input(key="train_seeds").value == 1
    at.number_input(key="train_seeds").set_value(2)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    run_until(at, lambda a: jobs_text(a).count("trained in") == 2)
    assert "2 training jobs so far" in " ".join(c.value for c in at.caption)
    # The same request again: both runs open from the store, nothing is trained.
    at.button(key="train_start").click().run()
    assert jobs_text(at).count("opened from the store") == 2
    assert "2 training jobs so far" in " ".join(c.value for c in at.caption)
    at.button(key="train_compare").click().run()
    assert not at.exception
    assert at.title[0].value.startswith("Compare")
    keys = at.multiselect(key="cmp_runs").value
    assert len(keys) == 2 and len(at.get("plotly_chart")) >= 6


def test_cancel_stores_nothing_and_url_limits_are_friendly(app, monkeypatch, tmp_cache):
    monkeypatch.setenv("RPM_MAX_EPOCHS", "20")
    at = app("pages/3_train.py", {**TINY_QUERY, "epochs": "20", "frames": "600"})
    at.button(key="train_start").click().run()
    assert len(at.session_state["my_jobs"]) == 1
    cancel = [b for b in at.button if b.key and b.key.startswith("train_cancel_")]
    assert cancel, "the job should still be queued or running"
    cancel[0].click().run()
    run_until(at, lambda a: "cancelled" in jobs_text(a), timeout=60)
    assert not list((tmp_cache / "runs").iterdir())  # a cancelled job leaves nothing in the store
    # The limit also holds for links: a URL asking for more epochs than the server allows gets a notice.
    home = app(None, {**TINY_QUERY, "epochs": "50"})
    assert any("epochs" in w.value for w in home.warning)
    assert home.session_state["view"].epochs == 20  # the default (30) clamped to the server's limit
