"""Context gate: fusion weights over the components from the interaction's temporal context."""

from __future__ import annotations

import torch
from torch import nn

from hybridrec_ml.models.gate_fixes import keep_top_k, noisy_logits


class ContextGate(nn.Module):
    """alpha = softmax(logits + b), logits = Linear[hidden -> K](ReLU(Linear[input_dim -> hidden](x))).

    Options (issue 14): `top_k` adds Shazeer's noise layer and keeps the k largest noisy logits (noise in
    training only); `balance_bias` adds the loss-free balancing bias b, a buffer the hybrid moves
    outside the gradient (absent, i.e. 0, unless that fix is on).
    """

    def __init__(
        self, input_dim: int, hidden: int, n_components: int, out_init_std: float | None = None,
        top_k: int | None = None, balance_bias: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.hidden = nn.Linear(input_dim, hidden)
        self.out = nn.Linear(hidden, n_components)
        if out_init_std is not None:  # v2: near-uniform alpha at the start, so no component wins by init
            nn.init.normal_(self.out.weight, std=out_init_std)
            nn.init.zeros_(self.out.bias)
        self.top_k = top_k
        self.noise = nn.Linear(hidden, n_components) if top_k is not None else None
        self.balance_bias: torch.Tensor | None
        if balance_bias:
            self.register_buffer("balance_bias", torch.zeros(n_components))
        else:
            self.balance_bias = None

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, input_dim] -> the logits [B, K] the softmax turns into alpha (before any balance bias)."""
        hidden = torch.relu(self.hidden(x))
        logits = self.out(hidden)
        if self.noise is not None and self.top_k is not None:
            if self.training:
                logits = noisy_logits(logits, self.noise(hidden))
            logits = keep_top_k(logits, self.top_k)
        return logits

    def weights(self, logits: torch.Tensor) -> torch.Tensor:
        """logits [B, K] -> alpha [B, K], rows summing to 1"""
        if self.balance_bias is not None:
            logits = logits + self.balance_bias
        return torch.softmax(logits, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, input_dim] -> alpha [B, K], rows summing to 1"""
        return self.weights(self.logits(x))
