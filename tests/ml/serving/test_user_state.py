"""The server's per-user state cache: reused across moments, except where the queries read the time since the last interaction."""

import torch

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.models.gate_input import recency_feature
from hybridrec_ml.models.hybrid import GATE_HISTORY
from hybridrec_ml.serving.cache import InProcessCache
from hybridrec_ml.serving.consumption import ConsumptionLog
from hybridrec_ml.serving.service import ModelInfo, RecommendationService, ServedModel
from hybridrec_ml.tensors.bundle import SparseRows
from tests.ml.training.planted import planted_bundle

BUNDLE = planted_bundle(n_users=4, per_user=6)
# user 0 consumed items 3 then 5, at t = 100 and 200
LOG = ConsumptionLog(SparseRows(torch.tensor([0, 2, 2, 2, 2]), torch.tensor([3, 5]), None, BUNDLE.n_items), torch.tensor([100, 200]))


def _service(variant: str) -> tuple[RecommendationService, ServedModel]:
    torch.manual_seed(0)
    model = build_model(VARIANTS[variant], BUNDLE).eval()
    info = ModelInfo(variant, 42, "2026-01-01T00:00:00+00:00", "run", "model.pt", "a" * 64, "b" * 64)
    served = ServedModel(
        info=info, model=model, log=LOG, user_index={"u0": 0}, item_ids=[f"i{i}" for i in range(BUNDLE.n_items)],
        item_index={}, context=None, popular_items=torch.arange(BUNDLE.n_items), popularity=torch.zeros(BUNDLE.n_items),
        max_history=50, item_sides_source="computed", loaded_at="now",
    )  # fmt: skip
    return RecommendationService(lambda: served, lambda: 1, InProcessCache()), served


def _queries(service: RecommendationService, served: ServedModel, moment: int) -> dict[str, torch.Tensor]:
    with torch.inference_mode():
        return service._queries(served, 0, LOG.user_until(0, moment), torch.zeros(1, 5), moment)


def test_the_enriched_gate_gets_the_recency_of_the_request_moment_not_a_cached_one():
    service, served = _service("enriched_gate")
    early, late = _queries(service, served, 300), _queries(service, served, 200 + 86_400)
    assert float(early[GATE_HISTORY][0, 2]) == float(recency_feature(torch.tensor([100]))[0])
    assert float(late[GATE_HISTORY][0, 2]) == float(recency_feature(torch.tensor([86_400]))[0])
    assert (service.user_state_hits, service.user_state_misses) == (0, 2)
    _queries(service, served, 300)
    assert service.user_state_hits == 1  # the same moment again: cached


def test_other_models_reuse_the_user_state_at_any_moment():
    service, served = _service("v1")
    first, second = _queries(service, served, 300), _queries(service, served, 200 + 86_400)
    assert (service.user_state_hits, service.user_state_misses) == (1, 1)
    assert all(torch.equal(first[name], second[name]) for name in first)
