"""What GRU4Rec and SASRec share: a state per row from the user's item sequence, scored against item embeddings.

score(row, i) = state(row) . e_i, with e_i the model's input item embedding (shared, as in both
papers and RecBole). The state of a row is the encoder's output after the last item before the
row, read on either history path: one encoder pass per user-sequence chunk (`Batch.sequence`, the
trainer's default) or per row window (`Batch.history`), which `window_as_chunks` turns into the
same form (one chunk per row).
"""

from __future__ import annotations

import torch

from hybridrec_ml.models.base import EncodedQueries, Recommender, Scores
from hybridrec_ml.tensors.batch import Batch, SequenceChunks


def window_as_chunks(history: torch.Tensor, history_len: torch.Tensor) -> SequenceChunks:
    """Per-row windows [B, L] as B chunks whose row reads the output after its own last item."""
    rows = torch.arange(history.shape[0], device=history.device)
    state_at = torch.where(history_len > 0, rows * history.shape[1] + history_len - 1, -1)
    return SequenceChunks(history, history_len, state_at)


class SequentialRecommender(Recommender):
    """Subclasses provide `item_table` ([n_items, d], the output embeddings) and `sequence_outputs`."""

    def item_table(self) -> torch.Tensor:
        raise NotImplementedError

    def sequence_outputs(self, sequence: SequenceChunks) -> torch.Tensor:
        """[S, T, d]: the output after each item of each chunk (values past a chunk's length are unused)."""
        raise NotImplementedError

    def empty_state(self) -> torch.Tensor:
        """[d]: the state of a row without any earlier item."""
        raise NotImplementedError

    def row_state(self, batch: Batch) -> torch.Tensor:
        """[B, d]: the output after the last item before each row."""
        sequence = batch.sequence if batch.sequence is not None else window_as_chunks(batch.history, batch.history_len)
        empty = self.empty_state().unsqueeze(0)
        if sequence.items.shape[1] == 0:
            return empty.expand(sequence.state_at.numel(), -1)
        outputs = self.sequence_outputs(sequence)
        flat = torch.cat([empty.to(outputs.dtype), outputs.reshape(-1, outputs.shape[-1])])
        return flat[sequence.state_at + 1]

    def encode_queries(self, batch: Batch) -> EncodedQueries:
        return {"state": self.row_state(batch)}

    def score_encoded(self, queries: EncodedQueries, context: torch.Tensor, candidates: torch.Tensor) -> Scores:
        item = self.item_table()[candidates]  # [B, C, d]
        return Scores((item @ queries["state"].unsqueeze(-1)).squeeze(-1), None)

    def score_item_range(self, queries: EncodedQueries, context: torch.Tensor, start: int, stop: int) -> Scores:
        return Scores(queries["state"] @ self.item_table()[start:stop].T, None)

    def score_all_items(self, batch: Batch) -> Scores:
        return Scores(self.row_state(batch) @ self.item_table().T, None)
