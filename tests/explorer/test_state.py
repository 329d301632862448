"""The explorer's pure parts: view state <-> URL (examples; the properties are in test_state_properties.py), one run
key for the default quick video, hosted-demo limits, the latent-space prior preview, the catalogue."""

import dataclasses

import numpy as np
import pytest

from explorer import priors
from explorer.catalog import SHIPPED_ROOT, Catalog, group_key, l2_summary
from explorer.state import (
    MAX_CANDIDATES,
    Item,
    ViewState,
    default_frame,
    default_view,
    from_query,
    heatmap_strides,
    to_query,
)
from rpm_engine import VideoConfig, generate_video, make_coupling
from rpm_engine.store import RunStore
from rpm_engine.train import RunConfig
from rpm_service.limits import Limits


def test_default_state_has_an_empty_url_and_round_trips():
    assert to_query(ViewState()) == {}
    state, notices = from_query({})
    assert state == ViewState() and notices == []


def test_a_full_state_round_trips_through_the_url():
    video = VideoConfig(
        frames=64,
        size=48,
        balls=2,
        diameter=6,
        step=4,
        noise_deg=5,
        seed=3,
        colours=((255, 0, 0), (0, 255, 0)),
        background=(1, 2, 3),
        max_draws=8,
    )
    state = ViewState(
        video=video,
        items=(Item.of("laplace", theta=2), Item.of("supervised"), Item.of("-sum(abs(z - zp)) / theta", theta=3)),
        epochs=5,
        seeds=3,
        prior=Item.of("cauchy", theta=0.5),
        runs=("a" * 24, "b" * 24),
        frame=10,
        ball=1,
        stride=4,
        log_y=False,
        hide=frozenset({"controls", "sidebar"}),
    )
    q = to_query(state)
    assert q["c"][2] == "-sum(abs(z - zp)) / theta;theta=3" and q["run"] == ["a" * 24, "b" * 24]
    assert q["log"] == "0" and q["controls_hide"] == "1" and q["sidebar_hide"] == "1" and q["diam"] == "6"
    back, notices = from_query(q)
    assert notices == [] and back == state


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"frames": "lots"}, "frames"),
        ({"size": "4"}, "size"),
        ({"diam": "40"}, "video in the URL was not used"),
        ({"c": "-sum(abs(z - zp) / theta"}, "column"),
        ({"c": "os.system('x')"}, "was ignored"),
        ({"frame": "999"}, "outside"),
        ({"ball": "-1"}, "was ignored"),
        ({"stride": "3"}, "grids offered"),
        ({"log": "maybe"}, "1 or 0"),
        ({"controls_hide": "x" * 500}, "…"),
        ({"run": "../../etc/passwd"}, "not a run key"),
        ({"colours": "red,green,blue"}, "colours"),
        ({"epochs": "100000"}, "outside"),
    ],
)
def test_bad_url_values_fall_back_with_a_notice(params, fragment):
    state, notices = from_query(params)
    assert len(notices) == 1 and fragment in notices[0]
    for attr in ("video", "frame", "ball", "epochs"):
        if attr in ("frame", "ball", "epochs") and attr in params:
            assert getattr(state, attr) == getattr(ViewState(), attr)


def test_the_url_cannot_exceed_the_servers_limits():
    state, notices = from_query({"frames": "5000"}, Limits(frames=500))
    assert state.video.frames == 500 and "limits" in notices[0]
    state, notices = from_query({"c": "-sum(abs(z - zp)) / theta"}, Limits(allow_expressions=False))
    assert state.items == () and "switched off" in notices[0]


def test_precision_survives_the_url():
    state = ViewState(prior=Item.of("rbf", theta=0.123456789), video=VideoConfig(frames=128, size=64, diameter=8.25))
    back, notices = from_query(to_query(state))
    assert back == state and notices == []


def test_defaults_are_clamped_to_the_servers_limits():
    lim = Limits(frames=64, size=32, epochs=5)
    d = default_view(lim)
    assert (d.video.frames, d.video.size, d.epochs) == (64, 32, 5) and d.video.diameter == 4
    lim.check_run(d.items[0].run_config(d.video, d.epochs, 0))  # the defaults train on this server
    state, notices = from_query({}, lim)
    assert state == d and notices == [] and to_query(d, lim) == {}


def test_one_run_key_for_the_default_quick_video_from_url_widgets_cli_and_library():
    """Issue 9.5: the URL's default view, the Data page's widget values (floats from number inputs), the CLI and
    the library's recipe name one run, so pressing "Generate video" with the defaults opens the shipped runs."""
    from rpm_engine.cli import build_parser, train_config
    from rpm_engine.config import QUICK_RECIPE, QUICK_VIDEO
    from rpm_engine.reproduce import method_config

    view, _ = from_query({})
    url_key = view.items[0].run_config(view.video, view.epochs, 0).key()
    widgets = {f: float(getattr(QUICK_VIDEO, f)) for f in ("frames", "size", "diameter", "noise_deg")}
    widget_video = VideoConfig(**{k: int(v) if k in ("frames", "size") else v for k, v in widgets.items()})
    widget_key = view.items[0].run_config(widget_video, view.epochs, 0).key()
    frames, size, diam = str(QUICK_VIDEO.frames), str(QUICK_VIDEO.size), f"{QUICK_VIDEO.diameter:g}"
    spelled, notices = from_query({"frames": frames + ".0", "size": size, "diam": diam + ".0", "step": diam})
    assert notices == [] and spelled == view
    argv = ["train", "--coupling", "rbf", "--param", f"theta={QUICK_RECIPE.theta0}", "--frames", frames]
    argv += ["--size", size, "--diameter", diam, "--epochs", str(QUICK_RECIPE.epochs), "--seed", "0"]
    argv += ["--coupling-lr", str(QUICK_RECIPE.length_scale_lr)]
    cli_key = train_config(build_parser().parse_args(argv)).key()
    recipe_key = train_config(build_parser().parse_args(["train", "--coupling", "rbf", "--recipe", "quick"])).key()
    lib_key = method_config("rbf", QUICK_RECIPE, 0).key()
    assert url_key == widget_key == cli_key == recipe_key == lib_key
    shipped = Catalog([("shipped", RunStore(SHIPPED_ROOT, read_only=True))]).shipped_fig1()
    assert url_key in {e.key for e in shipped["rbf"]}, "the default view opens the shipped RBF run"


