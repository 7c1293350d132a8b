"""recommendations[variant|seed] through real Dagster materializations on `tiny`, against a brute-force top-K."""

import duckdb
import numpy as np
import pytest
import torch
from dagster import AssetSelection

from hybridrec_assets.artifacts import model_path
from hybridrec_assets.partitions import run_partition_key
from hybridrec_ml.config import VARIANTS
from hybridrec_ml.data.transforms.context import context_tables
from hybridrec_ml.evaluation.protocols import evaluating
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.serving.consumption import context_at, load_consumption_log, parse_time, query_batch
from hybridrec_ml.serving.recommendations import RECOMMENDATIONS, check_recommendations
from hybridrec_ml.tensors.bundle_loader import load_training_bundle
from hybridrec_ml.training.checkpoint import load_checkpoint

MODEL = AssetSelection.assets("trained_model")
RECS = AssetSelection.assets("recommendations")
ONE_EPOCH = {"ops": {"trained_model": {"config": {"epochs": 1, "torch_threads": 1}}}}


def _config(**settings):
    return {"ops": {"recommendations": {"config": {"torch_threads": 1, **settings}}}}


def _written(database: str, variant: str, seed: int) -> dict[int, list[tuple]]:
    with duckdb.connect(database, read_only=True) as con:
        rows = con.execute(
            f"SELECT user_idx, rank, item_idx, score, alpha_static, alpha_dynamic, alpha_content, context_ts "
            f"FROM {RECOMMENDATIONS} WHERE variant = ? AND seed = ? ORDER BY user_idx, rank",
            [variant, seed],
        ).fetchall()
    by_user: dict[int, list[tuple]] = {}
    for row in rows:
        by_user.setdefault(row[0], []).append(row[1:])
    return by_user


def _brute_force(env, variant: str, seed: int, at: int, k: int) -> dict[int, tuple[list[int], list[float], torch.Tensor]]:
    """Full scores of every item for every user at once (score_candidates), consumed items dropped, stable sort."""
    with duckdb.connect(env.resources["warehouse"].database, read_only=True) as con:
        bundle = load_training_bundle(con)
        log = load_consumption_log(con, bundle.n_users, bundle.n_items)
        tables = context_tables(con)
    model = build_model(VARIANTS[variant], bundle)
    model.load_state_dict(load_checkpoint(env.root / "artifacts" / "/".join(model_path(variant, seed)))["model"])
    consumed = log.until(at)
    users = torch.arange(bundle.n_users)
    with evaluating(model):
        scored = model.score_candidates(
            query_batch(consumed, users, context_at(tables, at), 50, log.since_last(users, at)),
            torch.arange(bundle.n_items).expand(bundle.n_users, -1),
        )
    expected = {}
    for user in users.tolist():
        seen = set(consumed.index[consumed.ptr[user] : consumed.ptr[user + 1]].tolist())
        ranked = [i for i in torch.sort(scored.scores[user], descending=True, stable=True).indices.tolist() if i not in seen]
        expected[user] = (ranked[:k], scored.scores[user, ranked[:k]].tolist(), None if scored.alpha is None else scored.alpha[user])
    return expected


