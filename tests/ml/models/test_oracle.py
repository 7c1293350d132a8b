"""The Bayes oracle: exact probabilities (hand-computed and against the generator's own sampler),
probabilities that sum to 1, its place in the pipeline, and that it outranks every trained model."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
import torch

from hybridrec_ml.config import ALL_COMPONENTS, VARIANTS
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.tensors.bundle_loader import load_training_bundle
from hybridrec_ml.data.sources.registry import SyntheticOptions
from hybridrec_ml.data_layer import synthetic_warehouse
from hybridrec_ml.data.synthetic.generator import MIXTURES, Catalogue, _choose_items
from hybridrec_ml.data.synthetic.truth import PlantedTruth, PlantedTruthMissing, load_planted_truth
from hybridrec_ml.evaluation.oracle_ceilings import OracleCeilings, oracle_ceilings, simplex_grid
from hybridrec_ml.evaluation.protocols import evaluate_full, make_validator, user_mean
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.models.oracle import PlantedOracle, mechanism_probabilities
from hybridrec_ml.training.trainer import train

STATIC, DYNAMIC, CONTENT = range(3)
STORY = {  # the generator's constants (its sampler reads them from the module)
    **{f"mixture_{b}_{m}": 1 / 3 for b in ("weekday_daytime", "weekday_evening_night", "weekend") for m in ALL_COMPONENTS},
    "main_taste": 0.7,
    "novelty_window_s": 90 * 86_400.0,
    "novelty_preference": 0.5,
    "next_item_prob_0": 0.6,
    "next_item_prob_1": 0.3,
    "next_item_prob_2": 0.1,
    "same_mechanism_attempts": 4.0,
    "static_fallback_attempts": 6.0,
}


def four_item_truth(n_users: int = 1) -> PlantedTruth:
    """Items 0, 1 (topic 0, community 0, popularity 3 and 1), 2 (topic 1, community 1), 3 (topic 0,
    community 1, released at t=100); every user: topics (0, 1), communities (0, 1), reviewed item 0
    at t=10 and item 2 at t=20."""
    return PlantedTruth(
        item_topic=np.array([0, 0, 1, 0]),
        item_community=np.array([0, 0, 1, 1]),
        item_popularity=np.array([3.0, 1.0, 1.0, 1.0]),
        item_release=np.array([0, 0, 0, 100]),
        next_items=np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]),
        user_topics=np.tile([0, 1], (n_users, 1)),
        user_communities=np.tile([0, 1], (n_users, 1)),
        story=STORY,
        timeline_ptr=np.arange(n_users + 1) * 2,
        timeline_item=np.tile([0, 2], n_users),
        timeline_ts=np.tile([10, 20], n_users),
        item_of_index=np.arange(4),
        user_of_index=np.arange(n_users),
    )


def test_second_review_probabilities_by_hand():
    """Row: position 1 at t=20 after item 0; released {0, 1, 2}, allowed {1, 2}."""
    p = mechanism_probabilities(four_item_truth(), np.array([0]), np.array([1]), np.array([20]), np.array([0]))[0]
    uniform = np.array([0, 0.5, 0.5, 0])  # last resort: allowed items

    def redrawn(q: np.ndarray, fail: float, attempts: int, otherwise: np.ndarray) -> np.ndarray:
        return q * sum(fail**a for a in range(attempts)) + fail**attempts * otherwise

    # static: community 0 w.p. 0.7 (items 0, 1 by popularity 3:1), community 1 w.p. 0.3 (only item 2 released)
    q_static = np.array([0, 0.7 * 1 / 4, 0.3, 0])  # item 0 is already reviewed: its 0.525 fails
    assert p[STATIC] == pytest.approx(redrawn(q_static, 0.525, 10, uniform), abs=1e-15)
    # content: topic 0 w.p. 0.7 (0, 1 uniformly, both released within the window), topic 1 w.p. 0.3 (item 2)
    q_content = np.array([0, 0.35, 0.3, 0])
    assert p[CONTENT] == pytest.approx(redrawn(q_content, 0.35, 10, uniform), abs=1e-15)
    # dynamic: next items of 0 are 1 (0.6), 2 (0.3), 3 (0.1, not released yet: fails)
    static_fallback = redrawn(q_static, 0.525, 6, uniform)
    assert p[DYNAMIC] == pytest.approx(redrawn(np.array([0, 0.6, 0.3, 0]), 0.1, 4, static_fallback), abs=1e-15)
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-12)


def test_a_first_review_cannot_be_dynamic():
    p = mechanism_probabilities(four_item_truth(), np.array([0]), np.array([0]), np.array([20]), np.array([-1]))[0]
    np.testing.assert_array_equal(p[DYNAMIC], p[STATIC])
    # nothing reviewed yet: static is the community draw itself, which never fails
    np.testing.assert_allclose(p[STATIC], [0.7 * 3 / 4, 0.7 * 1 / 4, 0.3, 0.0], atol=1e-15)


@pytest.mark.parametrize("mechanism", [STATIC, DYNAMIC, CONTENT])
def test_probabilities_match_the_generators_own_draws(mechanism):
    """20,000 users draw two reviews with the generator's `_choose_items` (first static, second by
    `mechanism`, at t=20); among those whose first review was item 0, the second review's frequencies
    match the oracle's P(. | mechanism) within 4 binomial standard errors."""
    truth = four_item_truth()
    catalogue = Catalogue(
        truth.item_topic, truth.item_community, truth.item_popularity, truth.item_release, truth.next_items,
        quality=np.zeros(4), n_reviewable=4,
    )
    n_users = 20_000
    user = np.repeat(np.arange(n_users), 2)
    ts = np.tile([10, 20], n_users)
    mechanisms = np.tile([STATIC, mechanism], n_users).astype(np.int8)
    item, _ = _choose_items(
        np.full(n_users, 2), user, ts, mechanisms, catalogue, np.tile([0, 1], (n_users, 1)),
        np.tile([0, 1], (n_users, 1)), np.random.default_rng(7),
    )
    first, second = item[0::2], item[1::2]
    after_zero = second[first == 0]
    observed = np.bincount(after_zero, minlength=4) / len(after_zero)
    expected = mechanism_probabilities(truth, np.array([0]), np.array([1]), np.array([20]), np.array([0]))[0, mechanism]
    tolerance = 4 * np.sqrt(expected * (1 - expected) / len(after_zero)) + 1e-12
    assert np.all(np.abs(observed - expected) <= tolerance), (observed, expected)


