"""Graph and Lorentz-equivariant networks for jets, in plain torch (notebook 19).

A jet is a set of particles (notebook 06).  Two ways to build more structure into a set network:

* **EdgeConv** (Wang et al., DGCNN, arXiv:1801.07829; for jets **ParticleNet**, Qu and Gouskos,
  arXiv:1902.08570): each particle is joined to its ``k`` nearest neighbours in the
  ``(eta, phi)`` plane; an edge function ``h(x_i, x_j - x_i)`` (a small MLP) looks at each
  pair, and the particle's new features are the mean over its neighbours.  Local structure
  (a subjet, a prong) is seen directly.  Permutation *equivariant* block by block, invariant
  after the pooling over particles.
* **Lorentz-equivariant message passing** (Gong et al., **LorentzNet**, arXiv:2201.08187): the
  particles keep their four-momenta ``x_i`` and scalar features ``h_i``.  Messages are built
  from Minkowski products ``<x_i, x_j>`` and ``|x_i - x_j|^2`` only (Lorentz invariants), the
  scalars are updated from the messages, and the four-vectors are updated as
  ``x_i + c sum_j phi_x(m_ij) x_j``, a linear combination of four-vectors, which transforms
  exactly as ``x_i`` does.  The output is then invariant under *every* Lorentz transformation
  of the inputs.

Beams.  A jet's physics is not invariant under all Lorentz transformations: the colliding beams
define an axis (``z``).  LorentzNet adds the two beams as extra particles.  Taken literally,
``b = (1, 0, 0, +-1)`` are not left alone by a boost along ``z`` (it rescales them by
``exp(+-y)``).  Here each beam is scaled by the jet's light-cone momentum along the other one,
``n_+ = b_+ (J.b_-)/2`` and ``n_- = b_- (J.b_+)/2`` (``J`` the jet's four-momentum), so that
``n_+ + n_- = (E_J, 0, 0, p_z,J)``.  Such ``n_+-`` transform with the particles under boosts
along the beam and rotations about it, so the output stays invariant under those (and only
those): a transverse boost changes it.

Units and shapes.  Four-vectors are ``(E, px, py, pz)`` in GeV, arrays ``(n_jets, n, 4)``,
zero-padded after the last real particle; a boolean mask ``(n_jets, n)`` marks real particles.
The metric is ``diag(+1, -1, -1, -1)``.  Every network accepts float32 for training and float64
(``model.double()``) for symmetry tests.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

__all__ = ["constituent_four_vectors", "minkowski_dot", "boost_matrix", "rotation_matrix", "random_lorentz",
           "transform_four_vectors", "knn_indices", "EdgeConvBlock", "EdgeConvNet", "LorentzBlock",
           "LorentzNet", "beam_references", "psi"]

METRIC = (1.0, -1.0, -1.0, -1.0)


# --- four-vectors and Lorentz transformations --------------------------------------------------
def constituent_four_vectors(constituents, jet_eta=None, jet_phi=None):
    """Massless four-vectors of the constituents, in the lab frame if the jet's direction is known.

    Parameters
    ----------
    constituents : ``(n_jets, n, 3)`` of (pT [GeV], delta-eta, delta-phi) relative to the jet axis,
        zero-padded (``pt == 0``), as in ``utils.data.load("top_tagging")["constituents"]``.
    jet_eta, jet_phi : ``(n_jets,)`` the jet's direction; ``None`` puts the jet at ``eta = phi = 0``
        (the jet frame: the jet along ``x``, transverse to the beam).

    Returns
    -------
    ``(n_jets, n, 4)`` float64 of (E, px, py, pz) [GeV] with ``E = |p|`` (massless); padded rows 0.
    """
    c = np.asarray(constituents, dtype=np.float64)
    if c.ndim != 3 or c.shape[-1] != 3:
        raise ValueError(f"constituents must have shape (n_jets, n, 3) of (pt, deta, dphi); got {c.shape}")
    eta, phi = c[..., 1], c[..., 2]
    if jet_eta is not None:
        eta = eta + np.asarray(jet_eta, dtype=np.float64).reshape(-1, 1)
    if jet_phi is not None:
        phi = phi + np.asarray(jet_phi, dtype=np.float64).reshape(-1, 1)
    pt = c[..., 0]
    p = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    p[pt <= 0] = 0.0
    return p


def minkowski_dot(a, b):
    """``a^0 b^0 - a.b`` over the last axis (length 4); numpy arrays or torch tensors, broadcast."""
    if a.shape[-1] != 4 or b.shape[-1] != 4:
        raise ValueError(f"four-vectors need a last axis of length 4; got {tuple(a.shape)} and {tuple(b.shape)}")
    return a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1] - a[..., 2] * b[..., 2] - a[..., 3] * b[..., 3]


def boost_matrix(beta) -> np.ndarray:
    """The 4x4 pure boost with velocity ``beta`` (3 components, ``|beta| < 1``), acting on (E, px, py, pz)."""
    beta = np.asarray(beta, dtype=np.float64)
    if beta.shape != (3,):
        raise ValueError(f"beta must have 3 components; got shape {beta.shape}")
    b2 = float(beta @ beta)
    if b2 >= 1:
        raise ValueError(f"|beta| must be below 1; got {np.sqrt(b2):.6f}")
    gamma = 1.0 / np.sqrt(1.0 - b2)
    lam = np.eye(4)
    lam[0, 0] = gamma
    lam[0, 1:] = lam[1:, 0] = gamma * beta
    if b2 > 0:
        lam[1:, 1:] += (gamma - 1) * np.outer(beta, beta) / b2
    return lam


def rotation_matrix(axis, angle: float) -> np.ndarray:
    """The 4x4 rotation by ``angle`` [rad] about the 3-vector ``axis`` (Rodrigues), time component untouched."""
    axis = np.asarray(axis, dtype=np.float64)
    if axis.shape != (3,) or not np.linalg.norm(axis) > 0:
        raise ValueError(f"axis must be a non-zero 3-vector; got {axis}")
    u = axis / np.linalg.norm(axis)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    lam = np.eye(4)
    lam[1:, 1:] = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    return lam


def random_lorentz(rng, max_rapidity: float = 1.0, beam_only: bool = False) -> np.ndarray:
    """A random proper orthochronous Lorentz transformation, 4x4.

    ``beam_only=False``: a rotation about a random axis, a boost of rapidity up to ``max_rapidity``
    in a random direction, and another random rotation.  ``beam_only=True``: only the subgroup
    that keeps the beam axis: a boost along ``z`` (rapidity up to ``max_rapidity``) and a rotation
    about ``z``.  ``rng`` is a ``numpy.random.Generator``.
    """
    y = rng.uniform(-max_rapidity, max_rapidity)
    if beam_only:
        return boost_matrix([0.0, 0.0, np.tanh(y)]) @ rotation_matrix([0, 0, 1], rng.uniform(-np.pi, np.pi))
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    rot = lambda: rotation_matrix(rng.normal(size=3), rng.uniform(-np.pi, np.pi))  # noqa: E731
    return rot() @ boost_matrix(np.tanh(abs(y)) * direction) @ rot()


def transform_four_vectors(p4, lam):
    """Apply the 4x4 matrix ``lam`` to every four-vector of ``p4`` ``(..., 4)``; zero rows stay zero."""
    p4, lam = np.asarray(p4, dtype=np.float64), np.asarray(lam, dtype=np.float64)
    if lam.shape != (4, 4) or p4.shape[-1] != 4:
        raise ValueError(f"need a (4, 4) matrix and (..., 4) four-vectors; got {lam.shape} and {p4.shape}")
    return p4 @ lam.T


def psi(a):
    """LorentzNet's squashing of invariants: ``sign(a) log(1 + |a|)`` (tensor in, tensor out)."""
    return torch.sign(a) * torch.log1p(torch.abs(a))


