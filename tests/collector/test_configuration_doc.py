"""Every HERON_* variable defined in heron._env is documented in docs/configuration.md."""

from __future__ import annotations

from pathlib import Path

from heron import _env

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_every_variable_has_a_row_in_the_configuration_doc():
    text = DOC.read_text(encoding="utf-8")
    assert len(_env.ALL) >= 20
    assert [v.name for v in _env.ALL if f"| `{v.name}` |" not in text] == []
