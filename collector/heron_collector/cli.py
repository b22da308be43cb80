"""`heron` command line: collector, migrate, sql, refresh, views.

argparse keeps the dependency list short; every option has an environment equivalent from
heron._env, and the flag wins over the variable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from heron import __version__, _env

from .store import StoreError, resolve_url


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None,
                        help=f"embedded store directory (env HERON_DATA_DIR, default {_env.HERON_DATA_DIR.default})")
    parser.add_argument("--clickhouse-url", default=None,
                        help="chdb:///path or http(s)://user:pass@host:8123/db (env HERON_CLICKHOUSE_URL)")


def _url(args: argparse.Namespace):
    return resolve_url(args.clickhouse_url, data_dir=args.data_dir)


def cmd_collector(args: argparse.Namespace) -> int:
    from .collector import Collector, Settings

    settings = Settings()
    if args.otlp_http:
        settings.otlp_http = _env.parse_host_port(args.otlp_http)
    if args.otlp_grpc:
        settings.otlp_grpc = _env.parse_host_port(args.otlp_grpc)
    if args.data_dir:
        settings.data_dir = args.data_dir
    if args.clickhouse_url:
        settings.clickhouse_url = args.clickhouse_url
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    collector = Collector(settings).start()
    print(f"heron collector {__version__}: OTLP/HTTP on {collector.http_address}, OTLP/gRPC on "
          f"{collector.grpc_address}, store {settings.store_url().redacted()}", flush=True)
    try:
        stop.wait()
    finally:
        durable = collector.stop()
    return 0 if durable else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    from .migrations import Layout, migrate
    from .store import Store

    url = _url(args)
    store = Store(url)
    try:
        applied = migrate(store.client, Layout.from_env(url.database))
    finally:
        store.close()
    print("\n".join(applied) if applied else "up to date")
    return 0


def _format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], out=sys.stdout) -> None:
    cells = [[_format_value(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _with_access(args: argparse.Namespace, action) -> int:
    from .access import open_access

    access = open_access(_url(args))
    try:
        return action(access)
    finally:
        access.close()


def cmd_sql(args: argparse.Namespace) -> int:
    def run(access) -> int:
        result = access.sql(args.query)
        if args.format == "json":
            print(json.dumps([dict(zip(result["columns"], row, strict=True)) for row in result["rows"]], default=str))
        elif args.format == "tsv":
            for row in result["rows"]:
                print("\t".join(_format_value(v) for v in row))
        else:
            print_table(result["columns"], result["rows"])
        return 0

    return _with_access(args, run)


def cmd_refresh(args: argparse.Namespace) -> int:
    def run(access) -> int:
        views = access.refresh(wait=args.wait, views=args.view or None)
        print(("refreshed: " if args.wait else "refresh started: ") + (", ".join(views) or "no views"))
        return 0

    return _with_access(args, run)


def cmd_views(args: argparse.Namespace) -> int:
    def run(access) -> int:
        views = access.views()
        columns = ["view", "status", "last_success_time", "next_refresh_time", "exception"]
        print_table(columns, [[v.get(c) for c in columns] for v in views])
        return 1 if any(v.get("exception") for v in views) else 0

    return _with_access(args, run)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="heron", description="Heron: ML model monitoring on OpenTelemetry + ClickHouse")
    root.add_argument("--version", action="version", version=f"heron {__version__}")
    root.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("collector", help="receive OTLP and store it in ClickHouse")
    p.add_argument("--otlp-http", default=None, metavar="HOST:PORT",
                   help=f"OTLP/HTTP listen address (env HERON_OTLP_HTTP, default {_env.HERON_OTLP_HTTP.default})")
    p.add_argument("--otlp-grpc", default=None, metavar="HOST:PORT",
                   help=f"OTLP/gRPC listen address (env HERON_OTLP_GRPC, default {_env.HERON_OTLP_GRPC.default})")
    _store_options(p)
    p.set_defaults(func=cmd_collector)

    p = sub.add_parser("migrate", help="create or update the schema and views (the collector does it at start)")
    _store_options(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("sql", help="run a read-only query and print the result")
    p.add_argument("query", help='for example "SELECT count() FROM heron.ml_predictions"')
    p.add_argument("--format", choices=("table", "tsv", "json"), default="table")
    _store_options(p)
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("refresh", help="run the scheduled analytics views now")
    p.add_argument("--wait", action="store_true", help="wait until every view has finished")
    p.add_argument("--view", action="append", help="only this view (repeatable)")
    _store_options(p)
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("views", help="each analytics view's last refresh, status and error")
    _store_options(p)
    p.set_defaults(func=cmd_views)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (StoreError, ValueError, RuntimeError) as exc:
        print(f"heron {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
