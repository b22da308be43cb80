"""`heron` command line: collector, migrate, sql, status, refresh, views, config, alerts, purge, report, demo.

argparse keeps the dependency list short; every option has an environment equivalent in
heron_collector.settings, and the flag wins over the variable: each command builds one `Settings`
from both (`_settings`) and passes it down.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from heron import __version__

from .settings import HERON_ADMIN, HERON_DATA_DIR, HERON_OTLP_GRPC, HERON_OTLP_HTTP, Settings
from .store import StoreError
from .table import cell, one_line, print_table


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None,
                        help=f"embedded store directory (env HERON_DATA_DIR, default {HERON_DATA_DIR.default})")
    parser.add_argument("--clickhouse-url", default=None,
                        help="chdb:///path or http(s)://user:pass@host:8123/db (env HERON_CLICKHOUSE_URL)")


_FLAGS = ("otlp_http", "otlp_grpc", "admin", "data_dir", "clickhouse_url")  # flag dest = Settings field


def _settings(args: argparse.Namespace) -> Settings:
    """The command's one Settings: the environment, with the flags given on top (checked by the
    variable's own parser, so a bad flag raises ValueError naming it)."""
    return Settings(**{name: getattr(args, name) for name in _FLAGS if getattr(args, name, None)})


def _url(args: argparse.Namespace):
    return _settings(args).store_url()


def cmd_collector(args: argparse.Namespace) -> int:
    from .collector import Collector

    settings = _settings(args)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    collector = Collector(settings).start()
    print(f"heron collector {__version__}: OTLP/HTTP on {collector.http_address}, OTLP/gRPC on "
          f"{collector.grpc_address}, admin on {collector.admin_address}, store {settings.store_url().redacted()}",
          flush=True)
    try:
        stop.wait()
    finally:
        durable = collector.stop()
    return 0 if durable else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    from .migrations import Layout, migrate
    from .store import Store

    settings = _settings(args)
    store = Store(settings.store_url(), settings.admin_limits())
    try:
        applied = migrate(store.client, Layout.from_settings(settings))
    finally:
        store.close()
    print("\n".join(applied) if applied else "up to date")
    return 0


def _with_access(args: argparse.Namespace, action) -> int:
    from .admin.access import open_access

    settings = _settings(args)
    access = open_access(settings.store_url(), settings)
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
                print("\t".join(cell(v) for v in row))
        else:
            print_table(result["columns"], result["rows"])
        return 0

    return _with_access(args, run)


def cmd_status(args: argparse.Namespace) -> int:
    from . import status

    database = _url(args).database

    def run(access) -> int:
        status.print_status(access, database)
        return 0

    return _with_access(args, run)


def cmd_refresh(args: argparse.Namespace) -> int:
    if args.since or args.until:
        if not (args.since and args.until):
            print("heron refresh: a replay needs both --from and --to (ISO times such as 2026-11-01)", file=sys.stderr)
            return 2
        return _with_access(args, lambda access: _replayed(access.replay(
            {"from": args.since, "to": args.until, "step": args.step, "views": args.view or None})))

    def run(access) -> int:
        views = access.refresh(wait=args.wait, views=args.view or None)
        print(("refreshed: " if args.wait else "refresh started: ") + (", ".join(views) or "no views"))
        return 0

    return _with_access(args, run)


def _replayed(result: dict[str, Any]) -> int:
    times = result["as_of"]
    print(f"replayed {len(times)} times from {times[0]} to {times[-1]}: {', '.join(result['views'])}")
    print_table(["table", "rows written"], sorted(result["rows"].items()))
    return 0


def cmd_views(args: argparse.Namespace) -> int:
    def run(access) -> int:
        views = access.views()
        columns = ["view", "status", "last_success_time", "next_refresh_time", "exception"]
        rows = [[v.get(c) for c in columns] for v in views]
        for row in rows:  # the engine's first line; the stack trace is in the collector's log
            row[-1] = one_line(row[-1]) if row[-1] else row[-1]
        print_table(columns, rows)
        return 1 if any(v.get("exception") for v in views) else 0

    return _with_access(args, run)


def cmd_config(args: argparse.Namespace) -> int:
    from .config import SETTINGS, ConfigError

    values = {}
    for item in args.assignments or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{item!r} is not NAME=VALUE; the settings are: {', '.join(SETTINGS)}")
        values[name.strip()] = value
    if args.action == "set" and not values:
        raise ConfigError(f"heron config set needs NAME=VALUE pairs; the settings are: {', '.join(SETTINGS)}")

    def run(access) -> int:
        rows = access.config(args.model, values if args.action == "set" else None)
        print_table(["setting", "value", "source", "allowed"], [[r["setting"], r["value"], r["source"], r["allowed"]]
                                                                for r in rows])
        return 0

    return _with_access(args, run)


