"""Classroom links (explorer.links): a built link opens the page and the view it was built for, with its flags; a
misspelt flag gets a one-line notice; presentation mode is a server limit, not a link value."""

import dataclasses

import pytest

from explorer import links
from explorer.state import ViewState, default_view, from_query
from rpm_engine.config import PAPER_VIDEO
from rpm_service.limits import Limits


@pytest.mark.parametrize("page", list(links.PATHS))
@pytest.mark.parametrize("hide", [(), ("controls", "text"), ("sidebar", "sliders", "controls", "text")])
def test_a_classroom_link_round_trips(page, hide):
    lim = Limits()
    state = dataclasses.replace(default_view(lim), video=PAPER_VIDEO, frame=12, ball=1, log_y=True)
    link = links.classroom_link("http://host:8501/compare?run=x", page, state, hide, lim)
    assert link.startswith("http://host:8501/" + links.PATHS[page]) and "run=x" not in link
    back_page, back, notices = links.read_link(link, lim)
    assert back_page == page and notices == []
    assert back == dataclasses.replace(state, hide=frozenset(hide))


def test_the_default_view_is_a_bare_link_and_bad_choices_are_refused():
    assert links.classroom_link("http://h/", "home", default_view(Limits()), ()) == "http://h/"
    with pytest.raises(ValueError, match="unknown flag"):
        links.classroom_link("http://h", "home", ViewState(), ["control"])
    with pytest.raises(ValueError, match="unknown page"):
        links.classroom_link("http://h", "nowhere", ViewState(), [])
    extra = links.classroom_link("http://h", "explore", ViewState(), [], extra={"xseeds": "4"})
    assert extra.endswith("/explore?xseeds=4")


def test_a_misspelt_flag_gets_the_one_line_notice_and_hides_nothing():
    state, notices = from_query({"control_hide": "1", "text_hide": "1"})
    assert state.hide == frozenset({"text"})
    (notice,) = notices
    assert "control_hide" in notice and "controls_hide" in notice and "\n" not in notice
    assert from_query({"controls_hide": "1"})[1] == []


def test_presentation_mode_is_a_limit():
    assert Limits().training is True
    assert Limits.from_env({"RPM_TRAINING": "0"}).training is False
    assert Limits.from_env({}, {"training": False}).training is False
    with pytest.raises(ValueError, match="RPM_TRAINING: expected 1/0"):
        Limits.from_env({"RPM_TRAINING": "maybe"})
