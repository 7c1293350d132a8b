"""Cold users: scored through a learned unknown-user row, never through their own untrained row."""

import dataclasses

import torch

from hybridrec_ml.tensors.bundle import SparseRows
from hybridrec_ml.tensors.bundle_loader import unique_items_by_user
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.models.users import UserEmbedding
from hybridrec_ml.training.trainer import train
from tests.ml.training.planted import planted_bundle
from tests.ml.training.test_trainer import small

BUNDLE = planted_bundle(n_users=16, per_user=6)


def test_unknown_users_share_the_last_row():
    torch.manual_seed(0)
    embedding = UserEmbedding(3, 4, known=torch.tensor([True, False, True]))
    looked_up = embedding(torch.tensor([0, 1, 2, 3]))  # 3 = the unknown index itself
    weight = embedding.weight.detach()
    assert torch.equal(looked_up.detach(), weight[[0, 3, 2, 3]])
    assert list(embedding.state_dict()) == ["weight"]  # `known` is data, not a weight


def cold_bundle():
    """BUNDLE with users 0 and 1 marked as never seen in training (their own rows never get a gradient)."""
    keep = torch.nonzero(BUNDLE.train.user >= 2).squeeze(1)
    history = BUNDLE.train.history
    lengths = history.ptr[keep + 1] - history.ptr[keep]
    kept_history = torch.cat([history.index[history.ptr[r] : history.ptr[r + 1]] for r in keep.tolist()])
    train_rows = dataclasses.replace(
        BUNDLE.train,
        **{name: getattr(BUNDLE.train, name)[keep] for name in ("event_order", "user", "item", "context")},
        history=SparseRows(torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)]), kept_history, None, BUNDLE.n_items),
    )
    return dataclasses.replace(
        BUNDLE,
        train=train_rows,
        train_items_by_user=unique_items_by_user(train_rows.user, train_rows.item, BUNDLE.n_users, BUNDLE.n_items),
        user_train_count=torch.bincount(train_rows.user, minlength=BUNDLE.n_users),
    )


def test_dropout_trains_the_unknown_row_and_cold_users_are_scored_with_it():
    bundle = cold_bundle()
    variant = small("v1", epochs=2, user_dropout=0.2)
    torch.manual_seed(variant.train.seed)
    initial = build_model(variant, bundle).components["static"].user_emb.weight.detach().clone()
    model = train(variant, bundle, validate=lambda model: 0.0).model
    static = model.components["static"].user_emb
    unknown = bundle.n_users
    assert not torch.allclose(static.weight[unknown], initial[unknown])  # trained by the dropout
    assert torch.equal(static.weight[0], initial[0])  # a cold user's own row is never trained...
    cold, known = torch.tensor([0, 1, 5]), torch.tensor([unknown, unknown, 5])
    assert torch.equal(static(cold), static(known))  # ...and never used

    without = train(small("v1", epochs=2, user_dropout=0.0), bundle, validate=lambda model: 0.0).model
    assert torch.equal(without.components["static"].user_emb.weight[unknown], initial[unknown])
