"""The deployment files, checked offline: there is no Docker engine and no cluster on this machine.

- deploy/k8s/*.yaml: the Kubernetes JSON schemas shipped with kubernetes-validate (strict), then cross-checks
  the schemas cannot make: Service selectors and ports, probe ports, ConfigMap/Secret keys, ``$(VAR)`` order,
  the environment each process's code reads, the URLs' hosts and databases, security contexts.
- deploy/Dockerfile.*: every COPY source exists and is not excluded by .dockerignore; each image contains
  every project module its processes import. Each image's file tree is then staged from its COPY lines
  (with this machine's virtualenvs standing in for the ``RUN pip install`` layers) and the Kubernetes commands
  are run in it: the KB Job on a real PostgreSQL database, the action server and the staff service answering
  their probe paths, Rasa's endpoints written from the manifest's environment.
- docker-compose.yml: ``docker-compose config`` (docker-compose 1.29.2, .venv/tools, requirements/tools.txt)
  when installed, and structural checks that always run.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from knowledge.settings import PROJECT_ROOT as ROOT
from tests.stack import stop

K8S = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILES = {"rasa": ROOT / "deploy" / "Dockerfile.rasa", "app": ROOT / "deploy" / "Dockerfile.app"}
IMAGES = {"hangzhou-assistant/rasa": "rasa", "hangzhou-assistant/app": "app"}
VENVS = {"rasa": ROOT / ".venv" / "rasa", "app": ROOT / ".venv" / "app"}
COMPOSE_TOOL = ROOT / ".venv" / "tools" / "bin" / "docker-compose"
SECRET_TEMPLATE = K8S / "secret.example.yaml"
K8S_VERSIONS = ("1.28.0", "1.37.0")
PROJECT_PACKAGES = ("actions", "bot", "knowledge", "web")

# The environment contract (README, docs/deploy.md): a process whose code reads one of these must get it.
CONTRACT = {
    "DATABASE_URL",
    "TRACKER_STORE_URL",
    "REDIS_URL",
    "ACTION_SERVER_URL",
    "RASA_TOKEN",
    "ADMIN_USERNAME",
    "ADMIN_PASSWORD",
}
# Read by a library or an image, not by our code; each is checked to occur in the file named.
LIBRARY_VARIABLES = {
    "SANIC_WORKERS": VENVS["rasa"] / "lib/python3.10/site-packages/rasa/constants.py",
    "ACTION_SERVER_SANIC_WORKERS": VENVS["app"] / "lib/python3.10/site-packages/rasa_sdk/constants.py",
    "SANIC_PROXIES_COUNT": VENVS["rasa"] / "lib/python3.10/site-packages/sanic/config.py",  # SANIC_ + PROXIES_COUNT
    "HEALTHCHECK_URL": DOCKERFILES["app"],
}
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|AES_KEY|HASH_KEY")
PLACEHOLDER = re.compile(r"^(CHANGE_ME)?$")


# ---------------------------------------------------------------------------------------------------------
# Kubernetes manifests


def k8s_docs(include_template: bool = False) -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml" or (path == SECRET_TEMPLATE and not include_template):
            continue
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return docs


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_docs() if doc["kind"] == kind}


def workloads() -> dict[str, dict]:
    """Deployments, StatefulSets and Jobs by name."""
    return {name: doc for kind in ("Deployment", "StatefulSet", "Job") for name, doc in by_kind(kind).items()}


def containers(workload: dict, *, init: bool = True) -> list[dict]:
    spec = workload["spec"]["template"]["spec"]
    return (spec.get("initContainers", []) if init else []) + spec["containers"]


def pod_labels(workload: dict) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels/matchExpressions, or a Service's plain map) against pod labels."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if (op == "In" and value not in expr["values"]) or (op == "NotIn" and value in expr["values"]):
            return False
        if (op == "Exists" and value is None) or (op == "DoesNotExist" and value is not None):
            return False
    return True


def config_map() -> dict[str, str]:
    return by_kind("ConfigMap")["hangzhou-config"]["data"]


def secret_template() -> dict[str, str]:
    return yaml.safe_load(SECRET_TEMPLATE.read_text(encoding="utf-8"))["stringData"]


def resolved_env(container: dict, secrets: dict[str, str]) -> dict[str, str]:
    """The container's environment as Kubernetes builds it: refs looked up, $(VAR) expanded in order."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"])
        elif "configMapKeyRef" in item["valueFrom"]:
            env[item["name"]] = config_map()[item["valueFrom"]["configMapKeyRef"]["key"]]
        elif "secretKeyRef" in item["valueFrom"]:
            env[item["name"]] = secrets.get(item["valueFrom"]["secretKeyRef"]["key"], "")
    return env


