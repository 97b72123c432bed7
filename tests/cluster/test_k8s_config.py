"""The Kubernetes files (cluster/k8s, untested on a cluster) agree with the code and with the local stack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from pipelines.cluster.config import PORTABLE_ENV, SECRET_ENV, ClusterConfig
from pipelines.storage.root import RootURL

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "cluster" / "k8s"


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((K8S / "values.yaml").read_text())


@pytest.fixture(scope="module")
def deployment(values) -> dict:
    [dep] = values["dagster-user-deployments"]["deployments"]
    return dep


def _cmd() -> list[str]:
    text = (K8S / "Dockerfile").read_text()
    return yaml.safe_load(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_image_module_values_module_and_pyproject_code_location_agree(deployment):
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    module = pyproject["tool"]["dagster"]["module_name"]
    assert _arg(_cmd(), "-m") == _arg(deployment["dagsterApiGrpcArgs"], "-m") == module
    assert int(_arg(_cmd(), "-p")) == deployment["port"]
    assert re.search(rf"^EXPOSE {deployment['port']}$", (K8S / "Dockerfile").read_text(), re.M)
    __import__(module)


def test_image_copies_every_package_setuptools_installs():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    text = (K8S / "Dockerfile").read_text()
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        pkg = pattern.rstrip("*")
        assert re.search(rf"^COPY {pkg} \./{pkg}$", text, re.M), pkg
    assert '".[cluster]"' in text


def test_code_location_and_run_pods_get_the_same_environment_as_the_local_stack(values, deployment):
    local = ClusterConfig().client_env()
    assert set(PORTABLE_ENV) | set(SECRET_ENV) <= set(local)
    dep_env = {e["name"]: e["value"] for e in deployment["env"]}
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_env = dict(v.split("=", 1) for v in launcher["envVars"])
    assert set(dep_env) == set(run_env) == set(PORTABLE_ENV)
    assert dep_env == run_env
    assert RootURL.parse(dep_env["NOSCOPE_ARTIFACT_URL"]).protocol == "s3"
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    name = secret["metadata"]["name"]
    assert deployment["envSecrets"] == launcher["envSecrets"] == [{"name": name}]
    assert set(SECRET_ENV) <= set(secret["stringData"])
    assert values["global"]["postgresqlSecretName"] == name and "postgresql-password" in secret["stringData"]


def test_helm_instance_settings_match_the_local_stacks_dagster_yaml(values):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    local = ClusterConfig().dagster_yaml()
    pg = values["postgresql"]
    assert pg["enabled"] is False
    assert pg["postgresqlScheme"] == local["storage"]["postgres"]["postgres_db"]["scheme"]
    assert pg["postgresqlDatabase"] == local["storage"]["postgres"]["postgres_db"]["db_name"]
    coord = values["dagsterDaemon"]["runCoordinator"]
    assert coord["type"] == "QueuedRunCoordinator"
    queued = coord["config"]["queuedRunCoordinator"]
    assert queued["tagConcurrencyLimits"] == local["concurrency"]["runs"]["tag_concurrency_limits"]
    retries = values["dagsterDaemon"]["runRetries"]
    assert retries == {"enabled": True, "maxRetries": local["run_retries"]["max_retries"]}
