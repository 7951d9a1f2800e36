"""Two-dimensional lattice phi^4 theory: the action, classical Monte Carlo and a normalizing flow (18).

The lattice is an ``L x L`` periodic grid; a configuration is an array ``phi`` of shape
``(..., L, L)`` (any leading batch dimensions), in lattice units (the lattice spacing is 1).
The action is the one of Albergo, Kanwar and Shanahan (arXiv:1904.12072) and of the tutorial
arXiv:2101.08176:

    S[phi] = sum_x [ sum_mu phi_x (2 phi_x - phi_{x+mu} - phi_{x-mu}) + m2 phi_x^2 + lam phi_x^4 ]

Contents:

- the action and its force: :func:`action`, :func:`force`;
- classical samplers, vectorised over independent chains: :func:`local_metropolis` (checkerboard
  sweeps) and :func:`hmc` (hybrid Monte Carlo with the :func:`leapfrog` integrator);
- the flow: :func:`checkerboard` masks, :class:`AffineCoupling` layers with their log-determinants,
  the stack :class:`LatticeFlow`, training by reverse KL (:func:`train_reverse_kl`), the effective
  sample size (:func:`effective_sample_size`) and the independence Metropolis-Hastings step
  (:func:`independence_metropolis`) that makes its samples exact;
- measurements: :func:`magnetization`, :func:`two_point`, :func:`effective_mass`, the integrated
  autocorrelation time with Sokal's window (:func:`tau_int`) and the error of a mean
  (:func:`mean_and_error`), the blocked jackknife for non-linear quantities (:func:`jackknife`).

The numpy samplers work in float64; the flow in torch (float32 unless converted).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

__all__ = ["action", "force", "local_metropolis", "leapfrog", "hmc", "checkerboard", "AffineCoupling",
           "LatticeFlow", "train_reverse_kl", "effective_sample_size", "independence_metropolis",
           "magnetization", "two_point", "effective_mass", "autocorrelation", "tau_int", "mean_and_error",
           "jackknife", "hamiltonian"]


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _check_lattice(phi, name="phi"):
    if phi.ndim < 2 or phi.shape[-1] != phi.shape[-2]:
        raise ValueError(f"{name} must have shape (..., L, L) (square periodic lattice); got {tuple(phi.shape)}")


def _neighbour_sum(phi):
    """sum over the 4 nearest neighbours of every site (periodic), same shape as phi."""
    if _is_torch(phi):
        return (torch.roll(phi, 1, -1) + torch.roll(phi, -1, -1) + torch.roll(phi, 1, -2)
                + torch.roll(phi, -1, -2))
    return np.roll(phi, 1, -1) + np.roll(phi, -1, -1) + np.roll(phi, 1, -2) + np.roll(phi, -1, -2)


def action(phi, m2: float, lam: float):
    """The phi^4 action S[phi] of each configuration.

    phi: array or torch tensor of shape (..., L, L), periodic boundaries. Returns shape (...,).
    In two dimensions sum_mu phi_x (2 phi_x - phi_{x+mu} - phi_{x-mu}) summed over x equals
    sum_x (4 phi_x^2 - phi_x * [sum of its 4 neighbours]), which is what is computed.
    """
    _check_lattice(phi)
    local = (4.0 + m2) * phi ** 2 + lam * phi ** 4 - phi * _neighbour_sum(phi)
    return local.sum(axis=(-2, -1)) if not _is_torch(phi) else local.sum(dim=(-2, -1))


def force(phi, m2: float, lam: float):
    """dS/dphi_x for every site, shape (..., L, L) like phi (numpy or torch)."""
    _check_lattice(phi)
    return 2.0 * (4.0 + m2) * phi + 4.0 * lam * phi ** 3 - 2.0 * _neighbour_sum(phi)


def magnetization(phi):
    """M = sum_x phi_x per configuration: shape (...,) for phi of shape (..., L, L)."""
    _check_lattice(phi)
    return phi.sum(axis=(-2, -1)) if not _is_torch(phi) else phi.sum(dim=(-2, -1))


def checkerboard(L: int, parity: int = 0) -> np.ndarray:
    """The checkerboard mask of an L x L lattice: 1.0 where (x + y) % 2 == parity, else 0.0 (float array).

    The two parities are complementary; every neighbour of a site of one colour has the other colour,
    which is what lets both the local Metropolis sweep and a coupling layer update half the lattice at once
    (L must be even for this to hold across the periodic boundary).
    """
    if not isinstance(L, (int, np.integer)) or L < 2 or L % 2:
        raise ValueError(f"L must be an even integer >= 2 (periodic checkerboard); got {L!r}")
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1; got {parity!r}")
    x, y = np.indices((L, L))
    return ((x + y) % 2 == parity).astype(float)


# ---------------------------------------------------------------------------------------------
# classical samplers (numpy, float64, vectorised over independent chains)
# ---------------------------------------------------------------------------------------------

def local_metropolis(phi, m2: float, lam: float, n_sweeps: int, step: float = 1.0, rng=None):
    """Local Metropolis updates in checkerboard order, on many independent chains at once.

    phi: initial configurations, shape (chains, L, L). One sweep proposes phi_x -> phi_x + step * U(-1, 1)
    at every site, first on the sites of one colour (independent of each other given the other colour),
    then on the other. Returns a dict: ``configs`` (n_sweeps, chains, L, L) after each sweep,
    ``acceptance`` (fraction of accepted site updates) and ``seconds`` (CPU time).
    """
    phi = np.array(phi, dtype=float, copy=True)
    _check_lattice(phi)
    if phi.ndim != 3:
        raise ValueError(f"phi must have shape (chains, L, L); got {phi.shape}")
    if n_sweeps < 1 or step <= 0:
        raise ValueError(f"n_sweeps must be >= 1 and step > 0; got {n_sweeps}, {step}")
    rng = np.random.default_rng(rng)
    masks = [checkerboard(phi.shape[-1], p).astype(bool) for p in (0, 1)]
    configs = np.empty((n_sweeps, *phi.shape))
    accepted = 0
    start = time.process_time()
    for sweep in range(n_sweeps):
        for mask in masks:
            old = phi[:, mask]
            neighbours = _neighbour_sum(phi)[:, mask]
            new = old + step * rng.uniform(-1.0, 1.0, size=old.shape)
            delta_s = ((4.0 + m2) * (new ** 2 - old ** 2) + lam * (new ** 4 - old ** 4)
                       - 2.0 * (new - old) * neighbours)
            accept = np.log(rng.uniform(size=old.shape)) < -delta_s
            phi[:, mask] = np.where(accept, new, old)
            accepted += accept.sum()
        configs[sweep] = phi
    seconds = time.process_time() - start
    return {"configs": configs, "acceptance": accepted / (n_sweeps * phi.size), "seconds": seconds}


def leapfrog(phi, pi, m2: float, lam: float, eps: float, n_steps: int):
    """Leapfrog (kick-drift-kick) integration of Hamilton's equations for H = pi^2 / 2 + S[phi].

    phi, pi: shape (..., L, L); eps: step size; n_steps: number of steps (trajectory length eps * n_steps).
    Returns the new (phi, pi); the map is reversible and area-preserving, and H is conserved up to O(eps^2).
    """
    if n_steps < 1 or eps <= 0:
        raise ValueError(f"n_steps must be >= 1 and eps > 0; got {n_steps}, {eps}")
    pi = pi - 0.5 * eps * force(phi, m2, lam)
    for k in range(n_steps):
        phi = phi + eps * pi
        if k < n_steps - 1:
            pi = pi - eps * force(phi, m2, lam)
    pi = pi - 0.5 * eps * force(phi, m2, lam)
    return phi, pi


def hamiltonian(phi, pi, m2: float, lam: float):
    """H = sum_x pi_x^2 / 2 + S[phi], shape (...,)."""
    return 0.5 * (pi ** 2).sum(axis=(-2, -1)) + action(phi, m2, lam)


def hmc(phi, m2: float, lam: float, n_traj: int, eps: float = 0.1, n_steps: int = 10, rng=None):
    """Hybrid Monte Carlo on many independent chains at once.

    phi: initial configurations, shape (chains, L, L). Each trajectory draws Gaussian momenta, integrates
    with :func:`leapfrog` (n_steps steps of size eps) and accepts with probability min(1, exp(-dH)).
    Returns a dict: ``configs`` (n_traj, chains, L, L), ``acceptance`` (fraction of accepted trajectories),
    ``delta_h`` (n_traj, chains), ``seconds`` (CPU time).
    """
    phi = np.array(phi, dtype=float, copy=True)
    _check_lattice(phi)
    if phi.ndim != 3:
        raise ValueError(f"phi must have shape (chains, L, L); got {phi.shape}")
    if n_traj < 1:
        raise ValueError(f"n_traj must be >= 1; got {n_traj}")
    rng = np.random.default_rng(rng)
    configs = np.empty((n_traj, *phi.shape))
    delta_h = np.empty((n_traj, phi.shape[0]))
    accepted = 0
    start = time.process_time()
    for k in range(n_traj):
        pi = rng.standard_normal(phi.shape)
        h_old = hamiltonian(phi, pi, m2, lam)
        phi_new, pi_new = leapfrog(phi, pi, m2, lam, eps, n_steps)
        delta_h[k] = hamiltonian(phi_new, pi_new, m2, lam) - h_old
        accept = np.log(rng.uniform(size=phi.shape[0])) < -delta_h[k]
        phi[accept] = phi_new[accept]
        accepted += accept.sum()
        configs[k] = phi
    seconds = time.process_time() - start
    return {"configs": configs, "acceptance": accepted / (n_traj * phi.shape[0]), "delta_h": delta_h,
            "seconds": seconds}


# ---------------------------------------------------------------------------------------------
# the flow (torch)
# ---------------------------------------------------------------------------------------------

def _conv_net(hidden: int, kernel: int, layers: int = 2):
    channels = [1] + [hidden] * layers + [2]
    modules = []
    for k, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
        modules.append(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, padding_mode="circular"))
        modules.append(nn.LeakyReLU() if k < len(channels) - 2 else nn.Tanh())
    return nn.Sequential(*modules)


class AffineCoupling(nn.Module):
    """One affine coupling layer on a lattice, in the sampling direction z -> phi.

    The sites where ``mask == 1`` are frozen (copied); the others are scaled and shifted by
    s, t computed by a small periodic convolutional network from the frozen sites only:

        phi = mask * z + (1 - mask) * (z * exp(s(mask * z)) + t(mask * z)),

    so the Jacobian is triangular and log|det dphi/dz| = sum over active sites of s.
    Input z: shape (batch, L, L). ``forward`` returns (phi, log_det) with log_det of shape (batch,);
    ``inverse`` returns (z, log|det dz/dphi|) = (z, -log_det).
    """

    def __init__(self, mask, hidden: int = 8, kernel: int = 3, zero_init: bool = False):
        super().__init__()
        mask = torch.as_tensor(np.asarray(mask), dtype=torch.get_default_dtype())
        if mask.ndim != 2 or not torch.all((mask == 0) | (mask == 1)):
            raise ValueError("mask must be an (L, L) array of zeros and ones, e.g. checkerboard(L, 0)")
        if hidden < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"hidden must be >= 1 and kernel a positive odd number; got {hidden}, {kernel}")
        self.register_buffer("mask", mask)
        self.net = _conv_net(hidden, kernel)
        if zero_init:  # start as the identity map
            last = self.net[-2]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def scale_and_shift(self, frozen):
        out = self.net(frozen.unsqueeze(1))
        return out[:, 0], out[:, 1]

    def forward(self, z):
        frozen = self.mask * z
        s, t = self.scale_and_shift(frozen)
        active = 1 - self.mask
        phi = frozen + active * (z * torch.exp(s) + t)
        return phi, (active * s).sum(dim=(-2, -1))

    def inverse(self, phi):
        frozen = self.mask * phi
        s, t = self.scale_and_shift(frozen)
        active = 1 - self.mask
        z = frozen + active * (phi - t) * torch.exp(-s)
        return z, -(active * s).sum(dim=(-2, -1))


class LatticeFlow(nn.Module):
    """A stack of affine couplings with alternating checkerboard masks on a standard normal prior.

    ``sample(n)`` returns (phi, log_q): phi of shape (n, L, L), log_q (n,) the exact log-density of the
    flow at each sample (prior log-density minus the summed log-determinants).
    ``log_prob(phi)`` evaluates log q of given configurations through the inverse layers.
    """

    def __init__(self, L: int, n_couplings: int = 16, hidden: int = 8, kernel: int = 3,
                 zero_init: bool = False):
        super().__init__()
        if n_couplings < 1:
            raise ValueError(f"n_couplings must be >= 1; got {n_couplings}")
        self.L = L
        self.layers = nn.ModuleList(AffineCoupling(checkerboard(L, k % 2), hidden, kernel, zero_init)
                                    for k in range(n_couplings))

    def prior_log_prob(self, z):
        return (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(dim=(-2, -1))

    def forward(self, z):
        log_q = self.prior_log_prob(z)
        phi = z
        for layer in self.layers:
            phi, log_det = layer(phi)
            log_q = log_q - log_det
        return phi, log_q

    def sample(self, n: int, generator=None):
        p = next(self.parameters())
        z = torch.randn(n, self.L, self.L, generator=generator, dtype=p.dtype, device=p.device)
        return self.forward(z)

    def log_prob(self, phi):
        z, log_det = phi, torch.zeros(phi.shape[0], dtype=phi.dtype, device=phi.device)
        for layer in reversed(self.layers):
            z, ld = layer.inverse(z)
            log_det = log_det + ld
        return self.prior_log_prob(z) + log_det


def effective_sample_size(log_w) -> float:
    """Normalised effective sample size (sum w)^2 / (N sum w^2) of importance weights, in (0, 1].

    log_w: shape (N,), log w = -S - log q up to a constant (numpy or torch). 1 means a perfect flow.
    """
    log_w = np.asarray(log_w.detach().cpu() if _is_torch(log_w) else log_w, dtype=float)
    if log_w.ndim != 1 or len(log_w) == 0:
        raise ValueError(f"log_w must be a non-empty 1D array; got shape {log_w.shape}")
    w = np.exp(log_w - log_w.max())
    return float(w.sum() ** 2 / (len(w) * (w ** 2).sum()))


def train_reverse_kl(flow, m2: float, lam: float, n_steps: int, batch_size=64, lr: float = 1e-3,
                     lr_min: float = 0.0, seed: int = 0, log_every: int = 50):
    """Train ``flow`` by minimising the reverse KL divergence KL(q || e^{-S}/Z) + const = E_q[log q + S].

    No data: each step samples ``batch_size`` configurations from the flow itself. Adam, learning rate
    decaying from ``lr`` to ``lr_min`` along a cosine. ``batch_size`` may be an int or a function of the step
    (e.g. larger late in training). Returns a dict: ``step``, ``loss`` (mean log q + S, in nats; its minimum
    is -log Z), ``ess`` (of each logged batch), ``seconds`` (CPU time).
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1; got {n_steps}")
    size = batch_size if callable(batch_size) else (lambda step: batch_size)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, n_steps, eta_min=lr_min)
    history = {"step": [], "loss": [], "ess": []}
    start = time.process_time()
    for step in range(n_steps):
        phi, log_q = flow.sample(int(size(step)), generator=generator)
        log_w = -action(phi, m2, lam) - log_q
        loss = -log_w.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % log_every == 0 or step == n_steps - 1:
            history["step"].append(step)
            history["loss"].append(loss.item())
            history["ess"].append(effective_sample_size(log_w.detach()))
    history["seconds"] = time.process_time() - start
    return {k: (np.array(v) if isinstance(v, list) else v) for k, v in history.items()}