def load_validator() -> ModuleType:
    import kubernetes_validate

    return kubernetes_validate


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_passes_the_strict_kubernetes_schemas(version: str) -> None:
    kv = load_validator()
    docs = k8s_docs(include_template=True)
    assert len(docs) >= 20
    failures = []
    for name, doc in docs:
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            failures.append(f"{name} {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not failures, "\n".join(failures)


def test_the_schema_check_rejects_a_misspelt_field_and_a_wrong_type() -> None:
    kv = load_validator()
    rasa = by_kind("Deployment")["rasa"]
    misspelt = copy.deepcopy(rasa)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/", "port": 5005}}
    wrong_type = copy.deepcopy(rasa)
    wrong_type["spec"]["replicas"] = "three"
    for broken in (misspelt, wrong_type):
        with pytest.raises(kv.ValidationError):
            kv.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_except_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {SECRET_TEMPLATE.name}
    assert SECRET_TEMPLATE.name not in listed, "apply -k must never install placeholder secrets"
    assert {image["name"] for image in kustomization["images"]} == set(IMAGES)
    namespace = kustomization["namespace"]
    assert all(doc["metadata"].get("namespace", namespace) == namespace for _, doc in k8s_docs(True))


def test_every_selector_matches_the_pods_of_a_workload() -> None:
    pods = {name: pod_labels(w) for name, w in workloads().items()}
    for name, workload in workloads().items():
        if workload["kind"] != "Job":
            assert selects(workload["spec"]["selector"], pods[name]), f"{name}: selector misses its own pods"
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in by_kind(kind).items():
            selector = doc["spec"]["selector"]
            matched = [w for w, labels in pods.items() if selects(selector, labels)]
            assert matched, f"{kind} {name} selects no pods"
            assert len(matched) == 1, f"{kind} {name} selects the pods of {matched}"
    for name, policy in by_kind("NetworkPolicy").items():
        assert any(selects(policy["spec"]["podSelector"], labels) for labels in pods.values()), name
        for rule in policy["spec"]["ingress"]:
            for peer in rule["from"]:
                assert any(selects(peer["podSelector"], labels) for labels in pods.values()), name


def container_ports(workload: dict) -> dict[str | int, int]:
    ports: dict[str | int, int] = {}
    for container in containers(workload, init=False):
        for port in container.get("ports", []):
            ports[port["containerPort"]] = port["containerPort"]
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports


def test_every_service_port_and_probe_port_exists_in_a_container() -> None:
    for name, service in by_kind("Service").items():
        (workload,) = [w for w in workloads().values() if selects(service["spec"]["selector"], pod_labels(w))]
        for port in service["spec"]["ports"]:
            assert port.get("targetPort", port["port"]) in container_ports(workload), f"Service {name}: {port}"
    probed = 0
    for name, workload in workloads().items():
        for container in containers(workload, init=False):
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(probe_name)
                if probe and ("httpGet" in probe or "tcpSocket" in probe):
                    port = (probe.get("httpGet") or probe["tcpSocket"])["port"]
                    assert port in container_ports(workload), f"{name}.{container['name']}.{probe_name}: {port}"
                    probed += 1
    assert probed >= 8


def test_long_running_containers_have_probes_and_every_container_has_resources() -> None:
    for name, workload in workloads().items():
        for container in containers(workload):
            resources = container.get("resources", {})
            assert resources.get("requests", {}).get("memory") and resources.get("limits", {}).get("memory"), name
        if workload["kind"] == "Job":
            continue
        for container in containers(workload, init=False):
            assert "readinessProbe" in container and "livenessProbe" in container, f"{name}.{container['name']}"


def test_replicas_and_pod_security() -> None:
    deployments = by_kind("Deployment")
    assert {name: d["spec"]["replicas"] for name, d in deployments.items()} == {"rasa": 3, "actions": 2, "web": 2}
    for name, workload in workloads().items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"], name
            image = container["image"].rsplit(":", 1)[0]
            if image in IMAGES:  # our images: the Dockerfile's numeric USER is the pod's user
                user = dockerfile_user(DOCKERFILES[IMAGES[image]])
                assert user == str(pod["securityContext"]["runAsUser"]), f"{name}: USER {user}"
            else:
                assert ":" in container["image"] and not container["image"].endswith(":latest"), container["image"]


def test_configmap_and_secret_references_exist_and_variables_are_defined_before_use() -> None:
    secret_keys, config_keys = set(secret_template()), set(config_map())
    for name, workload in workloads().items():
        for container in containers(workload):
            defined: set[str] = set()
            for item in container.get("env", []):
                for ref in re.findall(r"\$\((\w+)\)", item.get("value", "")):
                    assert ref in defined, f"{name}.{container['name']}: $({ref}) is used before it is defined"
                source = item.get("valueFrom", {})
                if "secretKeyRef" in source:
                    assert source["secretKeyRef"]["name"] == "hangzhou-secrets"
                    assert source["secretKeyRef"]["key"] in secret_keys, f"{name}: {source}"
                if "configMapKeyRef" in source:
                    assert source["configMapKeyRef"]["name"] == "hangzhou-config"
                    assert source["configMapKeyRef"]["key"] in config_keys, f"{name}: {source}"
                defined.add(item["name"])
            for volume in workload["spec"]["template"]["spec"].get("volumes", []):
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in by_kind("ConfigMap"), volume


def test_no_secret_is_written_in_a_manifest() -> None:
    assert secret_template(), "the template lists the keys"
    for key, value in secret_template().items():
        assert PLACEHOLDER.match(value), f"secret.example.yaml {key}: only placeholders belong in the repository"
    for name, workload in workloads().items():
        for container in containers(workload):
            for item in container.get("env", []):
                if SECRET_NAME.search(item["name"]):
                    assert "valueFrom" in item, f"{name}: {item['name']} must come from the Secret"
                value = item.get("value", "")
                if "://" in value and "@" in value:  # credentials inside a URL come from the Secret too
                    userinfo = urlsplit(value).netloc.rsplit("@", 1)[0]
                    assert ":" not in userinfo or re.search(r":\$\(\w+\)$", userinfo), f"{name}: {value}"
    assert "CHANGE_ME" not in "".join(p.read_text(encoding="utf-8") for p in K8S.glob("*.yaml") if p != SECRET_TEMPLATE)


# ---------------------------------------------------------------------------------------------------------
# What each process reads: the project modules it imports, and the variables they read


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    return None


def imported_project_modules(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from the file's own package
                package = source.relative_to(ROOT).parent.parts
                package = package[: len(package) - (node.level - 1)]
                module = ".".join([*package, module] if module else package)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in PROJECT_PACKAGES}


def import_closure(entries: Iterable[Path]) -> set[Path]:
    """Every project file the entries import, directly or not, with their packages' __init__ files."""
    todo, seen = list(entries), set()
    while todo:
        path = todo.pop()
        if path in seen or path.suffix != ".py":
            seen.add(path)
            continue
        seen.add(path)
        for name in imported_project_modules(path):
            parts = name.split(".")
            todo += [f for i in range(1, len(parts) + 1) if (f := module_file(".".join(parts[:i])))]
    return seen


READERS = r"""(?:environ\.get\(|environ\[|getenv\(|env\.get\(|env\[|limit_from_env\()\s*"""
ENV_READ = re.compile(READERS + r"""["']([A-Z][A-Z0-9_]+)["']""")
# A name read through a module constant: ``KEY_ENV = "SENDER_HASH_KEY"`` … ``os.environ.get(KEY_ENV, "")``.
ENV_READ_CONSTANT = re.compile(READERS + r"([A-Z_][A-Z0-9_]*)\s*[,)\]]")
STRING_CONSTANT = re.compile(r"""^([A-Z_][A-Z0-9_]*)\s*(?::\s*str\s*)?=\s*["']([A-Z][A-Z0-9_]+)["']""", re.M)
SHELL_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]+)")


