"""The encoder's read-out, every coupling and the objective against independent formulas."""

import math

import numpy as np
import pytest
import torch

import rpm_engine
from rpm_engine import (
    Coupling,
    ExpressionError,
    centre_of_mass,
    infonce_bound,
    infonce_loss,
    make_coupling,
    register_coupling,
)

torch.manual_seed(0)
B, D = 5, 6


@pytest.fixture
def zz():
    g = torch.Generator().manual_seed(1)
    return torch.rand(B, D, generator=g, dtype=torch.float64) * 64, torch.rand(
        B, D, generator=g, dtype=torch.float64
    ) * 64


def test_centre_of_mass_single_pixel_and_uniform():
    m = torch.zeros(1, 2, 8, 10)
    m[0, 0, 3, 7] = 1.0  # row 3, col 7 -> centre (7.5, 3.5)
    m[0, 1] = 1.0  # uniform -> frame centre (5, 4)
    z = centre_of_mass(m)
    assert torch.allclose(z, torch.tensor([[7.5, 3.5, 5.0, 4.0]]))


def test_centre_of_mass_matches_loops():
    m = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    z = centre_of_mass(m).numpy()
    for b in range(2):
        for k in range(3):
            w = m[b, k].numpy()
            x = sum(w[r, c] * (c + 0.5) for r in range(5) for c in range(7)) / w.sum()
            y = sum(w[r, c] * (r + 0.5) for r in range(5) for c in range(7)) / w.sum()
            assert np.isclose(z[b, 2 * k], x) and np.isclose(z[b, 2 * k + 1], y)


def test_encoder_reads_a_ball_frame_in_pixels():
    enc = rpm_engine.Encoder(3)
    x = torch.rand(4, 3, 32, 32)
    z = enc(x)
    assert z.shape == (4, 6)
    assert ((z > 0) & (z < 32)).all()


def test_linear_coupling_is_bilinear(zz):
    z, zp = zz
    c = make_coupling("linear", D, w_init=0.5).double()
    with torch.no_grad():
        c.W.copy_(torch.randn(D, D, dtype=torch.float64))
    got = c(z, zp)
    W = c.W.detach().numpy()
    want = np.array([[z[i].numpy() @ W @ zp[j].numpy() for j in range(B)] for i in range(B)])
    assert got.shape == (B, B) and np.allclose(got.detach().numpy(), want)


def test_rbf_coupling_is_gaussian(zz):
    z, zp = zz
    c = make_coupling("rbf", D, theta=3.0).double()
    got = c(z, zp).detach().numpy()
    want = np.array([[-np.sum((z[i].numpy() - zp[j].numpy()) ** 2) / (2 * 9.0) for j in range(B)] for i in range(B)])
    assert np.allclose(got, want)
    assert math.isclose(c.values()["theta"], 3.0, rel_tol=1e-6)


def test_rbf_keeps_subpixel_precision_far_from_origin():
    z = torch.full((2, D), 200.0)
    zp = z + torch.tensor([[0.01] * D, [0.0] * D])
    logits = make_coupling("rbf", D, theta=0.01)(z, zp)
    assert torch.isclose(logits[0, 0], torch.tensor(-0.5 * D), rtol=1e-2)  # |z|²-2zᵀz′+|z′|² would be ~100 % off


PRESET_FORMULAS = {
    "laplace": lambda a, b, p: -np.sum(np.abs(a - b)) / p["theta"],
    "cauchy": lambda a, b, p: -np.log(1 + np.sum((a - b) ** 2) / p["theta"] ** 2),
    "student-t": lambda a, b, p: -(p["nu"] + 1) / 2 * np.log(1 + np.sum((a - b) ** 2) / (p["nu"] * p["theta"] ** 2)),
    "cosine": lambda a, b, p: a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) / p["tau"],
}


@pytest.mark.parametrize("name", sorted(PRESET_FORMULAS))
def test_presets_match_their_formulas(name, zz):
    z, zp = zz
    init = {
        "laplace": {"theta": 2.0},
        "cauchy": {"theta": 5.0},
        "student-t": {"theta": 4.0, "nu": 3.0},
        "cosine": {"tau": 0.5},
    }[name]
    c = make_coupling(name, D, **init).double()
    got = c(z, zp).detach().numpy()
    want = np.array([[PRESET_FORMULAS[name](z[i].numpy(), zp[j].numpy(), init) for j in range(B)] for i in range(B)])
    assert got.shape == (B, B) and np.allclose(got, want)


def test_expression_coupling_learns_its_scalars(zz):
    z, zp = zz
    c = make_coupling("-sum((z - zp)**2) / (2 * sigma**2)", D, sigma=2.0).double()
    loss = infonce_loss(c(z, zp))
    loss.backward()
    grads = [p.grad for p in c.parameters()]
    assert len(grads) == 1 and grads[0] is not None and torch.isfinite(grads[0])
    rbf = make_coupling("rbf", D, theta=2.0).double()
    assert torch.allclose(c(z, zp), rbf(z, zp))