def beam_references(p4, mask):
    """The two beam reference vectors of a jet, scaled to its light-cone momenta: ``(batch, 2, 4)``.

    ``n_+ = (J.b_-)/2 (1, 0, 0, 1)`` and ``n_- = (J.b_+)/2 (1, 0, 0, -1)``, with ``J`` the sum of
    the real four-vectors and ``b_+- = (1, 0, 0, +-1)``; ``n_+ + n_- = (E_J, 0, 0, p_z,J)``.  Under a
    boost along ``z`` or a rotation about it (applied to the particles) they transform as the
    particles do, unlike fixed vectors ``b_+-``.
    """
    jet = (p4 * mask.unsqueeze(-1).to(p4.dtype)).sum(dim=1)  # (batch, 4)
    e, pz = jet[:, 0], jet[:, 3]
    zero = torch.zeros_like(e)
    plus = 0.5 * (e + pz)   # J.b_- / 2 = (E + pz) / 2
    minus = 0.5 * (e - pz)  # J.b_+ / 2
    return torch.stack([torch.stack([plus, zero, zero, plus], -1), torch.stack([minus, zero, zero, -minus], -1)], 1)


# --- EdgeConv --------------------------------------------------------------------------------
def knn_indices(coords, mask, k: int):
    """Indices of each particle's ``k`` nearest real neighbours (itself excluded) in ``coords``.

    Parameters
    ----------
    coords : ``(batch, n, d)`` tensor, e.g. (delta-eta, delta-phi).
    mask : ``(batch, n)`` bool, True for real particles.
    k : neighbours per particle.

    Returns
    -------
    ``(idx, valid)``: ``idx`` ``(batch, n, k)`` int64 and ``valid`` ``(batch, n, k)`` bool, False
    where a jet has fewer than ``k + 1`` real particles (those slots point at padding and must be
    ignored).  Exact ties in distance are broken by a fixed generic function of the candidate's
    coordinates, not by its slot, so the graph does not depend on the order of the particles.
    """
    if coords.ndim != 3 or mask.shape != coords.shape[:2]:
        raise ValueError(f"coords must be (batch, n, d) and mask (batch, n); got {tuple(coords.shape)}, "
                         f"{tuple(mask.shape)}")
    n = coords.shape[1]
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n - 1 = {n - 1}; got {k}")
    d2 = ((coords.unsqueeze(2) - coords.unsqueeze(1)) ** 2).sum(-1)  # (batch, n, n)
    tie = torch.linspace(0.3, 1.7, coords.shape[-1], dtype=coords.dtype, device=coords.device)
    d2 = d2 + 1e-9 * torch.tanh(coords @ tie).unsqueeze(1)  # depends on the candidate only
    bad = ~mask.unsqueeze(1) | torch.eye(n, dtype=torch.bool, device=coords.device).unsqueeze(0)
    d2 = d2.masked_fill(bad, float("inf"))
    dist, idx = torch.topk(d2, k, dim=-1, largest=False, sorted=False)
    return idx, torch.isfinite(dist)


