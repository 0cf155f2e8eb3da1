"""Tests of the Helm chart: strict lint, render each ci/ value set, validate every object for Kubernetes."""

from __future__ import annotations

import re
import shlex
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
    job = _kinds(objects).get("Job")
    pods = [pod, *([job["spec"]["template"]["spec"]] if job else [])]
    for spec in pods:
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for spec in (*pods, objects["tests/test-connection.yaml"][0]["spec"]):
        for container in spec["containers"] + spec.get("initContainers", []):
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
    if values.get("ncciIndex", {}).get("enabled") and values["ncciIndex"].get("existingClaim"):
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
        (
            {
                "ncciIndex": {
                    "enabled": True,
                    "existingClaim": "i",
                    "copyFrom": {"url": "https://x.example/i"},
                }
            },
            "either existingClaim or copyFrom",
        ),
        (
            {"ncciIndex": {"enabled": True, "copyFrom": {"url": "ftp://x.example/i"}}},
            "/ncciIndex/copyFrom/url",
        ),
        ({"ncciImport": {"enabled": True, "mue": [{"file": "m.zip"}]}}, "ncciIndex.existingClaim"),
        (
            {"ncciIndex": {"enabled": True, "existingClaim": "i"}, "ncciImport": {"enabled": True}},
            "at least one ncciImport.ptp or ncciImport.mue",
        ),
        (
            {
                "ncciIndex": {"enabled": True, "existingClaim": "i"},
                "ncciImport": {"enabled": True, "mue": [{"file": "m.zip"}]},
            },
            "ncciImport.filesClaim",
        ),
        (
            {
                "ncciIndex": {"enabled": True, "existingClaim": "i"},
                "ncciImport": {"enabled": True, "mue": [{"file": "m.zip; rm -rf /"}]},
            },
            "/ncciImport/mue/0/file",
        ),
        ({"ehr": {"feedback": {"existingClaim": "fb"}}}, "database.existingSecret"),
        (
            {
                "ehr": {
                    "cdsJwt": {
                        "enabled": True,
                        "jwks": "https://ehr.example/jwks",
                        "issuers": ["https://ehr.example"],
                    }
                }
            },
            "JWT replay list must be shared",
        ),
        (
            {
                "replicaCount": 1,
                "database": {"existingSecret": "db"},
                "ehr": {"feedback": {"existingClaim": "fb"}},
            },
            "leave ehr.feedback.existingClaim empty",
        ),
        ({"server": {"gracefulTimeout": 60}}, "terminationGracePeriodSeconds"),
        (
            {"database": {"existingSecret": "db", "timeoutSeconds": 20}, "server": {"timeout": 30}},
            "database.timeoutSeconds must be at most half of server.timeout",
        ),
    ],
)
def test_invalid_values_are_refused(values, message):
    with pytest.raises(helm_python.HelmError, match=re.escape(message)):
        _render(values)


def test_feedback_store_is_writable_and_never_on_the_data_volume(case):
    values, objects = case
    ehr = values.get("ehr", {})
    env, mounts, volumes = _env(objects), _mounts(objects), _volumes(objects)
    if values.get("database", {}).get("existingSecret"):
        assert "TERMINOLOGY_FEEDBACK_DB" not in env
        return
    mount_path = ehr.get("feedback", {}).get("mountPath", "/feedback")
    assert env["TERMINOLOGY_FEEDBACK_DB"] == f"{mount_path}/feedback.sqlite"
    mount = mounts[mount_path]
    assert not mount.get("readOnly") and mount["name"] != mounts["/data"]["name"]
    claim = ehr.get("feedback", {}).get("existingClaim")
    if claim:
        # Feedback survives the pod on its own writable claim, even beside a read-only NCCI index.
        assert volumes[mount["name"]]["persistentVolumeClaim"] == {"claimName": claim}
    else:
        assert volumes[mount["name"]]["emptyDir"] == {}


def test_database_url_comes_from_a_secret(case):
    values, objects = case
    database = values.get("database", {})
    container = _container(objects)
    env = {e["name"]: e for e in container.get("env", [])}
    assert not any("DATABASE_URL" in key for key in _env(objects))  # never in the ConfigMap
    if not database.get("existingSecret"):
        assert "TERMINOLOGY_DATABASE_URL" not in env
        return
    assert env["TERMINOLOGY_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": database["existingSecret"],
        "key": database.get("urlKey", "url"),
    }
    assert _env(objects)["TERMINOLOGY_DATABASE_POOL_SIZE"] == str(database.get("poolSize", 4))


def _cli_lines(script: str) -> list[list[str]]:
    return [shlex.split(line) for line in script.splitlines() if line.startswith("terminology ")]


