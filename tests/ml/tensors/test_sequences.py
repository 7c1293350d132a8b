import torch

from hybridrec_ml.tensors.sequences import SequenceLayout
from tests.ml.training.planted import planted_bundle

# 3 users x 8 steps: 6 train steps, then val, then test; every user's walk is `walk(u)` below.
BUNDLE = planted_bundle(n_users=3, per_user=8, max_history=6)


def walk(user: int) -> list[int]:
    rows = [
        (int(split.event_order[r]), int(split.item[r]))
        for split in (BUNDLE.train, BUNDLE.val, BUNDLE.test)
        for r in range(len(split))
        if int(split.user[r]) == user
    ]
    return [item for _, item in sorted(rows)]


def test_a_row_sees_its_whole_window_up_to_max_history_then_the_chunk_prefix():
    layout = SequenceLayout.build(BUNDLE, max_history=6, chunk_len=3)  # prefix 4: a row sees 4..6 items
    for name in ("train", "val", "test"):
        split = getattr(BUNDLE, name)
        for row in range(len(split)):
            alone = layout.chunks_of(layout.position[name][row : row + 1])  # the pass up to this row alone
            seen = (alone.items[0, : alone.lengths[0]] - 1).tolist()
            offset = int(split.event_order[row]) // BUNDLE.n_users  # the row's step in its user's walk
            earlier = walk(int(split.user[row]))[:offset]
            if offset < 6:  # fewer than max_history earlier items (3 divides 6): as the per-row window
                assert seen == split.history.index[split.history.ptr[row] : split.history.ptr[row + 1]].tolist()
            chunk_start = offset // 3 * 3
            assert seen == earlier[max(0, chunk_start - 4) :]
    # the test row of user 0 (step 7, chunk 6..8): steps 2..6, five items, where the window holds six
    test_row = int(torch.nonzero(BUNDLE.test.user == 0))
    alone = layout.chunks_of(layout.position["test"][test_row : test_row + 1])
    assert (alone.lengths.tolist(), alone.state_at.tolist()) == ([5], [4])


def test_one_pass_per_chunk_and_each_row_reads_the_state_before_it():
    layout = SequenceLayout.build(BUNDLE, max_history=6, chunk_len=3)
    user_0 = torch.nonzero(BUNDLE.train.user == 0).squeeze(1)  # steps 0..5: chunks 0..2 and 3..5
    chunks = layout.chunks_of(layout.position["train"][user_0])
    items = walk(0)
    assert chunks.lengths.tolist() == [2, 5]  # chunk 0..2 reads steps 0, 1; chunk 3..5 reads steps 0..4 (prefix 4 -> 3)
    assert (chunks.items - 1).tolist() == [items[0:2] + [-1] * 3, items[0:5]]
    # state before step s: none for step 0, after item s-1 of chunk 0, or after item s-1 of chunk 1 (width 5)
    assert chunks.state_at.tolist() == [-1, 0, 1, 5 + 2, 5 + 3, 5 + 4]


def test_training_chunks_hold_consecutive_steps_of_one_user():
    layout = SequenceLayout.build(BUNDLE, max_history=6, chunk_len=4)
    rows, counts = layout.train_chunks()
    assert counts.tolist() == [4, 2] * 3  # 6 train steps per user: chunks of 4 and 2
    for chunk in rows.split(counts.tolist()):
        assert BUNDLE.train.user[chunk].unique().numel() == 1
        steps = BUNDLE.train.event_order[chunk] // BUNDLE.n_users
        assert steps.tolist() == list(range(int(steps[0]), int(steps[0]) + chunk.numel()))
