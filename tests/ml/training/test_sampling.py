import pytest
import torch

from hybridrec_ml.tensors.bundle import InteractionSet, SparseRows, TrainingBundle
from hybridrec_ml.tensors.bundle_loader import unique_items_by_user, user_timeline
from hybridrec_ml.training.sampling import NegativeSampler


def bundle_of(pairs: list[tuple[int, int]], n_users: int, n_items: int) -> TrainingBundle:
    """Only the fields the sampler reads are meaningful."""
    user = torch.tensor([u for u, _ in pairs])
    item = torch.tensor([i for _, i in pairs])
    n = len(pairs)
    no_terms = SparseRows(torch.zeros(n_items + 1, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), None, 1)
    no_history = SparseRows(torch.zeros(n + 1, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), None, n_items)
    train = InteractionSet(torch.arange(n), user, item, torch.zeros(n, 5), no_history)
    return TrainingBundle(
        n_users=n_users,
        n_items=n_items,
        train=train,
        val=train,
        test=train,
        tfidf=no_terms,
        train_items_by_user=unique_items_by_user(user, item, n_users, n_items),
        timeline=user_timeline(user, item, torch.arange(n), n_users, n_items),
        user_train_count=torch.bincount(user, minlength=n_users),
        item_train_count=torch.bincount(item, minlength=n_items),
    )


# user 0 holds items {1, 2, 5}, user 1 holds {0}, user 2 holds {0, 1, 2, 3, 4, 5, 6} (all), item 7 is never trained on
PAIRS = [(0, 5), (0, 1), (0, 2), (0, 1), (1, 0)] + [(2, i) for i in range(7)]


def test_free_item_maps_ranks_onto_the_catalogue_items_the_user_lacks():
    sampler = NegativeSampler(bundle_of(PAIRS, n_users=3, n_items=8))
    assert sampler.catalogue.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert sampler.free_item(torch.tensor([0]), torch.tensor([[0, 1, 2, 3]])).tolist() == [[0, 3, 4, 6]]
    assert sampler.free_item(torch.tensor([1]), torch.tensor([[0, 5]])).tolist() == [[1, 6]]


def test_negatives_never_collide_and_cover_every_free_item():
    sampler = NegativeSampler(bundle_of(PAIRS, n_users=3, n_items=8))
    users = torch.tensor([0, 1]).repeat(500)
    negatives = sampler.sample(users, 4, torch.Generator().manual_seed(0))
    assert negatives.shape == (1000, 4)
    assert set(negatives[users == 0].flatten().tolist()) == {0, 3, 4, 6}
    assert set(negatives[users == 1].flatten().tolist()) == {1, 2, 3, 4, 5, 6}


def test_negatives_are_reproducible_from_the_generator():
    sampler = NegativeSampler(bundle_of(PAIRS, n_users=3, n_items=8))
    users = torch.tensor([0, 1, 0])
    first = sampler.sample(users, 3, torch.Generator().manual_seed(7))
    assert torch.equal(first, sampler.sample(users, 3, torch.Generator().manual_seed(7)))


def test_a_user_holding_the_whole_catalogue_is_refused():
    sampler = NegativeSampler(bundle_of(PAIRS, n_users=3, n_items=8))
    with pytest.raises(ValueError, match="every training item"):
        sampler.sample(torch.tensor([0, 2]), 1, torch.Generator().manual_seed(0))
