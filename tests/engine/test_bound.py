"""rpm_engine.bound against independent formulas: I_N (eq. 6) and its ceiling log N, the ELBO's terms (eq. 18 under
the empirical distribution, App. A.1), the RBF prior's fit, the warp and its invariants, and R(z′) (eqs. 11, 21)."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rpm_engine import bound, infonce_bound, infonce_loss, make_coupling
from rpm_engine.config import VideoConfig
from rpm_engine.data import generate_video
from rpm_engine.encoder import Encoder
from rpm_engine.evaluate import conditional_prior

finite = st.floats(-30, 30, allow_nan=False, allow_infinity=False)


def walk(t: int = 200, d: int = 4, seed: int = 0) -> np.ndarray:
    """A random walk in d dimensions: consecutive latents are close, as a trained encoder's are."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(size=(t, d)), axis=0)


# -- I_N (eq. 6) ------------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: arrays(np.float64, (n, n), elements=finite)))
def test_i_n_never_exceeds_log_n_and_matches_the_training_loss(logits):
    n = len(logits)
    got = bound.infonce(logits)
    assert got <= math.log(n) + 1e-12
    expected = infonce_bound(infonce_loss(torch.from_numpy(logits)), n)  # the training objective's own formula
    assert got == pytest.approx(expected, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 20), arrays(np.float64, 20, elements=finite))
def test_a_critic_that_scores_every_pair_alike_gives_zero(n, row):
    logits = np.tile(row[:n], (n, 1)).T  # f(z_i, z'_j) depends on i only: every candidate alike in each row
    assert bound.infonce(logits) == pytest.approx(0.0, abs=1e-12)


def test_a_hand_computed_case():
    # f = 3 on each true pair, 1 elsewhere: each partner gets 3 / (3 + 1) of the mass
    assert bound.infonce(np.log([[3.0, 1.0], [1.0, 3.0]])) == pytest.approx(math.log(2) + math.log(3 / 4))
    # three pairs: row probabilities of the partner 1/2, 1/3, 1/6
    logits = np.log([[3.0, 2.0, 1.0], [1.0, 1.0, 1.0], [2.0, 3.0, 1.0]])
    assert bound.infonce(logits) == pytest.approx(
        math.log(3) + (math.log(1 / 2) + math.log(1 / 3) + math.log(1 / 6)) / 3
    )
    assert bound.infonce(np.diag([1e9, 1e9]) - 0.0) == pytest.approx(math.log(2))  # every partner gets all the mass


def test_the_curve_is_the_mean_over_every_batch_of_n():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    for n in (2, 3, 4):
        exact = np.mean([bound.infonce(logits[np.ix_(s, s)]) for s in itertools.combinations(range(6), n)])
        got = bound.infonce_curve(logits, [n], rows=60_000)[0]
        assert got == pytest.approx(exact, abs=0.01)
    assert bound.infonce_curve(logits, [6])[0] == bound.infonce(logits)
    again = bound.infonce_curve(logits, [2, 3, 6])
    assert np.array_equal(again, bound.infonce_curve(logits, [2, 3, 6]))  # seeded: the same curve every time
    with pytest.raises(ValueError, match="N must be"):
        bound.infonce_curve(logits, [7])


def test_partner_mass_is_the_softmax_share_at_an_offset():
    logits = np.log([[2.0, 1.0, 1.0], [3.0, 1.0, 0.0 + 1e-300], [1.0, 1.0, 2.0]])
    # rows' shares of the true partner: 2/4, 1/4, 2/4; of the pair one place before (i - 1): 3/4 (row 1), 1/4 (row 2)
    true, before = bound.partner_mass(logits, (0, -1))
    assert true == pytest.approx((2 / 4 + 1 / 4 + 2 / 4) / 3) and before == pytest.approx((3 / 4 + 1 / 4) / 2)
    z = walk(50)
    exact = bound.log_f(make_coupling("rbf", 4, theta=1.0), z[:-1], z[1:])
    true, before = bound.partner_mass(exact, (0, -1))
    assert before > true  # z'_(i-1) = z_i: "no move" beats the truth


def test_batch_sizes_run_from_2_to_m():
    ns = bound.batch_sizes(511)
    assert ns[0] == 2 and ns[-1] == 511 and ns == sorted(set(ns))
    with pytest.raises(ValueError):
        bound.batch_sizes(1)