@pytest.fixture(scope="module")
def tiny_warehouse(tmp_path_factory: pytest.TempPathFactory):
    database = synthetic_warehouse(tmp_path_factory.mktemp("tiny_world"), SyntheticOptions(scale="tiny"))
    con = duckdb.connect(str(database))
    yield con
    con.close()


@pytest.fixture(scope="module")
def tiny(tiny_warehouse):
    bundle = load_training_bundle(tiny_warehouse)
    truth = load_planted_truth(tiny_warehouse)
    return bundle, truth, PlantedOracle(truth, (bundle.train, bundle.val, bundle.test), bundle.n_items)


def test_every_row_of_the_world_sums_to_one_and_gives_its_item_a_positive_probability(tiny):
    _, truth, _ = tiny
    owner = np.repeat(np.arange(len(truth.timeline_ptr) - 1), np.diff(truth.timeline_ptr))
    position = np.arange(len(owner)) - truth.timeline_ptr[owner]
    previous = np.where(position > 0, truth.timeline_item[np.arange(len(owner)) - 1], -1)
    per_mechanism = mechanism_probabilities(truth, owner, position, truth.timeline_ts, previous)
    np.testing.assert_allclose(per_mechanism.sum(axis=2), 1.0, atol=1e-12)
    chosen = per_mechanism[np.arange(len(owner)), :, truth.timeline_item]  # [N, 3]
    assert (chosen.max(axis=1) > 0).all()  # every generated item was possible under some mechanism


