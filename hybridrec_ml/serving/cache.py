"""Where computed vectors live between requests: this process (default) or Redis (shared, survives restarts).

A value is a dict of float32 tensors. Keys are built by the caller from a version string that
changes with the checkpoint (and the data it scores), so a retrained model never reads an old one.
In Redis a value is a hash of raw little-endian float32 buffers plus their shapes: no pickle, so
reading the cache never runs code.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Protocol

import numpy as np
import redis
import torch

_SHAPES = "__shapes__"


class VectorCache(Protocol):
    kind: str

    def get(self, key: str) -> dict[str, torch.Tensor] | None: ...

    def put(self, key: str, value: dict[str, torch.Tensor], ttl_seconds: int | None = None) -> None: ...


class InProcessCache:
    """A bounded LRU dict; the least recently used entry goes first."""

    kind = "in-process"

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: dict[str, torch.Tensor], ttl_seconds: int | None = None) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._entries)


class RedisCache:
    """Redis at `url` (redis://host:port/db or unix:///path/to/socket)."""

    kind = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url)
        self.client.ping()  # fail at start, naming the URL, rather than on the first request

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        fields = self.client.hgetall(key)
        if not fields:
            return None
        shapes = json.loads(fields.pop(_SHAPES.encode()))
        return {
            name: torch.from_numpy(np.frombuffer(fields[name.encode()], dtype="<f4").reshape(shape).copy())
            for name, shape in shapes.items()
        }

    def put(self, key: str, value: dict[str, torch.Tensor], ttl_seconds: int | None = None) -> None:
        arrays = {name: tensor.detach().cpu().float().contiguous().numpy() for name, tensor in value.items()}
        mapping: dict[str, bytes] = {name: array.astype("<f4").tobytes() for name, array in arrays.items()}
        mapping[_SHAPES] = json.dumps({name: list(array.shape) for name, array in arrays.items()}).encode()
        with self.client.pipeline() as pipe:  # MULTI/EXEC: a reader sees the whole value or none of it
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)
            if ttl_seconds is not None:
                pipe.expire(key, ttl_seconds)
            pipe.execute()


def cache_from_url(url: str | None) -> VectorCache:
    """Redis when a URL is given (HYBRIDREC_REDIS_URL), else this process's memory."""
    return RedisCache(url) if url else InProcessCache()