def test_ncci_import_job(case):
    from terminology.cli import build_parser

    values, objects = case
    job = _kinds(objects).get("Job")
    settings = values.get("ncciImport", {})
    if not settings.get("enabled"):
        assert job is None
        return
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
    pod = job["spec"]["template"]
    selector = _kinds(objects)["Service"]["spec"]["selector"]
    assert not selector.items() <= pod["metadata"]["labels"].items()  # the Service never routes here
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    volumes = {v["name"]: v for v in spec["volumes"]}
    (container,) = spec["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert volumes[mounts["/data"]["name"]]["persistentVolumeClaim"] == {
        "claimName": values["ncciIndex"]["existingClaim"]
    }
    assert not mounts["/data"].get("readOnly")  # the writer; the Deployment's pods mount it read-only
    lines = _cli_lines(container["args"][0])
    parser = build_parser()
    for argv in lines:
        parser.parse_args(argv[1:])  # every command the Job runs is one the CLI accepts
    commands = [argv[1:3] for argv in lines]
    urls = [f for ptp in settings.get("ptp", []) for f in ptp["files"] if f.startswith("https://")]
    urls += [m["file"] for m in settings.get("mue", []) if m["file"].startswith("https://")]
    assert commands[0] == (["fetch", "--into"] if urls else ["import", commands[0][1]])
    assert commands.count(["import", "ncci-ptp"]) == len(settings.get("ptp", []))
    assert commands.count(["import", "mue"]) == len(settings.get("mue", []))
    assert commands[-1] == ["ncci", "list"]
    for argv in lines:
        if argv[1] == "import":
            assert "--replace" in argv  # a re-run replaces the edition it imported before
            files = [a for a in argv if a.startswith(("/work/", "/cms/"))]
            assert files and all(f.startswith("/work/") or "/cms" in mounts for f in files)


def test_ncci_index_copied_into_each_pod_without_rwx(case):
    from terminology.cli import build_parser

    values, objects = case
    copy = values.get("ncciIndex", {}).get("copyFrom", {})
    init = _pod_spec(objects).get("initContainers", [])
    if not (copy.get("url") or copy.get("existingSecret")):
        assert init == []
        return
    (container,) = init
    volumes = _volumes(objects)
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/data"}
    argv = container["command"]
    assert argv[:2] == ["terminology", "fetch"] and argv[-1] == "$(NCCI_INDEX_URL)"
    build_parser().parse_args(argv[1:])
    if copy.get("sha256"):
        assert argv[argv.index("--sha256") + 1] == copy["sha256"]
    (url,) = container["env"]
    if copy.get("existingSecret"):
        assert url["valueFrom"]["secretKeyRef"]["name"] == copy["existingSecret"]
    annotations = _kinds(objects)["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["checksum/ncci-index"]) == 64


def test_cds_cors_and_ehr_jwt_settings(case):
    values, objects = case
    ehr = values.get("ehr", {})
    env = _env(objects)
    if ehr.get("corsOrigins"):
        assert env["TERMINOLOGY_CORS_ORIGINS"] == ",".join(ehr["corsOrigins"])
    if ehr.get("cdsJwt", {}).get("enabled"):
        assert env["TERMINOLOGY_CDS_JWKS"] == ehr["cdsJwt"]["jwks"]
        assert env["TERMINOLOGY_CDS_ISSUERS"] == ",".join(ehr["cdsJwt"]["issuers"])


def test_the_import_job_script_imports_for_real_and_can_run_again(tmp_path):
    """Run the rendered Job's script here: URLs served on 127.0.0.1, a files-claim folder, the index folder."""
    import json
    import subprocess
    import sys
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from tests.ncci_fixtures import mue_row, ptp_row, write_mue, write_ptp_zip
    from tests.support import clean_environment

    served, claim, data, work = (tmp_path / name for name in ("served", "claim", "data", "work"))
    for folder in (served, claim, data, work):
        folder.mkdir()
    write_ptp_zip(served / "ccipra-v322r0-f1.zip", "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0004")])
    write_ptp_zip(served / "ccipra-v322r0-f2.zip", "ccipra-v322r0-f2.TXT", [ptp_row("Z0002", "Z0005")])
    write_mue(claim / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", [mue_row("Z0013", 2, 3)])
    handler = partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    values = {
        "ncciIndex": {"enabled": True, "existingClaim": "ncci-index-rwx"},
        "ncciImport": {
            "enabled": True,
            "filesClaim": "cms-files",
            "ptp": [{"files": [f"{base}/ccipra-v322r0-f1.zip", f"{base}/ccipra-v322r0-f2.zip"]}],
            "mue": [{"file": "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv"}],
        },
    }
    job = _kinds(_render(values))["Job"]
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    # The Job's mounts, here as folders: /work (downloads), /cms (the files claim), /data (the index).
    script = script.replace("/work", str(work)).replace("/cms", str(claim))
    env = clean_environment(tmp_path, TERMINOLOGY_DATA_DIR=str(data))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    try:
        for run in (1, 2):  # a second run (the next helm upgrade) must succeed and change nothing
            result = subprocess.run(
                ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=300
            )
            assert result.returncode == 0, (run, result.stdout, result.stderr)
    finally:
        server.shutdown()
        server.server_close()
    listing = subprocess.run(
        [sys.executable, "-m", "terminology", "ncci", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    editions = json.loads(listing.stdout)["editions"]
    assert sorted((e["kind"], e["setting"]) for e in editions) == [
        ("mue", "practitioner"),
        ("ptp", "practitioner"),
    ]
    assert {e["rows"] for e in editions} == {1, 2}
