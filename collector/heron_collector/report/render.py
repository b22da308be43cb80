"""The report's HTML: one file with the chart library, the script and the data inlined.

Nothing is fetched when it opens: a Content-Security-Policy allows only the inline scripts by
their hashes, so no network request and no injected handler can run. Every name from the store
reaches the page escaped: tables through html.escape, the data as JSON whose `<`, `>` and `&` are
\\u-escaped inside a non-executed `application/json` block, which the script reads with
textContent and draws with textContent or on canvas.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import math
import re
from importlib import resources
from typing import Any

from heron import __version__

UPLOT_VERSION = "1.6.32"  # vendor/: uPlot.iife.min.js, uPlot.min.css, uPlot.LICENSE from `npm pack uplot@1.6.32`
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _finite(value: Any, digits: int = 6) -> Any:
    """JSON-safe numbers, rounded to `digits` significant digits (NaN and ±Inf become null)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {str(k): _finite(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, digits) for v in value]
    return value


def script_json(document: Any) -> str:
    """JSON safe inside a <script> element: no `</script>`, no `<!--`, no line separators."""
    text = json.dumps(_finite(document), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class _Number(str):
    """A number already formatted (a percentage): right-aligned like the others."""


def _cell(value: Any) -> str:
    if isinstance(value, _Number):
        return f'<td class="num">{html.escape(value)}</td>'
    if value is None:
        return '<td class="num">–</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, (int, float)):
        text = f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
        return f'<td class="num">{html.escape(text)}</td>'
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        value = ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
    return f"<td>{html.escape(str(value))}</td>"


def table(columns: list[str], rows: list[list[Any]], bad: list[bool] | None = None, empty: str = "") -> str:
    """An HTML table; every cell escaped."""
    if not rows:
        return f'<p class="empty">{html.escape(empty or "Nothing in this period.")}</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns) if any(columns) else ""
    body = "".join(f"<tr{' class=bad' if bad and bad[i] else ''}>{''.join(_cell(v) for v in row)}</tr>"
                   for i, row in enumerate(rows))
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f'<div class="scroll"><table>{thead}<tbody>{body}</tbody></table></div>'


def _pct(value: float | None) -> str | None:
    return None if value is None else _Number(f"{100 * value:.2f} %")


def model_table(version: str, versions: list[str], info: list[dict[str, Any]], counts: dict[str, Any]) -> str:
    own = next((row for row in info if row["version"] == version), None)
    rows: list[list[Any]] = [["version", version], ["versions of the model", versions]]
    if own is None:
        rows.append(["registered", "no (heron.register_model was not called for this version)"])
    else:
        for key in ("task", "positive_class", "framework", "owner", "training_data_version", "git_sha",
                    "service_name", "libraries", "tags", "params"):
            if own.get(key) not in (None, "", {}, "{}"):
                rows.append([key.replace("_", " "), own[key]])
        rows.append(["registered at", _when(own["registered_at"])])
    rows.append(["predictions in the period", counts["predictions"]])
    if counts["predictions"]:
        rows.append(["first / last prediction", f"{_when(counts['first'])} / {_when(counts['last'])}"])
    return table(["", ""], rows)


def quality_table(rows: list[dict[str, Any]]) -> str:
    columns = ["feature", "type", "windows", "predictions", "missing", "NaN", "±Inf", "out of range", "new category",
               "new categories", "type mismatches", "windows not ok", "statuses", "duplicate ids",
               "implausible timestamps"]
    cells = [[r["feature"], r["type"], r["windows"], r["rows"], _pct(r["missing"]), _pct(r["nan"]), _pct(r["inf"]),
              _pct(r["out_of_range"]), _pct(r["new_category"]), r["new_categories"], r["type_mismatch"],
              r["windows_not_ok"], r["statuses"], r["duplicate_ids"], r["implausible_timestamps"]] for r in rows]
    return table(columns, cells, bad=[bool(r["windows_not_ok"]) for r in rows], empty="No data-quality results.")


def alert_table(rows: list[dict[str, Any]]) -> str:
    cells = [[_when(a["t"]), a["rule"], a["subject"], a["severity"], a["state"], a["value"], a["threshold"],
              a["summary"]] for a in reversed(rows)]
    return table(["at", "rule", "subject", "severity", "state", "value", "threshold", "summary"], cells,
                 bad=[a["state"] == "firing" for a in reversed(rows)], empty="No alert transitions in this period.")


def page(title: str, period: str, data: dict[str, Any], tables: dict[str, str], footer: str) -> str:
    """The whole HTML document."""
    uplot_js, report_js = _asset("vendor/uPlot.iife.min.js"), _asset("report.js")
    for name, script in (("uPlot", uplot_js), ("report.js", report_js)):
        if "</script" in script.lower():
            raise RuntimeError(f"{name} contains </script and cannot be inlined")
    csp = (f"default-src 'none'; script-src {_hash(uplot_js)} {_hash(report_js)}; style-src 'unsafe-inline'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    values = {
        "CSP": csp, "HERON_VERSION": __version__, "UPLOT_VERSION": UPLOT_VERSION, "TITLE": html.escape(title),
        "PERIOD": html.escape(period), "UPLOT_CSS": _asset("vendor/uPlot.min.css"), "REPORT_CSS": _asset("report.css"),
        "DATA": script_json(data), "UPLOT_JS": uplot_js, "REPORT_JS": report_js, "FOOTER": html.escape(footer),
        **tables,
    }
    # One pass: text put in for one placeholder is never searched for another.
    return _PLACEHOLDER.sub(lambda m: values[m[1]], _asset("template.html"))
