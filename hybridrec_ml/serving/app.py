"""The HTTP face of a `RecommendationService` (FastAPI; OpenAPI docs at /docs)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hybridrec_ml.serving.service import BadRequest, RecommendationService

COLD_START = (
    "A user id the served data has never seen gets the most popular training items (score = training "
    "interactions), with cold_start: true and alpha: null."
)


class ScoreRequest(BaseModel):
    user: str = Field(description="user_id (reviewerID); unknown ids are scored by popularity (cold start)")
    items: list[str] = Field(description="item_ids (asin) to score, in the order wanted back")
    at: str | None = Field(default=None, description="ISO 8601 moment (UTC without an offset); default: now")


def create_app(service: RecommendationService, reload_interval_seconds: float | None = 2.0) -> FastAPI:
    """The app; with a reload interval, a watcher thread swaps in a new checkpoint of the served partition."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        if reload_interval_seconds:
            threading.Thread(target=service.watch, args=(reload_interval_seconds, stop), daemon=True).start()
        yield
        stop.set()

    app = FastAPI(
        title="HybridRec",
        summary="Top-K recommendations and pair scores from one trained (variant, seed)",
        description=COLD_START,
        lifespan=lifespan,
    )

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, error: BadRequest) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(error)})

    # Plain `def` handlers: FastAPI runs them in its thread pool, so scoring never blocks the event loop.
    @app.get("/recommend", summary="The k best items for a user that the user has not consumed yet")
    def recommend(
        user: str = Query(description="user_id (reviewerID). " + COLD_START),
        k: int = Query(default=10, description=f"how many items, 1..{service.max_k}"),
        at: str | None = Query(default=None, description="ISO 8601 moment for history and context (UTC without an offset); default: now"),
    ) -> dict:
        return service.recommend(user, k, at)

    @app.post("/score", summary="Scores of given items for a user, in the order given")
    def score(request: ScoreRequest) -> dict:
        return service.score(request.user, request.items, request.at)

    @app.get("/health", summary="Liveness, the served version, cache statistics, the last reload error")
    def health() -> dict:
        return service.health()

    @app.get("/model", summary="Variant, seed, trained-at, MLflow run id and checkpoint hash of the served model")
    def model() -> dict:
        return service.model_info()

    @app.post("/reload", summary="Load the partition's checkpoint now if it changed (the watcher also does this)")
    def reload() -> JSONResponse:
        try:
            reloaded = service.reload_if_changed()
        except Exception as error:
            detail = f"reload failed, still serving {service.current.info.version}: {type(error).__name__}: {error}"
            return JSONResponse(status_code=503, content={"detail": detail})
        return JSONResponse({"reloaded": reloaded, "version": service.current.info.version})

    return app