def _gather(x, idx):
    """``x`` ``(batch, n, c)``, ``idx`` ``(batch, n, k)`` -> ``(batch, n, k, c)``: ``x[b, idx[b, i, j]]``."""
    batch, n, k = idx.shape
    flat = idx.reshape(batch, n * k, 1).expand(-1, -1, x.shape[-1])
    return torch.gather(x, 1, flat).reshape(batch, n, k, x.shape[-1])


class EdgeConvBlock(nn.Module):
    """One EdgeConv layer: ``x_i' = relu(W x_i + mean_{j in kNN(i)} h(x_i, x_j - x_i))``.

    ``h`` is an MLP of ``len(widths)`` layers; its first layer is applied to the particles before
    the neighbours are gathered (``W_a x_i + W_b (x_j - x_i)`` = ``(W_a - W_b) x_i + W_b x_j``),
    the same function computed ``k`` times more cheaply.  Call as ``block(x, idx, valid, mask)``
    with ``x`` ``(batch, n, c_in)`` and the graph of :func:`knn_indices`; returns ``(batch, n,
    widths[-1])``, zero on padded particles.
    """

    def __init__(self, c_in: int, widths=(32, 32)):
        super().__init__()
        self.own = nn.Linear(c_in, widths[0])
        self.neighbour = nn.Linear(c_in, widths[0], bias=False)
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.ReLU(), nn.Linear(a, b)]
        self.rest = nn.Sequential(*layers, nn.ReLU())
        self.shortcut = nn.Linear(c_in, widths[-1])

    def forward(self, x, idx, valid, mask):
        first = self.own(x) - self.neighbour(x)                               # (batch, n, w): the x_i part
        edges = first.unsqueeze(2) + _gather(self.neighbour(x), idx)          # (batch, n, k, w)
        edges = self.rest(edges) * valid.unsqueeze(-1).to(x.dtype)
        agg = edges.sum(2) / valid.sum(-1, keepdim=True).clamp(min=1).to(x.dtype)
        return torch.relu(self.shortcut(x) + agg) * mask.unsqueeze(-1).to(x.dtype)


