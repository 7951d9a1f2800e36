"""Dimuon events for generative models (notebooks 09 and 10): coordinates and evaluation.

An event of the ``drell_yan`` sample is two muons, each ``(pt, eta, phi)``: six numbers.  This
module converts them, exactly and invertibly, to the coordinates in which the physics is simple
(the dimuon mass, rapidity, transverse momentum and azimuth, and the decay angles of the
negative muon in the Collins-Soper frame, Phys. Rev. D 16 (1977) 2219), and
judges a generator the way the CaloChallenge and "Refereeing the referees" do: 1D histograms
with ratio panels, Wasserstein distances, the classifier two-sample test with its learned
weights ``w = D/(1-D)`` over phase space, and the test's own noise from two halves of the true
sample.  The Z line shape is measured with :func:`utils.metrics.peak_and_width`.

Conventions: momenta and masses in GeV, angles in radians, ``phi`` in ``(-pi, pi]``; a
*muon array* is ``(n, 6)`` float64 holding ``MUON_NAMES``; a *physics array* is ``(n, 6)``
holding ``PHYSICS_NAMES``.  Muons carry their mass ``MUON_MASS``, as in ``utils.data``.
"""
from __future__ import annotations

import numpy as np

from .jets import delta_phi, invariant_mass, to_cartesian, to_ptetaphim

__all__ = [
    "MUON_MASS", "Z_MASS", "Z_WIDTH", "MUON_NAMES", "PHYSICS_NAMES", "MUON_FEATURES", "PHYSICS_FEATURES",
    "EVAL_NAMES", "EVAL_LABELS", "muons_from_data", "four_vectors", "dimuon_mass", "collins_soper_axes",
    "to_physics", "from_physics", "muon_features", "muons_from_features", "mass_to_latent", "latent_to_mass",
    "physics_features", "physics_from_features", "muon_to_physics_features", "physics_to_muon_features",
    "log_abs_det_jacobian", "evaluation_features", "two_sample_test", "evaluate",
    "noise_floor", "plot_histograms", "plot_weights", "format_evaluation",
]

MUON_MASS = 0.10566  # GeV, as in utils.data
Z_MASS = 91.1876     # GeV (PDG)
Z_WIDTH = 2.4952     # GeV (PDG)

MUON_NAMES = ("mu_plus_pt", "mu_plus_eta", "mu_plus_phi", "mu_minus_pt", "mu_minus_eta", "mu_minus_phi")
PHYSICS_NAMES = ("m_mumu", "y_mumu", "pt_mumu", "phi_mumu", "cos_theta_cs", "phi_cs")
# the five numbers a generator learns in each coordinate system (the sixth, an overall azimuth,
# is uniform by the symmetry of the collision about the beam and is drawn, not learned)
MUON_FEATURES = ("log_pt_plus", "eta_plus", "log_pt_minus", "eta_minus", "delta_phi")
PHYSICS_FEATURES = ("mass_latent", "y_mumu", "log_pt_mumu", "atanh_cos_theta_cs", "phi_cs")
# what the evaluation compares: the generated muon features and two derived ones
EVAL_NAMES = ("mu_plus_pt", "mu_plus_eta", "mu_minus_pt", "mu_minus_eta", "delta_phi", "m_mumu", "pt_mumu")
EVAL_LABELS = {
    "mu_plus_pt": r"$p_T(\mu^+)$ [GeV]", "mu_plus_eta": r"$\eta(\mu^+)$",
    "mu_minus_pt": r"$p_T(\mu^-)$ [GeV]", "mu_minus_eta": r"$\eta(\mu^-)$",
    "delta_phi": r"$\Delta\phi = \phi(\mu^+) - \phi(\mu^-)$ [rad]", "m_mumu": r"$m_{\mu\mu}$ [GeV]",
    "pt_mumu": r"$p_T(\mu\mu)$ [GeV]",
}
FEATURE_SETS = {  # the two-sample test's feature sets: generated features, + the mass, + both derived
    "features": EVAL_NAMES[:5],
    "features + m_mumu": EVAL_NAMES[:6],
    "features + m_mumu + pt_mumu": EVAL_NAMES,
}


