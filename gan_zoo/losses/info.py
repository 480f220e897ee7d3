"""InfoGAN's mutual-information term (Chen et al. 2016): a variational lower bound on I(c; G(z, c)).

L_I = E[log Q(c | G(z, c))] + H(c) <= I(c; G(z, c)). With H(c) constant, maximising L_I is minimising the
negative log-likelihood of the codes under Q: cross-entropy for the categorical code, and for the continuous
codes a factored Gaussian with unit variance, i.e. 1/2 (c - mu)^2 up to a constant.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def info_nll(
    cat_logits: torch.Tensor | None,
    cat_codes: torch.Tensor | None,
    cont_mean: torch.Tensor | None,
    cont_codes: torch.Tensor | None,
    lambda_cat: float = 1.0,
    lambda_cont: float = 0.1,
) -> torch.Tensor:
    """lambda_cat * CE(Q_cat, c_cat) + lambda_cont * 1/2 ||c_cont - mu||^2 (mean over the batch): minimised by
    G and Q."""
    loss = torch.zeros((), device=(cat_logits if cat_logits is not None else cont_mean).device)
    if cat_logits is not None and cat_codes is not None:
        loss = loss + lambda_cat * F.cross_entropy(cat_logits.float(), cat_codes)
    if cont_mean is not None and cont_codes is not None and cont_codes.shape[1] > 0:
        loss = loss + lambda_cont * 0.5 * (cont_mean.float() - cont_codes.float()).pow(2).sum(1).mean()
    return loss


def categorical_mi_lower_bound(cat_logits: torch.Tensor, cat_codes: torch.Tensor) -> torch.Tensor:
    """H(c) - CE = log K - CE for a uniform K-way code, in nats: 0 when Q guesses, log K when Q is certain and right."""
    return math.log(cat_logits.shape[1]) - F.cross_entropy(cat_logits.float(), cat_codes)


def iic_mutual_information(p: torch.Tensor, p_aug: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """IIC (Ji et al. 2019): I(c; c') of the cluster assignments of images and their augmented copies, in nats.

    p, p_aug: [N, K] softmax predictions for x and aug(x). The joint P = mean_n p_n p'_n^T, symmetrised; the value
    is sum P log(P / (P_row P_col)): log K for confident, balanced assignments that agree under augmentation,
    0 when they are independent (e.g. one cluster for everything). Maximised (returned positive).
    """
    joint = (p.float().unsqueeze(2) * p_aug.float().unsqueeze(1)).mean(0)
    joint = ((joint + joint.t()) / 2).clamp_min(eps)
    row, col = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
    return (joint * (joint.log() - row.log() - col.log())).sum()