def independence_metropolis(log_w, rng=None):
    """An independence Metropolis-Hastings chain through proposals with log-weights log w = -S - log q.

    log_w: shape (N,), the proposals in the order drawn. At each step the chain moves to the next
    proposal with probability min(1, w_new / w_current), else repeats the current configuration:
    the chain's stationary distribution is exactly e^{-S}/Z, however imperfect q is.
    Returns (index, acceptance): ``index`` (N,) the proposal the chain sits on at each step (the first
    proposal starts the chain), ``acceptance`` the fraction of accepted moves.
    """
    log_w = np.asarray(log_w, dtype=float)
    if log_w.ndim != 1 or len(log_w) < 2:
        raise ValueError(f"log_w must be a 1D array of at least 2 proposals; got shape {log_w.shape}")
    rng = np.random.default_rng(rng)
    log_u = np.log(rng.uniform(size=len(log_w)))
    index = np.empty(len(log_w), dtype=int)
    current, accepted = 0, 0
    index[0] = 0
    for k in range(1, len(log_w)):
        if log_u[k] < log_w[k] - log_w[current]:
            current = k
            accepted += 1
        index[k] = current
    return index, accepted / (len(log_w) - 1)


# ---------------------------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------------------------

def two_point(configs) -> np.ndarray:
    """The connected two-point function G_c(x) = (1/V) sum_y <phi_y phi_{y+x}> - <phi>^2, shape (L, L).

    configs: shape (N, L, L) (flatten chains first). Computed with FFTs; <phi> is the sample mean over
    configurations and sites. sum_x G_c(x) is the two-point susceptibility chi_2.
    """
    configs = np.asarray(configs, dtype=float)
    _check_lattice(configs, "configs")
    configs = configs.reshape(-1, *configs.shape[-2:])
    volume = configs.shape[-1] * configs.shape[-2]
    f = np.fft.fft2(configs)
    g = np.fft.ifft2((np.abs(f) ** 2).mean(axis=0)).real / volume
    return g - configs.mean() ** 2