def _check_six(array, what):
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 6:
        raise ValueError(f"{what} must have shape (n, 6); got {array.shape}")
    return array


# --------------------------------------------------------------------------------------------
# muons <-> four-vectors <-> physics coordinates
# --------------------------------------------------------------------------------------------

def muons_from_data(data: dict) -> np.ndarray:
    """The ``(n, 6)`` float64 muon array ``MUON_NAMES`` from a ``utils.data.load("drell_yan")`` dict."""
    missing = [k for k in MUON_NAMES if k not in data]
    if missing:
        raise ValueError(f"the data dict lacks {missing}: load it with utils.data.load('drell_yan', split)")
    return np.stack([np.asarray(data[k], dtype=np.float64) for k in MUON_NAMES], axis=1)


def four_vectors(muons):
    """``(p_plus, p_minus)``: the muons' four-vectors, each ``(n, 4)`` (E, px, py, pz) in GeV."""
    mu = _check_six(muons, "muons")
    return (to_cartesian(mu[:, 0], mu[:, 1], mu[:, 2], MUON_MASS),
            to_cartesian(mu[:, 3], mu[:, 4], mu[:, 5], MUON_MASS))


def dimuon_mass(muons) -> np.ndarray:
    """Invariant mass ``(n,)`` of the two muons in GeV (the same as the loader's ``m_mumu``)."""
    return invariant_mass(*four_vectors(muons))


def _boost(p4, beta):
    """Boost four-vectors ``(n, 4)`` into the frame moving with velocity ``beta`` ``(n, 3)``
    (a pure boost: in the new frame a particle at rest in the old one moves with ``-beta``)."""
    b2 = np.sum(beta**2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[:, 1:], axis=1)
    energy = gamma * (p4[:, 0] - bp)
    # (gamma - 1) / b2 written as gamma^2 / (gamma + 1): no 0/0 for beta = 0
    coef = gamma**2 / (gamma + 1.0) * bp - gamma * p4[:, 0]
    return np.concatenate([energy[:, None], p4[:, 1:] + coef[:, None] * beta], axis=1)


def collins_soper_axes(q):
    """Axes ``(x, y, z)`` of the Collins-Soper frame, each ``(n, 3)`` unit vectors in the dimuon
    rest frame reached from the lab by a pure boost with ``beta = q_vec / q_E``.

    ``z`` bisects the angle between the beam along +z and the reverse of the beam along -z;
    ``x`` lies in the plane of the two beams, perpendicular to ``z``, along the dimuon's
    transverse momentum; ``y = z x x``.  Depends on the dimuon four-momentum ``q`` ``(n, 4)`` only.
    """
    q = np.asarray(q, dtype=np.float64)
    beta = q[:, 1:] / q[:, :1]
    ones, zeros = np.ones(len(q)), np.zeros(len(q))
    beam_a = _boost(np.stack([ones, zeros, zeros, ones], 1), beta)[:, 1:]
    beam_b = _boost(np.stack([ones, zeros, zeros, -ones], 1), beta)[:, 1:]
    a = beam_a / np.linalg.norm(beam_a, axis=1, keepdims=True)
    b = beam_b / np.linalg.norm(beam_b, axis=1, keepdims=True)
    z = a - b
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    x = -(a + b)  # in the rest frame both beams lean against the dimuon's transverse momentum
    x -= np.sum(x * z, axis=1, keepdims=True) * z  # exactly perpendicular (already so up to rounding)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(z, x)
    return x, y, z


