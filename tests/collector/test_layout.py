"""The layout of the code, checked from its AST (nothing is imported or run).

- Settings: only heron_collector/settings.py (collector) and heron/_config.py, heron/_env.py (SDK)
  touch the process environment, by any spelling: os.environ (read, write, .get), os.getenv,
  os.putenv / os.unsetenv, os.environb, `from os import environ`, an aliased `import os as o`.
- Imports: heron_collector's import graph has no cycle. Every import counts, at module level, inside
  a function and under `if TYPE_CHECKING:` alike (a cycle that only a deferred import keeps from
  failing is still a cycle), relative imports resolved. `from P import x` is an arrow to P and,
  when P.x is a module, to P.x too; an arrow from a module to a package that contains it is not
  counted (the package is being imported already, and a package may gather its own parts).
- Docs: docs/architecture.md's module table names every heron_collector module (its
  `__init__.py` and `__main__.py` aside), itself or by a package row (`heron_collector/alerts/`),
  and every path it names exists.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGES = {"heron": ROOT / "sdk" / "heron", "heron_collector": ROOT / "collector" / "heron_collector"}
ENV_MODULES = {"heron._config", "heron._env", "heron_collector.settings"}
OS_MODULES = {"os", "posix", "nt"}
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def modules() -> dict[str, Path]:
    """Every module of both packages by dotted name (a package by its own name)."""
    found = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def environment_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, spelling) of every touch of the process environment in one module."""
    os_names = set()  # names bound to the os module here: `import os`, `import os as o`
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in OS_MODULES:
                    os_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module in OS_MODULES and not node.level:
            uses += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names if a.name in ENV_NAMES]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENV_NAMES and isinstance(node.value, ast.Name) \
                and node.value.id in os_names:
            uses.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return sorted(uses)


def test_the_checker_sees_every_spelling():
    code = ("import os\nimport os as o\nfrom os import environ, getenv as g\n"
            "a = os.environ['X']\nb = os.environ.get('X')\nc = os.getenv('X')\nd = o.environ\n"
            "os.environ['Y'] = '1'\nos.putenv('Y', '1')\nlength = len(os.sep)\n")
    assert [s for _, s in environment_uses(ast.parse(code))] == [
        "from os import environ", "from os import getenv", "os.environ", "os.environ", "os.getenv", "o.environ",
        "os.environ", "os.putenv"]


def test_only_the_settings_modules_read_the_environment():
    found = {name: environment_uses(ast.parse(path.read_text(encoding="utf-8")))
             for name, path in modules().items() if name not in ENV_MODULES}
    assert {name: uses for name, uses in found.items() if uses} == {}, \
        "read settings in heron_collector/settings.py (collector) or heron/_config.py / heron/_env.py (SDK)"


def test_no_collector_module_imports_the_sdks_private_modules():
    private = []
    for name, path in modules().items():
        if not name.startswith("heron_collector"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            private += [(name, n) for n in names if n.split(".")[0] == "heron" and
                        any(part.startswith("_") and part != "__version__" for part in n.split(".")[1:])]
    assert private == []


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` (at `path`) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
        else:
            continue
        for target in targets:
            while target and target not in known:  # import a.b.c: the deepest module of ours
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_collector_has_no_import_cycle():
    collector = {name: path for name, path in modules().items() if name.split(".")[0] == "heron_collector"}
    graph = {name: imports(name, path, set(collector)) for name, path in collector.items()}
    assert graph["heron_collector.collector"] >= {"heron_collector.ingest.otlp_http", "heron_collector.settings"}
    assert cycles(graph) == [], "make the shared part a leaf module, so the arrows point one way"


def architecture_entries() -> set[str]:
    """The paths the module table of docs/architecture.md names (first column, in backticks)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text[text.index("| module | does |"):]
    table = table[:table.index("\n\n")]
    return {path for line in table.splitlines()[2:] for path in re.findall(r"`([^`]+)`", line.split(" | ")[0])}


def test_the_architecture_table_matches_the_tree():
    entries = architecture_entries()
    roots = {"heron": ROOT / "sdk", "heron_collector": ROOT / "collector"}
    missing = [e for e in entries if not (roots[e.split("/")[0]] / e).exists()]
    assert missing == [], f"docs/architecture.md names modules that do not exist: {missing}"
    packages = {e for e in entries if e.endswith("/")}
    collector_root = ROOT / "collector"
    unlisted = []
    for path in sorted((collector_root / "heron_collector").rglob("*.py")):
        name = path.relative_to(collector_root).as_posix()
        if path.name in ("__init__.py", "__main__.py") or name in entries:
            continue
        if not any(name.startswith(package) for package in packages):
            unlisted.append(name)
    assert unlisted == [], f"add these modules to the module table of docs/architecture.md: {unlisted}"
