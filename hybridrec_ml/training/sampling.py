"""Uniform negative sampling without collisions, as whole tensors (no per-row Python loop)."""

from __future__ import annotations

import torch

from hybridrec_ml.tensors.bundle import TrainingBundle


class NegativeSampler:
    """Negatives drawn uniformly from the training catalogue minus the user's own training items.

    A draw r ~ U[0, free_u) (torch.randint) is moved past the user's items onto the r-th free
    catalogue position: if the user holds positions s_0 < s_1 < ..., that is r + j with j the number
    of k where s_k - k <= r. The keys user * M + (s_k - k) are globally sorted, so j for a whole
    batch is one searchsorted: exact, collision-free, and a single pass.
    """

    def __init__(self, bundle: TrainingBundle) -> None:
        self.catalogue = torch.nonzero(bundle.item_train_count > 0).squeeze(1)  # [M] item_idx seen in train
        size = self.catalogue.numel()
        position = torch.full((bundle.n_items,), -1, dtype=torch.int64)
        position[self.catalogue] = torch.arange(size)
        held = bundle.train_items_by_user  # CSR, items ascending within each user
        counts = held.ptr[1:] - held.ptr[:-1]
        owner = torch.repeat_interleave(torch.arange(held.n_rows), counts)
        rank_in_user = torch.arange(held.index.numel()) - held.ptr[owner]
        self.keys = owner * size + (position[held.index] - rank_in_user)  # [nnz], non-decreasing
        self.ptr = held.ptr
        self.free = size - counts  # [n_users] number of possible negatives per user
        self.size = size

    def free_item(self, users: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
        """The rank-th (0-based) catalogue item that user has not interacted with; rank [B, n] < free."""
        query = users.unsqueeze(1) * self.size + rank
        passed = torch.searchsorted(self.keys, query, right=True) - self.ptr[users].unsqueeze(1)
        return self.catalogue[rank + passed]

    def sample(self, users: torch.Tensor, n_negatives: int, generator: torch.Generator) -> torch.Tensor:
        """[B] user_idx -> [B, n_negatives] item_idx, none of them in the user's training items."""
        free = self.free[users].unsqueeze(1)
        if bool((free == 0).any()):
            raise ValueError("a user has interacted with every training item: no negative exists")
        # modulo a 2**62 range: the bias towards small ranks is below 1e-13 for any catalogue size
        draws = torch.randint(0, 2**62, (users.numel(), n_negatives), generator=generator)
        return self.free_item(users, draws % free)
