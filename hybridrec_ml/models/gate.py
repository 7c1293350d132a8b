"""Context gate: fusion weights over the components from the interaction's temporal context."""

from __future__ import annotations

import torch
from torch import nn


class ContextGate(nn.Module):
    """alpha = softmax(Linear[hidden -> K](ReLU(Linear[context_dim -> hidden](context))))."""

    def __init__(self, context_dim: int, hidden: int, n_components: int, out_init_std: float | None = None) -> None:
        super().__init__()
        self.hidden = nn.Linear(context_dim, hidden)
        self.out = nn.Linear(hidden, n_components)
        if out_init_std is not None:  # v2: near-uniform alpha at the start, so no component wins by init
            nn.init.normal_(self.out.weight, std=out_init_std)
            nn.init.zeros_(self.out.bias)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """context [B, context_dim] -> alpha [B, K], rows summing to 1"""
        return torch.softmax(self.out(torch.relu(self.hidden(context))), dim=-1)
