"""Tests of the Helm chart: strict lint, render each ci/ value set, validate every object for Kubernetes."""

from __future__ import annotations

import re
from pathlib import Path

import helm_python
import kubernetes_validate
import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parent.parent
CHART = REPOSITORY / "helm" / "terminology"
VALUE_SETS = sorted((CHART / "ci").glob("*.yaml"))
# The newest Kubernetes release whose schemas kubernetes-validate bundles (1.37 with the pinned package).
KUBERNETES_VERSION = kubernetes_validate.latest_version()
# Custom resources have no bundled schema; their shape is asserted below instead.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def _values(path: Path | None) -> dict:
    return yaml.safe_load(path.read_text()) if path else {}


def _render(values: dict) -> dict[str, list[dict]]:
    """Render the chart; return the objects of each template, keyed by template file name."""
    with helm_python.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name="tx", namespace="terminology")
    objects: dict[str, list[dict]] = {}
    for path, manifest in rendered.items():
        if path.endswith(".yaml"):
            docs = [doc for doc in yaml.safe_load_all(manifest) if doc]
            if docs:
                objects[path.removeprefix("terminology/templates/")] = docs
    return objects


def _kinds(objects: dict[str, list[dict]]) -> dict[str, dict]:
    return {
        doc["kind"]: doc
        for docs in objects.values()
        for doc in docs
        if "test" not in docs[0]["metadata"]["name"]
    }


def _pod_spec(objects) -> dict:
    return _kinds(objects)["Deployment"]["spec"]["template"]["spec"]


def _container(objects) -> dict:
    return _pod_spec(objects)["containers"][0]


def _env(objects) -> dict[str, str]:
    return _kinds(objects)["ConfigMap"]["data"]


def _mounts(objects) -> dict[str, dict]:
    return {m["mountPath"]: m for m in _container(objects)["volumeMounts"]}


def _volumes(objects) -> dict[str, dict]:
    return {v["name"]: v for v in _pod_spec(objects)["volumes"]}


@pytest.fixture(scope="module", params=[None, *VALUE_SETS], ids=["default", *(p.stem for p in VALUE_SETS)])
def case(request) -> tuple[dict, dict[str, list[dict]]]:
    values = _values(request.param)
    return values, _render(values)


def test_there_are_value_sets_for_the_options():
    assert len(VALUE_SETS) >= 5


@pytest.mark.parametrize("path", [None, *VALUE_SETS], ids=["default", *(p.stem for p in VALUE_SETS)])
def test_chart_lints_strictly(path):
    result = helm_python.lint(str(CHART), _values(path), strict=True, kube_version=KUBERNETES_VERSION)
    assert result["errors"] == []
    # Only the informational "icon is recommended" may remain.
    assert [m for m in result["messages"] if m["severity"] > 1] == []


def test_every_object_is_valid_kubernetes(case):
    _, objects = case
    for docs in objects.values():
        for doc in docs:
            if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
                continue
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_pods_are_hardened(case):
    _, objects = case
    pod = _pod_spec(objects)
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for spec in (pod, objects["tests/test-connection.yaml"][0]["spec"]):
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True
            assert security["runAsUser"] == 10001
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_image_is_pinned(case):
    values, objects = case
    image = _container(objects)["image"]
    assert not image.endswith(":latest") and ":" in image.rsplit("/", 1)[-1]
    if values.get("image", {}).get("digest"):
        assert image.endswith("@" + values["image"]["digest"])


