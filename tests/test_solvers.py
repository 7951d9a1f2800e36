"""Tests of utils.solvers: autograd derivatives, the MLP factory, Adam+L-BFGS, RK4, the shooting method."""
import math

import numpy as np
import pytest
import torch

from utils import solvers


def quartic(kappa):
    """The one-parameter quartic kappa chi^2 - 2 chi^3 + chi^4 (false vacuum 0) and its true vacuum."""
    V = lambda x: kappa * x**2 - 2 * x**3 + x**4
    dV = lambda x: 2 * kappa * x - 6 * x**2 + 4 * x**3
    return V, dV, (3 + math.sqrt(9 - 8 * kappa)) / 4


def test_mlp_shapes_dtype_and_seed():
    net = solvers.mlp(2, 3, width=8, depth=2, seed=5)
    x = torch.rand(7, 2, dtype=torch.float64)
    assert net(x).shape == (7, 3)
    assert next(net.parameters()).dtype == torch.float64
    same = solvers.mlp(2, 3, width=8, depth=2, seed=5)
    assert torch.equal(net(x), same(x))
    assert not torch.equal(net(x), solvers.mlp(2, 3, width=8, depth=2, seed=6)(x))
    assert sum(isinstance(m, torch.nn.Linear) for m in net) == 3
    with pytest.raises(ValueError, match="activation"):
        solvers.mlp(activation="relu")
    with pytest.raises(ValueError, match=">= 1"):
        solvers.mlp(depth=0)


def test_derivative_of_polynomial():
    x = torch.linspace(-1, 2, 11, dtype=torch.float64).reshape(-1, 1).requires_grad_(True)
    y = x**3
    torch.testing.assert_close(solvers.derivative(y, x), 3 * x.detach() ** 2)
    torch.testing.assert_close(solvers.derivative(y, x, order=2), 6 * x.detach())
    # stays in the graph: d/dx of the derivative can be taken again
    d1 = solvers.derivative(y, x)
    torch.testing.assert_close(solvers.derivative(d1, x), 6 * x.detach())
    with pytest.raises(ValueError, match="requires_grad"):
        solvers.derivative(y, x.detach())


def test_partial_derivatives_and_laplacian():
    xy = torch.rand(20, 2, dtype=torch.float64).requires_grad_(True)
    x, y = xy[:, :1], xy[:, 1:]
    u = torch.sin(x) * torch.exp(2 * y)
    torch.testing.assert_close(solvers.derivative(u, xy, dim=0), (torch.cos(x) * torch.exp(2 * y)).detach())
    torch.testing.assert_close(solvers.derivative(u, xy, dim=1), 2 * u.detach())
    torch.testing.assert_close(solvers.laplacian(u, xy), 3 * u.detach())   # (-1 + 4) u
    with pytest.raises(ValueError, match="dim="):
        solvers.derivative(u, xy)


def test_derivative_of_network_matches_finite_difference():
    net = solvers.mlp(1, 1, width=8, depth=2, seed=0)
    x = torch.linspace(0, 1, 5, dtype=torch.float64).reshape(-1, 1).requires_grad_(True)
    d = solvers.derivative(net(x), x).detach()
    h = 1e-6
    with torch.no_grad():
        fd = (net(x + h) - net(x - h)) / (2 * h)
    torch.testing.assert_close(d, fd, atol=1e-8, rtol=1e-6)


def test_train_lbfgs_solves_least_squares():
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1).double()
    x = torch.linspace(0, 1, 50, dtype=torch.float64).reshape(-1, 1)
    target = 3 * x - 1
    history = solvers.train_lbfgs(lambda: ((model(x) - target) ** 2).mean(), model.parameters(),
                                  adam_steps=10, lbfgs_steps=50)
    assert history["loss"][-1] < 1e-16
    assert history["phase"][0] == "adam" and history["phase"][-1] == "lbfgs"
    assert history["phase"].count("adam") == 10 and history["seconds"] > 0
    assert abs(model.weight.item() - 3) < 1e-7 and abs(model.bias.item() + 1) < 1e-7
    with pytest.raises(ValueError, match="trainable"):
        solvers.train_lbfgs(lambda: torch.tensor(0.0), [])


def test_rk4_is_fourth_order():
    z0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)   # harmonic oscillator, z = (x, v)
    f = lambda z: torch.stack([z[..., 1], -z[..., 0]], dim=-1)
    t = torch.linspace(0, 2 * math.pi, 41, dtype=torch.float64)
    z = solvers.rk4(f, z0, t)
    assert z.shape == (41, 1, 2)
    torch.testing.assert_close(z[:, 0, 0], torch.cos(t), atol=1e-4, rtol=0)
    errors = []                                            # exponential decay: global error ~ h^4
    for n in (10, 20):
        t = torch.linspace(0, 1, n + 1, dtype=torch.float64)
        errors.append(abs(solvers.rk4(lambda z: -z, torch.ones(1, dtype=torch.float64), t)[-1].item() - math.exp(-1)))
    assert 12 < errors[0] / errors[1] < 20                 # halving the step divides the error by 2^4 = 16
    with pytest.raises(ValueError, match="increasing"):
        solvers.rk4(f, z0, torch.tensor([0.0, 0.0]))


def test_bounce_trial_undershoot_and_overshoot():
    V, dV, phi_true = quartic(0.5)
    outcome, sol, _ = solvers.bounce_trial(dV, 0.3, 0.0)           # released below the barrier's edge
    assert outcome == "undershoot"
    outcome, sol, _ = solvers.bounce_trial(dV, phi_true - 1e-6, 0.0)  # waits near the true vacuum
    assert outcome == "overshoot"
    assert sol.y[0, -1] == pytest.approx(0.0, abs=1e-9)


