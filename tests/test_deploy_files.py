"""What we ship besides the package: the Dockerfile, compose.yaml and the Kubernetes manifests
(docs/deployment.md), checked against their schemas and against the bot they run.

A manifest that a cluster would refuse, or that names a setting the bot does not read, or probes a
path the bot does not serve, fails here rather than at a team's first deploy. Whether the image
builds and serves is .ci/container-check's part (minutes, so in .ci/run, not here). Pure: files,
the schemas in tests/data/schemas (where each came from: tests/data/README.md) and hadolint's own
binary; no database, no Slack.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from unittest import mock

import jsonschema
import pytest
import yaml

from bot.settings import PLACEHOLDER, ConfigError, Settings, is_secret_field, load_settings
from handlers.cli import main
from handlers.hooks import ALERTS_PATH, DEPLOYS_PATH
from handlers.web import SLACK_PATH, build_web_app
from tests.conftest import BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the linters come with '.[test]', into the same environment
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
CADDYFILE = ROOT / "deploy" / "compose" / "Caddyfile"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
SETTING_NAMES = {info.alias for info in Settings.model_fields.values() if info.alias}
SCHEMAS = ROOT / "tests" / "data" / "schemas"


def documents() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def kind(name: str) -> dict:
    found = [doc for _, doc in documents() if doc["kind"] == name]
    assert len(found) == 1, f"expected one {name} in deploy/kubernetes, found {len(found)}"
    return found[0]


def containers() -> list[dict]:
    return [
        container
        for _, doc in documents()
        if doc["kind"] in ("Deployment", "Job")
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


def config_maps() -> dict[str, dict[str, str]]:
    return {doc["metadata"]["name"]: doc["data"] for _, doc in documents() if doc["kind"] == "ConfigMap"}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def bot_services() -> dict[str, dict]:
    return {name: service for name, service in compose()["services"].items() if service.get("build") is not None}


def dockerfile_instruction(name: str) -> str:
    """The runtime stage's instruction (the last one of that name), continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line for line in joined.splitlines() if line.upper().startswith(name + " ")]
    assert lines, f"the Dockerfile has no {name}"
    return lines[-1][len(name) + 1 :].strip()