def variables_read(files: Iterable[Path]) -> set[str]:
    found: set[str] = set()
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            constants = dict(STRING_CONSTANT.findall(text))
            found |= set(ENV_READ.findall(text))
            found |= {constants[name] for name in ENV_READ_CONSTANT.findall(text) if name in constants}
        else:
            found |= set(SHELL_READ.findall(text))
    return found


def channel_modules() -> list[str]:
    """Custom channels in credentials.yml (Rasa imports them by module path)."""
    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))
    return [key.rsplit(".", 1)[0] for key in credentials if "." in key]


def rasa_entries() -> list[Path]:
    scripts = [ROOT / "scripts" / n for n in ("run-rasa.sh", "endpoints.py", "credentials.sh")]
    return scripts + [f for m in channel_modules() if (f := module_file(m))]


def process_entries() -> dict[str, list[Path]]:
    """Entry points of each kind of process, keyed by the container name in deploy/k8s."""
    return {
        "rasa": rasa_entries(),
        "actions": sorted((ROOT / "actions").glob("*.py")),
        "web": [ROOT / "web" / "__main__.py"],
        "kb-build": [ROOT / "knowledge" / "build.py"],
        "wait-for-kb": [ROOT / "deploy" / "wait_for_kb.py"],
    }


def test_the_import_and_variable_scan_sees_what_the_processes_read() -> None:
    """The scan the following tests rely on finds the known reads (it would otherwise prove nothing)."""
    entries = process_entries()
    assert len(channel_modules()) >= 2
    reads = {name: variables_read(import_closure(files)) for name, files in entries.items()}
    assert {"TRACKER_STORE_URL", "REDIS_URL", "ACTION_SERVER_URL", "RASA_TOKEN"} <= reads["rasa"]
    assert "SENDER_HASH_KEY" in reads["rasa"]  # read through a constant (knowledge/privacy.py: SENDER_KEY_ENV)
    assert {"DATABASE_URL", "REDIS_URL", "ADMIN_USERNAME", "ADMIN_PASSWORD"} <= reads["web"]
    assert "DATABASE_URL" in reads["actions"] and "DATABASE_URL" in reads["kb-build"]
    assert ROOT / "knowledge" / "privacy.py" in import_closure(entries["rasa"])


def test_every_contract_variable_a_process_reads_is_set_on_its_container() -> None:
    set_on: dict[str, set[str]] = {}
    for workload in workloads().values():
        for container in containers(workload):
            set_on[container["name"]] = {item["name"] for item in container.get("env", [])}
    for name, files in process_entries().items():
        needed = variables_read(import_closure(files)) & CONTRACT
        assert needed, name
        assert needed <= set_on[name], f"{name} reads {sorted(needed - set_on[name])} but is not given them"


def test_every_variable_set_on_a_container_is_read_by_something() -> None:
    """Catches a misspelt name, which would otherwise be silently ignored."""
    reads = {name: variables_read(import_closure(files)) for name, files in process_entries().items()}
    for variable, where in LIBRARY_VARIABLES.items():
        key = variable.removeprefix("SANIC_") if "sanic" in str(where) else variable
        assert key in where.read_text(encoding="utf-8"), f"{variable} not found in {where}"
    for name, workload in workloads().items():
        for container in containers(workload):
            env = container.get("env", [])
            referenced = {ref for item in env for ref in re.findall(r"\$\((\w+)\)", item.get("value", ""))}
            referenced |= {ref for arg in container.get("args", []) for ref in re.findall(r"\$\((\w+)\)", arg)}
            for item in env:
                variable = item["name"]
                if container["image"].startswith(("postgres:", "redis:")):
                    continue  # read by the official images' entrypoints
                known = reads[container["name"]] | set(LIBRARY_VARIABLES) | referenced
                assert variable in known, f"{name}.{container['name']}: nothing reads {variable}"


