"""Applying queries/ to a store: ordered, idempotent, recorded.

The SQL lives in plain files a user can read and run; Python only fills in the `{{name}}`
placeholders (database, cluster clause, engine prefix, TTL, refresh interval) from one
`Layout`. Three folders, applied in this order, each sorted by file name:

- schema/  versioned: applied once, recorded in heron_migrations by name: tables that are kept
           state, and every one-shot upgrade (ALTER, copy, DROP) of an older store. An ALTER TABLE
           there of a table the store does not have yet is skipped: the file that creates it later
           (a view file creating its result table) creates it with every column;
- parse/   repeatable: insert-time materialized views, re-created when the file changes;
- views/   repeatable: scheduled analytics (refreshable materialized views), likewise.

A repeatable file's view is dropped and created again when the checksum of its rendered SQL
differs from the recorded one (a changed file, or a changed setting it uses, such as
HERON_REFRESH_SECONDS), so shipping a corrected view is just shipping the file; it is applied
again, too, when a table it creates is missing (a recomputed table removed because a full disk left its
metadata empty, see store.repair_metadata). An unchanged file is never rewritten at start.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .settings import HERON_CLUSTER, HERON_DATABASE, HERON_REFRESH_SECONDS, HERON_TTL_DAYS, Settings

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FOLDERS = ("schema", "parse", "views")
REPEATABLE = ("parse", "views")


class MigrationError(RuntimeError):
    """A migration file failed; the message names the file and the statement."""


def identifier(name: str, what: str = "identifier") -> str:
    """Validate a database/cluster/table name for use in DDL (they cannot be bound parameters)."""
    if not _IDENT.match(name):
        raise ValueError(f"{what} {name!r} is not a plain identifier: use letters, digits and _ only")
    return name


@dataclass(frozen=True)
class Layout:
    """Everything that differs between deployments of the same SQL."""

    database: str = HERON_DATABASE.default
    cluster: str = HERON_CLUSTER.default
    ttl_days: int = HERON_TTL_DAYS.default
    refresh_seconds: int = HERON_REFRESH_SECONDS.default
    # True: refreshable views are created EMPTY, not refreshed at creation (stores that tests
    # fill and refresh themselves; a deployment wants its views computed at once)
    empty_views: bool = False
    # a scheduled refresh takes the changes since its last successful start less this margin: an
    # insert that stamped its rows before that start but committed after (queries/views/02_windows_due.sql).
    # Tests whose inserts all commit before they refresh use 0, so every refresh is incremental.
    refresh_margin_seconds: int = 300
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Layout:
        """The deployment's layout; the database is the store URL's (a database in its path wins)."""
        return cls(database=settings.store_url().database, cluster=settings.cluster, ttl_days=settings.ttl_days,
                   refresh_seconds=settings.refresh_seconds)

    def values(self) -> dict[str, str]:
        db = identifier(self.database, "database")
        cluster = identifier(self.cluster, "cluster") if self.cluster else ""

        def ttl(column: str) -> str:
            if self.ttl_days <= 0:
                return ""
            return f"TTL toDateTime({column}) + toIntervalDay({int(self.ttl_days)})"

        return {
            "db": db,
            "on_cluster": f"ON CLUSTER {cluster}" if cluster else "",
            "replicated": "Replicated" if cluster else "",
            "ttl_logs": ttl("Timestamp"),
            "ttl_traces": ttl("Timestamp"),
            "ttl_ml": "",
            "refresh": f"REFRESH EVERY {int(self.refresh_seconds)} SECOND",
            "empty": "EMPTY" if self.empty_views else "",
            "refresh_margin": str(int(self.refresh_margin_seconds)),
            **self.extra,
        }


def render(sql: str, layout: Layout) -> str:
    values = layout.values()

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise MigrationError(f"unknown placeholder {{{{{name}}}}}; known: {', '.join(sorted(values))}")
        return values[name]

    return _PLACEHOLDER.sub(sub, sql)


def statements(sql: str) -> list[str]:
    """Split a file into statements at code lines ending in ';' (a comment line never ends one;
    comments are kept, comment-only chunks dropped)."""
    out, current = [], []
    for line in sql.splitlines():
        current.append(line)
        if line.rstrip().endswith(";") and not line.lstrip().startswith("--"):
            out.append("\n".join(current).strip().rstrip(";"))
            current = []
    tail = "\n".join(current).strip()
    if tail:
        out.append(tail)
    return [s for s in out if _has_code(s)]


def _has_code(statement: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in statement.splitlines())


def queries_dir() -> Path:
    """queries/ inside the installed wheel, or beside the sources in a checkout."""
    packaged = resources.files("heron_collector") / "queries"
    if packaged.is_dir():
        return Path(str(packaged))
    here = Path(__file__).resolve().parents[2] / "queries"
    if here.is_dir():
        return here
    raise MigrationError("queries/ not found: reinstall heron (pip install .)")


@dataclass(frozen=True)
class Migration:
    folder: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.folder}/{self.path.name}"

    @property
    def repeatable(self) -> bool:
        return self.folder in REPEATABLE

    def checksum(self, layout: Layout | None = None) -> str:
        """Of the SQL as applied: rendered with `layout` when given, so a changed setting the file
        uses (the refresh interval, the TTL) re-applies a repeatable file as a changed file does."""
        text = self.path.read_text() if layout is None else render(self.path.read_text(), layout)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def discover(root: Path | None = None) -> list[Migration]:
    root = root or queries_dir()
    found = []
    for folder in FOLDERS:
        for path in sorted((root / folder).glob("*.sql")):
            found.append(Migration(folder, path))
    return found


_CREATES_VIEW = re.compile(
    r"CREATE\s+(MATERIALIZED\s+VIEW|OR\s+REPLACE\s+VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z0-9_.`]+)",
    re.IGNORECASE,
)


_ALTERS_TABLE = re.compile(r"^\s*ALTER\s+TABLE\s+([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\b", re.IGNORECASE)
_CREATES_TABLE = re.compile(r"CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+\{\{\s*db\s*\}\}\.([A-Za-z0-9_]+)", re.IGNORECASE)
_REFRESHED_TO = re.compile(r"\{\{\s*refresh\s*\}\}(?:(?!APPEND)[^;])*?\bTO\s+\{\{\s*db\s*\}\}\.([A-Za-z0-9_]+)",
                           re.IGNORECASE)


def tables_created(migration: Migration) -> list[str]:
    return _CREATES_TABLE.findall(migration.path.read_text())


def recomputed_tables(root: Path | None = None) -> set[str]:
    """Targets of refreshable views that replace their whole content on each refresh (no APPEND):
    nothing is lost when one is dropped, the next refresh fills it again."""
    found: set[str] = set()
    for migration in discover(root):
        if migration.folder == "views":
            found.update(_REFRESHED_TO.findall(migration.path.read_text()))
    return found


def migrate(client, layout: Layout, root: Path | None = None) -> list[str]:
    """Apply what is not applied yet (or changed, for repeatable files); drop the views of repeatable
    files that are gone. Returns the names applied (and removed)."""
    db, on_cluster = layout.values()["db"], layout.values()["on_cluster"]
    applied: dict[str, tuple[str, list[str]]] = {}
    exists = client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'heron_migrations'",
        parameters={"db": db},
    )
    if int(exists):
        rows = client.query(f"SELECT name, argMax((checksum, views), applied_at) FROM {db}.heron_migrations "
                            "GROUP BY name")
        applied = {name: (checksum, list(views)) for name, (checksum, views) in rows.result_rows}
    done = []
    migrations = discover(root)
    tables = {row[0] for row in client.query("SELECT name FROM system.tables WHERE database = {db:String}",
                                             parameters={"db": db}).result_rows}
    for migration in migrations:
        checksum = migration.checksum(layout)
        complete = not migration.repeatable or all(t in tables for t in tables_created(migration))
        if migration.name in applied and (not migration.repeatable or applied[migration.name][0] == checksum) \
                and complete:
            continue
        views = []
        for statement in statements(render(migration.path.read_text(), layout)):
            if not migration.repeatable and _upgrades_a_missing_table(client, statement):
                continue
            view = _CREATES_VIEW.search(statement) if migration.repeatable else None
            if view:  # recorded, to drop when the file is removed
                views.append(view.group(2))
                if view.group(1).upper().startswith("MATERIALIZED"):  # a plain view is replaced in place
                    client.command(f"DROP VIEW IF EXISTS {view.group(2)} {on_cluster}")
            try:
                client.command(statement)
            except Exception as exc:
                first = statement.strip().splitlines()[0][:120]
                raise MigrationError(f"{migration.name}: {exc}\n  in statement starting: {first}") from exc
        _record(client, db, migration.name, checksum, views)
        done.append(migration.name)
    present = {m.name for m in migrations}
    for name, (checksum, views) in applied.items():
        if name.startswith(REPEATABLE) and name not in present and checksum != "removed":
            for view in reversed(views):  # dependants (created later) first
                client.command(f"DROP VIEW IF EXISTS {view} {on_cluster}")
            _record(client, db, name, "removed", [])
            done.append(f"{name} (removed)")
    return done


def _upgrades_a_missing_table(client, statement: str) -> bool:
    """An ALTER TABLE (comments before it allowed) of a table that does not exist."""
    code = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
    match = _ALTERS_TABLE.match(code)
    if not match:
        return False
    exists = "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}"
    return not int(client.command(exists, parameters={"db": match.group(1), "t": match.group(2)}))


def _record(client, db: str, name: str, checksum: str, views: list[str]) -> None:
    # INSERT … SELECT with bound parameters: client.insert would import pandas for its DataFrame check
    client.command(f"INSERT INTO {db}.heron_migrations (name, checksum, views) "
                   "SELECT {name:String}, {checksum:String}, {views:Array(String)}",
                   parameters={"name": name, "checksum": checksum, "views": views})
