"""AppTest: the Data page's form comes from the schema, generates videos, respects the server's limits, and keeps
the default video's run keys."""

import pytest

from explorer import media
from rpm_engine.config import QUICK_VIDEO, VIDEO_FIELDS, RunConfig, VideoConfig, default_frame
from rpm_service.limits import Limits

KEYS = [f"data_{f.url}" for f in VIDEO_FIELDS]


def test_widgets_come_from_the_schema_and_the_limits():
    lim = Limits(frames=64, size=48, balls=2)
    by_name = {f.name: f for f in VIDEO_FIELDS}
    assert media.widget_bounds(by_name["frames"], lim) == (16, 64)
    assert media.widget_bounds(by_name["size"], lim) == (16, 48)
    assert media.widget_bounds(by_name["balls"], lim) == (1, 2)
    assert media.widget_bounds(by_name["diameter"], lim) == (2.0, 1024.0)  # no server limit on the diameter
    args = media.widget_args(by_name["noise_deg"], lim)
    assert args["label"] == "Direction noise (°)" and args["max_value"] == 180.0 and "App. D" in args["help"]
    assert media.widget_value(by_name["frames"], QUICK_VIDEO, lim) == 64  # clamped into the widget's range


def test_colour_helpers_round_trip_and_refuse_junk():
    assert media.hex_colour((255, 127, 80)) == "#ff7f50"
    assert media.rgb_colour("#ff7f50") == (255, 127, 80)
    with pytest.raises(ValueError):
        media.rgb_colour("#ff7f5")


def test_the_default_form_gives_the_default_video_and_its_key():
    values = {f.name: media.widget_value(f, QUICK_VIDEO, Limits()) for f in VIDEO_FIELDS}
    colours = [media.hex_colour(c) for c in QUICK_VIDEO.ball_colours] + ["#000001"] * 3
    new = media.video_from_form(values, colours, media.hex_colour(QUICK_VIDEO.background))
    assert new == QUICK_VIDEO and RunConfig(new).key() == RunConfig(QUICK_VIDEO).key()


def test_frame_slider_of_a_clamped_video():
    small = Limits(frames=64, balls=2).clamp_video(QUICK_VIDEO)
    assert media.frame_slider(small, None) == (0, 62, 55)  # int(0.9 · 62): held out (from frame 51), 90 % in
    assert media.frame_slider(small, 500) == (0, 62, 62)


def test_data_page_widgets_and_generate(app):
    at = app("pages/1_data.py")
    for key in KEYS:
        assert at.number_input(key=key) is not None
    assert at.number_input(key="data_step").value is None  # one diameter
    assert at.color_picker(key="data_colour_0") is not None and at.color_picker(key="data_bg") is not None
    assert at.slider(key="data_frame").value == default_frame(QUICK_VIDEO)  # held out, 90 % into the default video
    at.number_input(key="data_frames").set_value(24)
    at.number_input(key="data_size").set_value(32)
    at.number_input(key="data_diam").set_value(6.0)
    at.number_input(key="data_noise").set_value(10.0)
    at.color_picker(key="data_colour_1").pick("#00ff00")
    at.button(key="data_generate").click().run()
    assert not at.exception and not at.error
    video = at.session_state["view"].video
    assert (video.frames, video.size, video.diameter, video.noise_deg) == (24, 32, 6.0, 10.0)
    assert video.ball_colours[1] == (0, 255, 0)
    assert [m.value for m in at.metric][0] == "24"
    assert at.slider(key="data_frame").max == 22 and at.slider(key="data_frame").value == 19  # held out, 90 % in
    assert at.query_params["frames"] == ["24"] or at.query_params["frames"] == "24"
    assert len(at.get("download_button")) == 3


def test_generate_with_the_defaults_keeps_the_run_key(app):
    at = app("pages/1_data.py")
    before = RunConfig(at.session_state["view"].video).key()
    at.button(key="data_generate").click().run()
    assert not at.exception and not at.error
    assert at.session_state["view"].video == QUICK_VIDEO
    assert RunConfig(at.session_state["view"].video).key() == before
    assert "frames" not in at.query_params and "diam" not in at.query_params


@pytest.mark.parametrize("frames", [16, 17, 40])
def test_short_videos_have_a_frame_slider(app, frames):
    at = app("pages/1_data.py", {"frames": str(frames), "size": "32", "diam": "6"})
    assert not at.error
    assert at.slider(key="data_frame").max == frames - 2
    assert [m.value for m in at.metric][0] == str(frames)


def test_a_frame_limit_below_the_default_shows_the_clamped_video(app, monkeypatch):
    monkeypatch.setenv("RPM_MAX_FRAMES", "64")
    at = app("pages/1_data.py")
    assert not at.error
    assert at.session_state["view"].video.frames == 64
    assert at.number_input(key="data_frames").value == 64 and at.number_input(key="data_frames").max == 64
    assert [m.value for m in at.metric][0] == "64"  # the video really has 64 frames
    assert at.slider(key="data_frame").max == 62
    at.button(key="data_generate").click().run()
    assert not at.error and at.session_state["view"].video == VideoConfig(frames=64, size=64, diameter=8)


def test_an_impossible_video_is_a_message(app):
    at = app("pages/1_data.py")
    at.number_input(key="data_size").set_value(32)
    at.number_input(key="data_diam").set_value(16.0)
    at.number_input(key="data_balls").set_value(3)
    at.button(key="data_generate").click().run()
    assert not at.exception
    assert at.error and "balls" in at.error[0].value  # 3 balls of 16 px cover too much of a 32 px frame
    assert at.session_state["view"].video.size == 64  # the previous video stays