def test_unknown_names_and_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown coupling 'gausian'"):
        make_coupling("gausian", D)
    with pytest.raises(ValueError, match="no parameter 'tau'"):
        make_coupling("rbf", D, tau=1.0)
    with pytest.raises(ValueError, match="positive"):
        make_coupling("rbf", D, theta=-1.0)
    with pytest.raises(ExpressionError):
        make_coupling("-sum(z - ", D)
    assert issubclass(ExpressionError, ValueError)


def test_python_registered_coupling():
    @register_coupling("neg-l1-test")
    class NegL1(Coupling):
        def forward(self, z, zp):
            return -(z[:, None] - zp[None]).abs().sum(-1)

    c = make_coupling("neg-l1-test", 2)
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert torch.equal(c(z, z), torch.tensor([[0.0, -2.0], [-2.0, 0.0]]))
    with pytest.raises(TypeError):
        register_coupling("bad")(int)


def test_infonce_loss_is_mean_row_cross_entropy():
    logits = torch.randn(7, 7, dtype=torch.float64)
    lg = logits.numpy()
    want = np.mean([-(lg[i, i] - np.log(np.exp(lg[i]).sum())) for i in range(7)])
    assert np.isclose(infonce_loss(logits).item(), want)
    with pytest.raises(ValueError, match="square"):
        infonce_loss(torch.zeros(3, 4))


def test_infonce_elbo_identity():
    """-loss = mean_i log P(z'_i | z_i) with P(z'_j|z_i) = R(z'_j) f(z_i, z'_j) / Z(z_i), R uniform over the batch
    (eqs. 21, 23-25): the ELBO under the RPM prior, and I_N = log N - loss = mean log(N * P)."""
    n = 6
    logits = torch.randn(n, n, dtype=torch.float64)
    f = logits.exp().numpy()
    r = np.full(n, 1.0 / n)  # R(z') uniform over the batch's second frames
    prior = r[None] * f / (r[None] * f).sum(1, keepdims=True)  # P(z'_j | z_i)
    elbo = np.mean(np.log(np.diag(prior)))
    loss = infonce_loss(logits).item()
    assert np.isclose(-loss, elbo)
    assert np.isclose(infonce_bound(loss, n), np.mean(np.log(n * np.diag(prior))))
    # Perfectly separated logits reach the bound's ceiling log N.
    assert np.isclose(infonce_bound(infonce_loss(torch.eye(n) * 1e3).item(), n), math.log(n))


def test_z_scale_measures_z_in_other_units(zz):
    z, zp = zz
    s = 1 / 64
    lin = make_coupling("linear", D, w_init=0.3, z_scale=s).double()
    assert torch.allclose(lin(z, zp), make_coupling("linear", D, w_init=0.3).double()(s * z, s * zp))
    rbf = make_coupling("rbf", D, theta=2.0 * s, z_scale=s).double()
    assert torch.allclose(rbf(z, zp), make_coupling("rbf", D, theta=2.0).double()(z, zp))  # RBF: θ carries the units


@pytest.mark.parametrize("g", [0.01, 0.5, 3.0])
def test_readout_gain_of_a_scaled_rotated_readout(g):
    """z = g·R·positions + c (any rotation R, offset c): the gain is g whatever R, c and the noise-free fit."""
    from rpm_engine.evaluate import fit_decoder, readout_gain

    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 64, size=(80, 3, 2))  # (T, K, 2)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # a random rotation of the 6 coordinates
    z = g * pos.reshape(80, 6) @ q.T + rng.normal(size=6) * 10
    assert np.isclose(readout_gain(fit_decoder(z, pos)), g, rtol=1e-9)
    # anisotropic: the geometric mean of the per-axis gains
    scales = np.array([g, 2 * g, g, 2 * g, g, 2 * g])
    z2 = pos.reshape(80, 6) * scales
    assert np.isclose(readout_gain(fit_decoder(z2, pos)), g * 2**0.5, rtol=1e-9)


def test_readout_gain_of_a_collapsed_readout_is_nan():
    from rpm_engine.evaluate import fit_decoder, readout_gain

    pos = np.random.default_rng(1).uniform(0, 64, size=(40, 1, 2))
    z = np.stack([pos[:, 0, 0], np.zeros(40)], axis=1)  # y is lost
    assert np.isnan(readout_gain(fit_decoder(z, pos)))


def test_mean_predictor_l2():
    from rpm_engine import VideoConfig, generate_video
    from rpm_engine.evaluate import l2_errors, mean_predictor_l2

    video = generate_video(VideoConfig(frames=50, size=64, diameter=8))
    n = 40  # 0.8 of 50
    mean = video.centres[:n].mean(axis=0)
    want = np.mean([np.linalg.norm(video.centres[t, k] - mean[k]) for t in range(n, 50) for k in range(3)])
    assert np.isclose(mean_predictor_l2(video.centres, 0.8), want)
    # an encoder with constant output is read out as exactly this predictor
    assert np.isclose(l2_errors(np.ones((50, 6)) * 3.0, video.centres, 0.8)["mean"], want)
