"""One trained (variant, seed) answering requests: loaded whole, cached, and swapped atomically on retrain.

A `ServedModel` is everything a request reads (weights, catalogue item sides, consumption log,
id maps). The service holds one and replaces the reference only after a new one has loaded
completely, so a request sees the old model or the new one, never a mix. Vectors are cached under
`hybridrec:<version>:...`, where the version is the checkpoint's sha256 prefix plus the data's:
a retrain (or new data) starts a fresh key space instead of reading stale vectors.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import torch

from hybridrec_ml.config import ALL_COMPONENTS, VARIANTS
from hybridrec_ml.data.transforms.context import ContextTables, context_tables
from hybridrec_ml.models.base import EncodedQueries, Recommender
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.serving.cache import VectorCache
from hybridrec_ml.serving.consumption import ConsumptionLog, context_at, load_consumption_log, load_ids, parse_time
from hybridrec_ml.serving.fused import FusedCatalogue
from hybridrec_ml.serving.topk import top_k
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.batching import gather_padded
from hybridrec_ml.tensors.bundle import SparseRows
from hybridrec_ml.tensors.bundle_loader import load_training_bundle
from hybridrec_ml.training.checkpoint import load_checkpoint

USER_STATE_TTL_SECONDS = 24 * 3600  # a user's state is recomputed at most daily; its key also moves with new history
ITEM_SIDES_TTL_SECONDS = 7 * 24 * 3600
SERVING_ITEM_CHUNK = 8192  # one request scores the catalogue in blocks of this many items


class BadRequest(ValueError):
    """A request the service refuses, with a message for the client (HTTP 422)."""


@dataclass(frozen=True)
class ModelInfo:
    variant: str
    seed: int
    trained_at: str
    mlflow_run_id: str
    checkpoint: str
    checkpoint_sha256: str
    data_sha256: str  # the consumption log and TF-IDF the vectors were computed from

    @property
    def version(self) -> str:
        return f"{self.checkpoint_sha256[:16]}-{self.data_sha256[:8]}"


@dataclass(frozen=True, eq=False)
class ServedModel:
    info: ModelInfo
    model: Recommender  # eval mode, CPU, catalogue item sides already computed
    log: ConsumptionLog
    user_index: dict[str, int]
    item_ids: list[str]
    item_index: dict[str, int]
    context: ContextTables
    popular_items: torch.Tensor  # int64 [n_items]: training popularity order, the cold-start list
    popularity: torch.Tensor  # float32 [n_items]: training interaction counts
    max_history: int
    item_sides_source: str  # "computed" or the cache kind they were read from
    loaded_at: str
    fused: FusedCatalogue | None = None  # the one-table fast path of /recommend, for hybrids that have one

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def key(self, *parts: object) -> str:
        return ":".join(("hybridrec", self.info.version, *map(str, parts)))


def _data_digest(log: ConsumptionLog, tfidf: SparseRows) -> str:
    digest = hashlib.sha256()
    for tensor in (log.items.ptr, log.items.index, log.ts, tfidf.ptr, tfidf.index, tfidf.weight):
        if tensor is not None:
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_served_model(
    checkpoint: Path, connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]], cache: VectorCache
) -> ServedModel:
    """Read the checkpoint once (hashing exactly the bytes loaded) and the warehouse once, then build everything."""
    payload = checkpoint.read_bytes()
    state = load_checkpoint(io.BytesIO(payload))
    missing = [key for key in ("model", "variant", "seed", "trained_at", "mlflow_run_id") if key not in state]
    if missing:
        raise ValueError(f"{checkpoint}: checkpoint lacks {', '.join(missing)} (written by an older trained_model: retrain)")
    variant = VARIANTS[state["variant"]]
    with connect() as con:
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
        log = load_consumption_log(con, bundle.n_users, bundle.n_items)
        user_ids, item_ids = load_ids(con)
        tables = context_tables(con)
    if (state["n_users"], state["n_items"]) != (bundle.n_users, bundle.n_items):
        raise ValueError(
            f"{checkpoint} was trained on {state['n_users']} users and {state['n_items']} items; the warehouse has "
            f"{bundle.n_users} and {bundle.n_items}: retrain this partition on the current data"
        )
    model = build_model(variant, bundle)
    model.load_state_dict(state["model"])
    model.eval()
    info = ModelInfo(
        variant=state["variant"], seed=int(state["seed"]), trained_at=state["trained_at"],
        mlflow_run_id=state["mlflow_run_id"], checkpoint=str(checkpoint),
        checkpoint_sha256=hashlib.sha256(payload).hexdigest(), data_sha256=_data_digest(log, bundle.tfidf),
    )
    popularity = bundle.item_train_count.float()
    served = ServedModel(
        info=info, model=model, log=log, user_index={u: i for i, u in enumerate(user_ids)}, item_ids=item_ids,
        item_index={item: i for i, item in enumerate(item_ids)}, context=tables,
        popular_items=torch.sort(popularity, descending=True, stable=True).indices, popularity=popularity,
        max_history=variant.dims.max_history, item_sides_source="computed", loaded_at=_now_iso(),
    )
    return with_catalogue_item_sides(served, cache)


def with_catalogue_item_sides(served: ServedModel, cache: VectorCache) -> ServedModel:
    """Item sides from the cache when this version has them, else computed once now and stored there."""
    key = served.key("items")
    cached = cache.get(key)
    with torch.inference_mode():
        if cached is not None:
            served.model.restore_catalogue_item_sides(cached)
            source = cache.kind
        else:
            cache.put(key, served.model.catalogue_item_sides(), ITEM_SIDES_TTL_SECONDS)
            source = "computed"
    fused = FusedCatalogue(served.model) if FusedCatalogue.supports(served.model) else None
    return replace(served, item_sides_source=source, fused=fused)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RecommendationService:
    """Answers recommend / score requests from the current `ServedModel`; reloads it when the checkpoint changes."""

    def __init__(
        self,
        load: Callable[[], ServedModel],
        signature: Callable[[], object],
        cache: VectorCache,
        *,
        max_k: int = 1000,
        max_items: int = 10_000,
        item_chunk: int = SERVING_ITEM_CHUNK,
    ) -> None:
        self._load, self._signature, self.cache = load, signature, cache
        self.max_k, self.max_items, self.item_chunk = max_k, max_items, item_chunk
        self._reload_lock = threading.Lock()
        self._loaded_signature = signature()
        self._served = load()
        self.last_reload_error: str | None = None
        self.user_state_hits = 0
        self.user_state_misses = 0

    @property
    def current(self) -> ServedModel:
        return self._served

    def reload_if_changed(self) -> bool:
        """Load the checkpoint again if its file changed; the new model replaces the old only once complete."""
        with self._reload_lock:
            seen = self._signature()
            if seen == self._loaded_signature:
                return False
            try:
                served = self._load()
            except Exception as error:  # keep serving the previous model; /health shows why
                self.last_reload_error = f"{type(error).__name__}: {error}"
                raise
            self._served, self._loaded_signature, self.last_reload_error = served, seen, None
            return True

    def watch(self, interval_seconds: float, stop: threading.Event) -> None:
        """Poll for a new checkpoint until `stop` is set (run it in a daemon thread)."""
        while not stop.wait(interval_seconds):
            try:
                self.reload_if_changed()
            except Exception:  # recorded in last_reload_error; the next change is tried again
                pass

    def _moment(self, at: str | None) -> int:
        if at is None:
            return int(time.time())
        try:
            return parse_time(at)
        except ValueError as error:
            raise BadRequest(f"at: {error}") from None

    def _check_k(self, k: int) -> None:
        if not 1 <= k <= self.max_k:
            raise BadRequest(f"k must be between 1 and {self.max_k}, got {k}")

    def _queries(
        self, served: ServedModel, user: int, consumed: torch.Tensor, context: torch.Tensor, moment: int
    ) -> EncodedQueries:
        """The user's encoded query side for this history, from the cache or computed once (it does not
        depend on the context, which is only there to make a well-formed batch; where it depends on the
        time since the last interaction, that time is part of the key)."""
        since_previous, moment_key = None, []
        if served.model.queries_depend_on_time:  # the other models skip this pass over the log
            gap = served.log.user_since_last(user, moment)
            since_previous, moment_key = torch.tensor([gap]), [gap]
        key = served.key("user", user, consumed.numel(), *moment_key)
        queries = self.cache.get(key)
        if queries is not None:
            self.user_state_hits += 1
            return queries
        self.user_state_misses += 1
        history, history_len = gather_padded(
            SparseRows(torch.tensor([0, consumed.numel()]), consumed, None, served.n_items), torch.tensor([0]), served.max_history
        )
        batch = Batch(torch.tensor([user]), context, history, history_len, since_previous=since_previous)
        queries = served.model.encode_queries(batch)
        self.cache.put(key, queries, USER_STATE_TTL_SECONDS)
        return queries

    def recommend(self, user_id: str, k: int, at: str | None = None) -> dict:
        served = self.current  # one model for the whole request, even if a reload swaps it meanwhile
        self._check_k(k)
        moment = self._moment(at)
        user = served.user_index.get(user_id)
        if user is None:
            items = served.popular_items[:k]
            return self._answer(served, user_id, moment, items, served.popularity[items], None, cold_start=True)
        consumed = served.log.user_until(user, moment)
        context = context_at(served.context, moment).unsqueeze(0)
        with torch.inference_mode():
            queries = self._queries(served, user, consumed, context, moment)
            if served.fused is not None:
                best = served.fused.top_k(queries, context, consumed, k)
            else:
                excluded = (torch.zeros(consumed.numel(), dtype=torch.int64), consumed)
                best = top_k(served.model, queries, context, excluded, k, served.n_items, self.item_chunk)
        kept = best.items[0] >= 0
        return self._answer(served, user_id, moment, best.items[0][kept], best.scores[0][kept], best.alpha, cold_start=False)

    def score(self, user_id: str, item_ids: list[str], at: str | None = None) -> dict:
        served = self.current
        if not 1 <= len(item_ids) <= self.max_items:
            raise BadRequest(f"items must hold between 1 and {self.max_items} item ids, got {len(item_ids)}")
        unknown = [item for item in item_ids if item not in served.item_index]
        if unknown:
            shown = ", ".join(map(repr, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
            raise BadRequest(f"unknown item ids ({len(unknown)} of {len(item_ids)}): {shown}")
        moment = self._moment(at)
        items = torch.tensor([served.item_index[item] for item in item_ids])
        user = served.user_index.get(user_id)
        if user is None:
            return self._answer(served, user_id, moment, items, served.popularity[items], None, cold_start=True)
        consumed = served.log.user_until(user, moment)
        context = context_at(served.context, moment).unsqueeze(0)
        with torch.inference_mode():
            queries = self._queries(served, user, consumed, context, moment)
            scored = served.model.score_encoded(queries, context, items.unsqueeze(0))
        return self._answer(served, user_id, moment, items, scored.scores[0], scored.alpha, cold_start=False)

    def _answer(
        self, served: ServedModel, user_id: str, moment: int, items: torch.Tensor, scores: torch.Tensor,
        alpha: torch.Tensor | None, *, cold_start: bool
    ) -> dict:
        return {
            "user": user_id,
            "cold_start": cold_start,
            "at": datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z"),
            "items": [{"item": served.item_ids[i], "score": float(s)} for i, s in zip(items.tolist(), scores.tolist())],
            "alpha": None if alpha is None else dict(zip(ALL_COMPONENTS, (float(a) for a in alpha[0].tolist()))),
            "model": {"variant": served.info.variant, "seed": served.info.seed, "version": served.info.version},
        }

    def model_info(self) -> dict:
        served = self.current
        return served.info.__dict__ | {
            "version": served.info.version, "n_users": len(served.user_index), "n_items": served.n_items,
            "item_sides_source": served.item_sides_source, "loaded_at": served.loaded_at,
            "recommend_path": "fused table" if served.fused is not None else "item blocks",
        }

    def health(self) -> dict:
        return {
            "status": "ok",
            "version": self.current.info.version,
            "last_reload_error": self.last_reload_error,
            "cache": {"kind": self.cache.kind, "user_state_hits": self.user_state_hits, "user_state_misses": self.user_state_misses},
        }


def file_signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when a checkpoint is replaced (atomic rename: a new inode) or rewritten; None if absent."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size
