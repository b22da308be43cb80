"""The layout of the code, checked from its AST (nothing is imported or run).

- Settings: only heron_collector/settings.py (collector) and heron/_config.py, heron/_env.py (SDK)
  touch the process environment, by any spelling: os.environ (read, write, .get), os.getenv,
  os.putenv / os.unsetenv, os.environb, `from os import environ`, an aliased `import os as o`.
"""

from __future__ import annotations

import ast
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