def cmd_purge(args: argparse.Namespace) -> int:
    ids = list(args.id or [])
    if args.ids_file:
        with open(args.ids_file) as f:
            ids += [line.strip() for line in f if line.strip()]
    request = {"model": args.model, "version": args.version, "ids": ids, "since": args.since, "until": args.until,
               "dry_run": not args.yes}

    def run(access) -> int:
        answer = access.purge(request)
        rows = [[t["table"], t["rows"]] for t in answer["tables"]]
        print_table(["table", "rows to delete" if answer["dry_run"] else "rows deleted"], rows)
        if answer["dry_run"]:
            print("dry run: nothing was deleted; run again with --yes to delete these rows", file=sys.stderr)
        else:
            print("deleted; the scheduled views were refreshed without them", file=sys.stderr)
        return 0

    return _with_access(args, run)


def cmd_alerts(args: argparse.Namespace) -> int:
    from .alerts import rules

    if args.action == "check":
        if not args.file:
            print("heron alerts check: name the rule file (heron alerts check rules.toml)", file=sys.stderr)
            return 2
        try:
            loaded, channels = rules.load(args.file)
            from .alerts.channels import channels_from_config

            channels_from_config(channels)
        except (rules.RuleError, ValueError) as exc:
            print(f"heron alerts check: {exc}", file=sys.stderr)
            return 2
        print_table(["rule", "signal", "compare", "warning", "critical", "for", "keep_firing_for", "channels",
                     "enabled"], [[r.name, r.signal, r.compare, r.warning, r.critical, r.for_seconds,
                                   r.keep_firing_for_seconds, ",".join(r.channels), r.enabled] for r in loaded])
        return 0
    if args.action == "test":
        return _alert_test(args)
    if args.action == "silence":
        request = {"action": "silence", "model": args.model, "rule": args.rule, "subject": args.subject,
                   "for": args.duration, "comment": args.comment}
        return _with_access(args, lambda access: _printed(access.alerts(request)))
    if args.action == "label":
        if args.real is None or not args.fingerprint:
            print("heron alerts label: give the alert's fingerprint and --true or --false", file=sys.stderr)
            return 2
        request = {"action": "label", "fingerprint": args.fingerprint, "real": args.real}
        return _with_access(args, lambda access: _printed(access.alerts(request)))

    if args.action == "backtest":
        if not (args.since and args.until):
            print("heron alerts backtest: give --from and --to (ISO times such as 2026-11-01)", file=sys.stderr)
            return 2
        request = {"action": "backtest", "from": args.since, "to": args.until, "step": args.step,
                   "replay": not args.no_replay}
    else:
        request = {"action": "recent", "since": args.within, "model": args.model or "", "rule": args.rule or "",
                   "state": args.state or ""}

    def run(access) -> int:
        answer = access.alerts(request)
        if args.format == "json":
            print(json.dumps([dict(zip(answer["columns"], row, strict=True)) for row in answer["rows"]], default=str))
        else:
            print_table(answer["columns"], answer["rows"])
        return 0

    return _with_access(args, run)


def _alert_test(args: argparse.Namespace) -> int:
    """One test notification of a rule to each of its channels, sent now; their outcomes."""
    from .alerts import channels, rules
    from .alerts.evaluate import fingerprint
    from .alerts.notification import Alert, group_alerts

    path = args.file or _settings(args).alert_rules
    loaded, config = rules.load(path)
    rule = next((r for r in loaded if r.name == args.rule), None)
    if rule is None:
        print(f"heron alerts test: no rule {args.rule!r} in {path or 'the defaults'}; the rules are: "
              f"{', '.join(r.name for r in loaded)}", file=sys.stderr)
        return 2
    if not rule.channels:
        print(f"heron alerts test: rule {rule.name} has no channels (channels = [...] in its [[rules]])",
              file=sys.stderr)
        return 2
    built = channels.channels_from_config(config)
    now = dt.datetime.now(dt.timezone.utc)
    alert = Alert(fingerprint=fingerprint(rule.name, "heron-test", "test", ""), rule=rule.name,
                  severity=rule.severity if rule.compare in ("flag", "limit") else "warning", status="firing",
                  model="heron-test", version="test", subject="", metric=",".join(rule.metrics) or rule.signal,
                  value=None, threshold=None, summary=f"test notification of rule {rule.name}: {rule.summary}",
                  labels={**rule.labels, "test": "true"}, starts_at=now, ends_at=None)
    [notification] = group_alerts([alert])
    rows = []
    for name in rule.channels:
        delivery = built[name].send(notification)
        rows.append([name, built[name].type, delivery.outcome, delivery.status, delivery.attempts, delivery.error])
    print_table(["channel", "type", "outcome", "status", "attempts", "error"], rows)
    return 0 if all(r[2] in ("delivered", "skipped") for r in rows) else 1


