"""Neural networks as equation solvers, and the classical solvers they are compared with.

Used by the notebooks on differential equations (``12_neural_ode_pde``) and on bubble
nucleation (``13_bubble_nucleation``):

- :func:`mlp`: a small fully connected network, float64 by default (the solvers aim at 1e-3 or better);
- :func:`derivative`, :func:`laplacian`: derivatives of a network's output with respect to its input,
  by automatic differentiation, kept in the graph so that a loss built from them can be trained;
- :func:`train_lbfgs`: a short Adam phase followed by L-BFGS, the usual recipe for these small problems;
- :func:`rk4`: a fixed-step Runge-Kutta integrator written in torch (differentiable, for neural ODEs);
- :func:`shoot_bounce`, :func:`bounce_action`: the overshoot/undershoot shooting method for the
  O(d)-symmetric bounce of false-vacuum decay, and the bounce's Euclidean action.

Plain functions; torch is imported inside them so that ``import utils`` stays quick.
"""
from __future__ import annotations

import math
import time

import numpy as np

__all__ = ["mlp", "derivative", "laplacian", "train_lbfgs", "rk4", "bounce_trial", "shoot_bounce",
           "bounce_action"]

_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "silu": "SiLU", "softplus": "Softplus", "gelu": "GELU"}


def mlp(n_in: int = 1, n_out: int = 1, width: int = 32, depth: int = 2, activation: str = "tanh",
        dtype=None, seed: int | None = None):
    """A fully connected network ``n_in -> width -> ... -> width -> n_out`` (``depth`` hidden layers).

    Parameters
    ----------
    n_in, n_out : numbers of inputs and outputs.
    width, depth : neurons per hidden layer, number of hidden layers (at least 1).
    activation : ``"tanh"`` (default), ``"sigmoid"``, ``"silu"``, ``"softplus"`` or ``"gelu"``. Smooth
        activations are needed: the loss contains derivatives of the output (ReLU's second derivative is zero).
    dtype : torch dtype of the weights; default ``torch.float64`` (float32 stalls near 1e-4 relative error).
    seed : if given, the weights are initialised from ``torch.manual_seed(seed)``, so the network does
        not depend on how many random numbers were drawn before.

    Returns
    -------
    ``torch.nn.Sequential`` mapping ``(n, n_in)`` to ``(n, n_out)``.
    """
    import torch
    from torch import nn

    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
    if depth < 1 or width < 1 or n_in < 1 or n_out < 1:
        raise ValueError(f"n_in, n_out, width and depth must be >= 1; got {n_in}, {n_out}, {width}, {depth}")
    dtype = torch.float64 if dtype is None else dtype
    act = getattr(nn, _ACTIVATIONS[activation])
    sizes = [n_in] + [width] * depth
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    layers.append(nn.Linear(sizes[-1], n_out))
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = nn.Sequential(*layers).to(dtype)
            for layer in net:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()
        return net
    return nn.Sequential(*layers).to(dtype)


def derivative(y, x, order: int = 1, dim: int | None = None):
    """Derivative ``d^order y / dx^order`` of a network output, by automatic differentiation.

    Parameters
    ----------
    y : tensor ``(n,)`` or ``(n, 1)``, computed from ``x`` (which needs ``requires_grad=True``);
        row ``i`` of ``y`` may depend only on row ``i`` of ``x`` (true for an MLP applied point by point).
    x : tensor ``(n,)``, ``(n, 1)`` or ``(n, d)``, the points.
    order : 1, 2, ... (repeated differentiation).
    dim : for ``x`` of shape ``(n, d)``, the coordinate to differentiate along (required if ``d > 1``).

    Returns
    -------
    tensor of ``y``'s shape. It stays in the autograd graph (``create_graph=True``), so a loss built
    from it can be differentiated again with respect to the network's weights.
    """
    import torch

    if not x.requires_grad:
        raise ValueError("x must have requires_grad=True before the network is evaluated on it")
    if order < 1:
        raise ValueError(f"order must be >= 1; got {order}")
    if x.ndim == 2 and x.shape[1] > 1 and dim is None:
        raise ValueError(f"x has {x.shape[1]} coordinates: say which one to differentiate along with dim=")
    out = y
    for _ in range(order):
        (g,) = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out), create_graph=True)
        if x.ndim == 2 and x.shape[1] > 1:
            g = g[:, dim]
        out = g.reshape(y.shape)
    return out