def test_the_oracle_scores_rows_of_every_split_and_sums_to_one_over_the_catalogue(tiny):
    bundle, truth, oracle = tiny
    from hybridrec_ml.tensors.batching import make_batch

    batch = make_batch(bundle.test, torch.arange(len(bundle.test)), 50)
    probabilities = oracle.row_probabilities(batch)
    # the 5-core keeps most of the reviewable items: the bundle's catalogue holds nearly all the mass
    assert probabilities.shape == (len(bundle.test), bundle.n_items)
    assert np.all(probabilities.sum(axis=1) <= 1 + 1e-12)
    if bundle.n_items == truth.n_items:
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    positive = probabilities[np.arange(len(bundle.test)), bundle.test.item.numpy()]
    assert (positive > 0).all()


def test_the_oracle_outranks_every_trained_model_on_tiny(tiny):
    bundle, truth, oracle = tiny
    ceiling = evaluate_full(oracle, bundle.test, bundle.timeline, bundle.n_items).metrics["ndcg@10"]
    for name, variant in VARIANTS.items():
        if name == "oracle":
            continue
        variant = variant.with_train(epochs=min(variant.train.epochs, 4))
        validate = make_validator(bundle.val, bundle.timeline, bundle.n_items, 1000)
        model = train(variant, bundle, validate=validate).model
        ndcg = evaluate_full(model, bundle.test, bundle.timeline, bundle.n_items).metrics["ndcg@10"]
        assert ndcg < ceiling, (name, ndcg, ceiling)


def test_ceilings_per_mechanism_context_free_and_per_bucket(tiny, tmp_path):
    bundle, _, oracle = tiny
    ceilings = oracle_ceilings(oracle, bundle.test, bundle.timeline, bundle.n_items, grid_steps=2)
    assert OracleCeilings.load(ceilings.save(tmp_path / "ceilings.json")) == ceilings
    assert sum(b.n_rows for b in ceilings.fusion_by_bucket) == len(bundle.test)
    assert [b.planted for b in ceilings.fusion_by_bucket] == [
        MIXTURES["contrast"][b.bucket] for b in ceilings.fusion_by_bucket
    ]
    assert all(b.optimal in simplex_grid(2) for b in ceilings.fusion_by_bucket)
    users = bundle.test.user.numpy()  # overall ceilings are means over users, like the main table
    for m, name in enumerate(ALL_COMPONENTS):
        one_hot = tuple(float(k == m) for k in range(3))
        alone = evaluate_full(oracle.remix(one_hot), bundle.test, bundle.timeline, bundle.n_items)
        assert ceilings.per_mechanism[name] == pytest.approx(user_mean(alone.ndcg_at_10, users))
    assert ceilings.context_free >= max(ceilings.per_mechanism.values())
    assert sum(ceilings.context_free_mixture) == pytest.approx(1.0)
    planted = user_mean(evaluate_full(oracle, bundle.test, bundle.timeline, bundle.n_items).ndcg_at_10, users)
    assert ceilings.oracle == pytest.approx(planted)
    assert ceilings.context_gain == pytest.approx(planted / ceilings.context_free - 1)


def test_without_planted_truth_the_oracle_is_a_clear_error(tiny):
    bundle, _, _ = tiny
    con = duckdb.connect()
    with pytest.raises(PlantedTruthMissing, match="only available on data from the synthetic source"):
        load_planted_truth(con)
    with pytest.raises(PlantedTruthMissing, match="only synthetic data has"):
        build_model(VARIANTS["oracle"], bundle)


def test_the_oracle_refuses_a_row_it_was_not_built_for(tiny):
    bundle, truth, _ = tiny
    from hybridrec_ml.tensors.batching import make_batch

    train_only = PlantedOracle(truth, (bundle.train,), bundle.n_items)
    with pytest.raises(ValueError, match="outside the splits it was built for"):
        train_only.score_all_items(make_batch(bundle.test, torch.arange(len(bundle.test)), 50))


def test_stale_planted_tables_are_detected(tiny_warehouse):
    tiny_warehouse.execute("BEGIN TRANSACTION")
    try:
        tiny_warehouse.execute(
            f"DELETE FROM {schema.PLANTED_ITEMS} WHERE asin = (SELECT min(asin) FROM {schema.PLANTED_ITEMS})"
        )
        with pytest.raises(ValueError, match="has no planted parameters: the planted tables are stale"):
            load_planted_truth(tiny_warehouse)
    finally:
        tiny_warehouse.execute("ROLLBACK")