def test_the_urls_point_at_services_ports_and_databases_that_exist() -> None:
    services = {name: {p["port"] for p in s["spec"]["ports"]} for name, s in by_kind("Service").items()}
    postgres = by_kind("StatefulSet")["postgres"]
    pg_env = {i["name"]: i.get("value") for i in containers(postgres)[0]["env"]}
    init_sql = by_kind("ConfigMap")["postgres-init"]["data"]["10-tracker-db.sql"]
    databases = {pg_env["POSTGRES_DB"], *re.findall(r"CREATE DATABASE (\w+)", init_sql)}
    secrets = {key: "pw" for key in secret_template()}
    checked = 0
    for name, workload in workloads().items():
        for container in containers(workload):
            for variable, value in resolved_env(container, secrets).items():
                if not variable.endswith("_URL") or variable == "RASA_PUBLIC_URL":
                    continue
                url = urlsplit(value)
                assert url.hostname in services, f"{name}: {variable} -> {url.hostname} is not a Service"
                assert url.port in services[url.hostname], f"{name}: {variable} port {url.port}"
                if url.scheme.startswith("postgres"):
                    assert url.username == pg_env["POSTGRES_USER"], f"{name}: {variable}"
                    assert url.path.lstrip("/") in databases, f"{name}: {variable} names no created database"
                checked += 1
    assert checked >= 9


def test_the_ingress_routes_webhooks_to_rasa_and_the_rest_to_web() -> None:
    ingresses = by_kind("Ingress")
    services = by_kind("Service")
    routes, hosts = {}, set()
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] in ingress["spec"]["tls"][0]["hosts"], "TLS covers the host"
            hosts.add(rule["host"])
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                port_names = {p.get("name") for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in port_names
                routes[path["path"]] = backend["name"]
    assert routes == {"/webhooks": "rasa", "/webhooks/wechat": "rasa", "/": "web"}
    (host,) = hosts
    assert config_map()["RASA_PUBLIC_URL"] == f"https://{host}"


def test_the_wechat_callback_query_string_is_not_logged_by_the_ingress() -> None:
    """WeChat's signature/timestamp/nonce are in the query string, which ingress-nginx logs with $request:
    the WeChat path has its own Ingress with the access log off; the other Ingress keeps its log."""
    logs = {}
    for ingress in by_kind("Ingress").values():
        annotations = ingress["metadata"].get("annotations", {})
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                logs[path["path"]] = annotations.get("nginx.ingress.kubernetes.io/enable-access-log", "true")
    assert logs["/webhooks/wechat"] == "false"
    assert logs["/webhooks"] == logs["/"] == "true"


# ---------------------------------------------------------------------------------------------------------
# Dockerfiles


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    instructions = []
    for line in lines:
        keyword, _, rest = line.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_user(path: Path) -> str:
    users = [rest for keyword, rest in dockerfile_instructions(path) if keyword == "USER"]
    return users[-1].split(":")[0]


def dockerfile_env(path: Path) -> dict[str, str]:
    env = {}
    for keyword, rest in dockerfile_instructions(path):
        if keyword == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def dockerfile_copies(path: Path) -> list[tuple[list[str], str, str]]:
    """(sources, destination, workdir) of every COPY/ADD from the build context."""
    copies, workdir = [], "/"
    for keyword, rest in dockerfile_instructions(path):
        if keyword == "WORKDIR":
            workdir = rest if rest.startswith("/") else f"{workdir.rstrip('/')}/{rest}"
        if keyword in ("COPY", "ADD"):
            args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
            assert not any(a.startswith("--from") for a in args), "no multi-stage copies expected"
            args = [a for a in args if not a.startswith("--")]
            copies.append((args[:-1], args[-1], workdir))
    return copies


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        patterns.append((negate, re.compile(regex + "$")))
    return patterns


def dockerignored(relative: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a directory excludes its files."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, pattern in dockerignore_patterns():
        if any(pattern.match(c) for c in candidates):
            excluded = not negate
    return excluded


def context_files(source: str) -> list[tuple[Path, str]]:
    """(file, path below the source) for a COPY source: a file, or a directory's tree, minus .dockerignore."""
    path = ROOT / source
    if path.is_file():
        return [] if dockerignored(source.strip("/")) else [(path, path.name)]
    files = []
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(ROOT).as_posix()
        if file.is_file() and not dockerignored(relative):
            files.append((file, file.relative_to(path).as_posix()))
    return files


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context() -> None:
    for path in (".venv/app/bin/python", "var/kb.sqlite3", "models/x.tar.gz", ".env", ".git/config",
                 "knowledge/__pycache__/db.cpython-310.pyc", "tests/test_api.py"):  # fmt: skip
        assert dockerignored(path), path
    for path in (
        "knowledge/db.py",
        "bot/guard.py",
        "scripts/run-rasa.sh",
        "deploy/wait_for_kb.py",
        "data/nlu/hukou.yml",
    ):
        assert not dockerignored(path), path


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_every_copy_source_exists_and_reaches_the_build_context(image: str) -> None:
    copies = dockerfile_copies(DOCKERFILES[image])
    assert len(copies) >= 5
    for sources, destination, _ in copies:
        assert len(sources) == 1 or destination.endswith("/"), f"COPY {sources} {destination}: needs a trailing /"
        for source in sources:
            assert (ROOT / source).exists(), f"{DOCKERFILES[image].name}: COPY {source} does not exist"
            assert context_files(source), f"{DOCKERFILES[image].name}: COPY {source} is empty after .dockerignore"


def stage_image(image: str, target: Path) -> Path:
    """The image's files below WORKDIR, from its COPY lines; the virtualenv layer is this machine's."""
    workdir = "/"
    for sources, destination, workdir in dockerfile_copies(DOCKERFILES[image]):
        for source in sources:
            for file, below in context_files(source):
                if destination.endswith("/") or (ROOT / source).is_dir():
                    dest = f"{destination.rstrip('/')}/{below}"
                else:
                    dest = destination
                out = target / (dest.lstrip("/") if dest.startswith("/") else f"{workdir.strip('/')}/{dest}")
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)
    app_root = target / workdir.strip("/")
    (app_root / ".venv").mkdir(exist_ok=True)
    (app_root / ".venv" / image).symlink_to(VENVS[image], target_is_directory=True)  # RUN python -m venv …
    return app_root


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {image: stage_image(image, tmp_path_factory.mktemp(f"image-{image}")) for image in DOCKERFILES}


def test_each_image_contains_every_project_file_its_processes_import(staged: dict[str, Path]) -> None:
    images = {"rasa": ["rasa"], "app": ["actions", "web", "kb-build", "wait-for-kb"]}
    for image, processes in images.items():
        for process in processes:
            for file in import_closure(process_entries()[process]):
                relative = file.relative_to(ROOT)
                assert (staged[image] / relative).is_file(), f"the {image} image lacks {relative} ({process})"
    assert not (staged["rasa"] / "actions").exists(), "the Rasa image carries only what Rasa imports"


def test_dockerfiles_run_as_a_numeric_non_root_user_with_a_healthcheck_and_a_command_that_exists(
    staged: dict[str, Path],
) -> None:
    for image, path in DOCKERFILES.items():
        instructions = dockerfile_instructions(path)
        keywords = [k for k, _ in instructions]
        assert instructions[0] == ("FROM", "python:3.10.13-slim-bookworm"), "the Python of .venv/ (3.10.13)"
        assert dockerfile_user(path).isdigit() and dockerfile_user(path) != "0"
        assert "HEALTHCHECK" in keywords
        assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN"), (
            "nothing runs as root after USER"
        )
        (command,) = [json.loads(rest) for k, rest in instructions if k == "CMD"]
        if command[0] == "python":
            assert command[1] == "-m" and module_exists(image, staged[image], command[2]), command
        else:
            assert os.access(staged[image] / command[0], os.X_OK), command
    env = dockerfile_env(DOCKERFILES["rasa"])
    train = next(
        rest for k, rest in dockerfile_instructions(DOCKERFILES["rasa"]) if k == "RUN" and "rasa train" in rest
    )
    args = shlex.split(train)
    out, name = args[args.index("--out") + 1], args[args.index("--fixed-model-name") + 1]
    assert env["RASA_MODEL"] == f"/app/{out}/{name}.tar.gz", "RASA_MODEL is the model trained at build time"
    run_rasa = (staged["rasa"] / "scripts" / "run-rasa.sh").read_text(encoding="utf-8")
    assert ".venv/rasa/bin/rasa" in run_rasa and "RUN_DIR" in run_rasa and "RASA_TOKEN" in run_rasa


