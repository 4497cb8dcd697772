"""The quality report: every check's latest result per partition, kept as JSON, rendered to one HTML page.

Each check writes `$XL_HOME/reports/quality/results/<layer.table>/<check>/<date>[_<banner>].json` (one file
per partition, replaced atomically, so parallel runs never collide). `render` turns them into a
self-contained `index.html`: no scripts, no fonts, no network; it opens from a USB stick.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

from xl_pipelines.display import html_text
from xl_pipelines.gates import quarantine_reasons, unlanded
from xl_pipelines.lake import replace_text

STATUS = {"passed": "pass", "WARN": "warn", "ERROR": "error"}


def result_path(reports: Path, table: str, check: str, keys: dict[str, str]) -> Path:
    return reports / "quality" / "results" / table / check / ("_".join(keys.values()) + ".json")


def record(reports: Path, table: str, check: str, keys: dict[str, str], passed: bool, severity: str,
           description: str, blocking: bool, details: dict | None = None) -> Path:
    """Keep one check's result for one partition (replacing the previous one for that partition)."""
    path = result_path(reports, table, check, keys)
    payload = {"table": table, "check": check, "partition": keys, "passed": passed,
               "status": "passed" if passed else severity, "blocking": blocking, "description": description,
               "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **(details or {})}
    replace_text(path, json.dumps(payload, ensure_ascii=False, indent=1))
    return path


def load_results(reports: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((reports / "quality" / "results").glob("*/*/*.json"))]


def _period(result: dict) -> str:
    """The day, or for a monthly table the month, a result is about."""
    return result["partition"].get("date") or result["partition"]["month"]


def latest_by_table(results: list[dict]) -> dict[str, list[dict]]:
    """For each table, the results of each of its checks on that check's latest date (every banner of it)."""
    by_check: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        by_check.setdefault((r["table"], r["check"]), []).append(r)
    latest: dict[str, list[dict]] = {}
    for (table, _), rows in sorted(by_check.items()):
        day = max(_period(r) for r in rows)
        latest.setdefault(table, []).extend(
            sorted((r for r in rows if _period(r) == day), key=lambda r: r["partition"].get("banner", "")))
    return latest


def render(reports: Path) -> Path:
    """Write `reports/quality/index.html` from the stored results; return its path."""
    latest = latest_by_table(load_results(reports))
    counts = Counter(r["status"] for rows in latest.values() for r in rows)
    reasons = quarantine_reasons()
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        "<title>xl 数据质量 · data quality</title><style>", _CSS, "</style></head><body>",
        "<h1>数据质量报告 · Data quality report</h1>",
        f"<p class='meta'>Latest validation per table · rendered {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · "
        f"{counts['passed']} passed, {counts['WARN']} warnings, {counts['ERROR']} errors</p>",
        "<h2>Summary</h2><table><tr><th>table</th><th>latest date</th><th>results</th><th>pass</th><th>warn</th>"
        "<th>error</th></tr>",
    ]
    for table, rows in latest.items():
        c = Counter(r["status"] for r in rows)
        latest_day = max(_period(r) for r in rows)
        parts.append(f"<tr><td><a href='#{html_text(table)}'>{html_text(table)}</a></td><td>{html_text(latest_day)}</td>"
                     f"<td>{len(rows)}</td><td>{c['passed']}</td><td class='{'warn' if c['WARN'] else ''}'>{c['WARN']}</td>"
                     f"<td class='{'error' if c['ERROR'] else ''}'>{c['ERROR']}</td></tr>")
    parts.append("</table>")
    empty = sorted((r for rows in latest.values() for r in rows if unlanded(r["check"], r["passed"])),
                   key=lambda r: (_period(r), r["partition"].get("banner", ""), r["table"]))
    if empty:  # a missing source stops nobody, but its figures are unmeasured: say so first
        parts.append("<h2>Sources that did not land</h2><ul>" + "".join(
            f"<li class='warn'>{html_text(_period(r))} {html_text(r['partition'].get('banner', 'city'))}: "
            f"{html_text(r['description'])}</li>"
            for r in empty) + "</ul>")
    for table, rows in latest.items():
        parts.append(f"<h2 id='{html_text(table)}'>{html_text(table)}</h2>")
        parts.append("<table><tr><th>date</th><th>banner</th><th>check</th><th>status</th><th>what was found</th></tr>")
        for r in rows:
            status = STATUS[r["status"]]
            parts.append(f"<tr><td>{html_text(_period(r))}</td><td>{html_text(r['partition'].get('banner', 'city'))}</td>"
                         f"<td>{html_text(r['check'])}"
                         f"{' (blocking)' if r['blocking'] else ''}</td><td class='{status}'>{status}</td>"
                         f"<td>{html_text(r['description'])}{_failures(r)}{_reasons(r, reasons)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    path = reports / "quality" / "index.html"
    replace_text(path, "\n".join(parts))
    return path


def _failures(result: dict) -> str:
    rows = result.get("failures") or []
    if not rows:
        return ""
    items = "".join(
        f"<li><b>{html_text(f['expectation'])}</b>{' on ' + html_text(f['column']) if f['column'] else ''} "
        f"({html_text(f['severity'])}): "
        + (f"{f['unexpected']} of {f['elements']} unexpected" if f["unexpected"] is not None else "")
        + (f" observed {html_text(f['observed'])}" if f.get("observed") else "")
        + (f"; e.g. <code>{html_text(', '.join(map(str, f['sample'])))}</code>" if f["sample"] else "")
        + "</li>" for f in rows)
    return f"<ul>{items}</ul>"


def _reasons(result: dict, reasons: dict[str, dict[str, str]]) -> str:
    found = result.get("reasons") or {}
    if not found:
        return ""
    known = reasons.get(result.get("source", ""), {})
    items = "".join(f"<li><b>{html_text(k)}</b> × {v}: {html_text(known.get(k, ''))}</li>" for k, v in sorted(found.items()))
    return f"<ul>{items}</ul>"




_CSS = """body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2em;color:#222;max-width:72em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
vertical-align:top;text-align:left}th{background:#f3f3f3}.pass{color:#176f2c}.warn{background:#fff4d6}
.error{background:#fde2e1;font-weight:bold}.meta{color:#666}ul{margin:.2em 0;padding-left:1.2em}
code{font-size:.9em;background:#f6f6f6}"""