def laplacian(u, x):
    """Laplacian ``sum_k d^2 u / dx_k^2`` of a scalar field ``u(x)`` at points ``x``.

    Parameters
    ----------
    u : tensor ``(n,)`` or ``(n, 1)``, computed point by point from ``x``.
    x : tensor ``(n, d)`` with ``requires_grad=True``.

    Returns
    -------
    tensor of ``u``'s shape, kept in the autograd graph.
    """
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, d); got {tuple(x.shape)}")
    return sum(derivative(u, x, order=2, dim=k) for k in range(x.shape[1]))


def train_lbfgs(loss_fn, params, adam_steps: int = 200, adam_lr: float = 1e-2, lbfgs_steps: int = 500,
                lbfgs_lr: float = 1.0, history_size: int = 50, tolerance: float = 1e-16, chunk: int = 100,
                min_improvement: float = 1e-3, patience: int = 2) -> dict:
    """Minimise ``loss_fn()`` over ``params``: ``adam_steps`` of Adam, then up to ``lbfgs_steps`` of L-BFGS.

    Adam moves the random initial network into a sensible region; L-BFGS (a quasi-Newton method
    with a strong-Wolfe line search) then converges much faster than any first-order method on
    these small, smooth, full-batch problems. L-BFGS runs in chunks of ``chunk`` iterations (its
    memory carries over) and stops early once ``patience`` chunks in a row each lowered the loss by
    less than the fraction ``min_improvement``: it has then stalled, usually at the precision the
    network can reach, and further iterations only cost time.

    Parameters
    ----------
    loss_fn : callable with no arguments returning a scalar tensor (it rebuilds the graph each call).
    params : iterable of tensors (e.g. ``model.parameters()``).
    adam_steps, adam_lr : length and learning rate of the Adam phase (0 skips it).
    lbfgs_steps : maximum number of L-BFGS iterations (0 skips it); each may evaluate the loss several times.
    lbfgs_lr, history_size, tolerance : passed to ``torch.optim.LBFGS`` (``tolerance`` is its
        ``tolerance_grad`` and ``tolerance_change``).
    chunk, min_improvement, patience : the early stop of the L-BFGS phase (``min_improvement=0`` never
        stops early).

    Returns
    -------
    ``{"loss": [...], "phase": [...], "seconds": float}``: the loss after every Adam step and every
    L-BFGS evaluation, the phase (``"adam"`` or ``"lbfgs"``) of each entry, and the wall time.
    """
    import torch

    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters: pass model.parameters()")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    history = {"loss": [], "phase": []}
    start = time.perf_counter()
    if adam_steps > 0:
        opt = torch.optim.Adam(params, lr=adam_lr)
        for _ in range(adam_steps):
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            opt.step()
            history["loss"].append(loss.item())
            history["phase"].append("adam")
    if lbfgs_steps > 0:
        opt = torch.optim.LBFGS(params, lr=lbfgs_lr, max_iter=min(chunk, lbfgs_steps), history_size=history_size,
                                tolerance_grad=tolerance, tolerance_change=tolerance,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            history["loss"].append(loss.item())
            history["phase"].append("lbfgs")
            return loss

        done, stalled = 0, 0
        while done < lbfgs_steps:
            before = min(history["loss"]) if history["loss"] else math.inf
            opt.param_groups[0]["max_iter"] = min(chunk, lbfgs_steps - done)
            opt.param_groups[0]["max_eval"] = int(1.25 * opt.param_groups[0]["max_iter"])
            n_before = len(history["loss"])
            opt.step(closure)
            done += chunk
            after = min(history["loss"][n_before:], default=math.inf)
            if not math.isfinite(after):
                break
            stalled = stalled + 1 if after > (1 - min_improvement) * before else 0
            if stalled >= patience:
                break
    if history["loss"] and not math.isfinite(history["loss"][-1]):
        raise ValueError("the loss became NaN or infinite: lower adam_lr or check the loss function")
    history["seconds"] = time.perf_counter() - start
    return history


def rk4(f, z0, t):
    """Integrate ``dz/dt = f(z)`` with the classical 4th-order Runge-Kutta method on the grid ``t``.

    Written in torch, so that gradients flow through the integration (used to train neural ODEs:
    "discretise, then optimise").

    Parameters
    ----------
    f : callable mapping a tensor ``(..., d)`` to a tensor of the same shape (an autonomous right-hand side).
    z0 : tensor ``(..., d)``, the initial state(s); a batch of trajectories is integrated at once.
    t : 1D tensor ``(n_t,)`` of increasing times (any spacing); the step is the grid spacing.

    Returns
    -------
    tensor ``(n_t, ..., d)``: the state at every time in ``t`` (``z[0] = z0``).
    """
    import torch

    t = torch.as_tensor(t, dtype=z0.dtype)
    if t.ndim != 1 or len(t) < 2:
        raise ValueError(f"t must be a 1D grid with at least two times; got shape {tuple(t.shape)}")
    if not torch.all(t[1:] > t[:-1]):
        raise ValueError("t must be strictly increasing")
    states = [z0]
    z = z0
    for h in t[1:] - t[:-1]:
        k1 = f(z)
        k2 = f(z + 0.5 * h * k1)
        k3 = f(z + 0.5 * h * k2)
        k4 = f(z + h * k3)
        z = z + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        states.append(z)
    return torch.stack(states)


# ---------------------------------------------------------------------------------------------------
# False-vacuum decay: the bounce by overshoot/undershoot
# ---------------------------------------------------------------------------------------------------

def _linear_start(m: float, d: int, r):
    """``f(r) = Gamma(nu+1) (2/(m r))^nu I_nu(m r)`` (``nu = d/2 - 1``), ``f(0) = 1``, and ``f'(r)``, in logs.

    ``delta * f(r)`` solves the bounce equation linearised around a minimum with ``V'' = m^2``.
    Returns ``(log f, f'/f)``; the logs avoid overflow far from the centre.
    """
    from scipy.special import gammaln, ive

    nu = d / 2 - 1
    z = m * np.asarray(r, dtype=float)
    log_f = gammaln(nu + 1) + nu * math.log(2) - nu * np.log(z) + np.log(ive(nu, z)) + z
    dlog_f = m * ive(nu + 1, z) / ive(nu, z)
    return log_f, dlog_f


def bounce_trial(dV, phi0: float, phi_false: float, d: int = 3, r_max: float = 1e3, delta: float = 0.0,
                 mass2: float | None = None, start_amplitude: float = 1e-5, rtol: float = 1e-11,
                 atol: float = 1e-13, dense_output: bool = True):
    """Integrate the bounce equation once, from rest at ``phi(0) = phi0 + delta``, and classify the result.

    The equation is ``phi'' + (d-1)/r phi' = dV/dphi`` (``d = 3`` for thermal O(3) bubbles, ``d = 4``
    for O(4) bubbles in vacuum): a particle at position ``phi`` moving in time ``r`` in the *inverted*
    potential ``-V``, with a friction ``(d-1)/r``. It starts at rest near the true vacuum.

    Parameters
    ----------
    dV : callable, ``dV/dphi`` for a float (field in the same units as ``phi0``).
    phi0, delta : the release point is ``phi0 + delta``. Splitting it in two lets ``delta`` be far
        smaller than the float spacing near ``phi0`` (thin-wall bubbles need ``delta ~ 1e-30``).
    phi_false : the false vacuum (where the bounce must end, at ``r -> infinity``).
    d : number of dimensions of the O(d) symmetry.
    r_max : radius where the integration stops if neither event happened (units of 1/mass).
    mass2 : ``V''(phi0)`` where ``phi0`` is the true vacuum. If given and ``|delta|`` is below
        ``start_amplitude``, the integration starts at the radius where the linearised solution
        ``delta * f(r)`` (``f = sinh(m r)/(m r)`` for ``d = 3``) has grown to ``start_amplitude``;
        otherwise it starts at ``r = 1e-6`` from the series ``phi0 + delta + dV r^2 / (2 d)``.
    rtol, atol : tolerances of scipy's ``solve_ivp`` (DOP853).
    dense_output : keep the interpolant of every step (``sol.sol``); False saves about a quarter of the
        work when only the outcome is needed (the steps taken are the same either way).

    Returns
    -------
    ``(outcome, sol, start)``: ``outcome`` is ``"overshoot"`` (the field crossed ``phi_false``),
    ``"undershoot"`` (it turned back before reaching it) or ``"none"`` (``r_max`` reached); ``sol`` is
    scipy's solution (``sol.t`` radii, ``sol.y[0]`` field, ``sol.y[1]`` its derivative, ``sol.sol`` dense
    output); ``start`` is a callable giving ``(phi, dphi)`` at radii before ``sol.t[0]``.
    """
    from scipy.integrate import solve_ivp
    from scipy.optimize import brentq

    sign = 1.0 if phi0 + delta > phi_false else -1.0   # the field moves towards phi_false

    def rhs(r, y):
        return [y[1], dV(y[0]) - (d - 1) / r * y[1]]

    def crossed(r, y):          # the field reached the false vacuum: overshoot
        return y[0] - phi_false
    crossed.terminal, crossed.direction = True, -sign

    def turned(r, y):           # the field's velocity changed sign: undershoot
        return y[1]
    turned.terminal, turned.direction = True, sign

    if mass2 is not None and 0 < abs(delta) < start_amplitude:
        m = math.sqrt(mass2)
        target = math.log(start_amplitude / abs(delta))
        r_start = brentq(lambda r: _linear_start(m, d, r)[0] - target, 1e-8 / m, (target + 50) / m)

        def start(r):
            r = np.maximum(np.asarray(r, dtype=float), 1e-12)
            log_f, dlog_f = _linear_start(m, d, r)
            f = np.exp(log_f)
            return phi0 + delta * f, delta * f * dlog_f
    else:
        r_start = 1e-6
        a = dV(phi0 + delta) / d      # phi''(0) = dV/d, from the series phi(0) + a r^2 / 2

        def start(r):
            r = np.asarray(r, dtype=float)
            return phi0 + delta + 0.5 * a * r**2, a * r
    y0 = [float(v) for v in start(r_start)]
    sol = solve_ivp(rhs, (r_start, r_max), y0, method="DOP853", rtol=rtol, atol=atol,
                    events=(crossed, turned), dense_output=dense_output)
    if sol.t_events[0].size:
        return "overshoot", sol, start
    if sol.t_events[1].size:
        return "undershoot", sol, start
    return "none", sol, start


def shoot_bounce(V, dV, phi_true: float, phi_false: float, d: int = 3, r_max: float = 1e3,
                 max_iter: int = 200, xtol: float = 1e-12, x_max: float = 200.0, n_points: int = 4001) -> dict:
    """The bounce of false-vacuum decay by the overshoot/undershoot (shooting) method.

    Bisects the release point ``phi0``: released too close to the barrier, the particle lacks the
    energy to reach ``phi_false`` (undershoot); released very close to ``phi_true``, it waits there until
    friction has died away and then shoots past (overshoot). The bounce lies in between. The release
    point is ``phi_true + (phi_edge - phi_true) exp(-x)`` and the bisection runs in ``x``, because in
    the thin-wall limit the release point approaches ``phi_true`` exponentially closely.

    Parameters
    ----------
    V, dV : callables, the potential and its derivative (floats in, float out; ``V`` also for arrays).
    phi_true, phi_false : the true (lower) and false (metastable) minima, ``V(phi_true) < V(phi_false)``.
    d : dimensions of the O(d) symmetry (3 for thermal transitions).
    r_max : largest radius integrated (in units of ``1/mass`` of the potential).
    max_iter, xtol : bisection limits (iterations; tolerance on ``x``).
    x_max : the closest release point tried is ``phi_true + (phi_edge - phi_true) exp(-x_max)``.
    n_points : number of radii in the returned profile (uniform from 0 to the last radius).

    Returns
    -------
    dict with ``phi0`` (field at the centre); ``r``, ``phi``, ``dphi``, arrays ``(n_points,)`` of the profile
    from ``r = 0`` to ``r_end``, where the last trial left the bounce (far in the tail); ``profile``
    (callable ``r -> phi`` for arrays, equal to ``phi_false`` beyond ``r_end``); ``action``
    (:func:`bounce_action` of the profile); ``n_iter`` (bisection steps).
    """
    from scipy.optimize import brentq

    if not V(phi_true) < V(phi_false):
        raise ValueError(f"V(phi_true) = {V(phi_true)} must be below V(phi_false) = {V(phi_false)}")
    # the edge: the point between the vacua where V = V(phi_false); released there (or closer to the
    # barrier), even a particle without friction cannot climb back up to phi_false.
    grid = np.linspace(phi_false, phi_true, 2001)
    above = np.array([V(p) for p in grid]) >= V(phi_false)
    i_edge = int(np.nonzero(above)[0].max())
    if i_edge + 1 >= len(grid):
        raise ValueError("V stays above V(phi_false) all the way to phi_true: check phi_true")
    phi_edge = brentq(lambda p: V(p) - V(phi_false), grid[i_edge], grid[i_edge + 1]) if i_edge > 0 \
        else grid[1]
    span = phi_edge - phi_true
    h = 1e-4 * abs(span)
    mass2 = (dV(phi_true + h) - dV(phi_true - h)) / (2 * h)
    if mass2 <= 0:
        raise ValueError(f"V''(phi_true) = {mass2} is not positive: phi_true must be a minimum of V")

    def trial(x, dense_output=False):  # the bisection needs only the outcome; the profile, the last trial's steps
        return bounce_trial(dV, phi_true, phi_false, d=d, r_max=r_max, delta=span * math.exp(-x), mass2=mass2,
                            dense_output=dense_output)

    lo, hi = 0.0, x_max          # x = 0 undershoots, x = x_max should overshoot
    if trial(hi)[0] != "overshoot":
        raise ValueError(f"no overshoot even {x_max} e-folds from the true vacuum: increase x_max or r_max, "
                         "or check phi_false and phi_true")
    last = None
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (returned: the number of bisection steps)
        mid = 0.5 * (lo + hi)
        outcome, _, _ = trial(mid)
        if outcome == "undershoot":
            lo = mid
        else:
            hi = mid
        if outcome != "none":
            last = mid
        if hi - lo < xtol:
            break
    if last is None:
        raise ValueError("the bisection never left r_max: increase r_max")
    _, sol, start = trial(last, dense_output=True)  # the same integration again, keeping its interpolant
    r_first, r_end = float(sol.t[0]), float(sol.t[-1])

    def profile(radius):
        """Field and derivative of the bounce at ``radius`` (array); phi_false beyond ``r_end``."""
        radius = np.asarray(radius, dtype=float)
        y = sol.sol(np.clip(radius, r_first, r_end))
        p0, dp0 = start(radius)
        phi = np.where(radius < r_first, p0, y[0])
        dphi = np.where(radius < r_first, dp0, y[1])
        return np.where(radius > r_end, phi_false, phi), np.where(radius > r_end, 0.0, dphi)

    r = np.linspace(0.0, r_end, n_points)
    phi, dphi = profile(r)
    return {"phi0": float(phi[0]), "r": r, "phi": phi, "dphi": dphi, "r_end": r_end,
            "profile": lambda radius: profile(radius)[0],
            "action": bounce_action(r, phi, dphi, V, phi_false, d=d), "n_iter": n_iter}


def bounce_action(r, phi, dphi, V, phi_false: float, d: int = 3, dense: int = 20001) -> float:
    """Euclidean action of an O(d)-symmetric field profile, relative to the false vacuum.

    ``S_d = Omega_d * integral_0^R r^(d-1) [ phi'^2 / 2 + V(phi) - V(phi_false) ] dr``, with
    ``Omega_d = 2 pi^(d/2) / Gamma(d/2)`` the area of the unit sphere (``4 pi`` for ``d = 3``).

    Parameters
    ----------
    r : ``(n,)`` increasing radii (units of 1/mass), from 0 (or near 0) into the tail of the bounce.
    phi, dphi : ``(n,)`` the field and its radial derivative at ``r``.
    V : callable, the potential; accepts numpy arrays.
    phi_false : the false vacuum.
    d : dimensions (3: the thermal action ``S_3``, to be divided by ``T``).
    dense : the integrand is interpolated (cubic) onto this many points before Simpson's rule,
        because adaptive solvers return few, unevenly spaced points.

    Returns
    -------
    float, the action in the units of ``V`` times length^d.
    """
    from scipy.integrate import simpson
    from scipy.interpolate import CubicSpline

    r, phi, dphi = (np.asarray(a, dtype=float) for a in (r, phi, dphi))
    if not (r.shape == phi.shape == dphi.shape) or r.ndim != 1:
        raise ValueError(f"r, phi, dphi must be 1D arrays of equal length; got {r.shape}, {phi.shape}, {dphi.shape}")
    if np.any(np.diff(r) <= 0):
        raise ValueError("r must be strictly increasing")
    omega = 2 * math.pi ** (d / 2) / math.gamma(d / 2)
    vals = np.asarray(V(phi), dtype=float) - float(V(phi_false))
    integrand = r ** (d - 1) * (0.5 * dphi**2 + vals)
    if len(r) < dense:
        fine = np.linspace(r[0], r[-1], dense)
        integrand = CubicSpline(r, integrand)(fine)
        r = fine
    return float(omega * simpson(integrand, x=r))