def effective_mass(g) -> np.ndarray:
    """The effective mass m_eff(t) = arccosh[(C(t-1) + C(t+1)) / (2 C(t))] for t = 1 .. L-2.

    g: the two-point function, shape (L, L); C(t) = sum_x G(x, t) is its zero-momentum projection along
    the first axis. On a periodic lattice C(t) ~ cosh(m (t - L/2)), for which this is exactly m.
    Returns shape (L - 2,); NaN where the argument is below 1 (noise).
    """
    g = np.asarray(g, dtype=float)
    c = g.sum(axis=1) if g.ndim == 2 else g
    ratio = (c[:-2] + c[2:]) / (2 * c[1:-1])
    with np.errstate(invalid="ignore"):
        return np.where(ratio >= 1, np.arccosh(np.maximum(ratio, 1)), np.nan)


def autocorrelation(x, max_lag: int | None = None) -> np.ndarray:
    """The normalised autocorrelation function rho(t), t = 0 .. max_lag, of a series.

    x: shape (N,) for one chain or (N, chains) for several independent chains of equal length (their
    autocovariances are averaged, about the common mean). rho(0) = 1.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 4:
        raise ValueError(f"x must have shape (N,) or (N, chains) with N >= 4; got {x.shape}")
    n = x.shape[0]
    max_lag = n // 2 if max_lag is None else min(int(max_lag), n - 1)
    d = x - x.mean()
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(d, size, axis=0)
    acov = np.fft.irfft(np.abs(f) ** 2, size, axis=0)[: max_lag + 1].mean(axis=1) / (n - np.arange(max_lag + 1))
    if acov[0] <= 0:
        raise ValueError("the series is constant: no autocorrelation to measure")
    return acov / acov[0]


def tau_int(x, c: float = 5.0):
    """Integrated autocorrelation time with Sokal's automatic window (Madras & Sokal 1988).

    tau_int(W) = 1/2 + sum_{t=1}^{W} rho(t); W is the smallest window with W >= c * tau_int(W).
    Convention: tau_int = 1/2 for independent samples, so the variance of a mean of N samples is
    2 tau_int var / N. x: shape (N,) or (N, chains). Returns (tau, error, W) with the Madras-Sokal error
    tau * sqrt(2 (2W + 1) / N_total).
    """
    rho = autocorrelation(x)
    n_total = np.asarray(x).size
    taus = 0.5 + np.cumsum(rho[1:])
    windows = np.arange(1, len(rho))
    ok = windows >= c * taus
    w = int(windows[np.argmax(ok)]) if ok.any() else int(windows[-1])
    tau = float(max(taus[w - 1], 0.5))
    return tau, tau * math.sqrt(2 * (2 * w + 1) / n_total), w


def mean_and_error(x, c: float = 5.0):
    """Mean of a Monte Carlo series and its autocorrelation-corrected standard error.

    x: shape (N,) or (N, chains). error = sqrt(2 tau_int var / N_total), tau_int from :func:`tau_int`.
    Returns (mean, error, tau).
    """
    x = np.asarray(x, dtype=float)
    tau, _, _ = tau_int(x, c)
    return float(x.mean()), float(math.sqrt(2 * tau * x.var() / x.size)), tau


def jackknife(statistic, data, n_blocks: int = 20):
    """Blocked jackknife: the value of ``statistic(data)`` and its standard error.

    data: array whose first axis is Monte Carlo time (shape (N, ...), e.g. (N, chains, L, L)). It is cut into
    ``n_blocks`` consecutive blocks; each block is left out in turn. Blocks much longer than the
    autocorrelation time make the error autocorrelation-safe; the statistic may be any (non-linear)
    function returning a number or an array (e.g. the effective mass). Returns (value, error).
    """
    data = np.asarray(data)
    if n_blocks < 2 or len(data) < n_blocks:
        raise ValueError(f"need 2 <= n_blocks <= len(data); got n_blocks={n_blocks}, len(data)={len(data)}")
    edges = np.linspace(0, len(data), n_blocks + 1).astype(int)
    full = np.asarray(statistic(data), dtype=float)
    leave_out = np.array([np.asarray(statistic(np.concatenate([data[:a], data[b:]])), dtype=float)
                          for a, b in zip(edges[:-1], edges[1:])])
    error = np.sqrt((n_blocks - 1) * np.mean((leave_out - leave_out.mean(axis=0)) ** 2, axis=0))
    return full, error