class EdgeConvNet(nn.Module):
    """A small ParticleNet: EdgeConv blocks on the kNN graph in (eta, phi), a pooling, an MLP.

    Call as ``model(x, coords, mask)``: ``x`` ``(batch, n, n_features)``, ``coords`` ``(batch, n,
    2)`` the (delta-eta, delta-phi) of the graph, ``mask`` ``(batch, n)`` (any dtype, nonzero =
    real).  Returns logits ``(batch,)``.  The pooling is the mean over real particles, so the
    output does not depend on their order.

    Parameters
    ----------
    n_features : inputs per particle (5 for :func:`utils.jets.constituent_features`, standardised).
    k : neighbours per particle.
    blocks : widths of each EdgeConv block's edge MLP, e.g. ``((32, 32), (32, 32))``.
    head : hidden widths of the final MLP (one logit out).
    dynamic : recompute the neighbours in each later block's feature space, as ParticleNet and
        DGCNN do (False: the (eta, phi) graph throughout, cheaper).
    """

    def __init__(self, n_features: int = 5, k: int = 8, blocks=((32, 32), (32, 32)), head=(64,),
                 dynamic: bool = False):
        super().__init__()
        self.k, self.dynamic = k, dynamic
        widths_in = [n_features] + [b[-1] for b in blocks[:-1]]
        self.blocks = nn.ModuleList(EdgeConvBlock(c, w) for c, w in zip(widths_in, blocks))
        sizes = [blocks[-1][-1], *head]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.head = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def pooled(self, x, coords, mask):
        """The mean over real particles of the last block's features: ``(batch, width)``."""
        mask = mask.bool()
        k = min(self.k, x.shape[1] - 1)
        idx, valid = knn_indices(coords, mask, k)
        for i, block in enumerate(self.blocks):
            if self.dynamic and i > 0:
                idx, valid = knn_indices(x, mask, k)
            x = block(x, idx, valid, mask)
        return x.sum(1) / mask.sum(1, keepdim=True).clamp(min=1).to(x.dtype)

    def forward(self, x, coords, mask):
        return self.head(self.pooled(x, coords, mask)).squeeze(-1)


