"""Deciding that admin SQL only reads, with ClickHouse's own parser.

`check` asks the engine to parse the text (`formatQuery`, one statement only) and for its syntax
tree (`EXPLAIN AST`; both parse and run nothing) and refuses, naming what and why: more than one
statement, any statement that is not a SELECT / SHOW / DESCRIBE / EXISTS / EXPLAIN, `INTO
OUTFILE`, a `SETTINGS` clause, a table function other than the pure generators below, and the
`file()` function. The read-only session it then
runs in (`readonly = 1`, time, memory and result limits; Store.reader) is the second line.
"""

from __future__ import annotations

from typing import Any

READ_STATEMENTS = (
    "SelectWithUnionQuery", "SelectIntersectExceptQuery", "ShowTables", "ShowColumns", "DescribeQuery",
    "ShowCreateTableQuery", "ShowCreateViewQuery", "ShowCreateDatabaseQuery", "ShowCreateDictionaryQuery",
    "ExistsTableQuery", "ExistsViewQuery", "ExistsDatabaseQuery", "ExistsDictionaryQuery", "Explain",
    "ShowProcesslistQuery",
)
# Table functions that only generate or read tables already in ClickHouse; every other one reaches
# files, URLs, other servers or processes (file, url, remote, s3, executable, mysql, …).
SAFE_TABLE_FUNCTIONS = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "generateRandom", "values", "null",
                                  "view", "merge", "generate_series", "generateSeries"})
UNSAFE_FUNCTIONS = frozenset({"file"})
# Only to word the refusal of a statement the parser did not take as a query (SYSTEM …, KILL …).
WRITE_KEYWORDS = frozenset({"SYSTEM", "KILL", "SET", "INSERT", "CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME",
                            "OPTIMIZE", "DELETE", "UPDATE", "GRANT", "REVOKE", "ATTACH", "DETACH", "EXCHANGE",
                            "BACKUP", "RESTORE", "USE", "MOVE", "UNDROP"})


SETTINGS_REFUSED = ("SETTINGS and SET are not allowed in admin SQL: its limits are the collector's "
                    "(HERON_ADMIN_MAX_SECONDS, HERON_ADMIN_MAX_MEMORY_BYTES)")


class Refused(ValueError):
    """The statement is not a single read-only query; the message says what and the fix."""


def _tree(client: Any, sql: str, parameters: dict[str, Any] | None) -> list[tuple[int, str]]:
    """The statement's syntax tree as (depth, node) lines.

    formatQuery parses the text, passed as a bound parameter, and refuses more than one statement;
    EXPLAIN AST of its canonical form (one statement, comments gone) gives the tree.
    """
    try:
        canonical = client.query("SELECT formatQuery({q:String})", parameters={"q": sql}).result_rows[0][0]
    except Exception as exc:
        text = " ".join(str(exc).split("Stack trace")[0].split())
        if "Multi-statements" in text:
            raise Refused("one statement per request: send the queries one at a time") from None
        raise Refused(f"the query does not parse: {text[:400]}") from None
    try:
        rows = client.query("EXPLAIN AST " + canonical + "\n", parameters=parameters or None).result_rows
    except Exception as exc:
        word = canonical.strip().split(None, 1)[0].upper()
        if word in WRITE_KEYWORDS:
            raise Refused(f"{word} statements are not allowed: the admin endpoint runs read-only queries "
                          "(SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN)") from None
        text = " ".join(str(exc).split("Stack trace")[0].split())
        if "Code: 164." in text:  # READONLY: the engine refused the query's SETTINGS clause
            raise Refused(SETTINGS_REFUSED) from None
        raise Refused(f"the query cannot be checked: {text[:400]}") from None
    lines = [row[0] for row in rows]
    return [(len(line) - len(line.lstrip(" ")), line.strip()) for line in lines]


def check(client: Any, sql: str, parameters: dict[str, Any] | None = None) -> None:
    """Raise Refused unless `sql` is one read-only statement that touches nothing outside ClickHouse."""
    if not sql.strip():
        raise Refused("the query is empty")
    tree = _tree(client, sql, parameters)
    if not tree:
        raise Refused("the query does not parse")
    kind = tree[0][1].split(" ")[0]
    if kind not in READ_STATEMENTS:
        word = sql.strip().split(None, 1)[0].upper()
        raise Refused(f"{word} statements are not allowed: the admin endpoint runs read-only queries "
                      "(SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN)")
    for i, (depth, node) in enumerate(tree):
        name = node.split(" ")[1] if node.startswith("Function ") else ""
        if depth == tree[0][0] + 1 and node.startswith("Literal") and kind == "SelectWithUnionQuery":
            raise Refused("INTO OUTFILE is not allowed: the admin endpoint never writes files; use "
                          "`heron sql --format tsv … > file` to save a result")
        if node == "Set" or node.startswith("Set "):
            raise Refused(SETTINGS_REFUSED)
        if name in UNSAFE_FUNCTIONS:
            raise Refused(f"the function {name}() is not allowed: it reads files on the collector's host")
        parent = next((n for d, n in reversed(tree[:i]) if d < depth), "")
        if name and parent.startswith("TableExpression") and name not in SAFE_TABLE_FUNCTIONS:
            raise Refused(f"the table function {name}() is not allowed: admin SQL reads Heron's tables only "
                          "(no files, URLs, other servers or processes)")