def test_the_dockerfile_passes_hadolint():
    result = subprocess.run([BIN / "hadolint", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def schema_errors(schema: dict, document: dict) -> list[str]:
    """Each place ``document`` breaks ``schema`` (JSON Schema 2020-12, formats checked), as "path: why"."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}" for error in validator.iter_errors(document)]


def kubernetes_errors(doc: dict) -> list[str]:
    """What a cluster of the bundled version refuses in ``doc``, by the strict schema of its kind
    (a field the kind does not have is an error, as in kubectl's own validation)."""
    bundle = json.loads((SCHEMAS / "kubernetes-1.37-strict.json").read_text())
    kind_key = f"{doc.get('apiVersion')} {doc.get('kind')}"
    assert kind_key in bundle["kinds"], f"{kind_key}: no bundled schema; add the kind to tests/data/schemas (tests/data/README.md)"
    return schema_errors({**bundle["kinds"][kind_key], "$defs": bundle["$defs"]}, doc)


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda path: path.name)
def test_every_kubernetes_manifest_is_valid_for_the_cluster(manifest):
    for doc in yaml.safe_load_all(manifest.read_text()):
        if doc:
            assert kubernetes_errors(doc) == [], f"{manifest.name}: {doc['kind']}"


def test_a_misspelled_manifest_field_is_refused():
    """The check above can fail: the Deployment with a field Kubernetes does not know, or with a
    container that has no name."""
    deployment = kind("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    assert any("'replica' was unexpected" in error for error in kubernetes_errors(broken)), kubernetes_errors(broken)
    pod = deployment["spec"]["template"]["spec"]
    nameless = [{k: v for k, v in pod["containers"][0].items() if k != "name"}]
    template = {**deployment["spec"]["template"], "spec": {**pod, "containers": nameless}}
    errors = kubernetes_errors({**deployment, "spec": {**deployment["spec"], "template": template}})
    assert any("'name' is a required property" in error for error in errors), errors


def compose_errors(document: dict) -> list[str]:
    return schema_errors(json.loads((SCHEMAS / "compose-spec.json").read_text()), document)


def test_compose_yaml_follows_the_compose_specification():
    assert compose_errors(compose()) == []


def test_a_misspelled_compose_field_is_refused():
    """The check above can fail: a service with a key the specification does not have."""
    document = compose()
    name, service = next(iter(bot_services().items()))
    document["services"][name] = {**service, "enviroment": {"LOG_LEVEL": "INFO"}}
    assert any("'enviroment'" in error for error in compose_errors(document)), compose_errors(document)


def test_every_variable_given_to_the_bot_is_a_setting_it_reads():
    """An environment variable the bot does not read is silently ignored: a typo in a manifest would
    run the bot without the setting the operator thinks it has."""
    given: dict[str, set[str]] = {
        "the Secret": set(kind("Secret")["stringData"]),
        "the settings ConfigMap": set(config_maps()["incident-bot-settings"]),
    }
    for container in containers():
        given[f"container {container['name']}"] = {variable["name"] for variable in container.get("env", [])}
    for name, service in bot_services().items():
        given[f"compose service {name}"] = set(service.get("environment", {}))
    unknown = {where: sorted(names - SETTING_NAMES) for where, names in given.items() if names - SETTING_NAMES}
    assert unknown == {}


def test_the_kubernetes_settings_start_the_bot():
    """The Secret, the settings ConfigMap and the Deployment's own env, as the pod sees them, pass the
    bot's settings check (an announcement channel by name, say, would stop every pod). The Secret's
    values are placeholders the operator replaces (the bot refuses them), so real-shaped ones stand in."""
    (container,) = kind("Deployment")["spec"]["template"]["spec"]["containers"]
    secret = kind("Secret")["stringData"]
    webhook_secret = "a" * 32
    operator_values = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DEPLOY_WEBHOOK_SECRET": webhook_secret,
        "ALERT_WEBHOOK_SECRET": webhook_secret,
    }
    environment = {
        **{name: operator_values.get(name, value) for name, value in secret.items()},
        **config_maps()["incident-bot-settings"],
        **{variable["name"]: variable["value"] for variable in container["env"]},
    }
    try:
        settings = load_settings(env_file=None, **environment)
    except ConfigError as error:
        pytest.fail(f"the Kubernetes settings stop the bot: {error}")
    assert settings.port == int(container["ports"][0]["containerPort"])


SECRET_SETTINGS = {info.alias for name, info in Settings.model_fields.items() if info.alias and is_secret_field(name, Settings)}
SECRET_EXAMPLE = ROOT / "deploy" / "kubernetes" / "secret.example.yaml"


def example_secret_keys() -> dict[str, str]:
    """The example Secret's keys and placeholders, the ones commented out (features a team may not
    use) as well as the ones it sets."""
    commented = re.findall(r"^\s*#\s*([A-Z][A-Z0-9_]*):\s*(\S+)", SECRET_EXAMPLE.read_text(), flags=re.MULTILINE)
    return {**dict(commented), **kind("Secret")["stringData"]}


def test_the_example_secret_names_every_secret_setting_and_nothing_else_carries_one():
    """An operator who copies the example learns of every secret the bot reads; and no ConfigMap,
    container env or compose environment holds one in the clear."""
    assert SECRET_SETTINGS - set(example_secret_keys()) == set()
    in_the_clear = {"the settings ConfigMap": set(config_maps()["incident-bot-settings"])}
    for container in containers():
        in_the_clear[f"container {container['name']}"] = {v["name"] for v in container.get("env", []) if "value" in v}
    for name, service in bot_services().items():
        in_the_clear[f"compose service {name}"] = set(service.get("environment", {}))
    assert {where: names & SECRET_SETTINGS for where, names in in_the_clear.items() if names & SECRET_SETTINGS} == {}


@pytest.mark.parametrize("name", sorted(SECRET_SETTINGS))
def test_a_placeholder_left_in_the_example_secret_stops_the_bot_naming_the_setting(name):
    """The example's comment promises that a forgotten placeholder stops the rollout: for every
    secret, uncommented or not, whatever else the setting's form would accept."""
    placeholder = example_secret_keys()[name]
    assert PLACEHOLDER in placeholder
    with pytest.raises(ConfigError) as refused:
        load_settings(env_file=None, **{"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, name: placeholder})
    assert str(refused.value).startswith(f"{name} is malformed (still the example's placeholder"), refused.value


def test_the_runbooks_config_map_passes_runbooks_check(tmp_path, capsys):
    for name, content in config_maps()["incident-bot-runbooks"].items():
        (tmp_path / name).write_text(content)
    code = main(["runbooks", "check", "--dir", str(tmp_path)])
    assert code == 0, capsys.readouterr()
    assert "0 errors, 0 warnings" in capsys.readouterr().out


def test_every_health_check_asks_healthz_on_the_bots_port():
    (container,) = kind("Deployment")["spec"]["template"]["spec"]["containers"]
    port_names = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] == HEALTH_PATH, probe
        assert port_names.get(check["port"], check["port"]) == 3000, probe
    assert "/healthz' % os.environ.get('PORT', '3000')" in dockerfile_instruction("HEALTHCHECK")
    assert f"health_uri {HEALTH_PATH}" in CADDYFILE.read_text()
    annotations = kind("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics" and int(annotations["prometheus.io/port"]) == 3000


def served_paths() -> set[str]:
    """Every path the bot's web app answers (handlers.web.build_web_app, its routes as built),
    a variable part such as ``{reference}`` filled in. Building the app reads nothing of the
    runtime but its signing secret, so stand-ins do."""
    app = build_web_app(mock.Mock(), mock.Mock())
    return {re.sub(r"\{[^}]+\}", "x", route.resource.canonical) for route in app.router.routes() if route.resource is not None}


def test_the_load_balancers_forward_every_path_the_bot_serves_but_metrics():
    ingress_paths = [(path["path"], path["pathType"]) for rule in kind("Ingress")["spec"]["rules"] for path in rule["http"]["paths"]]

    def ingress_forwards(url_path: str) -> bool:
        return any(url_path == p if kind_ == "Exact" else url_path.startswith(p) for p, kind_ in ingress_paths)

    caddy_match = re.search(r"@bot path (.+)", CADDYFILE.read_text())
    assert caddy_match is not None
    caddy_patterns = caddy_match.group(1).split()

    def caddy_forwards(url_path: str) -> bool:
        return any(url_path == p or (p.endswith("*") and url_path.startswith(p[:-1])) for p in caddy_patterns)

    served = served_paths()
    assert {SLACK_PATH, DEPLOYS_PATH, ALERTS_PATH, HEALTH_PATH, METRICS_PATH} <= served  # the stand-ins built the real app
    assert {path for path in served - {METRICS_PATH, HEALTH_PATH} if not ingress_forwards(path)} == set()
    assert {path for path in served - {METRICS_PATH} if not caddy_forwards(path)} == set()  # Caddy health-checks through it
    assert not ingress_forwards(METRICS_PATH) and not caddy_forwards(METRICS_PATH)
    assert not ingress_forwards(HEALTH_PATH)
    upstreams = set(re.findall(r"(\S+):3000", CADDYFILE.read_text()))
    assert upstreams == set(bot_services()), "Caddy forwards to exactly the compose file's bot replicas"


def test_the_image_runs_as_the_user_the_manifests_require():
    user = dockerfile_instruction("USER")
    assert user.split(":")[0] not in ("root", "0")
    for _, doc in documents():
        if doc["kind"] in ("Deployment", "Job"):
            pod = doc["spec"]["template"]["spec"]["securityContext"]
            assert pod["runAsNonRoot"] is True and f"{pod['runAsUser']}:{pod['runAsGroup']}" == user, doc["metadata"]["name"]


def test_version_comes_from_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"incident-bot {metadata.version('incident-bot')}"