# -- the ELBO's terms --------------------------------------------------------------------------------------------
def test_empirical_mi_by_hand():
    a, b, c, d = [0.0], [1.0], [2.0], [3.0]
    assert bound.empirical_mi(np.array([a, b, c]), np.array([a, b, c])) == pytest.approx(math.log(3))  # distinct
    assert bound.empirical_mi(np.array([a, a, a]), np.array([a, b, c])) == pytest.approx(0.0)  # z says nothing
    assert bound.empirical_mi(np.array([a, a, b, b]), np.array([c, d, c, d])) == pytest.approx(0.0)  # independent
    assert bound.empirical_mi(np.array([a, a, b, b]), np.array([c, c, d, d])) == pytest.approx(math.log(2))


def test_elbo_terms_add_up_and_the_kl_is_the_kl():
    z = walk(60)
    zp_, z_ = z[1:], z[:-1]
    logits = -bound.squared_distances(z_, zp_) / 8.0
    t = bound.elbo_terms(logits, z_, zp_)
    m = len(z_)
    assert t["mi"] == pytest.approx(math.log(m)) and t["n"] == m
    assert t["elbo"] == pytest.approx(bound.infonce(logits))
    assert t["mi"] == pytest.approx(t["elbo"] + t["kl"])
    # KL(R || P) directly: R(i, j) = 1/M on the pairs, P(i, j) = (1/M) f_ij / sum_j f_ij (eq. 21, R(z') empirical)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    kl = sum((1 / m) * math.log((1 / m) / ((1 / m) * p[i, i])) for i in range(m))
    assert t["kl"] == pytest.approx(kl) and t["kl"] >= 0


def test_log_f_is_the_coupling_and_the_rbf_formula():
    z = walk(30, 6)
    rbf = make_coupling("rbf", 6, theta=2.5)
    got = bound.log_f(rbf, z[:-1], z[1:])
    assert got.dtype == np.float64
    assert np.allclose(got, -bound.squared_distances(z[:-1], z[1:]) / (2 * 2.5**2), rtol=1e-6)
    with torch.no_grad():  # the module itself, in float64
        module = rbf.double()(torch.from_numpy(z[:-1]), torch.from_numpy(z[1:])).numpy()
    assert np.allclose(got, module, rtol=1e-6)
    framed = make_coupling("rbf", 6, theta=2.5, z_scale=1 / 64)  # z measured in frames: θ in those units
    with torch.no_grad():
        module = framed.double()(torch.from_numpy(z[:-1]), torch.from_numpy(z[1:])).numpy()
    assert np.allclose(bound.log_f(framed, z[:-1], z[1:]), module, rtol=1e-6)
    linear = make_coupling("linear", 6, w_init=0.3, z_scale=0.5)
    with torch.no_grad():
        linear.W.add_(torch.from_numpy(np.random.default_rng(0).normal(size=(6, 6))).float())  # not just w_init · I
        module = linear.double()(torch.from_numpy(z[:-1]), torch.from_numpy(z[1:])).numpy()
    assert np.allclose(bound.log_f(linear, z[:-1], z[1:]), module, rtol=1e-6)
    cosine = make_coupling("cosine", 6)  # any other coupling: its own module
    with torch.no_grad():
        module = cosine.double()(torch.from_numpy(z[:-1]), torch.from_numpy(z[1:])).numpy()
    assert np.allclose(bound.log_f(cosine, z[:-1], z[1:]), module)
    brute = np.array([[np.sum((u - v) ** 2) for v in z[1:]] for u in z[:-1]])
    assert np.allclose(bound.squared_distances(z[:-1], z[1:]), brute)


def test_fit_rbf_finds_the_best_theta():
    z = walk(120, 3)
    d2 = bound.squared_distances(z[:-1], z[1:])
    theta, best = bound.fit_rbf(d2)
    grid = np.geomspace(theta / 10, theta * 10, 2001)
    values = [bound.infonce(-d2 / (2 * t**2)) for t in grid]
    assert best >= max(values) - 1e-9
    assert theta == pytest.approx(grid[int(np.argmax(values))], rel=0.01)
    assert best == pytest.approx(bound.infonce(-d2 / (2 * theta**2)))
    # partners no closer than anyone else: no length-scale helps, θ = inf and I_N = 0
    assert bound.fit_rbf(np.ones((4, 4))) == (math.inf, 0.0)


# -- warps -------------------------------------------------------------------------------------------------------
_NEAR_CENTRE = np.array([[-1.25, 0, 0], [-48.5, 0, 0], *[[-23.6875, 0, 0]] * 3, [-18.4375, 0, 0], [-23.6875, 0, 0],
                         [15.5, 0, 0]]) + [0, -23.6875, -23.6875]  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.floats(0.2, 5.0), arrays(np.float64, (8, 3), elements=st.floats(-50, 50)))