def to_physics(muons) -> np.ndarray:
    """Muon array ``(n, 6)`` -> physics array ``(n, 6)``: ``PHYSICS_NAMES`` =
    (m_mumu [GeV], rapidity y, pt_mumu [GeV], phi_mumu, cos(theta_CS), phi_CS), the angles being
    those of the negative muon in the Collins-Soper frame.  Inverse: :func:`from_physics`."""
    p_plus, p_minus = four_vectors(muons)
    q = p_plus + p_minus
    pt, _, phi, m = to_ptetaphim(q)
    y = 0.5 * np.log((q[:, 0] + q[:, 3]) / (q[:, 0] - q[:, 3]))
    x_axis, y_axis, z_axis = collins_soper_axes(q)
    p_rest = _boost(p_minus, q[:, 1:] / q[:, :1])[:, 1:]
    p_rest /= np.linalg.norm(p_rest, axis=1, keepdims=True)
    cos_theta = np.clip(np.sum(p_rest * z_axis, axis=1), -1.0, 1.0)
    phi_cs = np.arctan2(np.sum(p_rest * y_axis, axis=1), np.sum(p_rest * x_axis, axis=1))
    return np.stack([m, y, pt, phi, cos_theta, phi_cs], axis=1)


def from_physics(physics) -> np.ndarray:
    """Physics array ``(n, 6)`` -> muon array ``(n, 6)``; the exact inverse of :func:`to_physics`.

    Raises ValueError where ``m_mumu <= 2 * MUON_MASS``, ``pt_mumu < 0`` or ``|cos theta| > 1``
    (a generator's output must be mapped into that range first, see :func:`physics_from_features`).
    """
    ph = _check_six(physics, "physics")
    m, y, pt, phi, cos_theta, phi_cs = ph.T
    if np.any(m <= 2 * MUON_MASS) or np.any(pt < 0) or np.any(np.abs(cos_theta) > 1):
        raise ValueError("physics coordinates out of range: need m_mumu > 2 m_mu, pt_mumu >= 0, |cos theta| <= 1")
    mt = np.sqrt(m**2 + pt**2)
    q = np.stack([mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)], axis=1)
    x_axis, y_axis, z_axis = collins_soper_axes(q)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    direction = (sin_theta * np.cos(phi_cs))[:, None] * x_axis + (sin_theta * np.sin(phi_cs))[:, None] * y_axis \
        + cos_theta[:, None] * z_axis
    p_star = np.sqrt(m**2 / 4 - MUON_MASS**2)[:, None] * direction
    energy = (m / 2)[:, None]
    beta_back = -q[:, 1:] / q[:, :1]
    p_minus = _boost(np.concatenate([energy, p_star], axis=1), beta_back)
    p_plus = _boost(np.concatenate([energy, -p_star], axis=1), beta_back)
    pt_p, eta_p, phi_p, _ = to_ptetaphim(p_plus)
    pt_m, eta_m, phi_m, _ = to_ptetaphim(p_minus)
    return np.stack([pt_p, eta_p, phi_p, pt_m, eta_m, phi_m], axis=1)


# --------------------------------------------------------------------------------------------
# the five learned features in each coordinate system, and back
# --------------------------------------------------------------------------------------------

def _random_azimuth(n, rng):
    if rng is None:
        raise ValueError("pass rng (a numpy Generator) to draw the overall azimuth")
    return rng.uniform(-np.pi, np.pi, n)


def _delta_phi_positive(phi_plus, phi_minus):
    """phi+ - phi- in ``[0, 2 pi)``: back-to-back muons (delta_phi = pi) sit in the middle, so the
    one peak of the distribution is not cut in two at the edges of ``[-pi, pi)``."""
    return np.mod(np.asarray(phi_plus) - np.asarray(phi_minus), 2 * np.pi)


def muon_features(muons) -> np.ndarray:
    """Muon array -> ``(n, 5)`` ``MUON_FEATURES``: log(pt+/GeV), eta+, log(pt-/GeV), eta-,
    delta_phi = phi+ - phi- in ``[0, 2 pi)``.  The overall azimuth is dropped (uniform)."""
    mu = _check_six(muons, "muons")
    return np.stack([np.log(mu[:, 0]), mu[:, 1], np.log(mu[:, 3]), mu[:, 4], _delta_phi_positive(mu[:, 2], mu[:, 5])],
                    axis=1)


