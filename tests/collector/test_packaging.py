"""`pip install .` gives a wheel that carries the SQL and dashboards and finds them from anywhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_wheel_carries_queries_and_dashboards_and_uses_its_own_copy(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("heron-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for sql in (ROOT / "queries").rglob("*.sql"):
        assert f"heron_collector/queries/{sql.relative_to(ROOT / 'queries').as_posix()}" in names
    assert any(n.startswith("heron_collector/dashboards/") for n in names)
    assert "heron/py.typed" in names and "heron_collector/py.typed" in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    found = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                            "from heron_collector.migrations import discover, queries_dir; "
                            "print(queries_dir()); print(len(discover()))", str(site)],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    where, count = found.stdout.split()
    assert Path(where) == site / "heron_collector" / "queries"
    assert int(count) == len(list((ROOT / "queries").rglob("*.sql")))
