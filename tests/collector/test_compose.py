"""docker-compose.yml, the Dockerfile, Grafana's provisioning and the official collector's config
agree with each other and with the collector's own settings (heron_collector.settings) and schema (queries/).

No Docker engine runs here: these read the files as Compose, Grafana and the OpenTelemetry
Collector read them (YAML), and check what a `docker compose up` would trip over — an unpinned
image, a missing file, a port or a setting name that does not match, a table the exporter would
not find."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from heron import __version__
from heron_collector import settings as collector_settings
from heron_collector.collector import Settings, check_exposure

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DATASOURCE = ROOT / "dashboards" / "provisioning" / "datasources" / "clickhouse.yaml"
PROVIDER = ROOT / "dashboards" / "provisioning" / "dashboards" / "heron.yaml"
OTELCOL = ROOT / "collector" / "otelcol-config.yaml"
# Written on another branch; the lead merges both. Checked when present.
DASHBOARDS = ("heron-models-overview.json", "heron-model-detail.json")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")
VARS = {v.name: v for v in collector_settings.ALL}


def load(path: Path) -> dict:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return load(COMPOSE)


def resolved(value: str) -> str:
    """A Compose value with every ${VAR…} replaced by a stand-in, as if the variable were set."""
    return INTERPOLATION.sub(lambda m: f"set-{m.group(1).lower()}", str(value))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def published(service: dict) -> dict[int, str]:
    """Container port → host binding ('' = every interface) of the service's `ports`."""
    out = {}
    for entry in service.get("ports") or []:
        parts = str(entry).split(":")
        out[int(parts[-1])] = parts[0] if len(parts) == 3 else ""
    return out


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    out = []
    for volume in service.get("volumes") or []:
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            out.append((source, target))
    return out


def test_every_image_is_pinned_to_a_version(compose):
    images = {name: s["image"] for name, s in compose["services"].items() if "image" in s}
    assert set(images) == {"clickhouse", "collector", "grafana", "otelcol"}
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.match(r"^\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"
    assert images["collector"] == f"heron-collector:{__version__}", "the built image is tagged with the package version"
    base = re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE).group(1)
    assert re.match(r"^[\w./-]+:\d+\.\d+", base), f"Dockerfile FROM {base} is not pinned to a version"


def test_every_built_or_mounted_file_exists(compose):
    services = compose["services"]
    assert services["collector"]["build"] in (".", "./")
    dockerfile = (ROOT / "Dockerfile").read_text()
    for sources in re.findall(r"^COPY\s+(.+)\s+\S+$", dockerfile, re.MULTILINE):
        for source in sources.split():
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    assert 'pip install ".[collector]"' in dockerfile
    assert re.search(r"^USER\s+(?!root\b|0\b)\S+", dockerfile, re.MULTILINE), "the collector image must not run as root"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not set(ignored) & {"sdk", "collector", "queries", "dashboards", "pyproject.toml", "README.md"}
    named = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source, _ in bind_mounts(service):
            assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in named, f"{name} uses volume {source}, not declared under volumes:"
    for dashboard in DASHBOARDS:
        path = ROOT / "dashboards" / dashboard
        if path.exists():
            assert json.loads(path.read_text())["uid"], f"{dashboard} needs a stable uid"


def test_start_order_waits_for_health(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} must wait for {dependency} to be healthy"
            assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck to wait for"
    assert set(services["collector"]["depends_on"]) == {"clickhouse"}
    assert set(services["grafana"]["depends_on"]) == {"collector"}
    assert services["otelcol"]["profiles"] == ["otelcol"]
    assert set(services["otelcol"]["depends_on"]) == {"collector"}, "the exporter writes only once the schema exists"


