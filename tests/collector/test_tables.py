"""The signal table (ingest/signals.py) and the admin operations table (admin/operations.py) are
the one place their rows are listed: the receivers, the CLI's two paths and the route hints all
read them."""

from __future__ import annotations

from types import SimpleNamespace

from heron_collector.admin import access, operations
from heron_collector.collector import COLUMNS
from heron_collector.ingest import signals
from heron_collector.ingest.otlp_http import App


class Recording(access._Access):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def _call(self, method, route, document=None):
        self.calls.append((method, route))
        return {"refreshed": [], "replayed": {}, "views": [], "settings": []}


def test_every_cli_operation_is_a_row_of_the_table_and_every_row_is_reachable():
    recording = Recording()
    recording.sql("SELECT 1")
    recording.refresh()
    recording.replay({"from": "2026-11-01", "to": "2026-11-02"})
    recording.alerts({"action": "recent"})
    recording.views()
    recording.config("*")
    recording.config("*", {"window_seconds": "3600"})
    recording.purge({"model": "m"})
    assert set(recording.calls) == set(operations.OPERATIONS)


def test_the_local_and_remote_paths_share_the_operations():
    for cls in (access.Direct, access.Remote):
        own = {name for name in vars(cls) if not name.startswith("_")}
        assert own <= {"flush", "refreshed", "close"}, f"{cls.__name__} defines operations of its own: {own}"


def test_the_route_hints_name_every_route():
    hints = operations.route_hints()
    assert hints == ("POST /admin/sql, POST /admin/refresh, GET /admin/views, GET or POST /admin/config, "
                     "POST /admin/purge, POST /admin/alerts")
    assert hints in App._no_route(SimpleNamespace(admin=True), "GET", "/admin/nope")  # the admin listener's 404


def test_one_row_per_signal_drives_http_grpc_and_the_tables():
    assert list(signals.SIGNALS) == ["logs", "traces", "metrics"]
    assert {f"/v1/{name}": s for name, s in signals.SIGNALS.items()} == signals.BY_HTTP_PATH
    for s in signals.SIGNALS.values():
        assert s.grpc_service.startswith("opentelemetry.proto.collector.") and s.grpc_method == "Export"
        assert s.request.__name__.startswith("Export")
        assert s.rejected_field in s.response().partial_success.DESCRIPTOR.fields_by_name
    assert {t for t in COLUMNS if t != "heron_dead_letter"} == {"otel_logs", "otel_traces"}
