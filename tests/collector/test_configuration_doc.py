"""Every HERON_* variable, the SDK's (heron._env) and the collector's (heron_collector.settings),
is documented in docs/configuration.md, and each is defined once."""

from __future__ import annotations

from pathlib import Path

from heron import _env
from heron_collector import settings

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_every_variable_has_a_row_in_the_configuration_doc():
    text = DOC.read_text(encoding="utf-8")
    every = {v.name: v for v in (*_env.ALL, *settings.ALL)}
    assert len(every) >= 50
    assert [name for name in every if f"| `{name}` |" not in text] == []


def test_each_variable_is_defined_by_one_side_only():
    """The collector declares its own; the two it shares with the SDK are the SDK's objects."""
    sdk = {v.name: v for v in _env.ALL}
    assert [v.name for v in settings.ALL if v.name in sdk and sdk[v.name] is not v] == []
    assert {v.name for v in settings.SHARED} == {"HERON_MAX_PAST_DAYS", "HERON_MAX_FUTURE_SECONDS"}
