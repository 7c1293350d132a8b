"""Dynamic component: a GRU over the recent items of the user (session dynamics)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from hybridrec_ml.config import ModelDims
from hybridrec_ml.tensors.batch import Batch, SequenceChunks


class SequenceGRU(nn.Module):
    """A GRU over item sequences: its final state per row, or its output after every item (the sequence path).

    The GRU runs once per row over the real entries only (padding costs nothing). A row with an
    empty history has the zero state. Shared by the hybrid's dynamic component and GRU4Rec.
    """

    def __init__(self, n_items: int, dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)  # item i at row i + 1; row 0 = padding
        self.gru = nn.GRU(dim, hidden, num_layers=layers, batch_first=True)
        self.hidden = hidden

    def encode(self, history: torch.Tensor, history_len: torch.Tensor) -> torch.Tensor:
        """history [B, L] (item_idx + 1, 0 = padding) -> last-layer final GRU state [B, gru_hidden]."""
        rows = torch.nonzero(history_len > 0).squeeze(1)
        state = self.item_emb.weight.new_zeros(history.shape[0], self.hidden)
        if rows.numel() == 0:
            return state
        run = self.final_state_packed if history.is_cuda else self.final_state_stepwise
        final = run(history[rows], history_len[rows])
        return state.to(final.dtype).index_copy(0, rows, final)

    def final_state_packed(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """nn.GRU over a packed batch (cuDNN on CUDA); every length must be >= 1."""
        packed = pack_padded_sequence(self.item_emb(history), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.gru(packed)  # [layers, rows, hidden], rows back in input order
        return h_n[-1]

    def final_state_stepwise(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The same GRU (same weights, same result) as a time-major loop, for the CPU.

        On the CPU nn.GRU's backward over a packed batch zero-fills and accumulates a gradient the
        size of the whole packed input at every time step; here each step's input is a piece of one
        `split`, whose backward is a single concatenation, so the cost follows the real tokens.
        """
        order, _, _, finished = self._stepwise(history, lengths)
        final_sorted = torch.cat(finished[::-1])  # longest rows first, as `order`
        return final_sorted[torch.argsort(order)]

    def outputs_stepwise(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Last-layer GRU output after every real entry, [rows, T, hidden] (zeros past each row's length)."""
        order, active, tokens, _ = self._stepwise(history, lengths)
        out = tokens.new_zeros(*active.shape, self.hidden).index_put((*torch.nonzero(active, as_tuple=True),), tokens)
        return out.transpose(0, 1)[torch.argsort(order)]

    def outputs_packed(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """As `outputs_stepwise` with nn.GRU over a packed batch (cuDNN on CUDA); outputs of empty rows are unused."""
        packed = pack_padded_sequence(
            self.item_emb(history), lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, _ = self.gru(packed)
        return pad_packed_sequence(outputs, batch_first=True, total_length=history.shape[1])[0]

    def _stepwise(
        self, history: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(length order, [T, rows] active mask, last-layer outputs time-major [tokens, hidden], final states by step).

        Rows are sorted by length (longest first) so step t works on the first k_t rows; rows of
        length 0 take no step (and have no final state).
        """
        order = torch.argsort(lengths, descending=True, stable=True)
        lengths = lengths[order]
        steps = torch.arange(int(lengths[0]), device=lengths.device)
        active = steps.unsqueeze(1) < lengths.unsqueeze(0)  # [T, rows]: row still running at step t
        step_sizes = active.sum(dim=1).tolist()  # k_t, non-increasing
        x = self.item_emb(history[order][:, : len(step_sizes)].T[active])  # [tokens, d], time-major
        finished: list[torch.Tensor] = []
        for layer in range(self.gru.num_layers):
            w_ih, w_hh = getattr(self.gru, f"weight_ih_l{layer}"), getattr(self.gru, f"weight_hh_l{layer}")
            b_ih, b_hh = getattr(self.gru, f"bias_ih_l{layer}"), getattr(self.gru, f"bias_hh_l{layer}")
            h = x.new_zeros(step_sizes[0], self.hidden)
            outputs, finished = [], []
            for k, gi in zip(step_sizes, torch.addmm(b_ih, x, w_ih.T).split(step_sizes)):
                if k < h.shape[0]:  # rows k.. ended at the previous step
                    finished.append(h[k:])
                    h = h[:k]
                gh = torch.addmm(b_hh, h, w_hh.T)
                r, z = torch.sigmoid(gi[:, : 2 * self.hidden] + gh[:, : 2 * self.hidden]).chunk(2, dim=1)
                n = torch.tanh(gi[:, 2 * self.hidden :] + r * gh[:, 2 * self.hidden :])
                h = n + z * (h - n)  # (1 - z) * n + z * h, as nn.GRU (gate order r, z, n)
                outputs.append(h)
            finished.append(h)
            x = torch.cat(outputs)  # the next layer's time-major input
        return order, active, x, finished

    def sequence_state(self, sequence: SequenceChunks) -> torch.Tensor:
        """[B, gru_hidden]: each row's state read from one GRU pass per chunk (the sequence path)."""
        zero = self.item_emb.weight.new_zeros(1, self.hidden)
        if sequence.items.shape[1] == 0:
            return zero.expand(sequence.state_at.numel(), -1)
        run = self.outputs_packed if sequence.items.is_cuda else self.outputs_stepwise
        outputs = run(sequence.items, sequence.lengths)  # [S, T, hidden]
        flat = torch.cat([zero.to(outputs.dtype), outputs.reshape(-1, self.hidden)])
        return flat[sequence.state_at + 1]

    def batch_state(self, batch: Batch) -> torch.Tensor:
        """[B, hidden]: each row's state before its interaction, on whichever history path the batch carries."""
        if batch.sequence is not None:
            return self.sequence_state(batch.sequence)
        return self.encode(batch.history, batch.history_len)


class DynamicGRU(SequenceGRU):
    """h = ReLU(Linear(gru_hidden + d -> d)([GRU(history); e_candidate])).

    The linear layer is split into a state half and a candidate half so the candidates only add a
    [d -> d] product each.
    """

    def __init__(self, n_items: int, dims: ModelDims) -> None:
        super().__init__(n_items, dims.embedding_dim, dims.gru_hidden, dims.gru_layers)
        d = dims.embedding_dim
        self.state_in = nn.Linear(dims.gru_hidden, d)  # state half of Linear(hidden + d -> d); carries the bias
        self.item_in = nn.Linear(d, d, bias=False)  # candidate half
        self.out_dim = d

    def row_side(self, batch: Batch) -> torch.Tensor:
        """[B, d]"""
        return self.state_in(self.batch_state(batch))

    def item_side(self, items: torch.Tensor) -> torch.Tensor:
        """[N] item_idx -> [N, d]"""
        return self.item_in(self.item_emb(items + 1))

    def combine(self, row: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """row [B, d] + item [B, C, d] -> h [B, C, d]"""
        return (row.unsqueeze(1) + item).relu_()  # in place: one [B, C, d] buffer, not two
