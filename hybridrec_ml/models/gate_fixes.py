"""Mechanisms against gate collapse beyond the study's v2 regularisers (issue 14), as small pure functions.

Each is switched on by one field of `VariantConfig`; the gate and the hybrid only call these, so each
mechanism has one definition and a test on hand-built numbers.
"""

from __future__ import annotations

import torch


def keep_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k gating (Shazeer et al. 2017): the k largest logits of each row stay, the rest become -inf,
    so their softmax weight is exactly 0."""
    if k >= logits.shape[-1]:
        return logits
    kept = torch.topk(logits, k, dim=-1).indices
    mask = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, kept, True)
    return logits.masked_fill(~mask, float("-inf"))


def noisy_logits(logits: torch.Tensor, noise_logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """H = logits + N(0, 1) · softplus(noise_logits): Shazeer's tunable Gaussian noise (training only)."""
    noise = torch.randn(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    return logits + noise * torch.nn.functional.softplus(noise_logits)


def z_loss(logits: torch.Tensor) -> torch.Tensor:
    """mean_rows logsumexp(logits)²: keeps gate logits small, so the softmax cannot saturate (ST-MoE)."""
    return torch.logsumexp(logits.float(), dim=-1).square().mean()


def balance_bias_step(bias: torch.Tensor, alpha: torch.Tensor, rate: float) -> torch.Tensor:
    """Loss-free balancing (Wang et al. 2024): b_k + rate · sign(1/K − mean_rows α_k).

    An over-used component's bias goes down, an under-used one's up; no gradient flows through it.
    """
    target = 1.0 / alpha.shape[-1]
    return bias + rate * torch.sign(target - alpha.detach().float().mean(dim=0))
