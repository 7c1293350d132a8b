"""Serving latency: p50 / p99 and requests/s of GET /recommend (k=10) on the full catalogue size, against a
brute-force reference that rescores the whole catalogue for every request, in the same run.

The model is an UNTRAINED v1 hybrid of the `full` synthetic sizes (728,719 users, 160,052 items, a
5,000-term TF-IDF with ~5.35M non-zeros, ~6.7M logged interactions): a request's cost depends on
these sizes, not on the values of the weights, and training a full-size model is no part of a
latency benchmark. The service is the real one (`RecommendationService` + the FastAPI app) behind a
real uvicorn on 127.0.0.1, in a thread of this process; one client sends requests one at a time
over a keep-alive connection, after a warm-up request per user (warm caches); with --clients N,
N clients then do the same at once. Besides wall-clock figures it prints the process CPU time per
request, which contention from other jobs on the machine inflates far less. The reference
recomputes every item side (the content MLP over every TF-IDF row), scores all items through
`score_candidates`, masks the consumed ones and sorts everything, per request; its top-10 must
equal the service's.

    python bench/serving.py [--threads 1] [--requests 1000] [--users 200] [--reference-requests 5] [--clients 2] [--profile 100]
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import pstats
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not whatever is installed

from hybridrec_ml.config import VARIANTS  # noqa: E402
from hybridrec_ml.data.transforms.context import context_tables  # noqa: E402
from hybridrec_ml.models.hybrid import HybridRecommender  # noqa: E402
from hybridrec_ml.serving.app import create_app  # noqa: E402
from hybridrec_ml.serving.cache import InProcessCache  # noqa: E402
from hybridrec_ml.serving.consumption import ConsumptionLog, context_at  # noqa: E402
from hybridrec_ml.serving.service import ModelInfo, RecommendationService, ServedModel, with_catalogue_item_sides  # noqa: E402
from hybridrec_ml.tensors.batch import Batch  # noqa: E402
from hybridrec_ml.tensors.batching import gather_padded  # noqa: E402
from hybridrec_ml.tensors.bundle import SparseRows  # noqa: E402
from hybridrec_ml.tensors.bundle_loader import csr_from_pairs  # noqa: E402

FULL = {"users": 728_719, "items": 160_052, "vocab": 5000, "terms_per_item": (10, 57), "interactions_per_user": (5, 14)}
AT = 1_600_000_000  # after every logged interaction
TARGET_P99_MS, TARGET_RATIO = 50.0, 20.0


def full_size_world(seed: int = 0) -> ServedModel:
    """An untrained v1 of the full sizes, a random TF-IDF and a random consumption log; nothing read from disk."""
    g = torch.Generator().manual_seed(seed)
    n_users, n_items, vocab = FULL["users"], FULL["items"], FULL["vocab"]
    terms = torch.randint(*FULL["terms_per_item"], (n_items,), generator=g)
    term_owner = torch.repeat_interleave(torch.arange(n_items), terms)
    tfidf = csr_from_pairs(term_owner, torch.randint(0, vocab, (term_owner.numel(),), generator=g),
                           torch.rand(term_owner.numel(), generator=g), n_items, vocab)
    counts = torch.randint(*FULL["interactions_per_user"], (n_users,), generator=g)
    owner = torch.repeat_interleave(torch.arange(n_users), counts)
    position = torch.arange(owner.numel()) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    ts = 1_300_000_000 + torch.randint(0, 10**8, (n_users,), generator=g)[owner] + position * 86_400
    log = ConsumptionLog(csr_from_pairs(owner, torch.randint(0, n_items, (owner.numel(),), generator=g), None, n_users, n_items), ts)
    torch.manual_seed(seed)
    model = HybridRecommender(VARIANTS["v1"], n_users, n_items, tfidf).eval()
    popularity = torch.randint(0, 1000, (n_items,), generator=g).float()
    item_ids = [f"I{i:07d}" for i in range(n_items)]
    info = ModelInfo("v1", seed, "untrained", "none", "untrained full-size v1 (bench)", "0" * 64, "0" * 64)
    return ServedModel(
        info=info, model=model, log=log, user_index={f"U{u:07d}": u for u in range(n_users)}, item_ids=item_ids,
        item_index={item: i for i, item in enumerate(item_ids)}, context=context_tables(),
        popular_items=torch.sort(popularity, descending=True, stable=True).indices, popularity=popularity,
        max_history=VARIANTS["v1"].dims.max_history, item_sides_source="computed", loaded_at="now",
    )


def brute_force_top_k(served: ServedModel, user: int, at: int, k: int) -> list[int]:
    """Everything from scratch: every item side, every item's score, a full sort."""
    served.model.clear_catalogue_cache()
    consumed = served.log.user_until(user, at)
    history, history_len = gather_padded(
        SparseRows(torch.tensor([0, consumed.numel()]), consumed, None, served.n_items), torch.tensor([0]), served.max_history
    )
    batch = Batch(torch.tensor([user]), context_at(served.context, at).unsqueeze(0), history, history_len)
    with torch.inference_mode():
        scores = served.model.score_candidates(batch, torch.arange(served.n_items).unsqueeze(0)).scores[0]
        scores[consumed] = float("-inf")
    return torch.sort(scores, descending=True, stable=True).indices[:k].tolist()


