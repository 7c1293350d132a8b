"""The Kubernetes profile (deploy/k8s) holds without a cluster: Dagster and dagster-k8s read it as a cluster would.

The instance is validated by Dagster's own config schema and by each configured class's schema;
the step Job of a training step is rendered by dagster-k8s's own functions, merged in the order
its `k8s_job_executor` merges them; the resources built from the cluster's environment are
walked for any local path outside the shared volume.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import DagsterRun
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes import ConfigurableClassData, class_from_code_pointer
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import construct_dagster_k8s_job, get_k8s_job_name, get_user_defined_k8s_config
from dagster_postgres import DagsterPostgresStorage

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "deploy" / "k8s"
SHARED_MOUNT = "/mnt/hybridrec"
# What the two Secrets of cluster.yaml hold; placeholders stand in for the values a user creates.
SECRETS = {
    "DAGSTER_PG_PASSWORD": "pg-secret",
    "AWS_ACCESS_KEY_ID": "key-id",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "MLFLOW_TRACKING_URI": "postgresql://mlflow:pg-secret@postgres.storage.svc.cluster.local:5432/mlflow",
}


def manifests() -> dict[tuple[str, str], dict]:
    documents = yaml.safe_load_all((PROFILE / "cluster.yaml").read_text())
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}


def cluster_env() -> dict[str, str]:
    """The environment every pod gets: the `hybridrec-env` ConfigMap plus the Secrets."""
    return manifests()[("ConfigMap", "hybridrec-env")]["data"] | SECRETS


@pytest.fixture
def on_cluster(monkeypatch) -> dict[str, str]:
    env = cluster_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def configured(section: dict) -> dict:
    """A `module`/`class`/`config` section processed by that class's own config schema ({env: ...} resolved)."""
    klass = class_from_code_pointer(section["module"], section["class"])
    processed = process_config(klass.config_type(), section.get("config", {}))
    assert processed.success, processed.errors
    return processed.value


def test_the_instance_validates_through_dagster_and_each_class_schema(on_cluster):
    instance, custom_class = dagster_instance_config(str(PROFILE))
    assert custom_class is None
    launcher = configured(instance["run_launcher"])
    assert (instance["run_launcher"]["module"], instance["run_launcher"]["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert launcher["job_image"] == on_cluster["HYBRIDREC_IMAGE"]
    assert launcher["volume_mounts"] == [{"name": "shared", "mountPath": SHARED_MOUNT}]
    assert launcher["volumes"] == [{"name": "shared", "persistentVolumeClaim": {"claimName": "hybridrec-shared"}}]
    assert (launcher["env_config_maps"], launcher["env_secrets"]) == (["hybridrec-env"], ["hybridrec-credentials"])

    postgres = process_config(DagsterPostgresStorage.config_type(), instance["storage"]["postgres"])
    assert postgres.success, postgres.errors
    assert postgres.value["postgres_db"] == {
        "hostname": "postgres.storage.svc.cluster.local", "port": 5432, "db_name": "dagster",
        "username": "dagster", "password": "pg-secret", "scheme": "postgresql", "params": {},
    }
    logs = configured(instance["compute_logs"])
    assert (logs["bucket"], logs["endpoint_url"]) == ("hybridrec", on_cluster["AWS_ENDPOINT_URL"])
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert instance["concurrency"]["pools"]["default_limit"] == 1  # one DuckDB writer at a time


def test_a_mistyped_launcher_setting_is_refused_by_the_schema(on_cluster):
    instance, _ = dagster_instance_config(str(PROFILE))
    section = instance["run_launcher"]
    broken = section | {"config": section["config"] | {"volume_mount": section["config"]["volume_mounts"]}}
    klass = class_from_code_pointer(broken["module"], broken["class"])
    assert not process_config(klass.config_type(), broken["config"]).success


def test_every_name_the_instance_refers_to_is_declared_in_the_manifests(on_cluster):
    instance, _ = dagster_instance_config(str(PROFILE))
    launcher, declared = configured(instance["run_launcher"]), manifests()
    assert ("ServiceAccount", launcher["service_account_name"]) in declared
    assert ("PersistentVolumeClaim", "hybridrec-shared") in declared
    assert ("ConfigMap", "hybridrec-env") in declared
    assert launcher["job_namespace"] == declared[("Namespace", "hybridrec")]["metadata"]["name"]
    kustomization = yaml.safe_load((PROFILE / "kustomization.yaml").read_text())
    generated = {generator["name"]: generator["files"] for generator in kustomization["configMapGenerator"]}
    assert generated[launcher["instance_config_map"]] == ["dagster.yaml"]
    assert kustomization["generatorOptions"]["disableNameSuffixHash"] is True  # the launcher names it literally
    for (kind, name), document in declared.items():
        if kind != "Deployment":
            continue
        mounts = {m["mountPath"] for m in document["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
        assert f"{launcher['dagster_home']}/dagster.yaml" in mounts, name  # every Dagster process reads the same instance


def _definitions_on(env: dict[str, str]) -> dict:
    """Load the code location in a fresh interpreter, as the cluster's code server does, with `env`."""
    script = """
import json
from hybridrec_assets.definitions import defs
jobs = {name: defs.resolve_job_def(name).executor_def.name for name in ("data_job", "variant_job", "report_job")}
print(json.dumps({"jobs": jobs, "asset_job": defs.resolve_implicit_global_asset_job_def().executor_def.name}))
"""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDREC_")} | env
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_cluster_environment_puts_every_job_on_the_k8s_executor_and_the_laptop_keeps_its_own():
    on_cluster = _definitions_on(cluster_env())
    assert on_cluster == {"jobs": {"data_job": "k8s", "variant_job": "k8s", "report_job": "k8s"}, "asset_job": "k8s"}
    local = _definitions_on({})  # one process per run: `dagster asset materialize` too (no subprocess per step)
    assert local == {"jobs": {"data_job": "in_process", "variant_job": "in_process", "report_job": "in_process"},
                     "asset_job": "in_process"}


def test_the_training_step_renders_as_a_kubernetes_job_with_a_gpu_the_image_env_and_the_shared_volume(
    on_cluster, tmp_path
):
    from hybridrec_assets.definitions import defs

    instance, _ = dagster_instance_config(str(PROFILE))
    # Outside a cluster the launcher reads its kube config from a file instead of the pod's service account.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        "users": [{"name": "test", "user": {"token": "unused"}}],
    }))
    section = instance["run_launcher"]
    overrides = {"load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
    launcher = ConfigurableClassData(
        section["module"], section["class"], yaml.safe_dump(section["config"] | overrides)
    ).rehydrate(as_type=K8sRunLauncher)

    # The k8s_job_executor's merge: the run's context from the launcher, then the step's op tags.
    op_tags = defs.resolve_assets_def("trained_model").op.tags
    run = DagsterRun(job_name="variant_job", run_id="5f2c1d8e-0000-4000-8000-000000000042")
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False).merge(
        K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(op_tags))
    )
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(None, launcher),
        args=["dagster", "api", "execute_step"],
        job_name=f"dagster-step-{get_k8s_job_name(run.run_id, 'trained_model')}",
        user_defined_k8s_config=context.run_k8s_config,
        component="step_worker",
    )

    pod = job.spec.template.spec
    (container,) = pod.containers
    assert container.image == on_cluster["HYBRIDREC_IMAGE"]
    assert container.resources.requests["nvidia.com/gpu"] == "1"
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert [(m.name, m.mount_path) for m in container.volume_mounts] == [("shared", SHARED_MOUNT)]
    assert [(v.name, v.persistent_volume_claim.claim_name) for v in pod.volumes] == [("shared", "hybridrec-shared")]
    env = {e.name: e for e in container.env}
    assert env["DAGSTER_HOME"].value == "/opt/dagster/dagster_home"
    assert env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.name == "hybridrec-postgres"
    assert [source.config_map_ref.name for source in container.env_from if source.config_map_ref] == ["hybridrec-env"]
    assert [source.secret_ref.name for source in container.env_from if source.secret_ref] == ["hybridrec-credentials"]
    assert pod.service_account_name == "hybridrec-dagster"
    assert job.metadata.labels["app.kubernetes.io/component"] == "step_worker"

    # the data steps carry no GPU request: they get the launcher's small defaults
    plain = defs.resolve_assets_def("interactions_5core").op.tags
    assert get_user_defined_k8s_config(plain).container_config == {}


