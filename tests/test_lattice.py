"""Tests of utils.lattice: the phi^4 action, the samplers, the flow's couplings and the autocorrelation time."""
import itertools
import math

import numpy as np
import pytest
import torch

from utils import lattice as lt


def action_by_loops(phi, m2, lam):
    """The action written as in the papers, one site and one direction at a time."""
    L = phi.shape[0]
    s = 0.0
    for x, y in itertools.product(range(L), range(L)):
        kinetic = 0.0
        for dx, dy in ((1, 0), (0, 1)):
            forward = phi[(x + dx) % L, (y + dy) % L]
            backward = phi[(x - dx) % L, (y - dy) % L]
            kinetic += phi[x, y] * (2 * phi[x, y] - forward - backward)
        s += kinetic + m2 * phi[x, y] ** 2 + lam * phi[x, y] ** 4
    return s


def test_action_matches_a_direct_loop_numpy_and_torch():
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(3, 4, 4))
    expected = [action_by_loops(p, -4.0, 8.0) for p in phi]
    np.testing.assert_allclose(lt.action(phi, -4.0, 8.0), expected, rtol=1e-12)
    np.testing.assert_allclose(lt.action(torch.as_tensor(phi), -4.0, 8.0).numpy(), expected, rtol=1e-12)


def test_action_symmetries():
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(6, 6))
    s = lt.action(phi, -1.0, 2.0)
    assert lt.action(-phi, -1.0, 2.0) == pytest.approx(s)  # Z2
    assert lt.action(np.roll(phi, (2, 3), (0, 1)), -1.0, 2.0) == pytest.approx(s)  # translations
    assert lt.action(phi.T, -1.0, 2.0) == pytest.approx(s)  # reflection x <-> y


def test_force_is_the_gradient_of_the_action():
    phi = torch.randn(2, 4, 4, dtype=torch.float64, requires_grad=True)
    lt.action(phi, -4.0, 8.0).sum().backward()
    np.testing.assert_allclose(lt.force(phi.detach().numpy(), -4.0, 8.0), phi.grad.numpy(), rtol=1e-10)


def test_checkerboard_masks_are_complementary_and_neighbours_differ():
    m0, m1 = lt.checkerboard(6, 0), lt.checkerboard(6, 1)
    np.testing.assert_array_equal(m0 + m1, np.ones((6, 6)))
    assert m0.sum() == 18
    # every neighbour (periodic) of a site of one colour has the other colour
    for shift, axis in itertools.product((1, -1), (0, 1)):
        np.testing.assert_array_equal(np.roll(m0, shift, axis), m1)
    with pytest.raises(ValueError, match="even"):
        lt.checkerboard(5)


def _coupling(mask, seed=0):
    torch.manual_seed(seed)
    layer = lt.AffineCoupling(mask, hidden=4).double()
    with torch.no_grad():  # random, not small, weights: the log-det check must see real scales and shifts
        for p in layer.parameters():
            p.normal_(0.0, 0.5)
    return layer


