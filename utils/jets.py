"""Jets as numpy arrays: four-vectors, constituent features, jet images, N-subjettiness.

Conventions used throughout the course
--------------------------------------
* Momenta are in GeV, angles in radians, ``phi`` in ``(-pi, pi]``.
* A jet's constituents are stored as an array of shape ``(n_jets, n_constituents, 3)``
  holding ``(pt, deta, dphi)``: transverse momentum and the pseudorapidity and azimuth
  *relative to the jet axis*.  Constituents are ordered by decreasing ``pt``; missing
  ones are zero-padded (``pt == 0``), so ``pt > 0`` is the mask of real particles.
* Constituents are treated as massless.  A particle of mass m and momentum p has
  ``E - |p| = m^2 / (E + |p|)``, a fraction of about ``m^2 / (2 p^2)`` of ``|p|``: for a pion
  (m = 0.1396 GeV) 0.97 % at ``|p| = 1 GeV``, 0.1 % only above ``|p| = 3.1 GeV`` and 0.01 % above
  10 GeV; for a kaon (0.494 GeV) 12 % at 1 GeV.  In the course's top-tagging jets about 40 % of
  the constituents have ``|p| < 3.1 GeV``, but they carry only about 5 % of the jet's pT (half of it
  is in constituents above 30 GeV).  The particle masses add up in the jet mass, which comes
  out a few per cent low from massless constituents (median 1 % for top jets, 6 % for QCD
  jets).  The stored ``jet_mass`` is FastJet's, with the true masses: use it.
* For massless constituents rapidity and pseudorapidity are the same number, so the stored
  ``deta`` is also the rapidity difference.  N-subjettiness (:func:`exclusive_kt_axes`,
  :func:`nsubjettiness`, :func:`nsubjettiness_taus`) works in (rapidity, phi) throughout: the
  axes are the E-scheme sums of massless constituents, placed at their rapidity, and each
  constituent at its rapidity (= pseudorapidity).  The generator computes the stored
  ``tau1..3`` with the same functions, from a jet's (up to 200) leading constituents at full
  precision, before the 100 leading ones are rounded to float16 for shipping.

Everything here is vectorised over jets and runs with numpy alone; where FastJet is installed
(``pip install fastjet``), :func:`exclusive_kt_axes_fastjet` and :func:`nsubjettiness_taus` use
its vectorised (awkward-array) interface, about a hundred times faster than the numpy
clustering, which stays the readable reference; :func:`cluster_order` (the clustering-history
order of arXiv:1711.09059) needs FastJet.  The generator (:mod:`utils.tooling.generate`) uses FastJet
(the fjcore bundled in Pythia) for the event-level clustering and this module for the
substructure, so what a student computes in a notebook is what is in the files.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = [
    "delta_phi",
    "delta_r",
    "to_cartesian",
    "to_ptetaphim",
    "invariant_mass",
    "jet_four_momentum",
    "constituent_features",
    "jet_shapes",
    "JET_SHAPES",
    "jet_images",
    "exclusive_kt_axes",
    "exclusive_kt_axes_fastjet",
    "nsubjettiness",
    "nsubjettiness_taus",
    "cluster_order",
    "have_fastjet",
    "resolve_backend",
]


def _check_constituents(constituents: np.ndarray) -> np.ndarray:
    constituents = np.asarray(constituents)
    if constituents.ndim != 3 or constituents.shape[-1] != 3:
        raise ValueError(
            f"constituents must have shape (n_jets, n_constituents, 3) holding (pt, deta, dphi); "
            f"got shape {constituents.shape}. For a single jet use constituents[None]."
        )
    return constituents


def delta_phi(phi1, phi2):
    """Azimuthal difference ``phi1 - phi2`` wrapped into ``[-pi, pi)``; any broadcastable shapes."""
    return (np.asarray(phi1) - np.asarray(phi2) + np.pi) % (2 * np.pi) - np.pi


def delta_r(eta1, phi1, eta2, phi2):
    """Angular distance ``sqrt(deta^2 + dphi^2)``; any broadcastable shapes."""
    return np.hypot(np.asarray(eta1) - np.asarray(eta2), delta_phi(phi1, phi2))


def to_cartesian(pt, eta, phi, m=0.0):
    """(pt, eta, phi, m) -> array ``[..., 4]`` of (E, px, py, pz) in GeV."""
    pt, eta, phi, m = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (pt, eta, phi, m)))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return np.stack([energy, px, py, pz], axis=-1)


def to_ptetaphim(p4):
    """Array ``[..., 4]`` of (E, px, py, pz) -> tuple (pt, eta, phi, m); m is 0 where m^2 < 0.

    A zero vector gives pt = eta = phi = m = 0 (as for zero-padded constituents).
    """
    p4 = np.asarray(p4, dtype=np.float64)
    if p4.shape[-1] != 4:
        raise ValueError(f"four-vectors need a last axis of length 4 (E, px, py, pz); got shape {p4.shape}")
    energy, px, py, pz = np.moveaxis(p4, -1, 0)
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0)), 0.0)
    phi = np.arctan2(py, px)
    m = np.sqrt(np.clip(energy**2 - px**2 - py**2 - pz**2, 0.0, None))
    return pt, eta, phi, m


def invariant_mass(*p4s):
    """Invariant mass (GeV) of the sum of any number of ``[..., 4]`` (E, px, py, pz) arrays."""
    if not p4s:
        raise ValueError("invariant_mass needs at least one four-vector array")
    total = sum(np.asarray(p, dtype=np.float64) for p in p4s)
    return to_ptetaphim(total)[3]


def jet_four_momentum(constituents, jet_eta=0.0, jet_phi=0.0):
    """Sum of the (massless) constituents: array ``(n_jets, 4)`` of (E, px, py, pz) in GeV.

    ``jet_eta``/``jet_phi`` (shape ``(n_jets,)`` or scalars) turn the relative coordinates
    back into absolute ones; the mass does not depend on them, the momentum direction does.
    """
    c = _check_constituents(constituents).astype(np.float64)
    jet_eta = np.asarray(jet_eta, dtype=np.float64).reshape(-1, 1) if np.ndim(jet_eta) else jet_eta
    jet_phi = np.asarray(jet_phi, dtype=np.float64).reshape(-1, 1) if np.ndim(jet_phi) else jet_phi
    p4 = to_cartesian(c[..., 0], c[..., 1] + jet_eta, c[..., 2] + jet_phi)
    p4[c[..., 0] <= 0] = 0.0
    return p4.sum(axis=1)


def constituent_features(constituents, jet_pt=None, jet_eta=None):
    """Per-constituent inputs for sequence and set networks.

    Parameters
    ----------
    constituents : array ``(n_jets, n_constituents, 3)`` of (pt [GeV], deta, dphi).
    jet_pt : ``(n_jets,)`` the jets' pT [GeV], for the momentum fraction.  Pass it whenever
        ``constituents`` holds only the leading constituents of each jet (the 20 leading ones of a
        top jet carry a median 79 % of its pT); if None, the scalar sum of the constituents passed
        is used, which is the jet's pT only if every constituent is passed.
    jet_eta : ``(n_jets,)`` the jets' pseudorapidity, for the energy.  If None, the energy is the
        one the constituent would have with its jet at eta = 0 (``pt cosh(deta)``), which on
        narrow jets is nearly ``pt``: a near copy of ``log pt`` (correlation 0.9993 on top jets).

    Returns
    -------
    array ``(n_jets, n_constituents, 5)`` float32 with, per constituent,
    ``deta``, ``dphi``, ``log(pt / GeV)``, ``log(E / GeV)`` with ``E = pt cosh(jet_eta + deta)``
    (massless), ``pt / jet_pt``; padded entries are all zero.
    """
    c = _check_constituents(constituents).astype(np.float64)
    pt, deta, dphi = c[..., 0], c[..., 1], c[..., 2]
    mask = pt > 0
    safe_pt = np.where(mask, pt, 1.0)

    def per_jet(values, name):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(c),):
            raise ValueError(f"{name} must have shape ({len(c)},), one value per jet; got {values.shape}")
        return values

    if jet_pt is None:
        total = pt.sum(axis=1)
    else:
        total = per_jet(jet_pt, "jet_pt")
        if np.any(total[mask.any(axis=1)] <= 0):
            raise ValueError("jet_pt must be positive for every jet with constituents")
    total = np.where(total > 0, total, 1.0)[:, None]
    eta = deta if jet_eta is None else per_jet(jet_eta, "jet_eta")[:, None] + deta
    energy = safe_pt * np.cosh(eta)
    features = np.stack([deta, dphi, np.log(safe_pt), np.log(energy), pt / total], axis=-1)
    features[~mask] = 0.0
    return features.astype(np.float32)


# The per-jet observables of :func:`jet_shapes` (Part VII: unfolding and inference on shower settings).
JET_SHAPES = ("mass", "multiplicity", "width", "pt_d", "c2", "d2")


def jet_shapes(constituents, batch_size: int = 1000) -> dict:
    """Six jet observables that need no clustering, from the constituents alone.

    Parameters
    ----------
    constituents : array ``(n_jets, n_constituents, 3)`` of (pt [GeV], deta, dphi) relative to the
        jet axis, zero-padded (pt = 0 marks padding); the constituents are taken as massless.
    batch_size : jets per batch of the energy correlators (memory ``batch_size * n_constituents**2``).

    Returns
    -------
    dict of float64 arrays ``(n_jets,)``, the keys of :data:`JET_SHAPES`:

    - ``mass`` [GeV]: invariant mass of the sum of the (massless) constituents;
    - ``multiplicity``: number of constituents (pt > 0);
    - ``width``: pT-weighted mean distance to the axis, ``sum_i pt_i dR_i / sum_i pt_i``
      (girth, the linear-angularity of arXiv:1106.3076);
    - ``pt_d``: ``sqrt(sum_i pt_i^2) / sum_i pt_i`` (CMS, arXiv:1209.2001): near 1 for one hard particle;
    - ``c2``, ``d2``: energy-correlation ratios with beta = 1 (Larkoski, Salam, Thaler arXiv:1305.0007;
      Larkoski, Moult, Neill arXiv:1409.6298), ``C2 = e3 / e2^2`` and ``D2 = e3 / e2^3`` with
      ``e2 = sum_{i<j} z_i z_j dR_ij`` and ``e3 = sum_{i<j<k} z_i z_j z_k dR_ij dR_ik dR_jk``,
      ``z_i = pt_i / sum pt``.  Small for one-prong jets, larger for two- and three-prong ones.
      e3 is computed exactly, as ``trace(A^3) / 6`` with ``A = sqrt(z_i) dR_ij sqrt(z_j)``.

    ``width`` uses the distance to the axis the coordinates are relative to; the four others do not
    depend on it.  Jets with no constituent get zeros.
    """
    c = _check_constituents(constituents).astype(np.float64)
    pt, deta, dphi = c[..., 0], c[..., 1], c[..., 2]
    mask = pt > 0
    pt = np.where(mask, pt, 0.0)
    total = pt.sum(axis=1)
    safe_total = np.where(total > 0, total, 1.0)
    out = {"mass": to_ptetaphim(jet_four_momentum(c))[3],
           "multiplicity": mask.sum(axis=1).astype(np.float64),
           "width": (pt * np.hypot(deta, dphi)).sum(axis=1) / safe_total,
           "pt_d": np.sqrt((pt ** 2).sum(axis=1)) / safe_total}
    e2 = np.zeros(len(c))
    e3 = np.zeros(len(c))
    # jets in batches of similar multiplicity, each cut to its longest jet (the cost grows as n^2 to n^3)
    multiplicity = mask.sum(axis=1)
    by_multiplicity = np.argsort(multiplicity, kind="stable")
    wrap = bool(np.any(np.abs(dphi[mask]) > np.pi / 2))  # differences of relative azimuths need wrapping only then
    for start in range(0, len(c), batch_size):
        rows = by_multiplicity[start:start + batch_size]
        keep = max(1, int(multiplicity[rows].max()))
        z = pt[rows, :keep] / safe_total[rows, None]
        x = np.stack([deta[rows, :keep], dphi[rows, :keep]], axis=-1)
        d_eta = x[:, :, None, 0] - x[:, None, :, 0]
        d_phi = x[:, :, None, 1] - x[:, None, :, 1]
        if wrap:
            d_phi = delta_phi(d_phi, 0.0)
        dr = np.sqrt(d_eta * d_eta + d_phi * d_phi)
        root = np.sqrt(z)
        a = dr * root[:, :, None]
        a *= root[:, None, :]
        e2[rows] = 0.5 * np.einsum("ni,nij,nj->n", root, a, root)
        e3[rows] = np.einsum("nij,nij->n", a @ a, a) / 6.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["c2"] = np.where(e2 > 0, e3 / np.where(e2 > 0, e2, 1.0) ** 2, 0.0)
        out["d2"] = np.where(e2 > 0, e3 / np.where(e2 > 0, e2, 1.0) ** 3, 0.0)
    for key in ("mass", "width", "pt_d"):
        out[key] = np.where(total > 0, out[key], 0.0)
    return out


def _flip_sign(pt, coordinate):
    """-1 for jets whose pt sum is larger at negative ``coordinate`` than at positive, else +1."""
    positive = (pt * (coordinate > 0)).sum(axis=1, keepdims=True)
    negative = (pt * (coordinate < 0)).sum(axis=1, keepdims=True)
    return np.where(positive < negative, -1.0, 1.0)


def jet_images(constituents, n_pixels: int = 40, half_width: float = 1.0, preprocess: bool = True):
    """Pixelated pt images of jets, as in de Oliveira et al., arXiv:1511.05190, and
    Macaluso & Shih, arXiv:1803.00107 (the preprocessing of arXiv:1701.08784).

    Parameters
    ----------
    constituents : array ``(n_jets, n_constituents, 3)`` of (pt [GeV], deta, dphi).
    n_pixels : pixels per side.
    half_width : the image covers ``[-half_width, half_width]`` in both eta and phi (radians).
    preprocess : if True, (1) centre on the pt-weighted centroid, (2) rotate so that the
        principal axis of the pt distribution lies along eta (vertical in ``plt.imshow``),
        (3) flip so that the harder half is at positive eta and at positive phi,
        (4) normalise each image to unit total intensity.
        If False, just pixelate the pt (in GeV) in the given coordinates.

    Returns
    -------
    float32 array ``(n_jets, n_pixels, n_pixels)``; axis 1 is eta (rows), axis 2 is phi.
    """
    c = _check_constituents(constituents).astype(np.float64)
    if n_pixels < 1 or half_width <= 0:
        raise ValueError(f"need n_pixels >= 1 and half_width > 0; got {n_pixels}, {half_width}")
    pt, x, y = c[..., 0].copy(), c[..., 1].copy(), c[..., 2].copy()
    mask = pt > 0
    pt[~mask] = 0.0
    if preprocess:
        w = pt / np.clip(pt.sum(axis=1, keepdims=True), 1e-12, None)
        x -= (w * x).sum(axis=1, keepdims=True)
        y -= (w * y).sum(axis=1, keepdims=True)
        # principal axis from the pt-weighted second moments
        sxx, syy, sxy = (w * x * x).sum(1), (w * y * y).sum(1), (w * x * y).sum(1)
        angle = 0.5 * np.arctan2(2 * sxy, sxx - syy)  # major axis angle w.r.t. the x (eta) axis
        rot = -angle  # rotate the major axis onto the eta axis: the image's rows, vertical in imshow
        cos, sin = np.cos(rot)[:, None], np.sin(rot)[:, None]
        x, y = cos * x - sin * y, sin * x + cos * y
        x *= _flip_sign(pt, x)
        y *= _flip_sign(pt, y)
    edges = np.linspace(-half_width, half_width, n_pixels + 1)
    ix = np.digitize(x, edges) - 1
    iy = np.digitize(y, edges) - 1
    inside = mask & (ix >= 0) & (ix < n_pixels) & (iy >= 0) & (iy < n_pixels)
    jet_index = np.broadcast_to(np.arange(len(c))[:, None], pt.shape)
    images = np.zeros((len(c), n_pixels, n_pixels))
    np.add.at(images, (jet_index[inside], ix[inside], iy[inside]), pt[inside])
    if preprocess:
        images /= np.clip(images.sum(axis=(1, 2), keepdims=True), 1e-12, None)
    return images.astype(np.float32)


def exclusive_kt_axes(constituents, n_axes: int):
    """Axes of exclusive kT clustering to exactly ``n_axes`` subjets, for N-subjettiness.

    Pairwise kT clustering with E-scheme recombination, distance
    ``min(pt_i^2, pt_j^2) dR_ij^2`` in (rapidity, phi), no beam distance (an infinite
    radius, as FastJet's ``exclusive_jets(n)`` with ``max_allowable_R``).  A plain loop
    over merges per jet, the readable reference (about 10 ms a jet): for many jets use
    :func:`exclusive_kt_axes_fastjet` or :func:`nsubjettiness_taus`, which give the same axes.

    Parameters
    ----------
    constituents : ``(n_jets, n_constituents, 3)`` of (pt [GeV], deta, dphi).
    n_axes : number of axes N >= 1.

    Returns
    -------
    ``(n_jets, n_axes, 2)`` array of axis (rapidity, phi) relative to the jet axis; a jet
    with fewer than N constituents gets its constituents as axes and the rest at (0, 0)
    with no weight (its tau_N is then 0).
    """
    c = _check_constituents(constituents).astype(np.float64)
    if n_axes < 1:
        raise ValueError(f"n_axes must be >= 1, got {n_axes}")
    axes = np.zeros((len(c), n_axes, 2))
    for j, jet in enumerate(c):
        jet = jet[jet[:, 0] > 0]
        p4 = to_cartesian(jet[:, 0], jet[:, 1], jet[:, 2])
        while len(p4) > n_axes:
            pt, _, phi, _ = to_ptetaphim(p4)
            rap = 0.5 * np.log((p4[:, 0] + p4[:, 3]) / np.clip(p4[:, 0] - p4[:, 3], 1e-12, None))
            d = np.minimum.outer(pt**2, pt**2) * ((rap[:, None] - rap[None]) ** 2 + delta_phi(phi[:, None], phi[None]) ** 2)
            np.fill_diagonal(d, np.inf)
            a, b = np.unravel_index(np.argmin(d), d.shape)
            merged = p4[a] + p4[b]
            p4 = np.vstack([np.delete(p4, [a, b], axis=0), merged])
        if len(p4):
            _, _, phi, _ = to_ptetaphim(p4)
            rap = 0.5 * np.log((p4[:, 0] + p4[:, 3]) / np.clip(p4[:, 0] - p4[:, 3], 1e-12, None))
            axes[j, : len(p4), 0], axes[j, : len(p4), 1] = rap, phi
    return axes


def nsubjettiness(constituents, axes, r0: float):
    """N-subjettiness tau_N (Thaler & Van Tilburg, arXiv:1011.2268), normalised.

    ``tau_N = sum_i pt_i min_k dR(i, axis_k) / (r0 sum_i pt_i)``, with dR in (rapidity, phi);
    for massless constituents rapidity equals pseudorapidity.

    Parameters
    ----------
    constituents : ``(n_jets, n_constituents, 3)`` of (pt [GeV], deta, dphi).
    axes : ``(n_jets, N, 2)`` axis (rapidity, phi) in the same relative frame, e.g. from
        :func:`exclusive_kt_axes`.
    r0 : the jet radius R used to normalise (0.8 for top jets, 1.0 for the dijet sample).

    Returns
    -------
    ``(n_jets,)`` float64 array of tau_N (dimensionless, between 0 and about 1).
    """
    c = _check_constituents(constituents).astype(np.float64)
    axes = np.asarray(axes, dtype=np.float64)
    if axes.ndim != 3 or axes.shape[0] != c.shape[0] or axes.shape[2] != 2:
        raise ValueError(f"axes must have shape (n_jets={c.shape[0]}, N, 2); got {axes.shape}")
    pt = np.clip(c[..., 0], 0.0, None)
    dr = np.hypot(c[..., 1, None] - axes[:, None, :, 0], delta_phi(c[..., 2, None], axes[:, None, :, 1]))
    numerator = (pt * dr.min(axis=-1)).sum(axis=1)
    return numerator / np.clip(r0 * pt.sum(axis=1), 1e-12, None)


# --- FastJet, where it is installed ---------------------------------------------------------
def resolve_backend(backend: str) -> str:
    """``"fastjet"`` or ``"numpy"``: what ``backend="auto"`` (FastJet where installed) means here."""
    if backend == "auto":
        return "fastjet" if have_fastjet() else "numpy"
    if backend not in ("fastjet", "numpy"):
        raise ValueError(f"backend must be 'auto', 'fastjet' or 'numpy'; got {backend!r}")
    return backend


def have_fastjet() -> bool:
    """True if the ``fastjet`` package (with its awkward-array interface) can be imported."""
    try:
        import awkward  # noqa: F401
        import fastjet  # noqa: F401
    except ImportError:
        return False
    return True


def _import_fastjet(what: str):
    try:
        import awkward
        import fastjet
    except ImportError as err:
        raise ImportError(f"{what} needs FastJet: pip install fastjet (or pip install -e \".[generate]\")") from err
    fastjet.ClusterSequence.print_banner = lambda *a: None  # once per process is enough
    return fastjet, awkward


def _massless_p4(constituents):
    """(n_jets, n, 4) float64 (E, px, py, pz) of massless constituents; padding is zero."""
    c = _check_constituents(constituents).astype(np.float64)
    p4 = to_cartesian(c[..., 0], c[..., 1], c[..., 2])
    p4[c[..., 0] <= 0] = 0.0
    return p4, c[..., 0] > 0


def _rapidity_phi(p4):
    energy, px, py, pz = np.moveaxis(np.asarray(p4, dtype=np.float64), -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rap = 0.5 * np.log((energy + pz) / np.clip(energy - pz, 1e-300, None))
    return np.where(energy > 0, rap, 0.0), np.arctan2(py, px)


def _fastjet_kt_axes(constituents, n_axes_list, chunk_size: int = 50_000) -> dict:
    """{N: axes} for each N in ``n_axes_list``, from one FastJet kT clustering per chunk of jets."""
    fastjet, ak = _import_fastjet("exclusive_kt_axes_fastjet")
    if min(n_axes_list) < 1:
        raise ValueError(f"n_axes must be >= 1, got {n_axes_list}")
    c = _check_constituents(constituents)
    axes = {n: np.zeros((len(c), n, 2)) for n in n_axes_list}
    jet_def = fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0)  # R >> any dR in a jet: no beam distance
    for start in range(0, len(c), chunk_size):
        p4, mask = _massless_p4(c[start:start + chunk_size])
        flat = p4[mask]
        particles = ak.unflatten(ak.zip({"px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3], "E": flat[:, 0]},
                                        with_name="Momentum4D"), mask.sum(axis=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FastJet's notice about exclusive jets and the algorithm
            sequence = fastjet.ClusterSequence(particles, jet_def)
            for n in n_axes_list:
                subjets = sequence.exclusive_jets_up_to(n)  # fewer than n constituents: each is an axis
                n_sub = ak.to_numpy(ak.num(subjets))
                sub_p4 = np.stack([ak.to_numpy(ak.flatten(subjets[k])) for k in ("E", "px", "py", "pz")], axis=-1)
                rap, phi = _rapidity_phi(sub_p4)
                jet_index = np.repeat(np.arange(len(n_sub)), n_sub)
                slot = np.arange(len(jet_index)) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub)
                axes[n][start + jet_index, slot, 0] = rap
                axes[n][start + jet_index, slot, 1] = phi
    return axes


def exclusive_kt_axes_fastjet(constituents, n_axes: int, chunk_size: int = 50_000):
    """:func:`exclusive_kt_axes` with FastJet's vectorised (awkward-array) interface.

    The same clustering (kT, E-scheme, no beam distance, massless constituents in the frame of
    the jet axis), run in C++ on many jets per call: well under a millisecond a jet instead of
    about 10 ms (numpy).  Same return value (the axes may come in another order, which
    N-subjettiness does not depend on).  ``chunk_size`` jets go to FastJet at a time, which
    bounds the memory.
    """
    return _fastjet_kt_axes(constituents, [n_axes], chunk_size)[n_axes]


def nsubjettiness_taus(constituents, r0: float, n_max: int = 3, backend: str = "auto",
                       chunk_size: int = 50_000):
    """tau_1 ... tau_{n_max} of every jet: exclusive-kT axes, then :func:`nsubjettiness`.

    Parameters
    ----------
    constituents : ``(n_jets, n_constituents, 3)`` of (pt [GeV], deta, dphi).
    r0 : the jet radius (0.8 for the top-tagging jets, 1.0 for the dijets).
    n_max : the largest N.
    backend : ``"fastjet"`` (vectorised FastJet), ``"numpy"`` (:func:`exclusive_kt_axes`, about
        20 ms a jet for N = 1, 2, 3) or ``"auto"`` (FastJet where installed).
    chunk_size : jets per step; the memory is bounded by it, not by the number of jets.

    Returns
    -------
    ``(n_jets, n_max)`` float64 array; column ``N - 1`` is tau_N.
    """
    backend = resolve_backend(backend)
    c = _check_constituents(constituents)
    taus = np.zeros((len(c), n_max))
    ns = list(range(1, n_max + 1))
    for start in range(0, len(c), chunk_size):
        part = c[start:start + chunk_size]
        if backend == "fastjet":
            axes = _fastjet_kt_axes(part, ns, chunk_size)
        else:
            axes = {n: exclusive_kt_axes(part, n) for n in ns}
        for n in ns:
            taus[start:start + len(part), n - 1] = nsubjettiness(part, axes[n], r0)
    return taus


def cluster_order(constituents, n_out: int | None = None):
    """The clustering-history order of each jet's constituents (the substructure ordering of Egan et al., arXiv:1711.09059).

    The real constituents of a jet are clustered with Cambridge/Aachen (FastJet, E-scheme,
    massless, in the jet's frame) into one jet; the clustering tree is then walked depth first
    from the root, always into the harder (larger pt) of the two branches first, and the
    leaves (the constituents) are listed in the order they are reached.

    Parameters
    ----------
    constituents : ``(n_jets, n_constituents, 3)`` of (pt [GeV], deta, dphi), zero-padded.
    n_out : length of each permutation (default ``n_constituents``).

    Returns
    -------
    ``(n_jets, n_out)`` int64 array: for each jet a permutation of ``0 .. n_out - 1`` listing
    the real constituents in history order, then the padding slots in ascending order, so that
    ``np.take_along_axis(constituents, order[..., None], axis=1)`` reorders the jets.
    Needs FastJet; a plain Python walk of the tree, about a millisecond a jet.
    """
    fastjet, _ = _import_fastjet("cluster_order")
    c = _check_constituents(constituents)
    n_out = c.shape[1] if n_out is None else n_out
    if n_out < c.shape[1]:
        raise ValueError(f"n_out = {n_out} is smaller than the {c.shape[1]} constituent slots")
    jet_def = fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0)
    order = np.empty((len(c), n_out), dtype=np.int64)
    for j in range(len(c)):
        p4, mask = _massless_p4(c[j:j + 1])
        real = np.flatnonzero(mask[0])
        history = []
        if len(real):
            inputs = []
            for i in real:
                e, px, py, pz = p4[0, i]
                pseudo = fastjet.PseudoJet(px, py, pz, e)
                pseudo.set_user_index(int(i))
                inputs.append(pseudo)
            cs = fastjet.ClusterSequence(inputs, jet_def)
            (root,) = cs.inclusive_jets()
            stack = [root]
            while stack:
                node = stack.pop()
                a, b = fastjet.PseudoJet(), fastjet.PseudoJet()
                if cs.has_parents(node, a, b):
                    hard, soft = (a, b) if a.pt() >= b.pt() else (b, a)
                    stack += [soft, hard]  # the harder branch is popped, so visited, first
                else:
                    history.append(node.user_index())
        padding = np.setdiff1d(np.arange(n_out), history)
        order[j] = np.concatenate([np.asarray(history, dtype=np.int64), padding])
    return order