# Settings that are never paths; every other string setting is checked, so a new path setting cannot slip by.
NOT_PATHS = {("source", "kind"), ("source", "synthetic_scale"), ("source", "synthetic_mixture"), ("tracker", "experiment")}


def local_path(value: str) -> Path | None:
    """The local path a setting names (a plain path, file:// or sqlite:/// URI); None for a remote URI."""
    scheme, separator, rest = value.partition("://")
    if not separator:
        return Path(value)
    if scheme == "file":
        return Path(rest)  # file:///abs
    if scheme == "sqlite":
        return Path(rest[1:])  # sqlite:///relative, sqlite:////abs
    return None  # s3://, postgresql://, http(s)://


def local_paths_outside(resources: dict[str, object], roots: tuple[str, ...]) -> list[str]:
    """Every setting of `resources` that names a local path outside `roots` (relative paths included)."""
    problems = []
    for key, resource in resources.items():
        for field, value in resource.model_dump().items():
            if not isinstance(value, str) or (key, field) in NOT_PATHS:
                continue
            path = local_path(value)
            if path is not None and not (path.is_absolute() and any(path.is_relative_to(root) for root in roots)):
                problems.append(f"{key}.{field} = {value}")
    return problems


def test_no_resource_names_a_local_path_outside_the_shared_volume_on_the_cluster(on_cluster):
    from hybridrec_assets.definitions import default_resources, defs

    resources = default_resources()
    assert local_paths_outside(resources, (SHARED_MOUNT,)) == []
    assert resources["tracker"].artifact_location == "s3://hybridrec/mlflow"
    assert resources["tracker"].tracking_uri.startswith("postgresql://")
    # every asset reaches storage only through these resources; none loads an upstream value through
    # the io_manager (Dagster's default one reads the step pod's own disk): every input is a plain dep
    for asset in defs.assets:
        assert set(asset.required_resource_keys) - {"io_manager"} <= set(resources), asset.keys
        assert all(inp.dagster_type.is_nothing for inp in asset.op.input_defs), asset.keys


def test_the_walk_flags_the_laptop_defaults_which_are_relative_to_the_working_directory(monkeypatch):
    from hybridrec_assets.definitions import default_resources

    for name in list(os.environ):
        if name.startswith("HYBRIDREC_") or name == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(name)
    assert sorted(local_paths_outside(default_resources(), (SHARED_MOUNT,))) == [
        "source.data_dir = data/source",
        "store.root = artifacts",
        "tracker.tracking_uri = sqlite:///mlruns.db",
        "warehouse.database = data/hybridrec.duckdb",
    ]