# --- Lorentz-equivariant message passing ----------------------------------------------------
class LorentzBlock(nn.Module):
    """One Lorentz group equivariant block (LorentzNet's LGEB, arXiv:2201.08187, eqs. 3.2-3.5).

    ``m_ij = phi_e(h_i, h_j, psi(|x_i - x_j|^2), psi(<x_i, x_j>))``,
    ``x_i' = x_i + c sum_j phi_x(m_ij) x_j``,  ``h_i' = h_i + phi_h(h_i, sum_j w_ij m_ij)`` with
    ``w_ij = sigmoid(phi_m(m_ij))``; the sums run over the other real particles (the sum of
    messages divided by their number, so that jets of any size give messages of one scale).  Call as
    ``block(h, x, pair)`` with ``h`` ``(batch, n, width)``, ``x`` ``(batch, n, 4)`` and ``pair``
    ``(batch, n, n)`` the float mask of the pairs that exchange messages.  Returns ``(h', x')``.
    The messages have ``message_width`` components: they are computed for every pair, ``n^2`` of
    them, and dominate the cost; the scalars (``width``) only ``n`` times.
    """

    def __init__(self, width: int = 32, message_width: int = 16, c: float = 1e-3, invariant_scale: float = 0.15):
        super().__init__()
        self.c = c
        # phi_e's first layer acts on h_i, h_j and the two invariants separately (the same linear map of their
        # concatenation), so that the per-pair work is only what depends on the pair
        self.e_i, self.e_j = nn.Linear(width, message_width), nn.Linear(width, message_width, bias=False)
        self.e_inv = nn.Linear(2, message_width, bias=False)
        self.e_out = nn.Sequential(nn.ReLU(), nn.Linear(message_width, message_width), nn.ReLU())
        self.gates = nn.Linear(message_width, 2)  # phi_m (the weight's logit) and phi_x (the four-vector step)
        self.h = nn.Sequential(nn.Linear(width + message_width, width), nn.ReLU(), nn.Linear(width, width))
        # psi of the two invariants is standardised with fixed constants (LorentzNet.fit_standardizer sets them)
        self.register_buffer("inv_shift", torch.zeros(2))
        self.register_buffer("inv_scale", torch.full((2,), 1.0 / invariant_scale))

    def invariants(self, x):
        """``psi(|x_i - x_j|^2)`` and ``psi(<x_i, x_j>)`` of every pair: ``(batch, n, n, 2)``, not yet standardised."""
        dots = minkowski_dot(x.unsqueeze(2), x.unsqueeze(1))                  # (batch, n, n) <x_i, x_j>
        sq = minkowski_dot(x, x)
        dist = sq.unsqueeze(2) + sq.unsqueeze(1) - 2 * dots                     # |x_i - x_j|^2
        return psi(torch.stack([dist, dots], -1))

    def forward(self, h, x, pair):
        inv = (self.invariants(x) - self.inv_shift) / self.inv_scale            # (batch, n, n, 2)
        m = self.e_out(self.e_i(h).unsqueeze(2) + self.e_j(h).unsqueeze(1) + self.e_inv(inv))
        gate_logit, coef = self.gates(m).unbind(-1)                             # (batch, n, n) each
        weight = torch.sigmoid(gate_logit) * pair
        partners = pair.sum(2, keepdim=True).clamp(min=1)                      # (batch, n, 1)
        agg = (weight.unsqueeze(-1) * m).sum(2) / partners                      # the mean message
        x = x + self.c * ((coef * pair).unsqueeze(-1) * x.unsqueeze(1)).sum(2)  # sum_j phi_x(m_ij) x_j
        h = h + self.h(torch.cat([h, agg], -1))
        return h, x


