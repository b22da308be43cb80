"""The dashboard files as Grafana provisions them: stable unique uids, a `${datasource}` variable and
no hard-coded datasource anywhere (as the plugin's own dashboards test theirs), the template
variables every query uses, links to dashboards that exist and the plugin version README.md pins.
(That every table a query reads exists is checked beside the queries, in test_panel_queries.py.)"""

from __future__ import annotations

import re
import urllib.parse

from ._grafana import DASHBOARDS, PLUGIN_TYPE, dashboards, panels, queries

BOARDS = dashboards()
UIDS = {"heron-models-overview.json": "heron-models-overview", "heron-model-detail.json": "heron-model-detail"}
BUILT_IN = {"grafana", "-- Grafana --"}


def _datasource_refs(node, path=""):
    """Every datasource reference in a dashboard: (path, uid or name)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _datasource_refs(item, f"{path}[{i}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                yield f"{path}.datasource", value.get("uid")
            elif key in ("datasource", "datasourceUid") and isinstance(value, str):
                yield f"{path}.{key}", value
            yield from _datasource_refs(value, f"{path}.{key}")


def test_the_dashboards_are_the_two_shipped_with_stable_unique_uids():
    assert {name: board["uid"] for name, board in BOARDS.items()} == UIDS
    for name, board in BOARDS.items():
        assert board["title"].startswith("Heron") and "heron" in board["tags"], name
        assert board["schemaVersion"] == 39 and board["id"] is None, name
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"
        for p in panels(board):
            pos = p["gridPos"]
            assert pos["x"] + pos["w"] <= 24, f"{name}: {p['title']} is wider than the grid"


def test_no_datasource_is_hard_coded():
    for name, board in BOARDS.items():
        refs = list(_datasource_refs(board))
        assert refs, name
        hard = [(path, uid) for path, uid in refs if uid not in BUILT_IN and uid != "${datasource}"]
        assert hard == [], f"{name}: {hard}"
        for p in panels(board):
            if p["type"] != "row":
                assert p["datasource"] == {"type": PLUGIN_TYPE, "uid": "${datasource}"}, (name, p["title"])
                assert all(t["datasource"] == p["datasource"] for t in p["targets"]), (name, p["title"])


def test_every_variable_a_query_uses_is_defined_and_queried_from_the_views():
    for name, board in BOARDS.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == PLUGIN_TYPE
        for var in ("environment", "model"):
            assert variables[var]["type"] == "query", (name, var)
            assert variables[var]["datasource"] == {"type": PLUGIN_TYPE, "uid": "${datasource}"}
        for q in queries(name, board):
            used = {a or b for a, b in re.findall(r"\$(?!__)(\w+)|\$\{(?!__)(\w+)", q.sql)}
            assert used <= set(variables), f"{q.id} uses undefined variables {used - set(variables)}"
    detail = {v["name"]: v for v in BOARDS["heron-model-detail.json"]["templating"]["list"]}
    assert detail["version"]["type"] == "query" and detail["version"]["multi"] and detail["version"]["includeAll"]
    assert "${model:sqlstring}" in detail["version"]["query"]["rawSql"], "the versions are the chosen model's"


def test_every_value_reaches_sql_quoted_and_escaped():
    """A model, version or environment name may hold a quote: every variable in SQL is written
    ${var:sqlstring}, except the second argument of $__conditionalAll, which is only looked at."""
    for name, board in BOARDS.items():
        for q in queries(name, board):
            sql = re.sub(r",\s*\$\w+\)", ")", q.sql)  # $__conditionalAll(phrase, $var)
            raw = [m for m in re.findall(r"\$\{?(?!__)\w+(?::\w+)?\}?", sql) if not m.endswith(":sqlstring}")]
            assert raw == [], f"{q.id}: {raw} reach SQL unescaped"


def test_no_database_is_hard_coded():
    """Every table is read from the datasource's default database, so a store in another database
    (HERON_DATABASE) needs only the datasource changed: no `heron.ml_…`, nor any `db.ml_…` / `db.otel_…`,
    in any query or link (links are URL-encoded)."""
    for name in BOARDS:
        text = urllib.parse.unquote((DASHBOARDS / name).read_text())
        qualified = re.findall(r"\b\w+\.(?:ml|otel|heron)_\w+|`\w+`\.`?\w+", text)
        assert qualified == [], f"{name} names a database: {qualified}"
        for q in queries(name, BOARDS[name]):
            assert not re.search(r"\bheron\s*\.\s*(?!predict\b)\w", q.sql), f"{q.id}: {q.sql}"


def test_links_lead_to_dashboards_that_exist():
    text = {name: (DASHBOARDS / name).read_text() for name in BOARDS}
    for name, content in text.items():
        for uid in re.findall(r"/d/([\w-]+)", content):
            assert uid in UIDS.values(), f"{name} links to /d/{uid}, which is not shipped"


def test_the_plugin_version_readme_pins_is_the_one_the_panels_were_written_for():
    readme = (DASHBOARDS / "README.md").read_text()
    pinned = re.search(r"grafana-clickhouse-datasource@(\d+\.\d+\.\d+)", readme)
    assert pinned, "dashboards/README.md names the plugin as grafana-clickhouse-datasource@X.Y.Z"
    for name, board in BOARDS.items():
        versions = {p["pluginVersion"] for p in panels(board) if p["type"] != "row"}
        assert versions == {pinned.group(1)}, f"{name}: panels written for {versions}, README pins {pinned.group(1)}"