def start_server(service: RecommendationService) -> tuple[uvicorn.Server, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service, None), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, port


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):7.2f} ms   p99 {np.percentile(ms, 99):7.2f} ms   mean {ms.mean():7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch (intra-op) threads of the service")
    parser.add_argument("--clients", type=int, default=1, help="also measure this many concurrent clients (if > 1)")
    parser.add_argument("--requests", type=int, default=1000, help="timed /recommend requests")
    parser.add_argument("--users", type=int, default=200, help="distinct users the requests cycle over")
    parser.add_argument("--reference-requests", type=int, default=5)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--profile", type=int, default=0, help="also cProfile this many in-process requests (top 12 by own time)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    served = full_size_world()
    print(f"world: untrained v1, {len(served.user_index):,} users, {served.n_items:,} items, "
          f"{served.model.components['content'].tfidf_term.numel():,} TF-IDF non-zeros, {served.log.items.index.numel():,} "
          f"logged interactions; built in {time.perf_counter() - started:.1f} s; torch threads {torch.get_num_threads()}; "
          f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    cache = InProcessCache()
    started = time.perf_counter()
    served = with_catalogue_item_sides(served, cache)
    print(f"catalogue item sides (3 x {served.n_items:,} x 64), computed once at load: {time.perf_counter() - started:.1f} s; "
          f"/recommend path: {'fused table' if served.fused is not None else 'item blocks'}")
    service = RecommendationService(lambda: served, lambda: None, cache)
    server, port = start_server(service)
    at = datetime.fromtimestamp(AT, UTC).isoformat().replace("+00:00", "Z")
    users = torch.randperm(len(served.user_index), generator=torch.Generator().manual_seed(1))[: args.users].tolist()
    paths = [f"/recommend?user=U{u:07d}&k={args.k}&at={at}" for u in users]

    def get(client: http.client.HTTPConnection, path: str) -> dict:
        client.request("GET", path)
        response = client.getresponse()
        body = response.read()
        assert response.status == 200, body
        return json.loads(body)

    def timed_client(first: int, count: int, latencies: list[float]) -> None:
        client = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(first, first + count):
            t0 = time.perf_counter()
            get(client, paths[i % len(paths)])
            latencies.append(time.perf_counter() - t0)
        client.close()

    warm_up = http.client.HTTPConnection("127.0.0.1", port)
    answers = {path: get(warm_up, path) for path in paths}  # one request per user fills the user-state cache
    latencies: list[float] = []
    cpu_started, started = time.process_time(), time.perf_counter()
    timed_client(0, args.requests, latencies)
    served_rps = args.requests / (time.perf_counter() - started)
    http_cpu_ms = (time.process_time() - cpu_started) * 1000 / args.requests
    print(f"service over HTTP ({args.requests} requests, {len(paths)} users, warm caches, one client): "
          f"{percentiles(latencies)}   {served_rps:,.1f} requests/s   {http_cpu_ms:.1f} CPU-ms per request "
          f"(server and client together: one process)")
    if args.clients > 1:
        per_client = args.requests // args.clients
        concurrent: list[float] = []
        clients = [threading.Thread(target=timed_client, args=(c * per_client, per_client, concurrent)) for c in range(args.clients)]
        started = time.perf_counter()
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        print(f"service over HTTP, {args.clients} concurrent clients ({len(concurrent)} requests): {percentiles(concurrent)}   "
              f"{len(concurrent) / (time.perf_counter() - started):,.1f} requests/s")
    direct = []
    cpu_started = time.process_time()
    for i in range(min(args.requests, 300)):
        t0 = time.perf_counter()
        service.recommend(f"U{users[i % len(users)]:07d}", args.k, at)
        direct.append(time.perf_counter() - t0)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / len(direct)
    print(f"service in-process (no HTTP, {len(direct)} calls):                              {percentiles(direct)}   "
          f"{cpu_ms:.1f} CPU-ms per request")
    server.should_exit = True
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [service.recommend(f"U{users[i % len(users)]:07d}", args.k, at) for i in range(args.profile)])
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(12)

    reference, agree = [], 0
    cpu_started = time.process_time()
    for user in users[: args.reference_requests]:
        t0 = time.perf_counter()
        items = brute_force_top_k(served, user, AT, args.k)
        reference.append(time.perf_counter() - t0)
        agree += items == [int(i["item"][1:]) for i in answers[f"/recommend?user=U{user:07d}&k={args.k}&at={at}"]["items"]]
    reference_rps = len(reference) / sum(reference)
    reference_cpu_ms = (time.process_time() - cpu_started) * 1000 / len(reference)
    ratio = served_rps / reference_rps
    p99 = float(np.percentile(np.array(latencies) * 1000, 99))
    print(f"brute-force reference ({len(reference)} requests):                            {percentiles(reference)}   "
          f"{reference_rps:,.2f} requests/s   {reference_cpu_ms:,.0f} CPU-ms per request; "
          f"same top-{args.k} as the service for {agree}/{len(reference)}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"p99 {p99:.1f} ms (target <= {TARGET_P99_MS:.0f} ms: {'met' if p99 <= TARGET_P99_MS else 'MISSED'}); "
          f"throughput {ratio:,.0f}x the reference (target >= {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'}); "
          f"CPU time per request {reference_cpu_ms / cpu_ms:,.0f}x less than the reference's")


if __name__ == "__main__":
    main()