def test_coupling_log_det_matches_autograd_jacobian():
    layer = _coupling(lt.checkerboard(4, 0))
    for seed in range(3):
        z = torch.randn(1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        jac = torch.autograd.functional.jacobian(lambda v: layer(v.reshape(1, 4, 4))[0].reshape(16), z.reshape(16))
        _, log_det = layer(z)
        assert log_det.item() == pytest.approx(torch.linalg.slogdet(jac)[1].item(), abs=1e-10)
        # frozen sites are copied: their rows of the Jacobian are rows of the identity
        frozen = lt.checkerboard(4, 0).reshape(16).astype(bool)
        np.testing.assert_allclose(jac[frozen].numpy(), np.eye(16)[frozen], atol=1e-12)


def test_coupling_inverse_and_flow_log_prob():
    layer = _coupling(lt.checkerboard(4, 1), seed=1)
    z = torch.randn(5, 4, 4, dtype=torch.float64)
    phi, log_det = layer(z)
    back, log_det_inverse = layer.inverse(phi)
    np.testing.assert_allclose(back.detach().numpy(), z.numpy(), atol=1e-12)
    np.testing.assert_allclose(log_det_inverse.detach().numpy(), -log_det.detach().numpy(), atol=1e-12)
    torch.manual_seed(2)
    flow = lt.LatticeFlow(4, n_couplings=4, hidden=4).double()
    with torch.no_grad():
        phi, log_q = flow.sample(6)
        np.testing.assert_allclose(flow.log_prob(phi).numpy(), log_q.numpy(), atol=1e-9)


def test_flow_log_density_matches_the_jacobian_of_the_whole_stack():
    # the whole flow's log-det (sum over layers) against autograd, on a 2x2 lattice
    torch.manual_seed(3)
    flow = lt.LatticeFlow(2, n_couplings=4, hidden=3).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.normal_(0.0, 0.5)
    z = torch.randn(1, 2, 2, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: flow(v.reshape(1, 2, 2))[0].reshape(4), z.reshape(4))
    _, log_q = flow(z)
    expected = flow.prior_log_prob(z) - torch.linalg.slogdet(jac)[1]
    assert log_q.item() == pytest.approx(expected.item(), abs=1e-10)


def test_leapfrog_energy_error_scales_as_eps_squared():
    rng = np.random.default_rng(4)
    phi, pi = 0.3 * rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    errors = []
    for eps in (0.02, 0.01, 0.005):
        new_phi, new_pi = lt.leapfrog(phi, pi, -4.0, 8.0, eps, int(round(0.2 / eps)))  # fixed length 0.2
        errors.append(abs(lt.hamiltonian(new_phi, new_pi, -4.0, 8.0) - lt.hamiltonian(phi, pi, -4.0, 8.0)))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(ratios, 4.0, rtol=0.15)  # halving eps divides the error by 4
    # reversibility: flipping the momentum retraces the trajectory
    new_phi, new_pi = lt.leapfrog(phi, pi, -4.0, 8.0, 0.05, 10)
    back_phi, _ = lt.leapfrog(new_phi, -new_pi, -4.0, 8.0, 0.05, 10)
    np.testing.assert_allclose(back_phi, phi, atol=1e-10)


@pytest.mark.parametrize("sampler", ["local", "hmc"])
def test_samplers_reproduce_the_free_field(sampler):
    # lam = 0, m2 = 1: S = phi^T K phi with K = -Laplacian + m2, so <M^2>/V = 1 / (2 m2) exactly
    rng = np.random.default_rng(5)
    phi0 = rng.normal(size=(64, 4, 4))
    if sampler == "local":
        run = lt.local_metropolis(phi0, 1.0, 0.0, 600, 1.0, rng)
    else:
        run = lt.hmc(phi0, 1.0, 0.0, 400, 0.1, 10, rng)
    m2_over_v = lt.magnetization(run["configs"][100:]) ** 2 / 16
    mean, error, _ = lt.mean_and_error(m2_over_v)
    assert abs(mean - 0.5) < 4 * error and error < 0.02, (mean, error)
    assert 0.2 < run["acceptance"] < 1.0


def test_tau_int_of_an_ar1_series():
    rng = np.random.default_rng(6)
    rho, n, chains = 0.8, 20_000, 4
    x = np.empty((n, chains))
    x[0] = rng.normal(size=chains) / math.sqrt(1 - rho ** 2)
    noise = rng.normal(size=(n, chains))
    for t in range(1, n):
        x[t] = rho * x[t - 1] + noise[t]
    tau, error, window = lt.tau_int(x)
    expected = (1 + rho) / (2 * (1 - rho))  # 4.5
    assert abs(tau - expected) < 3 * error + 0.1, (tau, error, expected)
    assert window >= 5 * tau - 1
    white, _, _ = lt.tau_int(rng.normal(size=10_000))
    assert white == pytest.approx(0.5, abs=0.05)


def test_independence_metropolis_is_exact_for_a_known_target():
    # proposals from q = N(0, 1), target N(1, 0.5^2): the chain must reproduce the target
    rng = np.random.default_rng(7)
    x = rng.normal(size=50_000)
    log_w = -0.5 * ((x - 1) / 0.5) ** 2 + 0.5 * x ** 2
    index, acceptance = lt.independence_metropolis(log_w, rng)
    chain = x[index]
    mean, error, _ = lt.mean_and_error(chain)
    assert abs(mean - 1.0) < 4 * error
    assert chain.std() == pytest.approx(0.5, rel=0.05)
    assert 0.1 < acceptance < 0.9
    # a perfect proposal is always accepted, and its ESS is one
    assert lt.independence_metropolis(np.zeros(100), rng)[1] == 1.0
    assert lt.effective_sample_size(np.zeros(100)) == pytest.approx(1.0)


def test_two_point_function_and_effective_mass():
    # a field whose zero-momentum correlator is exactly cosh(m (t - L/2)) up to a constant
    L, m = 8, 0.7
    t = np.arange(L)
    c = np.cosh(m * (t - L / 2))
    np.testing.assert_allclose(lt.effective_mass(c), m, rtol=1e-12)
    configs = np.random.default_rng(8).normal(size=(500, L, L))
    g = lt.two_point(configs)
    assert g.shape == (L, L)
    assert g.sum() == pytest.approx(np.mean(lt.magnetization(configs) ** 2) / L ** 2
                                    - L ** 2 * configs.mean() ** 2, rel=1e-10)
    assert g[0, 0] == pytest.approx(1.0, abs=0.05) and abs(g[0, 1]) < 0.05


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="L, L"):
        lt.action(np.zeros((4, 5)), -4.0, 8.0)
    with pytest.raises(ValueError, match="chains"):
        lt.hmc(np.zeros((4, 4)), -4.0, 8.0, 10)
    with pytest.raises(ValueError, match="constant"):
        lt.tau_int(np.ones(100))


def test_jackknife_of_a_mean_matches_the_standard_error():
    x = np.random.default_rng(9).normal(size=(4000, 3))
    value, error = lt.jackknife(lambda d: d.mean(), x, n_blocks=40)
    assert value == pytest.approx(x.mean())
    assert error == pytest.approx(x.std() / math.sqrt(x.size), rel=0.3)
    with pytest.raises(ValueError, match="n_blocks"):
        lt.jackknife(np.mean, x[:5], n_blocks=10)