def module_exists(image: str, app_root: Path, module: str) -> bool:
    """``python -m module`` works in the image: a staged project module or one installed in the virtualenv."""
    probe = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    python = app_root / ".venv" / image / "bin" / "python"
    return subprocess.run([python, "-c", probe], cwd=app_root, env=clean_env()).returncode == 0


def clean_env(**extra: str) -> dict[str, str]:
    """A container-like environment: nothing from this shell (no PYTHONPATH, no DATABASE_URL …)."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {
        **keep,
        "PYTHONDONTWRITEBYTECODE": "1",
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **extra,
    }


def k8s_container(workload: str, container: str) -> dict:
    return next(c for c in containers(workloads()[workload]) if c["name"] == container)


def test_every_kubernetes_command_exists_in_its_image(staged: dict[str, Path]) -> None:
    checked = 0
    for name, workload in workloads().items():
        for container in containers(workload):
            image = IMAGES.get(container["image"].rsplit(":", 1)[0])
            if image is None:
                continue
            command = container.get("command")
            if command is None:  # the image's CMD, checked above
                continue
            assert command[0] == "python", f"{name}: {command}"
            if command[1] == "-m":
                assert module_exists(image, staged[image], command[2]), f"{name}: python -m {command[2]}"
            else:
                assert (staged[image] / command[1]).is_file(), f"{name}: {command[1]} is not in the {image} image"
            checked += 1
    assert checked >= 5


# ---------------------------------------------------------------------------------------------------------
# The staged images, running the manifests' commands


def staged_imports(image: str, app_root: Path, modules: list[str]) -> str:
    code = "import importlib\n" + "".join(f"print(importlib.import_module({m!r}).__file__)\n" for m in modules)
    python = app_root / ".venv" / image / "bin" / "python"
    result = subprocess.run(
        [python, "-c", code], cwd=app_root, env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_rasa_image_loads_its_channels_and_writes_the_production_endpoints(staged: dict[str, Path]) -> None:
    app_root = staged["rasa"]
    files = staged_imports("rasa", app_root, channel_modules()).split()
    assert files and all(f.startswith(str(app_root)) for f in files), files  # from the image, not the checkout
    secrets = {key: f"{key.lower()}-value" for key in secret_template()}
    env = resolved_env(k8s_container("rasa", "rasa"), secrets)
    python = app_root / ".venv" / "rasa" / "bin" / "python"
    out = subprocess.run([python, "scripts/endpoints.py"], cwd=app_root, env=clean_env(**env), capture_output=True,
                         text=True, check=True, timeout=60).stdout  # fmt: skip
    endpoints = yaml.safe_load(out)
    assert endpoints["action_endpoint"]["url"] == "http://actions:5055/webhook"
    tracker = endpoints["tracker_store"]
    assert (tracker["dialect"], tracker["url"], tracker["db"]) == ("postgresql", "postgres", "hangzhou_tracker")
    assert tracker["password"] == "postgres_password-value"
    lock = endpoints["lock_store"]
    assert (lock["type"], lock["url"], lock["password"]) == (
        "bot.lock_store.AtomicRedisLockStore", "redis", "redis_password-value")  # fmt: skip
    credentials = subprocess.run(["scripts/credentials.sh"], cwd=app_root, env=clean_env(**env), capture_output=True,
                                 text=True, check=True, timeout=60).stdout  # fmt: skip
    assert yaml.safe_load(credentials) == yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))
    assert subprocess.run(["bash", "-n", "scripts/run-rasa.sh"], cwd=app_root).returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return "redis://127.0.0.1:6379/15"
    except OSError:
        return None


def run_k8s_command(
    app_root: Path, workload: str, container: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    command = k8s_container(workload, container)["command"]
    python = str(app_root / ".venv" / "app" / "bin" / "python")
    return subprocess.run([python, *command[1:]], cwd=app_root, env=clean_env(**env), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.fixture
def server(staged: dict[str, Path], tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], tuple[str, dict]]]:
    """Starts a Deployment's main container command from the staged app image; stops them all afterwards."""
    started: list[subprocess.Popen] = []

    def start(workload: str, env: dict[str, str]) -> tuple[str, dict]:
        """Start the Deployment's main container command on a free port; the base URL and the container."""
        container = containers(workloads()[workload], init=False)[0]
        command = list(container["command"])
        port = free_port()
        command[command.index("--port") + 1] = str(port)
        python = str(staged["app"] / ".venv" / "app" / "bin" / "python")
        args = [python, *command[1:]] + (["--host", "127.0.0.1"] if workload == "web" else [])
        with (tmp_path / f"{workload}.log").open("wb") as log:  # the child keeps its own handle
            started.append(
                subprocess.Popen(args, cwd=staged["app"], env=clean_env(**env), stdout=log, stderr=subprocess.STDOUT)
            )
        return f"http://127.0.0.1:{port}", container

    yield start
    stop(*started, timeout=20)