def muons_from_features(features, rng=None, phi_plus=None) -> np.ndarray:
    """``(n, 5)`` ``MUON_FEATURES`` -> muon array; ``phi+`` is ``phi_plus`` if given, else uniform
    from ``rng``.  Exact inverse of :func:`muon_features` when given the original ``phi+``."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != 5:
        raise ValueError(f"features must have shape (n, 5); got {f.shape}")
    phi_p = _random_azimuth(len(f), rng) if phi_plus is None else np.asarray(phi_plus, dtype=np.float64)
    phi_m = delta_phi(phi_p, f[:, 4])  # phi+ - delta_phi, wrapped
    return np.stack([np.exp(f[:, 0]), f[:, 1], phi_p, np.exp(f[:, 2]), f[:, 3], phi_m], axis=1)


def _u_min(mass, width):
    return np.arctan(-mass / width)  # the Breit-Wigner angle u of m = 0


def mass_to_latent(m, mass=Z_MASS, width=Z_WIDTH):
    """The Breit-Wigner map of Monte Carlo integrators, made to cover the real line.

    ``u = arctan((m^2 - M^2) / (M Gamma))`` runs from ``u0 = arctan(-M/Gamma)`` (``m = 0``) to
    ``pi/2`` (``m -> inf``) and is uniform for a relativistic Breit-Wigner; ``s = (u - u0) /
    (pi/2 - u0)`` is then uniform on ``(0, 1)`` and ``t = logit(s)`` follows the logistic
    distribution.  The peak (a few GeV) spreads over an interval of order one, both tails are
    compressed logarithmically, and every ``t`` is a mass.  ``m`` in GeV, any shape; inverse
    :func:`latent_to_mass`.
    """
    m = np.asarray(m, dtype=np.float64)
    u0 = _u_min(mass, width)
    s = (np.arctan((m**2 - mass**2) / (mass * width)) - u0) / (np.pi / 2 - u0)
    return np.log(s) - np.log1p(-s)


def latent_to_mass(t, mass=Z_MASS, width=Z_WIDTH, minimum=2 * MUON_MASS * (1 + 1e-6)):
    """Inverse of :func:`mass_to_latent`; masses below ``minimum`` (two muon masses, reached only
    for ``t`` below about -30) are set to it."""
    t = np.asarray(t, dtype=np.float64)
    u0 = _u_min(mass, width)
    u = u0 + (np.pi / 2 - u0) / (1.0 + np.exp(-t))
    m2 = mass**2 + mass * width * np.tan(u)
    return np.sqrt(np.maximum(m2, minimum**2))


def physics_features(physics) -> np.ndarray:
    """Physics array -> ``(n, 5)`` ``PHYSICS_FEATURES``: the Breit-Wigner latent of m_mumu
    (:func:`mass_to_latent`), y, log(pt_mumu/GeV), atanh(cos theta_CS), phi_CS.  phi_mumu is
    dropped.  Every point of the first four coordinates is a physical event (no edges for a
    generator to leak over); phi_CS is an angle."""
    ph = _check_six(physics, "physics")
    cos_theta = np.clip(ph[:, 4], -1 + 1e-15, 1 - 1e-15)
    return np.stack([mass_to_latent(ph[:, 0]), ph[:, 1], np.log(ph[:, 2]), np.arctanh(cos_theta), ph[:, 5]], axis=1)


def physics_from_features(features, rng=None, phi_mumu=None) -> np.ndarray:
    """``(n, 5)`` ``PHYSICS_FEATURES`` -> physics array; ``phi_mumu`` uniform from ``rng`` unless given.

    Any real input is an event: phi_CS is wrapped into ``[-pi, pi)``.  On true features this is
    the exact inverse of :func:`physics_features` (given the original ``phi_mumu``).
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != 5:
        raise ValueError(f"features must have shape (n, 5); got {f.shape}")
    phi = _random_azimuth(len(f), rng) if phi_mumu is None else np.asarray(phi_mumu, dtype=np.float64)
    phi_cs = (f[:, 4] + np.pi) % (2 * np.pi) - np.pi
    return np.stack([latent_to_mass(f[:, 0]), f[:, 1], np.exp(f[:, 2]), phi, np.tanh(f[:, 3]), phi_cs], axis=1)