def test_limits_come_from_env_over_secrets_over_defaults():
    lim = Limits.from_env({"RPM_MAX_FRAMES": "300", "RPM_ALLOW_EXPRESSIONS": "0"}, {"frames": 100, "epochs": 7})
    assert (lim.frames, lim.epochs, lim.allow_expressions, lim.size) == (300, 7, False, Limits().size)
    with pytest.raises(ValueError, match="RPM_MAX_JOBS"):
        Limits.from_env({"RPM_MAX_JOBS": "two"})


def test_limits_refuse_runs_over_them():
    lim = Limits(frames=100, size=64, epochs=5, seeds=2, allow_expressions=False)
    ok = RunConfig.of("rbf", video=VideoConfig(frames=50, size=32, diameter=6), epochs=5, seed=1)
    lim.check_run(ok)
    for bad, match in [
        (dataclasses.replace(ok, video=VideoConfig(frames=200, size=32, diameter=6)), "frames"),
        (dataclasses.replace(ok, video=VideoConfig(frames=50, size=128, diameter=6)), "size"),
        (RunConfig.of("rbf", video=ok.video, epochs=6), "epochs"),
        (RunConfig.of("rbf", video=ok.video, epochs=1, seed=2), "seed"),
        (RunConfig.of("-sum(abs(z - zp)) / theta", video=ok.video, epochs=1), "expressions"),
    ]:
        with pytest.raises(ValueError, match=match):
            lim.check_run(bad)


def test_latent_prior_rbf_peaks_at_the_current_position_and_sums_to_one():
    video = generate_video(VideoConfig(frames=16, size=32, diameter=6))
    hm = priors.latent_prior(make_coupling("rbf", 6, theta=2.0), video, 3, 0, stride=2)
    assert np.isclose(np.nansum(hm.prob), 1.0) and hm.n == np.isfinite(hm.prob).sum()
    iy, ix = np.unravel_index(np.nanargmax(hm.prob), hm.prob.shape)
    assert np.hypot(hm.xs[ix] - hm.current[0], hm.ys[iy] - hm.current[1]) <= 2.0  # a Gaussian around z
    lin = priors.latent_prior(make_coupling("linear", 6, w_init=0.01), video, 3, 0, stride=2)
    iy, ix = np.unravel_index(np.nanargmax(lin.prob), lin.prob.shape)
    assert lin.xs[ix] + lin.ys[iy] > 32  # z^T W z' grows with z': the mass goes to large coordinates
    s = priors.summary(hm)
    assert 0 <= s["mass_near_true"] <= 1 and s["max_over_uniform"] >= 1


def test_param_specs_give_sliders_for_every_parameter():
    specs = {p.name: p for p in priors.param_specs(make_coupling("student-t", 6))}
    assert set(specs) == {"nu", "theta"} and all(p.positive for p in specs.values())
    assert priors.nearest(priors.SCALE_OPTIONS, 0.12) == 0.1
    free = priors.param_specs(make_coupling("-sum(abs(z - zp)) + alpha", 6))
    assert [(p.name, p.positive) for p in free] == [("alpha", False)]


def test_shipped_runs_form_the_fig1_comparison():
    cat = Catalog([("shipped", RunStore(SHIPPED_ROOT, read_only=True))])
    fig1 = cat.shipped_fig1()
    assert set(fig1) == {"supervised", "rbf", "linear", "untrained"}, "regenerate assets/store (docs/APP.md)"
    seeds = fig1["rbf"]
    assert len(seeds) >= 2 and len({group_key(e.config) for e in seeds}) == 1
    s = l2_summary(seeds, 3)
    assert s["overall"]["n"] == len(seeds) and len(s["per_ball"]) == 3
    assert cat.load(seeds[0].key).z.shape == (seeds[0].config.video.frames, 6)


def test_default_frame_is_held_out():
    v = VideoConfig(frames=128, size=64, diameter=8)
    assert 0.8 * 128 <= default_frame(v) <= 126


def test_heatmap_grids_stay_affordable():
    assert heatmap_strides(64, 64) == [1, 2, 4, 8, 16]
    assert heatmap_strides(256, 256) == [4, 8, 16, 32]  # the paper's frames: no 1 or 2 px grids
    assert all((256 / s) ** 2 <= MAX_CANDIDATES for s in heatmap_strides(32, 256))