class LorentzNet(nn.Module):
    """A small LorentzNet: Lorentz-invariant scalars in, equivariant blocks, a pooling, an MLP.

    Call as ``model(p4, mask)`` with ``p4`` ``(batch, n, 4)`` the (E, px, py, pz) [GeV] of the
    particles and ``mask`` ``(batch, n)`` (nonzero = real).  Returns logits ``(batch,)``.  The
    particles' initial scalars are Lorentz invariants: ``psi(<x_i, J>)`` and ``psi(<J, J>)`` with
    ``J`` the jet's four-momentum, a flag that marks the beams and, with beams, ``psi(<x_i, n_+>)``
    and ``psi(<x_i, n_->)`` (invariant under the beam's group: they hold the particle's pT and its
    rapidity relative to the jet).

    Parameters
    ----------
    width : scalar features per particle.
    n_blocks : Lorentz blocks.
    message_width : components of each pair's message (the cost grows as ``n^2 message_width``).
    beams : add the two beam reference particles of :func:`beam_references` (the output is then
        invariant only under boosts along the beam and rotations about it), else none (invariant
        under every Lorentz transformation).
    c : the step of the four-vector update.
    scale : four-vectors are divided by this [GeV] before use (a constant: keeps the symmetry).
    invariant_scale : the invariants enter as ``(psi(invariant) - shift) / width``; until
        :meth:`fit_standardizer` sets ``shift`` and ``width`` from training jets (do call it: it
        makes the difference between a network that learns little beyond the jet mass and one
        that learns the substructure), ``shift = 0`` and ``width = 1 / invariant_scale``.  With the
        default ``scale`` (four-vectors in units of 0.1 GeV) a pair of 10 GeV particles 0.1 apart
        has ``<x_i, x_j> = 0.5 GeV^2 = 50`` units and ``psi = 3.9``, a top jet ``<J, J> = 3 10^4
        GeV^2`` has ``psi = 15``: the logarithm resolves soft pairs and the jet mass alike.
    """

    def __init__(self, width: int = 32, n_blocks: int = 2, beams: bool = False, message_width: int = 16,
                 c: float = 1e-3, scale: float = 0.1, invariant_scale: float = 0.15, head=(32,)):
        super().__init__()
        self.beams, self.scale, self.invariant_scale = beams, scale, invariant_scale
        n_scalars = 4 if beams else 2
        self.register_buffer("scalar_shift", torch.zeros(n_scalars))
        self.register_buffer("scalar_scale", torch.full((n_scalars,), 1.0 / invariant_scale))
        self.embed = nn.Sequential(nn.Linear(n_scalars + 1, width), nn.ReLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(LorentzBlock(width, message_width, c=c, invariant_scale=invariant_scale)
                                    for _ in range(n_blocks))
        sizes = [width, *head]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.head = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def references(self, x, mask):
        """The beam reference particles ``(batch, 2, 4)`` added when ``beams=True``: :func:`beam_references`."""
        return beam_references(x, mask)

    def _inputs(self, p4, mask):
        # the four-vectors (beams appended), the float mask, the beam flag and psi of the initial scalars
        if p4.ndim != 3 or p4.shape[-1] != 4 or mask.shape != p4.shape[:2]:
            raise ValueError(f"p4 must be (batch, n, 4) and mask (batch, n); got {tuple(p4.shape)}, {tuple(mask.shape)}")
        mask = mask.to(p4.dtype)
        x = p4 / self.scale
        flag = torch.zeros_like(mask)
        if self.beams:
            x = torch.cat([x, self.references(x, mask)], 1)
            ones = torch.ones(len(mask), 2, dtype=mask.dtype, device=mask.device)
            mask, flag = torch.cat([mask, ones], 1), torch.cat([flag, ones], 1)
        jet = (x * mask.unsqueeze(-1))[:, : p4.shape[1]].sum(1, keepdim=True)   # (batch, 1, 4): the particles only
        invariants = [minkowski_dot(x, jet), minkowski_dot(jet, jet).expand_as(flag)]
        if self.beams:  # each particle's products with the two beams: its pT and rapidity, in invariant form
            invariants += [minkowski_dot(x, x[:, -2:-1]), minkowski_dot(x, x[:, -1:])]
        return x, mask, flag, psi(torch.stack(invariants, -1))

    @torch.no_grad()
    def fit_standardizer(self, p4, mask, max_jets: int = 2000):
        """Set the constants that standardise the invariants: their mean and standard deviation over real particles.

        ``psi`` of the initial scalars and of the pair invariants of the first block, computed on
        (at most ``max_jets`` of) the training jets ``p4`` ``(n_jets, n, 4)`` [GeV] and ``mask``; every
        block uses the pair constants.  Constants do not change the symmetry: a standardised
        invariant is still invariant.  Call once before training, as ``sets.fit_standardizer`` for the PFN.
        """
        p4 = torch.as_tensor(p4[:max_jets], dtype=torch.float64)
        x, m, flag, scalars = self._inputs(p4, torch.as_tensor(mask[:max_jets], dtype=torch.float64))
        real = (m * (1 - flag)).bool()
        self.scalar_shift.copy_(scalars[real].mean(0))
        self.scalar_scale.copy_(scalars[real].std(0).clamp(min=1e-3))
        pairs = (m.unsqueeze(2) * m.unsqueeze(1) * (1 - torch.eye(x.shape[1], dtype=x.dtype))).bool()
        inv = self.blocks[0].invariants(x)[pairs] if len(self.blocks) else torch.zeros(2, 2)
        for block in self.blocks:
            block.inv_shift.copy_(inv.mean(0))
            block.inv_scale.copy_(inv.std(0).clamp(min=1e-3))
        return self

    def pooled(self, p4, mask):
        """The mean over real particles of the last block's scalars: ``(batch, width)``."""
        x, mask, flag, scalars = self._inputs(p4, mask)
        scalars = torch.cat([(scalars - self.scalar_shift) / self.scalar_scale, flag.unsqueeze(-1)], -1)
        h = self.embed(scalars) * mask.unsqueeze(-1)
        n = x.shape[1]
        pair = mask.unsqueeze(2) * mask.unsqueeze(1) * (1 - torch.eye(n, dtype=x.dtype, device=x.device))
        for block in self.blocks:
            h, x = block(h, x, pair)
        real = mask * (1 - flag)                                                # pool the particles, not the beams
        return (h * real.unsqueeze(-1)).sum(1) / real.sum(1, keepdim=True).clamp(min=1)

    def forward(self, p4, mask):
        return self.head(self.pooled(p4, mask)).squeeze(-1)