@pytest.mark.parametrize("variant", ["v1", "pop", "sasrec", "ease", "enriched_gate"])  # enriched: recency at `at`
def test_recommendations_equal_brute_force_top_k_without_consumed_items(env_with_data, variant):
    key = str(run_partition_key(variant, 42))
    assert env_with_data.materialize(MODEL, key, ONE_EPOCH).success
    result = env_with_data.materialize(RECS, key, _config(k=5))
    assert result.success
    database = env_with_data.resources["warehouse"].database
    with duckdb.connect(database, read_only=True) as con:
        n_users, n_items, end_ts = con.execute(
            "SELECT (SELECT count(*) FROM user_index), (SELECT count(*) FROM item_index), (SELECT max(ts) FROM interactions_5core)"
        ).fetchone()
    written = _written(database, variant, 42)
    expected = _brute_force(env_with_data, variant, 42, end_ts, 5)
    assert sorted(written) == list(range(n_users))  # every user, 5 items each (tiny users consume <= 40 of 150)
    for user, rows in written.items():
        items, scores, alpha = expected[user]
        assert [row[0] for row in rows] == [1, 2, 3, 4, 5]
        assert [row[1] for row in rows] == items, user
        np.testing.assert_allclose([row[2] for row in rows], scores, rtol=1e-5, atol=1e-6)
        assert all(a >= b for a, b in zip([row[2] for row in rows], [row[2] for row in rows][1:]))
        assert {row[6] for row in rows} == {end_ts}
        if alpha is None:
            assert {row[3:6] for row in rows} == {(None, None, None)}
        else:
            np.testing.assert_allclose(rows[0][3:6], alpha.tolist(), rtol=1e-5)
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["rows"].value == 5 * n_users and metadata["users"].value == n_users
    assert metadata["users_per_s"].value > 0 and metadata["peak_rss_mb"].value > 0
    assert metadata["table"].value == f"{RECOMMENDATIONS} in {database}"
    (check,) = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.partition) == ("recommendations_valid", True, key)
    assert check.metadata["consumed_items_recommended"].value == 0
    assert check.metadata["users_checked"].value == n_users


def test_k_beyond_the_catalogue_gives_every_unconsumed_item_and_a_rerun_replaces_the_rows(env_with_data):
    key = str(run_partition_key("pop", 42))
    assert env_with_data.materialize(MODEL, key, ONE_EPOCH).success
    database = env_with_data.resources["warehouse"].database
    with duckdb.connect(database, read_only=True) as con:
        n_items = con.execute("SELECT count(*) FROM item_index").fetchone()[0]
        user_ids = [r[0] for r in con.execute("SELECT user_id FROM user_index ORDER BY user_idx LIMIT 3").fetchall()]
        consumed = dict(con.execute(
            "SELECT user_idx, count(*) FROM interactions_5core WHERE ts <= ? GROUP BY user_idx",
            [parse_time("2019-06-01T00:00:00")],
        ).fetchall())
    assert env_with_data.materialize(RECS, key, _config(k=20)).success  # every user first
    result = env_with_data.materialize(RECS, key, _config(k=n_items + 50, users=user_ids, at="2019-06-01T00:00:00"))
    assert result.success
    written = _written(database, "pop", 42)
    assert sorted(written) == [0, 1, 2]  # the rerun replaced all of the partition's rows
    for user, rows in written.items():
        assert len(rows) == n_items - consumed.get(user, 0)  # "or all that remain"
        assert len({row[1] for row in rows}) == len(rows)
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["users_checked"].value == 3


def test_the_check_fails_when_a_consumed_item_is_in_the_table(env_with_data):
    key = str(run_partition_key("pop", 42))
    assert env_with_data.materialize(MODEL, key, ONE_EPOCH).success
    assert env_with_data.materialize(RECS, key, _config(k=3)).success
    database = env_with_data.resources["warehouse"].database
    with duckdb.connect(database) as con:
        user, item, ts = con.execute("SELECT user_idx, item_idx, ts FROM interactions_5core ORDER BY event_order LIMIT 1").fetchone()
        con.execute(f"UPDATE {RECOMMENDATIONS} SET item_idx = ? WHERE user_idx = ? AND rank = 1", [item, user])
        n_users, n_items, end_ts = con.execute(
            "SELECT (SELECT count(*) FROM user_index), (SELECT count(*) FROM item_index), (SELECT max(ts) FROM interactions_5core)"
        ).fetchone()
        outcome = check_recommendations(con, "pop", 42, torch.arange(n_users), 3, n_items, end_ts)
    assert not outcome.passed
    assert outcome.metadata["consumed_items_recommended"] == 1
    assert outcome.description.startswith("1 consumed items recommended")
