"""How many torch threads one run gets: the cores divided among the instance's concurrent runs."""

import os

from dagster import DagsterInstance


def default_torch_threads(instance: DagsterInstance) -> int:
    """Cores per run when the instance runs several at once: on 2 cores, two runs of 2 threads each
    trained 33x slower than two runs of 1 thread (many small ops thrash oversubscribed cores)."""
    queue = instance.get_concurrency_config().run_queue_config
    concurrent_runs = queue.max_concurrent_runs if queue is not None and queue.max_concurrent_runs > 0 else 1
    return max(1, (os.cpu_count() or 1) // concurrent_runs)