def muon_to_physics_features(features) -> np.ndarray:
    """``(n, 5)`` ``MUON_FEATURES`` -> ``(n, 5)`` ``PHYSICS_FEATURES`` of the same events (the
    overall azimuth, uniform in both systems, drops out).  Inverse :func:`physics_to_muon_features`."""
    f = np.asarray(features, dtype=np.float64)
    return physics_features(to_physics(muons_from_features(f, phi_plus=np.zeros(len(f)))))


def physics_to_muon_features(features) -> np.ndarray:
    """``(n, 5)`` ``PHYSICS_FEATURES`` -> ``(n, 5)`` ``MUON_FEATURES``; inverse of :func:`muon_to_physics_features`."""
    f = np.asarray(features, dtype=np.float64)
    return muon_features(from_physics(physics_from_features(f, phi_mumu=np.zeros(len(f)))))


def log_abs_det_jacobian(fn, x, eps: float = 1e-6, periodic=()) -> np.ndarray:
    """``log |det d fn(x) / dx|`` for each row of ``x`` ``(n, d)``, by central finite differences.

    ``fn`` maps ``(n, d)`` to ``(n, d)`` row by row; ``periodic`` lists output columns that are
    angles (their differences are wrapped into ``[-pi, pi)``).  This is the term that turns a
    density in one coordinate system into a density in another:
    ``log p_x(x) = log p_y(fn(x)) + log |det d fn / dx|``.  Costs ``2 d`` calls of ``fn``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, d); got {x.shape}")
    n, d = x.shape
    jac = np.empty((n, d, d))
    for j in range(d):
        step = np.zeros(d)
        step[j] = eps
        diff = fn(x + step) - fn(x - step)
        for k in periodic:
            diff[:, k] = (diff[:, k] + np.pi) % (2 * np.pi) - np.pi
        jac[:, :, j] = diff / (2 * eps)
    return np.linalg.slogdet(jac)[1]


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------

def evaluation_features(muons) -> np.ndarray:
    """Muon array -> ``(n, 7)`` ``EVAL_NAMES``: pt+, eta+, pt-, eta-, delta_phi in ``[0, 2 pi)`` (what a
    generator of muons produces) and the derived m_mumu, pt_mumu; GeV and radians."""
    mu = _check_six(muons, "muons")
    p_plus, p_minus = four_vectors(mu)
    pt_q = to_ptetaphim(p_plus + p_minus)[0]
    return np.stack([mu[:, 0], mu[:, 1], mu[:, 3], mu[:, 4], _delta_phi_positive(mu[:, 2], mu[:, 5]),
                     invariant_mass(p_plus, p_minus), pt_q], axis=1)


def two_sample_test(true_x, generated_x, seed: int = 0, test_fraction: float = 0.5, classifier=None) -> dict:
    """:func:`utils.metrics.classifier_two_sample_test` of ``true_x`` (label 0) against
    ``generated_x`` (label 1), plus ``rows``: the indices into ``generated_x`` of the held-out
    events that the returned ``weights`` belong to (so that they can be plotted over phase space).

    The rows come from the same stratified split as the test's (it depends only on the sample
    sizes, ``test_fraction`` and ``seed``).  ``weights`` estimate ``p_true(x) / p_generated(x)``.
    ``classifier``: as in :func:`utils.metrics.classifier_two_sample_test` (default: boosted trees).
    """
    from sklearn.model_selection import train_test_split

    from .metrics import classifier_two_sample_test

    result = classifier_two_sample_test(true_x, generated_x, classifier=classifier, test_fraction=test_fraction,
                                        seed=seed)
    n_a, n_b = len(true_x), len(generated_x)
    y = np.concatenate([np.zeros(n_a), np.ones(n_b)]).astype(int)
    _, index_te, _, y_te = train_test_split(np.arange(n_a + n_b), y, test_size=test_fraction, random_state=seed,
                                            stratify=y)
    result["rows"] = index_te[y_te == 1] - n_a
    return result


def evaluate(true_muons, generated_muons, seed: int = 0, feature_sets=None) -> dict:
    """Everything the course asks of a generator, against the true events.

    Parameters
    ----------
    true_muons, generated_muons : muon arrays ``(n, 6)`` (equal sizes are best for the test).
    seed : seed of the two-sample tests' splits and classifiers.
    feature_sets : ``{name: tuple of EVAL_NAMES}`` for the two-sample tests (default
        ``FEATURE_SETS``: the five generated features, + m_mumu, + m_mumu and pt_mumu).

    Returns
    -------
    dict with ``c2st`` ``{set name: {auc, auc_std, weights, rows}}`` (AUC 0.5: indistinguishable),
    ``wasserstein`` ``{EVAL_NAMES: distance}`` in each feature's units, ``peak``/``fwhm`` of the
    generated m_mumu (:func:`utils.metrics.peak_and_width`, None where no peak can be measured),
    and ``features`` (the generated ``(n, 7)`` evaluation features, for plots).
    """
    from .metrics import peak_and_width, wasserstein_distances

    feature_sets = FEATURE_SETS if feature_sets is None else feature_sets
    true_x, gen_x = evaluation_features(true_muons), evaluation_features(generated_muons)
    out = {"c2st": {}, "features": gen_x}
    for name, columns in feature_sets.items():
        idx = [EVAL_NAMES.index(c) for c in columns]
        out["c2st"][name] = two_sample_test(true_x[:, idx], gen_x[:, idx], seed=seed)
    out["wasserstein"] = wasserstein_distances(true_x, gen_x, names=EVAL_NAMES)
    try:
        out.update(peak_and_width(gen_x[:, 5]))
    except ValueError:  # no peak at all: a badly broken generator
        out.update(peak=None, fwhm=None)
    return out


def noise_floor(true_muons, seed: int = 0, feature_sets=None, other_true=None) -> dict:
    """What a perfect generator would score: :func:`evaluate` of true events against true events
    (AUC near 0.5, small distances).

    With ``other_true`` (independent true events, e.g. the validation split), ``true_muons`` are
    compared with the first ``len(true_muons)`` of them: the floor at exactly the sample sizes at which
    :func:`evaluate` judges a generator of ``len(true_muons)`` events.  Without it, one random half of
    ``true_muons`` is compared with the other half: the floor at half the size, somewhat wider.
    """
    mu = _check_six(true_muons, "true_muons")
    if other_true is not None:
        other = _check_six(other_true, "other_true")
        if len(other) < len(mu):
            raise ValueError(f"other_true needs at least len(true_muons) = {len(mu)} events; got {len(other)}")
        return evaluate(mu, other[: len(mu)], seed=seed, feature_sets=feature_sets)
    order = np.random.default_rng(seed).permutation(len(mu))
    half = len(mu) // 2
    return evaluate(mu[order[:half]], mu[order[half: 2 * half]], seed=seed, feature_sets=feature_sets)


def format_evaluation(name: str, result: dict) -> str:
    """One line per generator: two-sample AUCs with their uncertainty, and the Z peak."""
    parts = [f"{name:28s}"]
    for set_name, r in result["c2st"].items():
        parts.append(f"AUC[{set_name}] = {r['auc']:.3f} +- {r['auc_std']:.3f}")
    if result.get("peak") is not None:
        parts.append(f"Z peak {result['peak']:.2f} GeV, FWHM {result['fwhm']:.2f} GeV")
    return ";  ".join(parts)


_PLOT_RANGES = {"mu_plus_pt": (0, 100), "mu_plus_eta": (-6, 6), "mu_minus_pt": (0, 100), "mu_minus_eta": (-6, 6),
                "delta_phi": (np.pi - 1.0, np.pi + 1.0), "m_mumu": (70, 110), "pt_mumu": (0, 100)}


def plot_histograms(samples: dict, reference: str, names=EVAL_NAMES, bins: int = 50, ranges=None, ncols: int = 4):
    """1D histograms with ratio panels (:func:`utils.plotting.hist_compare`), one per feature.

    Parameters
    ----------
    samples : ``{label: (n, 7) evaluation features}`` (see :func:`evaluation_features`).
    reference : the label in the ratio's denominator (the true events).
    names : which ``EVAL_NAMES`` to draw; ranges ``{name: (lo, hi)}`` override the defaults.

    Returns the figure (one subfigure per feature, each with a main and a ratio panel).
    """
    import matplotlib.pyplot as plt

    from .plotting import hist_compare

    ranges = {**_PLOT_RANGES, **(ranges or {})}
    nrows = int(np.ceil(len(names) / ncols))
    fig = plt.figure(figsize=(3.2 * ncols, 3.3 * nrows), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(nrows, ncols)).ravel()
    for sub, name in zip(subfigs, names):
        sub.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        col = EVAL_NAMES.index(name)
        hist_compare({label: x[:, col] for label, x in samples.items()}, bins=bins, range=ranges[name],
                     xlabel=EVAL_LABELS[name], reference=reference, fig=sub)
        sub.axes[0].get_legend().remove()
    for sub in subfigs[len(names):]:
        sub.set_visible(False)
    handles, labels = subfigs[0].axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=len(labels))
    return fig


def plot_weights(results: dict, bins=None, min_count: int = 30, ylim=(0.1, 10)):
    """Where does each generator fail?  The two-sample test's learned weights ``w = D/(1-D)``
    (``p_true / p_generated`` on held-out generated events) of the feature set with both derived
    quantities: their distribution, and their mean in bins of m_mumu and of pt_mumu, which
    estimates the ratio of true to generated events in the bin (``> 1``: the generator makes too
    few events there, ``< 1``: too many).  Bins with fewer than ``min_count`` generated events are
    left empty: a few events where the generator rarely goes carry large weights.  ``ylim``: the
    range of the mean weights' (logarithmic) axis.

    ``results`` is ``{label: evaluate(...) result}``.  Returns the figure.
    """
    import matplotlib.pyplot as plt

    set_name = list(next(iter(results.values()))["c2st"])[-1]
    bins = bins or {"m_mumu": np.linspace(70, 110, 41), "pt_mumu": np.linspace(0, 100, 26)}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
    log_edges = np.linspace(-2, 2, 61)
    for i, (label, res) in enumerate(results.items()):
        r = res["c2st"][set_name]
        w, x = r["weights"], res["features"][r["rows"]]
        color = f"C{i}"
        axes[0].hist(np.log10(np.clip(w, 10**log_edges[0], 10**log_edges[-1])), bins=log_edges, histtype="step",
                     lw=1.8, color=color, density=True, label=label)
        for ax, name in zip(axes[1:], ("m_mumu", "pt_mumu")):
            col = EVAL_NAMES.index(name)
            edges = bins[name]
            counts, _ = np.histogram(x[:, col], bins=edges)
            sums, _ = np.histogram(x[:, col], bins=edges, weights=w)
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = np.where(counts >= min_count, sums / counts, np.nan)
            ax.stairs(mean, edges, color=color, label=label)
    axes[0].set(xlabel=r"$\log_{10} w$, $w = D/(1-D)$", ylabel="density", title=f"weights ({set_name})")
    axes[0].axvline(0, color="grey", lw=1)
    for ax, name in zip(axes[1:], ("m_mumu", "pt_mumu")):
        ax.axhline(1, color="grey", lw=1)
        ax.set(xlabel=EVAL_LABELS[name], ylabel=r"mean weight $\langle w \rangle$ in the bin", yscale="log", ylim=ylim)
    axes[0].legend(loc="upper left")
    return fig
