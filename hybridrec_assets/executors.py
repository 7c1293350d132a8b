"""Where steps run, chosen by configuration: in this process locally, as Kubernetes Jobs on a cluster.

`HYBRIDREC_EXECUTOR=k8s` (set on the cluster's code location, see deploy/k8s/) makes every job
launch each step as its own Kubernetes Job through dagster-k8s's `k8s_job_executor` (the
`deploy` extra); unset, nothing of dagster-k8s is imported. Training and evaluation steps carry
their pod resources, a GPU included, in the op tag that dagster-k8s reads; other executors
ignore the tag.
"""

from __future__ import annotations

import os

from dagster import ExecutorDefinition, in_process_executor

EXECUTOR_ENV = "HYBRIDREC_EXECUTOR"
EXECUTORS = ("local", "k8s")

# Host memory from bench/full_scale.py on `full` (README, "Full scale"): no variant's training or
# evaluation peaked above 4.2 GB of RSS on CPU; the request leaves room for the CUDA runtime, the
# limit is the project's 16 GB budget.
GPU_STEP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"},
                "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
            }
        }
    }
}


def executor_kind() -> str:
    kind = os.environ.get(EXECUTOR_ENV, "local")
    if kind not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    return kind


def default_executor() -> ExecutorDefinition:
    """The executor of every job, the UI's and the CLI's asset jobs included.

    Locally a run's steps run one after the other in the run's process: a step subprocess would
    re-import the code location for each step, and the data steps, the heaviest writers, take
    turns on the one DuckDB file anyway. Parallelism is across runs (partitions).
    """
    if executor_kind() == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return in_process_executor