def test_collector_environment_and_ports_match_its_settings(compose):
    services = compose["services"]
    collector, clickhouse = services["collector"], services["clickhouse"]
    env = environment(collector)
    unknown = [name for name in env if name.startswith("HERON_") and name not in VARS]
    assert unknown == [], f"not collector settings (heron_collector/settings.py): {unknown}"
    for name, value in env.items():
        if name in VARS and "${" not in value:
            assert VARS[name].parse(value) is not None, name  # raises on a value the collector would refuse
    assert "${HERON_COLLECTOR_TOKEN:?" in env["HERON_COLLECTOR_TOKEN"], "compose must refuse to start without a token"
    settings = Settings(otlp_http=env["HERON_OTLP_HTTP"], otlp_grpc=env["HERON_OTLP_GRPC"], admin=env["HERON_ADMIN"],
                        token=resolved(env["HERON_COLLECTOR_TOKEN"]),
                        clickhouse_url=resolved(env["HERON_CLICKHOUSE_URL"]))
    check_exposure(settings)  # what the collector checks at start: admin off loopback needs the token
    ports = published(collector)
    assert ports == {port_of(settings.otlp_grpc): "", port_of(settings.otlp_http): "",
                     port_of(settings.admin): "127.0.0.1"}, "OTLP for every host, admin on the host's loopback only"
    exposed = {int(p) for p in re.search(r"^EXPOSE\s+(.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
               .group(1).split()}
    assert exposed == set(ports)
    for check in (collector["healthcheck"]["test"], re.search(r"HEALTHCHECK.*?CMD (\[.*\])", (ROOT / "Dockerfile")
                                                               .read_text(), re.DOTALL).group(1)):
        assert f"127.0.0.1:{port_of(settings.otlp_http)}/readyz" in str(check)

    url = settings.store_url()
    parts = urlsplit(url.url)
    assert not url.embedded and parts.hostname == "clickhouse" and parts.hostname in services
    assert str(parts.port) in clickhouse["expose"]
    assert url.database == collector_settings.HERON_DATABASE.default == "heron"
    assert parts.username == environment(clickhouse)["CLICKHOUSE_USER"]
    assert "${CLICKHOUSE_PASSWORD" in env["HERON_CLICKHOUSE_URL"] and "${CLICKHOUSE_PASSWORD:?" in \
        environment(clickhouse)["CLICKHOUSE_PASSWORD"]


def test_grafana_provisioning_points_at_the_compose_clickhouse(compose):
    services = compose["services"]
    grafana, clickhouse = services["grafana"], services["clickhouse"]
    mounts = dict((target, source) for source, target in bind_mounts(grafana))
    assert Path(mounts["/etc/grafana/provisioning/datasources"]).resolve() == (ROOT / DATASOURCE.parent).resolve()
    assert Path(mounts["/etc/grafana/provisioning/dashboards"]).resolve() == (ROOT / PROVIDER.parent).resolve()
    plugin = environment(grafana)["GF_PLUGINS_PREINSTALL_SYNC"]
    assert re.fullmatch(r"grafana-clickhouse-datasource@\d+\.\d+\.\d+", plugin), plugin

    (source,) = load(DATASOURCE)["datasources"]
    data = source["jsonData"]
    assert source["type"] == plugin.partition("@")[0] and source["uid"]
    assert data["host"] == "clickhouse" and data["host"] in services
    assert str(data["port"]) in clickhouse["expose"] and data["protocol"] == ("http" if data["port"] == 8123 else
                                                                              "native")
    assert data["username"] == environment(clickhouse)["CLICKHOUSE_USER"]
    assert data["defaultDatabase"] == data["logs"]["defaultDatabase"] == data["traces"]["defaultDatabase"] == "heron"
    assert (data["logs"]["defaultTable"], data["traces"]["defaultTable"]) == ("otel_logs", "otel_traces")
    password = source["secureJsonData"]["password"]
    assert password.startswith("$") and password.strip("${}") in environment(grafana), "the password comes from env"

    (provider,) = load(PROVIDER)["providers"]
    assert provider["type"] == "file"
    assert Path(mounts[provider["options"]["path"]]).resolve() == (ROOT / "dashboards").resolve()


def test_otelcol_writes_the_tables_and_database_heron_creates(compose):
    service = compose["services"]["otelcol"]
    config = load(OTELCOL)
    assert [source for source, _ in bind_mounts(service)] == ["./collector/otelcol-config.yaml"]
    assert service["command"] == [f"--config={bind_mounts(service)[0][1]}"]
    exporter = config["exporters"]["clickhouse"]
    schema = "\n".join(p.read_text() for p in sorted((ROOT / "queries" / "schema").glob("*.sql")))
    tables = set(re.findall(r"CREATE TABLE IF NOT EXISTS \{\{db\}\}\.(\w+)", schema))
    assert exporter["database"] == collector_settings.HERON_DATABASE.default == "heron"
    assert {exporter["logs_table_name"], exporter["traces_table_name"]} == {"otel_logs", "otel_traces"} <= tables
    assert exporter["create_schema"] is False, "Heron's migrations own the schema"
    endpoint = urlsplit(exporter["endpoint"])
    assert endpoint.hostname == "clickhouse" and str(endpoint.port) in compose["services"]["clickhouse"]["expose"]
    assert exporter["username"] == environment(compose["services"]["clickhouse"])["CLICKHOUSE_USER"]

    receivers = config["receivers"]["otlp"]["protocols"]
    assert set(published(service)) == {port_of(receivers["grpc"]["endpoint"]), port_of(receivers["http"]["endpoint"])}
    used = set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", OTELCOL.read_text()))
    assert used and used <= set(environment(service)), f"otelcol reads {used}; compose sets {environment(service)}"
    for name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"pipeline {name} uses {kind[:-1]} {component}, not configured"
    assert set(config["service"]["extensions"]) <= set(config["extensions"])
    assert config["service"]["pipelines"]["logs"]["exporters"] == ["clickhouse"]
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["clickhouse"]