def test_probes_use_readyz_and_livez(case):
    _, objects = case
    container = _container(objects)
    assert container["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}


def test_tmp_and_data_dir_are_writable_volumes(case):
    values, objects = case
    mounts, volumes = _mounts(objects), _volumes(objects)
    assert volumes[mounts["/tmp"]["name"]]["emptyDir"] is not None
    data = volumes[mounts["/data"]["name"]]
    assert _env(objects)["TERMINOLOGY_DATA_DIR"] == "/data"
    if values.get("ncciIndex", {}).get("enabled"):
        assert data["persistentVolumeClaim"] == {
            "claimName": values["ncciIndex"]["existingClaim"],
            "readOnly": True,
        }
        assert mounts["/data"]["readOnly"] is True
    else:
        assert "emptyDir" in data


def test_content_comes_from_the_image_or_an_existing_object(case):
    values, objects = case
    content = values.get("content", {})
    env, mounts, volumes = _env(objects), _mounts(objects), _volumes(objects)
    source = content.get("source", "image")
    if source == "image":
        assert "TERMINOLOGY_CONTENT_DIRS" not in env
        assert "/content" not in mounts
        return
    assert mounts["/content"]["readOnly"] is True
    volume = volumes[mounts["/content"]["name"]]
    expected = {
        "configMap": ("configMap", "name"),
        "secret": ("secret", "secretName"),
        "persistentVolumeClaim": ("persistentVolumeClaim", "claimName"),
    }[source]
    assert volume[expected[0]][expected[1]] == content["name"]
    dirs = env["TERMINOLOGY_CONTENT_DIRS"].split(":")
    mounted = [d for d in dirs if d.startswith("/content")]
    assert mounted == [f"/content/{d}".rstrip("/.") or "/content" for d in content.get("dirs", ["."])]
    assert any(d.startswith("/app/content") for d in dirs) == bool(content.get("includeBundled"))


def test_checksum_annotation_rolls_pods_on_config_and_content_changes():
    def annotations(values):
        return _kinds(_render(values))["Deployment"]["spec"]["template"]["metadata"]["annotations"]

    base = annotations({})
    assert len(base["checksum/config"]) == 64
    assert annotations({})["checksum/config"] == base["checksum/config"]
    assert annotations({"server": {"workers": 3}})["checksum/config"] != base["checksum/config"]
    licensed = {"content": {"source": "configMap", "name": "cpt", "revision": "2026"}}
    assert (
        annotations(licensed)["checksum/content"]
        != annotations({**licensed, "content": {**licensed["content"], "revision": "2027"}})[
            "checksum/content"
        ]
    )


def test_auth_settings_come_from_a_secret(case):
    values, objects = case
    auth = values.get("auth", {})
    env, mounts, volumes = _env(objects), _mounts(objects), _volumes(objects)
    assert env["TERMINOLOGY_AUTH_MODE"] == auth.get("mode", "none")
    if auth.get("existingSecret"):
        mount = mounts["/etc/terminology/auth"]
        assert mount["readOnly"] is True
        assert volumes[mount["name"]]["secret"]["secretName"] == auth["existingSecret"]
    if auth.get("mode") == "static":
        assert env["TERMINOLOGY_AUTH_TOKENS_FILE"] == "/etc/terminology/auth/tokens"
    if auth.get("mode") == "jwt":
        jwt = auth["jwt"]
        assert env["TERMINOLOGY_AUTH_JWKS"] == jwt.get("jwksUrl", "/etc/terminology/auth/jwks.json")
        assert env["TERMINOLOGY_AUTH_ISSUER"] == jwt["issuer"]
        assert env["TERMINOLOGY_AUTH_AUDIENCE"] == jwt["audience"]


def test_metrics_are_scraped_by_annotations_or_a_service_monitor(case):
    values, objects = case
    metrics = values.get("metrics", {})
    annotations = _kinds(objects)["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    monitor = _kinds(objects).get("ServiceMonitor")
    assert _env(objects)["TERMINOLOGY_METRICS"] == str(metrics.get("enabled", True)).lower()
    if not metrics.get("enabled", True):
        assert "prometheus.io/scrape" not in annotations and monitor is None
        return
    assert ("prometheus.io/scrape" in annotations) == metrics.get("podAnnotations", True)
    if metrics.get("serviceMonitor", {}).get("enabled"):
        endpoint = monitor["spec"]["endpoints"][0]
        assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
        assert monitor["spec"]["selector"]["matchLabels"] == _kinds(objects)["Service"]["spec"]["selector"]
    else:
        assert monitor is None


def test_scaling_disruption_budget_and_spread(case):
    values, objects = case
    kinds = _kinds(objects)
    autoscaling = values.get("autoscaling", {})
    if autoscaling.get("enabled"):
        hpa = kinds["HorizontalPodAutoscaler"]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert "replicas" not in kinds["Deployment"]["spec"]
        minimum = autoscaling["minReplicas"]
    else:
        assert "HorizontalPodAutoscaler" not in kinds
        minimum = values.get("replicaCount", 2)
    assert ("PodDisruptionBudget" in kinds) == (minimum >= 2)
    spread = _pod_spec(objects).get("topologySpreadConstraints")
    if values.get("topologySpread", {}).get("enabled", True) or values.get("topologySpreadConstraints"):
        assert spread
    else:
        assert spread is None


def test_service_account_and_helm_test(case):
    values, objects = case
    kinds = _kinds(objects)
    if values.get("serviceAccount", {}).get("create", True):
        assert kinds["ServiceAccount"]["automountServiceAccountToken"] is False
    else:
        assert "ServiceAccount" not in kinds
        assert _pod_spec(objects)["serviceAccountName"] == values["serviceAccount"]["name"]
    test_pod = objects["tests/test-connection.yaml"][0]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "/readyz" in " ".join(test_pod["spec"]["containers"][0]["command"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"image": {"tag": "latest"}}, "/image/tag"),
        ({"replicaCount": "three"}, "/replicaCount"),
        ({"unknownKey": True}, "unknownKey"),
        ({"content": {"source": "configMap"}}, "content.name"),
        ({"auth": {"mode": "static"}}, "auth.existingSecret"),
        (
            {"auth": {"mode": "jwt", "jwt": {"issuer": "https://idp.example.org"}}},
            "auth.jwt.issuer and auth.jwt.audience",
        ),
        ({"ncciIndex": {"enabled": True}}, "ncciIndex.existingClaim"),
        ({"server": {"gracefulTimeout": 60}}, "terminationGracePeriodSeconds"),
    ],
)
def test_invalid_values_are_refused(values, message):
    with pytest.raises(helm_python.HelmError, match=re.escape(message)):
        _render(values)


def test_cds_feedback_cors_and_ehr_jwt_settings(case):
    values, objects = case
    ehr = values.get("ehr", {})
    env = _env(objects)
    claim = ehr.get("feedback", {}).get("existingClaim")
    if claim:
        # Feedback survives the pod on its own writable claim, even beside a read-only NCCI index.
        mount = _mounts(objects)[ehr["feedback"]["mountPath"]]
        assert not mount.get("readOnly")
        assert _volumes(objects)[mount["name"]]["persistentVolumeClaim"] == {"claimName": claim}
        assert env["TERMINOLOGY_FEEDBACK_DB"] == f"{ehr['feedback']['mountPath']}/feedback.sqlite"
    else:
        assert "TERMINOLOGY_FEEDBACK_DB" not in env
    if ehr.get("corsOrigins"):
        assert env["TERMINOLOGY_CORS_ORIGINS"] == ",".join(ehr["corsOrigins"])
    if ehr.get("cdsJwt", {}).get("enabled"):
        assert env["TERMINOLOGY_CDS_JWKS"] == ehr["cdsJwt"]["jwks"]
        assert env["TERMINOLOGY_CDS_ISSUERS"] == ",".join(ehr["cdsJwt"]["issuers"])
