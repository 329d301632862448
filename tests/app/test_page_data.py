"""AppTest: the Data page generates videos from every option and refuses impossible ones with a message."""


def test_data_page_widgets_and_generate(app):
    at = app("pages/1_data.py")
    for key in (
        "data_frames",
        "data_size",
        "data_balls",
        "data_diameter",
        "data_step",
        "data_noise",
        "data_vseed",
        "data_draws",
    ):
        assert at.number_input(key=key) is not None
    assert at.color_picker(key="data_colour_0") is not None and at.color_picker(key="data_bg") is not None
    assert at.slider(key="data_frame").value == 113  # held out, 90 % into the default 128 frames
    at.number_input(key="data_frames").set_value(24)
    at.number_input(key="data_size").set_value(32)
    at.number_input(key="data_diameter").set_value(6.0)
    at.number_input(key="data_noise").set_value(10.0)
    at.color_picker(key="data_colour_1").pick("#00ff00")
    at.button(key="data_generate").click().run()
    assert not at.exception and not at.error
    video = at.session_state["view"].video
    assert (video.frames, video.size, video.diameter, video.noise_deg) == (24, 32, 6.0, 10.0)
    assert video.ball_colours[1] == (0, 255, 0)
    assert [m.value for m in at.metric][0] == "24"
    assert at.slider(key="data_frame").max == 22
    assert at.query_params["frames"] == ["24"] or at.query_params["frames"] == "24"
    assert len(at.get("download_button")) == 3


def test_an_impossible_video_is_a_message(app):
    at = app("pages/1_data.py")
    at.number_input(key="data_size").set_value(32)
    at.number_input(key="data_diameter").set_value(16.0)
    at.number_input(key="data_balls").set_value(3)
    at.button(key="data_generate").click().run()
    assert not at.exception
    assert at.error and "balls" in at.error[0].value  # 3 balls of 16 px cover too much of a 32 px frame
    assert at.session_state["view"].video.size == 64  # the previous video stays