@example(5.0, _NEAR_CENTRE)  # found by hypothesis: a point 4e-4 s from the centre, where |u|^5 is below w's rounding
def test_the_warp_is_invertible_and_monotone(p, z):
    w = bound.PowerWarp.fit(p, z)
    wz, s = w(z), np.asarray(w.scale)
    # w holds c + s·sign(u)|u|^p in float64: where |u|^p is below its rounding (delta, in units of s) the round trip
    # can only recover u to delta^(1/p) for p > 1; everywhere else it is exact to 1e-7 relative
    delta = 4 * np.finfo(np.float64).eps * np.abs(wz).max(axis=0) / s
    atol = 1e-7 * (1 + np.abs(z).max()) + s * delta ** (1 / max(p, 1.0))
    assert np.all(np.abs(w.inverse(wz) - z) <= atol)
    order = np.argsort(z, axis=0, kind="stable")
    wz = np.take_along_axis(wz, order, axis=0)
    assert np.all(np.diff(wz, axis=0) >= 0)  # the order of every coordinate is kept
    assert np.allclose(bound.PowerWarp.fit(1.0, z)(z), z)


def test_a_bad_power_is_refused():
    with pytest.raises(ValueError, match="positive"):
        bound.PowerWarp(0.0, (0.0,), (1.0,))
    with pytest.raises(ValueError, match="scale"):
        bound.PowerWarp(2.0, (0.0,), (0.0,))


def test_the_mi_and_the_inverse_warped_critic_do_not_move_but_the_rbf_fit_does():
    z = walk(300, 6)
    rbf = make_coupling("rbf", 6, theta=1.5)
    zt, zpt = z[:-1], z[1:]
    before_mi, before = bound.empirical_mi(zt, zpt), bound.infonce(bound.log_f(rbf, zt, zpt))
    _, fit_before = bound.fit_rbf(bound.squared_distances(zt, zpt))
    for p in (0.25, 0.5, 2.0, 4.0):
        warp = bound.PowerWarp.fit(p, z)
        wz = warp(z)
        w, wp = wz[:-1], wz[1:]
        assert bound.empirical_mi(w, wp) == pytest.approx(before_mi, abs=1e-12)
        critic = bound.inverse_warped(lambda a, b: bound.log_f(rbf, a, b), warp)
        assert bound.infonce(critic(w, wp)) == pytest.approx(before, abs=1e-7)
        _, fit_after = bound.fit_rbf(bound.squared_distances(w, wp))
        assert fit_after < fit_before - 0.05  # the Gaussian prior fits the warped walk worse
        assert abs(bound.infonce(bound.log_f(rbf, w, wp)) - before) > 0.05  # the trained critic, as it is, moves


# -- R(z′) -------------------------------------------------------------------------------------------------------
def test_log_marginal_is_a_normalised_average_of_gaussians():
    z_all = np.array([[0.0], [1.0], [5.0]])
    h = np.array([0.7])
    x = np.linspace(-10, 15, 5001)[:, None]
    dens = np.exp(bound.log_marginal(x, z_all, h))
    assert np.trapezoid(dens, x[:, 0]) == pytest.approx(1.0, abs=1e-6)
    by_hand = np.mean([np.exp(-0.5 * ((2.0 - c) / 0.7) ** 2) / (0.7 * math.sqrt(2 * math.pi)) for c in (0, 1, 5)])
    assert math.exp(bound.log_marginal(np.array([[2.0]]), z_all, h)[0]) == pytest.approx(by_hand)
    assert np.allclose(bound.bandwidth(walk(100, 2)), walk(100, 2).std(0) * 100 ** (-1 / 6))


def test_prior_probabilities_weight_f_by_r():
    logits, log_r = np.log([1.0, 2.0, 3.0]), np.log([3.0, 1.0, 1.0])
    assert np.allclose(bound.prior_probabilities(logits), [1 / 6, 2 / 6, 3 / 6])
    assert np.allclose(bound.prior_probabilities(logits, log_r), np.array([3.0, 2.0, 3.0]) / 8)


def test_candidate_latents_give_the_conditional_prior_of_evaluate():
    cfg = VideoConfig(frames=16, size=32, diameter=6.0)
    video = generate_video(cfg)
    torch.manual_seed(0)
    enc, rbf = Encoder(cfg.balls).eval(), make_coupling("rbf", 2 * cfg.balls, theta=0.05)
    xs, ys, ok, z, zp = bound.candidate_latents(enc, video, 5, 1, 4)
    p = bound.prior_probabilities(bound.log_f(rbf, z, zp)[0])
    hm = conditional_prior(enc, rbf, video, 5, 1, 4)
    assert len(zp) == hm.n and np.array_equal(ok, ~np.isnan(hm.prob))
    assert np.allclose(p, hm.prob[ok], atol=1e-5)