def wait_for(url: str, timeout: float = 90) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = requests.get(url, timeout=5)
            if response.status_code == 200:
                return response
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {timeout} s")
        time.sleep(0.5)


def probe_url(base: str, container: dict) -> str:
    return base + container["readinessProbe"]["httpGet"]["path"]


def test_the_app_image_runs_the_kb_job_then_serves_the_probes_of_actions_and_web(
    staged: dict[str, Path], pg_url: str, server: Callable[[str, dict[str, str]], tuple[str, dict]]
) -> None:
    app_root = staged["app"]
    base_env = {"DATABASE_URL": pg_url}
    # Before the KB Job, the init container waits and gives up after its timeout.
    command = k8s_container("web", "wait-for-kb")["command"]
    assert command[:2] == ["python", "deploy/wait_for_kb.py"]
    python = str(app_root / ".venv" / "app" / "bin" / "python")
    waiting = subprocess.run([python, command[1], "--timeout", "1", "--interval", "0.2"], cwd=app_root,
                             env=clean_env(**base_env), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert waiting.returncode == 1, waiting.stdout + waiting.stderr
    assert "等待知识库超时" in waiting.stdout
    # The KB Job's command, on PostgreSQL (migrations + build), from the image's files.
    job = run_k8s_command(app_root, "kb-build", "kb-build", base_env)
    assert job.returncode == 0, job.stderr[-3000:]
    assert "知识库构建完成" in job.stdout and "inserted=" in job.stdout
    ready = subprocess.run([python, *command[1:]], cwd=app_root, env=clean_env(**base_env), capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert ready.returncode == 0 and "知识库已就绪" in ready.stdout, ready.stdout + ready.stderr
    # The action server and the staff service with the manifests' settings (two action-server workers).
    workers = config_map()["ACTION_SERVER_SANIC_WORKERS"]
    actions_url, actions = server(
        "actions", {**base_env, "ACTION_SERVER_SANIC_WORKERS": workers, "ACTIONS_WARM_UP": "1"}
    )
    web_env = {**base_env, "RASA_PUBLIC_URL": config_map()["RASA_PUBLIC_URL"]}
    if redis := redis_url():
        web_env["REDIS_URL"] = redis
    web_url, web = server("web", web_env)
    assert wait_for(probe_url(actions_url, actions)).json() == {"status": "ok"}
    assert "action_answer" in {a["name"] for a in wait_for(actions_url + "/actions").json()}
    assert wait_for(probe_url(web_url, web)).json()["openapi"]
    page = wait_for(web_url + "/")
    assert config_map()["RASA_PUBLIC_URL"] in page.headers["Content-Security-Policy"]
    assert "hzChatWidget" in wait_for(web_url + "/static/widget.js").text
    assert "登录" in wait_for(web_url + "/admin/login").text


# ---------------------------------------------------------------------------------------------------------
# docker-compose.yml


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


COMPOSE_TO_PROCESS = {"rasa": "rasa", "actions": "actions", "web": "web", "kb": "kb-build"}
REQUIRED = {"POSTGRES_PASSWORD": "pw0123456789", "RASA_TOKEN": "token0123456789", "SENDER_HASH_KEY": "key0123456789"}


def compose_env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else {k: str(v) for k, v in env.items()}


def test_compose_services_depend_on_services_that_exist_and_long_running_ones_have_healthchecks() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "kb", "actions", "rasa", "web", "proxy"} <= set(services)
    for name, service in services.items():
        for target, condition in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if condition["condition"] == "service_healthy":
                assert "test" in services[target].get("healthcheck", {}), f"{name} waits for {target}'s health"
            if condition["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is a one-shot job"
        if service.get("restart") != "no":
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    assert services["kb"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["rasa"]["deploy"]["replicas"] and services["actions"]["deploy"]["replicas"]


def test_compose_runs_the_same_commands_and_probes_as_kubernetes() -> None:
    services = compose()["services"]
    for service, process in COMPOSE_TO_PROCESS.items():
        workload = "kb-build" if process == "kb-build" else process
        main = containers(workloads()[workload], init=False)[0]
        assert services[service].get("command") == main.get("command"), service
        if "readinessProbe" in main:
            test = " ".join(services[service]["healthcheck"]["test"])
            port = container_ports(workloads()[workload])[main["readinessProbe"]["httpGet"]["port"]]
            assert f"http://127.0.0.1:{port}{main['readinessProbe']['httpGet']['path']}'" in test, service
    assert compose_env(services["rasa"])["SANIC_WORKERS"] == config_map()["SANIC_WORKERS"]
    assert (
        compose_env(services["actions"])["ACTION_SERVER_SANIC_WORKERS"] == config_map()["ACTION_SERVER_SANIC_WORKERS"]
    )


def test_compose_gives_each_process_the_variables_its_code_reads_and_writes_no_secret() -> None:
    services = compose()["services"]
    for service, process in COMPOSE_TO_PROCESS.items():
        env = compose_env(services[service])
        reads = variables_read(import_closure(process_entries()[process]))
        needed = reads & CONTRACT
        assert needed <= set(env), f"{service} lacks {sorted(needed - set(env))}"
        unknown = set(env) - reads - set(LIBRARY_VARIABLES)
        assert not unknown, f"{service}: nothing reads {sorted(unknown)}"
    for name, service in services.items():
        for variable, value in compose_env(service).items():
            if SECRET_NAME.search(variable):
                assert re.fullmatch(r"\$\{\w+:[?-][^}]*\}", value), f"{name}.{variable} must come from .env"
            if "://" in value and "@" in value:
                assert re.search(r":\$\{POSTGRES_PASSWORD:\?[^}]*\}@", value), f"{name}.{variable}"
    assert re.fullmatch(r"\$\{RASA_TOKEN:\?.+\}", compose_env(services["rasa"])["RASA_TOKEN"])
    assert compose_env(services["rasa"])["REDIS_URL"].startswith("redis://redis:6379/")
    assert compose_env(services["rasa"])["TRACKER_STORE_URL"].startswith("postgresql://")


def test_compose_files_and_variables_exist() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name
            assert service["image"].split(":")[0] in IMAGES
            assert IMAGES[service["image"].split(":")[0]] in service["build"]["dockerfile"]
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), f"{name}: {source}"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(\w+)", text))
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^(\w+)=", example, flags=re.M))
    assert used == listed, f"only in docker-compose.yml: {used - listed}; only in .env.example: {listed - used}"
    for line in example.splitlines():
        key, _, value = line.partition("=")
        if SECRET_NAME.search(key):
            assert value == "", f".env.example must not carry a value for {key}"
    for private in (".env", "deploy/k8s/secret.yaml"):
        assert subprocess.run(["git", "check-ignore", "-q", private], cwd=ROOT).returncode == 0, (
            f"{private} not ignored"
        )


def nginx_locations(conf: str) -> dict[str, str]:
    """Each ``location`` block's path and body (the blocks have no nested braces)."""
    return dict(re.findall(r"location (?:= )?(/[\w/-]*) \{([^{}]*)\}", conf))


def test_nginx_routes_like_the_ingress() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    services = compose()["services"]
    upstreams = dict(re.findall(r"set \$(\w+) http://([\w:]+);", conf))
    locations = {
        path: match.group(1)
        for path, body in nginx_locations(conf).items()
        if (match := re.search(r"proxy_pass \$(\w+);", body))
    }
    assert locations == {"/webhooks/": "rasa", "/webhooks/wechat/": "rasa", "/": "web"}
    for variable, target in upstreams.items():
        host, port = target.split(":")
        assert host == variable and host in services
        assert f"127.0.0.1:{port}/" in " ".join(services[host]["healthcheck"]["test"]), f"{host} listens on {port}"
    published = services["proxy"]["ports"][0]
    assert published.endswith(":8000") and "listen 8000;" in conf
    assert compose_env(services["rasa"])["SANIC_PROXIES_COUNT"] == "1" and "X-Forwarded-For $remote_addr" in conf


def test_nginx_logs_no_query_string_of_the_wechat_callback() -> None:
    """WeChat's signature/timestamp/nonce are in the query string: its location logs with a format that has
    the path ($uri) only; the format is defined outside the server block (http context) and used there."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    formats = dict(re.findall(r"^log_format (\w+) ((?:'[^']*'\s*)+);", conf, flags=re.M))
    wechat = nginx_locations(conf)["/webhooks/wechat/"]
    logs = re.findall(r"access_log ([^;]+);", wechat)
    assert len(logs) == 1, "the WeChat location sets its own access log"
    target = logs[0].split()
    if target != ["off"]:
        assert len(target) == 2 and target[1] in formats, f"access_log {logs[0]} names a log_format of this file"
        fmt = formats[target[1]]
        assert "$uri" in fmt and "$status" in fmt
        for leaky in ("$request ", '$request"', "$request'", "$request_uri", "$args", "$query_string", "$arg_"):
            assert leaky not in fmt + " ", f"{leaky.strip()} would log the query string"
    assert conf.index("log_format") < conf.index("server {"), "log_format is only allowed in the http context"
    assert "client_max_body_size 64k;" in wechat  # bodies the WeChat channel would refuse stop here


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed (Debian: apt-get install nginx-light)")
def test_real_nginx_loads_the_config_and_logs_the_wechat_callback_without_its_query_string(tmp_path: Path) -> None:
    """deploy/nginx.conf in a real nginx (its upstream names pointed at a local server): the WeChat line has
    no query string, other locations still log theirs, and a body over 64 KiB stops at nginx."""
    upstream_port, port = free_port(), free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    site = site.replace("listen 8000;", f"listen 127.0.0.1:{port};")
    site = re.sub(r"set \$(\w+) http://[\w:]+;", rf"set $\1 http://127.0.0.1:{upstream_port};", site)
    site = site.replace("/var/log/nginx/access.log", str(tmp_path / "wechat.log"))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log {tmp_path}/access.log;\n  include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    nginx = ["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run([*nginx, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    upstream = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(upstream_port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        subprocess.run(nginx, check=True, timeout=30)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/nginx-health", timeout=2)
                requests.get(f"http://127.0.0.1:{upstream_port}/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        secret = {"signature": "a1b2c3-signature", "timestamp": "1700000000", "nonce": "n0nce42", "openid": "oX"}
        reached = requests.post(f"{base}/webhooks/wechat/webhook", params=secret, data=b"<xml/>", timeout=10)
        assert reached.status_code == 501  # proxied: python's http.server has no POST
        big = requests.post(f"{base}/webhooks/wechat/webhook", params=secret, data=b"x" * 70_000, timeout=10)
        assert big.status_code == 413
        requests.get(f"{base}/webhooks/rest/", params={"q": "visible"}, timeout=10)
    finally:
        subprocess.run([*nginx, "-s", "stop"], timeout=30)
        stop(upstream)
    wechat_log = (tmp_path / "wechat.log").read_text(encoding="utf-8")
    assert wechat_log.count('"POST /webhooks/wechat/webhook"') == 2, wechat_log
    for value in secret.values():
        assert value not in wechat_log and value not in (tmp_path / "access.log").read_text(encoding="utf-8")
    assert "q=visible" in (tmp_path / "access.log").read_text(encoding="utf-8")  # the usual format elsewhere


def run_compose(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "empty.env"  # not the developer's .env
    empty.write_text("", encoding="utf-8")
    return subprocess.run(
        [str(COMPOSE_TOOL), "--env-file", str(empty), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT, env=clean_env(**env), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.skipif(not COMPOSE_TOOL.exists(), reason="docker-compose 1.29.2 not installed (requirements/tools.txt)")
def test_docker_compose_config_validates_the_file_and_requires_the_secrets(tmp_path: Path) -> None:
    checked = run_compose(REQUIRED, tmp_path, "config")
    assert checked.returncode == 0, checked.stderr
    resolved = yaml.safe_load(checked.stdout)
    assert resolved["services"]["rasa"]["deploy"]["replicas"] == 2
    assert resolved["services"]["rasa"]["environment"]["RASA_TOKEN"] == REQUIRED["RASA_TOKEN"]
    assert ":pw0123456789@postgres:5432/hangzhou_kb" in resolved["services"]["web"]["environment"]["DATABASE_URL"]
    for missing in REQUIRED:
        env = {k: v for k, v in REQUIRED.items() if k != missing}
        refused = run_compose(env, tmp_path, "config", "-q")
        assert refused.returncode != 0 and f"set {missing} in .env" in refused.stderr, refused.stderr
    # The validator has teeth: a misspelt healthcheck key is refused.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text(encoding="utf-8").replace("start_period:", "start_periud:", 1))
    result = subprocess.run(
        [str(COMPOSE_TOOL), "--env-file", str(tmp_path / "empty.env"), "-f", str(broken), "config", "-q"],
        cwd=tmp_path, env=clean_env(**REQUIRED), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and "start_periud" in result.stderr, result.stderr