def test_bounce_action_of_gaussian_profile():
    r = np.linspace(0, 8, 4001)
    phi, dphi = np.exp(-r**2), -2 * r * np.exp(-r**2)
    # with V = 0: 4 pi * int r^2 (2 r^2 e^{-2 r^2}) dr = 8 pi * (3/8) sqrt(pi / 32)
    expected = 8 * math.pi * 3 / 8 * math.sqrt(math.pi / 32)
    assert solvers.bounce_action(r, phi, dphi, lambda p: 0 * p, 0.0) == pytest.approx(expected, rel=1e-8)
    # in d = 4 the sphere's area is 2 pi^2
    expected4 = 2 * math.pi**2 * 2 * 1 / 2 * math.gamma(3) / 2 ** 3   # int r^3 2 r^2 e^{-2r^2} dr = Gamma(3)/2^3
    assert solvers.bounce_action(r, phi, dphi, lambda p: 0 * p, 0.0, d=4) == pytest.approx(expected4, rel=1e-8)
    with pytest.raises(ValueError, match="increasing"):
        solvers.bounce_action(r[::-1], phi, dphi, lambda p: 0 * p, 0.0)


@pytest.mark.parametrize("kappa", [0.3, 0.6, 0.9])
def test_shoot_bounce_matches_literature_fit(kappa):
    # Dine, Leigh, Huet, Linde & Linde (hep-ph/9203203) fit S3/T = 4.85 M^3/(E^2 T^3) f(alpha), with
    # f = 1 + alpha/4 [1 + 2.4/(1-alpha) + 0.26/(1-alpha)^2], "accurate to a few percent"; alpha = kappa.
    # In our units S = (2 kappa)^(3/2) / 4 * 4.85 f.
    V, dV, phi_true = quartic(kappa)
    res = solvers.shoot_bounce(V, dV, phi_true, 0.0)
    f = 1 + kappa / 4 * (1 + 2.4 / (1 - kappa) + 0.26 / (1 - kappa) ** 2)
    assert res["action"] == pytest.approx((2 * kappa) ** 1.5 / 4 * 4.85 * f, rel=0.02)
    # Derrick's (virial) identity for the true bounce in d = 3: S = (4 pi / 3) int r^2 phi'^2 dr
    kinetic = 4 * math.pi / 3 * np.trapezoid(res["r"] ** 2 * res["dphi"] ** 2, res["r"])
    assert kinetic == pytest.approx(res["action"], rel=1e-5)
    # the profile: starts near the true vacuum at rest, ends in the false vacuum
    assert 0 < res["phi0"] <= phi_true and res["dphi"][0] == 0
    assert res["profile"](np.array([1e3]))[0] == 0.0 and abs(res["phi"][-1]) < 1e-3


def test_shoot_bounce_thin_wall_limit():
    V, dV, phi_true = quartic(0.99)
    res = solvers.shoot_bounce(V, dV, phi_true, 0.0)
    eps = V(0.0) - V(phi_true)
    sigma = math.sqrt(2) / 6                   # wall tension of chi^2 (1 - chi)^2
    thin_wall = 16 * math.pi * sigma**3 / (3 * eps**2)
    assert abs(thin_wall / res["action"] - 1) < 0.1   # 8% at 1 - kappa = 0.01, shrinking linearly
    radius = np.interp(phi_true / 2, res["phi"][::-1], res["r"][::-1])
    assert radius == pytest.approx(2 * sigma / eps, rel=0.05)


def test_shoot_bounce_rejects_bad_vacua():
    V, dV, phi_true = quartic(0.5)
    with pytest.raises(ValueError, match="below"):
        solvers.shoot_bounce(V, dV, 0.0, phi_true)


def test_shoot_bounce_thick_wall_limit():
    # For V = M^2/2 phi^2 - E T phi^3 (no quartic), S3 = 4.85 M^3 / (E T)^2 (Dine et al., hep-ph/9203203).
    # Our quartic with kappa -> 0 approaches it: S = (2 kappa)^(3/2) / 4 * 4.85.
    kappa = 1e-3
    V, dV, phi_true = quartic(kappa)
    res = solvers.shoot_bounce(V, dV, phi_true, 0.0, r_max=1e4)
    assert res["action"] / ((2 * kappa) ** 1.5 / 4) == pytest.approx(4.85, rel=0.01)


@pytest.mark.slow
def test_thin_wall_error_peaks_at_intermediate_asymmetry():
    # Notebook 13, section 5: the thin-wall action 16 pi sigma^3 / (3 eps^2) is below the bounce's from thin
    # to thick walls; its error grows from a few per cent (delta = 1 - kappa -> 0) to most of the action at
    # intermediate asymmetry, and shrinks again towards delta = 0.9 only because the two curves cross
    # before delta = 1 (the bounce's action vanishes with the barrier, the thin-wall formula does not).
    sigma = math.sqrt(2) / 6
    ratio = {}
    for kappa in (0.99, 0.4, 0.1, 0.02):   # delta = 0.01, 0.6, 0.9, 0.98
        V, dV, phi_true = quartic(kappa)
        res = solvers.shoot_bounce(V, dV, phi_true, 0.0, r_max=1e4)
        eps = V(0.0) - V(phi_true)
        ratio[round(1 - kappa, 2)] = 16 * math.pi * sigma**3 / (3 * eps**2) / res["action"]
    assert 0.9 < ratio[0.01] < 1            # thin walls: a few per cent too small
    assert ratio[0.6] < 0.3                 # intermediate asymmetry: most of the action is missing
    assert ratio[0.6] < ratio[0.9] < 1      # closer again at delta = 0.9, and still too small ...
    assert ratio[0.98] > 1                  # ... because beyond the crossing it is too large