def _printed(answer: dict[str, Any]) -> int:
    print(json.dumps(answer, default=str))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from . import report

    report.parse_since(args.since)  # a bad --since fails before the store is opened
    database = _url(args).database

    def run(access) -> int:
        stats = report.write(access, args.model, args.version, args.since, args.output, database=database)
        print(f"wrote {stats['path']} ({stats['bytes']:,} bytes): {args.model} version {stats['version']}, "
              f"{stats['windows']} windows, {stats['predictions']:,} predictions, {stats['alerts']} alert transitions")
        return 0

    return _with_access(args, run)


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.main(args.options)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="heron", description="Heron: ML model monitoring on OpenTelemetry + ClickHouse")
    root.add_argument("--version", action="version", version=f"heron {__version__}")
    root.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    root.add_argument("--debug", action="store_true", help="debug logging, and a full traceback on errors")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("collector", help="receive OTLP and store it in ClickHouse")
    p.add_argument("--otlp-http", default=None, metavar="HOST:PORT",
                   help=f"OTLP/HTTP listen address (env HERON_OTLP_HTTP, default {HERON_OTLP_HTTP.default})")
    p.add_argument("--otlp-grpc", default=None, metavar="HOST:PORT",
                   help=f"OTLP/gRPC listen address (env HERON_OTLP_GRPC, default {HERON_OTLP_GRPC.default})")
    p.add_argument("--admin", default=None, metavar="HOST:PORT",
                   help=f"admin endpoint listen address (env HERON_ADMIN, default {HERON_ADMIN.default}); "
                        "off loopback it needs HERON_COLLECTOR_TOKEN")
    _store_options(p)
    p.set_defaults(func=cmd_collector)

    p = sub.add_parser("migrate", help="create or update the schema and views (the collector does it at start)")
    _store_options(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("sql", help="run a read-only query and print the result")
    p.add_argument("query", help='for example "SELECT count() FROM heron.ml_predictions"')
    p.add_argument("--format", choices=("table", "tsv", "json"), default="table",
                   help="table: aligned columns for reading (default); tsv: tab-separated, no header, for "
                        "scripts; json: a list of objects, one per row")
    _store_options(p)
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("status", help="every model at a glance: health, alerts, drift, performance, latency",
                       description="One line per model version, from the views: health (from the alerts "
                                   "firing), drifted features, the headline metric realised, estimated and its "
                                   "baseline, p99 latency, error rate, and the newest prediction and label.")
    _store_options(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("refresh", help="run the scheduled analytics views now, or as of past times (a replay)",
                       description="Run the scheduled analytics now; with --from and --to, compute them as of "
                                   "every step of that past range instead (back-test on stored data).")
    p.add_argument("--wait", action="store_true", help="wait until every view has finished")
    p.add_argument("--view", action="append", help="only this view (repeatable)")
    p.add_argument("--from", dest="since", metavar="ISO_TIME", help="replay from this time (e.g. 2026-11-01)")
    p.add_argument("--to", dest="until", metavar="ISO_TIME", help="replay up to this time")
    p.add_argument("--step", type=int, metavar="SECONDS",
                   help="replay step (default: a day, or the smallest look-back if shorter)")
    _store_options(p)
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("views", help="each analytics view's last refresh, status and error")
    _store_options(p)
    p.set_defaults(func=cmd_views)

    p = sub.add_parser("config", help="show or set a model's monitoring settings (windows, reference, SLO …)",
                       description="heron config show --model churn\n"
                                   "heron config set --model churn window_seconds=86400 slo_p99_ms=250\n"
                                   "--model '*' is the default of every model without its own settings.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("show", "set"), help="show the effective settings, or set some")
    p.add_argument("assignments", nargs="*", metavar="NAME=VALUE", help="with set: the settings to change")
    p.add_argument("--model", required=True, help="the model's name, or '*' for the default of every model")
    _store_options(p)
    p.set_defaults(func=cmd_config)

    from .alerts.manage import STATES as alert_states

    p = sub.add_parser("alerts", help="alerts firing and recent; check a rule file; silence; label",
                       description="heron alerts [--model M] [--rule R] [--state firing] [--since 24h]\n"
                                   "                                   recent transitions (or the alerts in a state), "
                                   "with their numbers\n"
                                   "heron alerts check rules.toml      validate a rule file (HERON_ALERT_RULES)\n"
                                   "heron alerts test --rule NAME      one test notification to each of its channels\n"
                                   "heron alerts silence --model churn --for 2h [--rule R] [--subject F]\n"
                                   "heron alerts label --fingerprint FP --true|--false   was it real?\n"
                                   "heron alerts backtest --from 2026-10-01 --to 2026-11-01   what would have fired",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", default="list",
                   choices=("list", "check", "test", "silence", "label", "backtest"),
                   help="list (default): transitions of the last day; check FILE; test --rule NAME; silence; "
                        "label; backtest --from --to")
    p.add_argument("file", nargs="?", help="check, test: the rule file (test: default HERON_ALERT_RULES)")
    p.add_argument("--model", help="list: only this model; silence: the model")
    p.add_argument("--rule", help="list: only this rule; test: the rule whose channels get a test notification; "
                                  "silence: only this rule")
    p.add_argument("--state", choices=alert_states,
                   help="list: the alerts now in this state, one row each (firing includes recovering)")
    p.add_argument("--since", dest="within", default="24h", metavar="DURATION",
                   help="list: transitions (resolved alerts, with --state) of the last DURATION (default 24h)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="list, backtest: aligned columns (default) or a JSON list of objects, for scripts")
    p.add_argument("--subject", help="silence: only this feature or metric")
    p.add_argument("--for", dest="duration", help="silence: how long (e.g. 2h, 1d)")
    p.add_argument("--comment", default="", help="silence, label: why")
    p.add_argument("--fingerprint", help="label: the alert (from heron alerts)")
    p.add_argument("--from", dest="since", metavar="ISO_TIME", help="backtest: from this time")
    p.add_argument("--to", dest="until", metavar="ISO_TIME", help="backtest: up to this time")
    p.add_argument("--step", type=int, metavar="SECONDS", help="backtest: evaluate every STEP seconds (default 3600)")
    p.add_argument("--no-replay", action="store_true", help="backtest: use the stored windows as they are")
    p.add_argument("--true", dest="real", action="store_const", const=True, help="label: the alert was real")
    p.add_argument("--false", dest="real", action="store_const", const=False, help="label: a false alarm")
    _store_options(p)
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("purge", help="delete a model, a version, prediction ids or a time range from every table",
                       description="Counts first (a dry run); deletes only with --yes. For erasure requests and "
                                   "bad data: raw OTLP rows, parsed rows, labels, references, settings and "
                                   "computed windows, found by their columns.")
    p.add_argument("--model", required=True, help="the model whose data goes")
    p.add_argument("--version", help="only this version of the model")
    p.add_argument("--id", action="append", metavar="PREDICTION_ID", help="only this prediction id (repeatable)")
    p.add_argument("--ids-file", metavar="PATH", help="only the prediction ids in this file, one per line")
    p.add_argument("--since", metavar="ISO_TIME", help="only data at or after this time (e.g. 2026-11-01T00:00:00Z)")
    p.add_argument("--until", metavar="ISO_TIME", help="only data before this time")
    p.add_argument("--yes", action="store_true", help="delete (without it: only count what would be deleted)")
    _store_options(p)
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("report", help="one self-contained HTML report of a model: drift, performance, SLA, alerts",
                       description="Writes one HTML file that opens offline (the chart library is inlined), "
                                   "built from the views' window-level rows only, so it stays small whatever "
                                   "the data volume. docs/report.md says what each chart shows.")
    p.add_argument("--model", required=True, help="the model's name")
    p.add_argument("--version", help="the model version (default: the one with the newest data)")
    p.add_argument("--since", default="7d",
                   help="the period's start: a duration back from now (7d, 12h, 30m) or an ISO date or time "
                        "(2026-11-01, 2026-11-01T08:00:00Z; UTC unless it says otherwise). Default 7d")
    p.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default report.html)")
    _store_options(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="a model monitored end to end on this machine (what `make demo` runs)",
                       add_help=False)
    p.add_argument("options", nargs=argparse.REMAINDER, help="the demo's own options (heron demo --help)")
    p.set_defaults(func=cmd_demo)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    root = parser()
    args, extra = root.parse_known_args(argv)
    if extra:  # NAME=VALUE pairs of `heron config set` may come after its options
        if args.command == "config" and all("=" in e and not e.startswith("-") for e in extra):
            args.assignments = [*(args.assignments or []), *extra]
        elif args.command == "demo":  # argparse leaves the demo's own --options out of its REMAINDER
            args.options = [*extra, *args.options]
        else:
            root.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose or args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `heron sql … | head`: the reader is gone, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # one line that says the fix; the traceback only when asked for
        if args.debug:
            raise
        known = isinstance(exc, (StoreError, ValueError, RuntimeError, OSError))
        hint = "" if known else " (run with --debug for the traceback)"
        print(f"heron {args.command}: {one_line(exc) or type(exc).__name__}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
