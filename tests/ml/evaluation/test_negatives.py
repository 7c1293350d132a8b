import duckdb
import pytest
import torch

from hybridrec_ml.data.transforms.interactions import DataTooSmallError
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.tensors.bundle import EvaluationRows
from hybridrec_ml.evaluation.negatives import (
    _draw_width,
    draw_eval_negatives,
    draw_split_negatives,
    load_eval_negatives,
    store_eval_negatives,
)
from tests.ml.evaluation.conftest import sparse_rows

N_ITEMS = 40
# User 0 trained on 5 items, user 1 on 29 (so with its positive only 10 items remain: refill path),
# user 2 on nothing.
TRAIN = sparse_rows([[1, 2, 3, 4, 5], list(range(29)), []], N_ITEMS)
USERS = torch.tensor([0, 1, 2, 0, 1] * 40)
POSITIVES = torch.tensor([7, 35, 0, 1, 39] * 40)


def draw(seed: int) -> torch.Tensor:
    return draw_eval_negatives(USERS, TRAIN, N_ITEMS, 10, positives=POSITIVES, seed=seed, chunk_rows=64)


def test_same_seed_same_negatives_and_another_seed_differs():
    first = draw(7)
    assert first.shape == (200, 10)
    assert torch.equal(first, draw(7))
    assert not torch.equal(first, draw(8))


def test_negatives_avoid_train_items_and_the_positive_without_repeats():
    negatives = draw(3)
    train_sets = [set(range(1, 6)), set(range(29)), set()]
    for user, positive, row in zip(USERS.tolist(), POSITIVES.tolist(), negatives.tolist()):
        assert len(set(row)) == 10
        assert not set(row) & train_sets[user]
        assert positive not in row
        assert all(0 <= item < N_ITEMS for item in row)


def test_user_with_exactly_n_allowed_items_gets_all_of_them():
    negatives = draw(3)
    for positive, row in zip(POSITIVES[USERS == 1].tolist(), negatives[USERS == 1].tolist()):
        assert sorted(row) == sorted(set(range(29, 40)) - {positive})


def test_draws_are_uniform_over_the_allowed_items():
    users, positives = torch.full((2000,), 2), torch.zeros(2000, dtype=torch.int64)
    negatives = draw_eval_negatives(users, TRAIN, N_ITEMS, 10, positives=positives, seed=0)
    counts = torch.bincount(negatives.flatten(), minlength=N_ITEMS)
    expected = 2000 * 10 / 39
    assert counts[0] == 0
    assert ((counts[1:] - expected).abs() < 0.15 * expected).all()


def reference_draw(
    users: list[int], positives: list[int], train: list[list[int]], n_items: int, n: int, seed: int, chunk_rows: int
) -> list[list[int]]:
    """The sampler spelled out: per row, walk the same draws in order and keep the first n allowed new items."""
    forbidden = [set(train[user]) | {positive} for user, positive in zip(users, positives)]
    allowed = torch.tensor([n_items - len(items) for items in forbidden], dtype=torch.float64)
    width = _draw_width(n, n_items, float(allowed.median()))
    generator = torch.Generator().manual_seed(seed)
    rows: list[list[int]] = []
    for start in range(0, len(users), chunk_rows):
        draws = torch.randint(n_items, (min(chunk_rows, len(users) - start), width), generator=generator)
        for row, row_draws in enumerate(draws.tolist(), start):
            rows.append(list(dict.fromkeys(item for item in row_draws if item not in forbidden[row]))[:n])
    for row in [row for row, kept in enumerate(rows) if len(kept) < n]:  # refilled after all draws, in row order
        items = torch.tensor(sorted(set(range(n_items)) - forbidden[row]))
        rows[row] = items[torch.randperm(items.numel(), generator=generator)[:n]].tolist()
    return rows


def test_negatives_match_the_plain_reference_draw_for_draw():
    # Unsorted rows with repeated items, positives inside and outside the training items, a user left with
    # exactly n allowed items (refills) and chunks that split the rows unevenly.
    train = [[5, 1, 3, 1], list(range(28, -1, -1)), [], [39, 0, 39, 20]]
    users = [0, 1, 2, 3, 1, 0, 3, 2, 1] * 9
    positives = [7, 35, 0, 20, 39, 1, 11, 39, 30] * 9
    rows = sparse_rows(train, N_ITEMS)
    negatives = draw_eval_negatives(
        torch.tensor(users), rows, N_ITEMS, 10, positives=torch.tensor(positives), seed=5, chunk_rows=20
    )
    assert negatives.tolist() == reference_draw(users, positives, train, N_ITEMS, 10, seed=5, chunk_rows=20)


def test_too_few_allowed_items_is_a_data_too_small_error_with_the_sizes():
    with pytest.raises(DataTooSmallError) as error:
        draw_eval_negatives(torch.tensor([1]), TRAIN, N_ITEMS, 11, positives=torch.tensor([35]), seed=0)
    assert str(error.value) == (
        "the catalogue has 40 items and a user has only 10 of them outside its excluded items and its positive; "
        "11 negatives per row are needed (a larger catalogue, or fewer negatives)"
    )


def test_stored_negatives_load_back_in_the_requested_order():
    con = duckdb.connect()
    negatives = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert store_eval_negatives(con, torch.tensor([10, 11, 12]), negatives) == 3
    column_types = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [schema.EVAL_NEGATIVES],
    ).fetchall()
    assert column_types == [("BIGINT",), ("INTEGER[]",)]
    loaded = load_eval_negatives(con, torch.tensor([12, 10]))
    assert loaded.dtype == torch.int64
    assert loaded.tolist() == [[7, 8, 9], [1, 2, 3]]
    with pytest.raises(KeyError, match="1 of 2"):
        load_eval_negatives(con, torch.tensor([11, 13]))


def test_storing_again_replaces_the_table():
    con = duckdb.connect()
    store_eval_negatives(con, torch.tensor([10, 11]), torch.tensor([[1, 2], [3, 4]]))
    store_eval_negatives(con, torch.tensor([20]), torch.tensor([[5, 6]]))
    assert con.execute("SELECT count(*) FROM eval_negatives").fetchall() == [(1,)]
    assert load_eval_negatives(con, torch.tensor([20])).tolist() == [[5, 6]]


def test_split_negatives_avoid_every_item_the_user_ever_had_unless_train_only():
    # one user, 12 items: trained on 0-2, then val item 3 and test items 4, 5; 6 negatives leave no choice
    train, ever = sparse_rows([[0, 1, 2]], 12), sparse_rows([[0, 1, 2, 3, 4, 5]], 12)
    rows = EvaluationRows(12, torch.tensor([3, 4, 5]), torch.zeros(3, dtype=torch.int64), torch.tensor([3, 4, 5]), train, ever)
    _, history = draw_split_negatives(rows, 6, seed=0)
    assert [sorted(row) for row in history.tolist()] == [[6, 7, 8, 9, 10, 11]] * 3
    _, train_only = draw_split_negatives(rows, 8, seed=0, mask="train_only")
    # the study's rule: the val / test items of the user are fair game, except each row's own positive
    assert [sorted(row) for row in train_only.tolist()] == [[4, 5, *range(6, 12)], [3, 5, *range(6, 12)], [3, 4, *range(6, 12)]]
    with pytest.raises(ValueError, match="mask must be one of"):
        draw_split_negatives(rows, 6, seed=0, mask="nothing")
