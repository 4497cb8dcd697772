"""The governance team's daily worklist: which cameras are broken on a day, since when, whose job, how fast.

One self-contained HTML page per day (and per banner with --banner), read from gold only: the faults open that
day (gold.camera_faults) by banner and maintenance unit, most severe and oldest first; those opened and
closed that day; the cameras that flapped (gold.camera_daily_health); each banner's online rate and recording
completeness over the last 30 days (gold.banner_daily_kpis) as inline SVG. Beside it a CSV of the open faults
for the contractors. A past day shows the faults as they stood that day: open means opened on or before it
and not closed by it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from xl_pipelines.analyst_sql import csv_text
from xl_pipelines.banners import load_banners
from xl_pipelines.charts import line_chart
from xl_pipelines.display import html_page, html_text
from xl_pipelines.gates import load_thresholds
from xl_pipelines.image_faults import FAULT_NAMES
from xl_pipelines.lake import Lake, replace_text
from xl_pipelines.settings import LOCAL_TZ, ConfigError
from xl_pipelines.warehouse import sql_literal, view_sql

TREND_DAYS = 30
KINDS = {  # kind: (中文, English); image_<fault> kinds are image faults, the fault named in `detail`
    "offline": ("离线", "offline"),
    "not_recording": ("录像异常", "not recording"),
    "clock_skew": ("时钟偏差", "clock skew"),
    "annotation": ("点位标注错误", "annotation fault"),
    "retention_short": ("存储天数不足", "retention short"),
    "removed": ("已从目录删除", "removed from the registry"),
}
SEVERITY = {1: ("重点点位", "key site"), 2: ("二类点位", "class two"), 3: ("一般", "other")}
CSV_COLUMNS = ("fault_id", "code", "banner_name", "maintenance_unit", "channel_id", "name", "kind", "detail",
               "opened_on", "days_open", "severity", "key_site", "limit_h", "overdue", "measure", "value",
               "limit_value")


@dataclass(frozen=True)
class Worklist:
    day: dt.date
    code: str | None  # one banner's page, or None: the city's
    open: pl.DataFrame  # faults open on the day, with days_open and overdue as of it, in the page's order
    new: pl.DataFrame  # opened that day
    closed: pl.DataFrame  # closed that day
    flapping: pl.DataFrame  # cameras with at least limits.flapping_flaps flaps that day
    trend: pl.DataFrame  # gold.banner_daily_kpis of the 30 days up to the day
    missing: list[str]  # banners whose day is not harvested (their faults are not shown)


def _faults_sql(lake: Lake, day: dt.date, codes: list[str]) -> str:
    """The episodes of the banners whose day is harvested, as they stood on `day`, with camera names."""
    on = sql_literal(day.isoformat())
    listed = ", ".join(sql_literal(c) for c in codes)
    return f"""
        WITH names AS (
            SELECT channel_id, arg_max(name, date) AS name
            FROM ({view_sql(lake, 'gold', 'camera_daily_health')}) WHERE date <= DATE {on} GROUP BY channel_id
        )
        SELECT faults.*, names.name, (DATE {on} - faults.opened_on + 1)::INTEGER AS days_open_on
        FROM ({view_sql(lake, 'gold', 'camera_faults')}) AS faults
        LEFT JOIN names USING (channel_id)
        WHERE faults.code IN ({listed}) AND faults.as_of >= DATE {on} AND faults.opened_on <= DATE {on}
    """


def load(lake: Lake, day: dt.date, code: str | None = None) -> Worklist:
    """What the page of `day` shows, read from gold; a clear error when nothing of that day is built."""
    if not lake.exists("gold", "camera_faults", {}):
        raise ConfigError("no fault episodes yet (gold.camera_faults): materialise days first, e.g. "
                          f"xl materialize --start {day} --end {day}")
    config = load_banners()
    codes = [code] if code else config.codes
    harvested = [c for c in codes if lake.exists("gold", "banner_daily_kpis", {"date": day.isoformat(), "banner": c})]
    if not harvested:
        raise ConfigError(f"{day} is not harvested for {code or 'any banner'}: run xl materialize --start {day} "
                          f"--end {day}{f' --banner {code}' if code else ''}")
    names = pl.DataFrame({"code": config.codes, "banner_name": [b.name_en for b in config.banners],
                          "banner_name_zh": [b.name_zh for b in config.banners]})
    limit = load_thresholds().limits["flapping_flaps"]
    on, since = sql_literal(day.isoformat()), sql_literal((day - dt.timedelta(days=TREND_DAYS - 1)).isoformat())
    listed = ", ".join(sql_literal(c) for c in harvested)
    with lake.connect() as con:
        con.execute(f"SET TimeZone = {sql_literal(str(LOCAL_TZ))}")
        faults = con.sql(_faults_sql(lake, day, harvested)).pl().join(names, on="code", how="left")
        flapping = con.sql(
            f"SELECT code, channel_id, name, flaps, online_rate FROM ({view_sql(lake, 'gold', 'camera_daily_health')}) "
            f"WHERE date = DATE {on} AND code IN ({listed}) AND flaps >= {float(limit)} "
            "ORDER BY flaps DESC, channel_id").pl().join(names, on="code", how="left")
        trend = con.sql(
            f"SELECT date, code, online_rate, recording_completeness "
            f"FROM ({view_sql(lake, 'gold', 'banner_daily_kpis')}) "
            f"WHERE date BETWEEN DATE {since} AND DATE {on} AND code IN ({', '.join(sql_literal(c) for c in codes)}) "
            "ORDER BY code, date").pl()
    still_open = pl.col("closed_on").is_null() | (pl.col("closed_on") > day)
    urgent = [pl.col("severity").min().over("code", "maintenance_unit"),
              -pl.col("days_open_on").max().over("code", "maintenance_unit")]
    open_ = (faults.filter(still_open)
             .with_columns(days_open=pl.col("days_open_on"), overdue=pl.col("overdue_from") <= day)
             .sort(["code", *urgent, "maintenance_unit", "severity", "days_open", "channel_id", "kind"],
                   descending=[False, False, False, False, False, True, False, False]))
    return Worklist(day, code, open_, faults.filter(pl.col("opened_on") == day).sort("severity", "code", "channel_id", "kind"),
                    faults.filter(pl.col("closed_on") == day).sort("severity", "code", "channel_id", "kind"), flapping, trend,
                    sorted(set(codes) - set(harvested)))


def open_csv(worklist: Worklist) -> str:
    """The open faults for the contractors, safe to open in a spreadsheet (no cell starts a formula)."""
    return csv_text(worklist.open.select(CSV_COLUMNS))


def _both(zh: str, en: str) -> str:
    return f'{html_text(zh)}<br><span class="en">{html_text(en)}</span>'


def _kind(kind: str, detail: str | None) -> str:
    if kind.startswith("image_"):
        zh, en = FAULT_NAMES.get(kind.removeprefix("image_"), ("图像故障", kind))
        return _both(f"图像故障：{zh}", f"image: {en}")
    zh, en = KINDS.get(kind, (kind, kind))
    return _both(zh, en + (f": {detail}" if detail and kind == "annotation" else ""))


def _figure(row: dict) -> str:
    """The figure that opened the fault against its limit, as people read it."""
    value, limit, measure = row["value"], row["limit_value"], row["measure"]
    if value is None:
        return ""
    if measure in ("online_rate", "recording_completeness", "record_on_rate"):
        return f"{measure} {value * 100:.1f}% < {limit * 100:g}%"
    if measure == "clock_skew_s":
        return f"{value:+.0f} s (±{limit:g} s)"
    if measure == "retained_days":
        return f"{value:g} / {limit:g} d"
    return f"{measure} {value:g}"


def _hours(value: int | None) -> str:
    return "–" if value is None else f"{value} h"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _fault_rows(frame: pl.DataFrame, columns: tuple[str, ...]) -> str:
    rows = []
    for row in frame.iter_rows(named=True):
        cells = {
            "severity": f'<td class="sev{row["severity"]}">{_both(*SEVERITY[row["severity"]])}</td>',
            "banner": f"<td>{_both(row['banner_name_zh'], row['banner_name'])}</td>",
            "unit": f"<td>{html_text(row['maintenance_unit'])}</td>",
            "camera": f"<td class='id'>{html_text(row['channel_id'])}</td><td>{html_text(row['name'] or '')}</td>",
            "kind": f"<td>{_kind(row['kind'], row['detail'])}</td><td>{html_text(_figure(row))}</td>",
            "since": f"<td>{row['opened_on']}</td>",
            "days": f'<td class="num{" overdue" if row.get("overdue") else ""}">{row["days_open_on"]}</td>',
            "limit": f'<td class="num">{row["limit_h"]} h</td>',
            "closed": f"<td>{row['closed_on']}</td><td>{html_text(row['resolution'] or '')}</td>"
                      f'<td class="num">{_hours(row["repair_h"])}</td>',
        }
        rows.append("<tr>" + "".join(cells[c] for c in columns) + "</tr>")
    return "".join(rows)


def _th(zh: str, en: str) -> str:
    return f"<th>{_both(zh, en)}</th>"


HEADS = {"severity": _th("级别", "Severity"), "banner": _th("旗县区", "Banner"), "unit": _th("运维单位", "Unit"),
         "camera": _th("编码", "Camera ID") + _th("名称", "Name"), "kind": _th("故障", "Fault") + _th("指标", "Figure"),
         "since": _th("起始日", "Since"), "days": _th("天数", "Days"), "limit": _th("时限", "Limit"),
         "closed": _th("关闭日", "Closed") + _th("结果", "Outcome") + _th("修复用时", "Time to repair")}
WIDTHS = {"camera": 2, "kind": 2, "closed": 3}  # columns a heading spans


def _table(frame: pl.DataFrame, columns: tuple[str, ...], empty: str) -> str:
    if frame.is_empty():
        return f'<p class="sub">{empty}</p>'
    return f"<table><tr>{''.join(HEADS[c] for c in columns)}</tr>{_fault_rows(frame, columns)}</table>"


def _open_section(worklist: Worklist) -> str:
    """Per banner, one table; per maintenance unit, its open faults, most severe and oldest first."""
    if worklist.open.is_empty():
        return '<p class="sub">无未修复故障 · No open fault.</p>'
    parts = []
    columns = ("severity", "camera", "kind", "since", "days", "limit")
    span = sum(WIDTHS.get(c, 1) for c in columns)
    for (code,), banner in worklist.open.group_by("code", maintain_order=True):
        first = banner.row(0, named=True)
        rows = "".join(f'<tr class="unit"><td colspan="{span}">{html_text(unit)} · {faults.height}</td></tr>'
                       + _fault_rows(faults, columns)
                       for (unit,), faults in banner.group_by("maintenance_unit", maintain_order=True))
        parts.append(f"<h3>{html_text(first['banner_name_zh'])} {html_text(first['banner_name'])} · {code}: "
                     f"{banner.height} 项未修复 open, {int(banner['overdue'].sum())} 项超时 overdue</h3>"
                     f"<table><tr>{''.join(HEADS[c] for c in columns)}</tr>{rows}</table>")
    return "".join(parts)


def _trend_section(worklist: Worklist) -> str:
    days = [worklist.day - dt.timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS)]
    config = load_banners()
    figures = []
    for banner in config.banners:
        if worklist.code and banner.code != worklist.code:
            continue
        rows = {r["date"]: r for r in worklist.trend.filter(code=banner.code).iter_rows(named=True)}
        series = {name: [rows[d][column] if d in rows else None for d in days]
                  for name, column in (("在线率 online", "online_rate"), ("录像完整率 recording", "recording_completeness"))}
        chart = line_chart([d.strftime("%m-%d") for d in days], series, f"{banner.name_en}, last {TREND_DAYS} days")
        figures.append(f"<figure>{chart}<figcaption>{_both(banner.name_zh, banner.name_en)}</figcaption></figure>")
    return f'<div class="small">{"".join(figures)}</div>'


def _flapping_section(worklist: Worklist) -> str:
    if worklist.flapping.is_empty():
        return '<p class="sub">无 · None.</p>'
    rows = "".join(f"<tr><td>{_both(r['banner_name_zh'], r['banner_name'])}</td><td class='id'>{html_text(r['channel_id'])}"
                   f"</td><td>{html_text(r['name'] or '')}</td><td class='num'>{r['flaps']}</td>"
                   f"<td class='num'>{_pct(r['online_rate'])}</td></tr>"
                   for r in worklist.flapping.iter_rows(named=True))
    return (f"<table><tr>{HEADS['banner']}{HEADS['camera']}{_th('掉线次数', 'Flaps')}{_th('在线率', 'Online rate')}</tr>"
            f"{rows}</table>")


STYLE = """
h3{font-size:15px;margin:16px 0 4px}tr.unit td{font-weight:bold;color:#1f5fa8;background:#f5f7fa}
.summary td{font-size:20px;text-align:center;padding:6px 18px}table{margin:4px 0}th,td{padding:3px 7px}
td.sev1{background:#fbe4e4;color:#8b1d1d}td.sev2{background:#fff4e0}td.overdue{background:#fbe4e4;color:#8b1d1d;font-weight:bold}
.small{display:grid;grid-template-columns:repeat(3,1fr);gap:8px}.small figure{margin:0}.small svg.chart{width:100%;height:auto}
"""  # beside display.BASE_STYLE: a denser page


def render(worklist: Worklist, generated: dt.datetime) -> str:
    """The page's HTML: no script, no font or file fetched."""
    open_ = worklist.open
    key_sites, overdue = int(open_["key_site"].sum()), int(open_["overdue"].sum())
    summary = [("未修复", "open", open_.height), ("重点点位", "at key sites", key_sites), ("超时", "overdue", overdue),
               ("今日新增", "new today", worklist.new.height), ("今日关闭", "closed today", worklist.closed.height),
               ("频繁掉线", "flapping", worklist.flapping.height)]
    cards = "".join(f"<td>{n}<br><span class='en'>{html_text(zh)} {html_text(en)}</span></td>" for zh, en, n in summary)
    missing = (f'<p class="warn">{worklist.day} 未采集 · not harvested: {html_text(", ".join(worklist.missing))} '
               "(their faults are not shown)</p>" if worklist.missing else "")
    scope = f" · {worklist.code}" if worklist.code else ""
    sections = [
        ("一、未修复故障（按旗县区、运维单位）", "Open faults, by banner and maintenance unit", _open_section(worklist)),
        ("二、今日新增", "New today", _table(worklist.new, ("severity", "banner", "unit", "camera", "kind"), "无 · None.")),
        ("三、今日关闭", "Closed today",
         _table(worklist.closed, ("severity", "banner", "unit", "camera", "kind", "since", "closed"), "无 · None.")),
        ("四、频繁掉线的摄像机", "Cameras that flap", _flapping_section(worklist)),
        (f"五、近{TREND_DAYS}天在线率与录像完整率", f"Online rate and recording completeness, last {TREND_DAYS} days",
         _trend_section(worklist)),
    ]
    intro = (f'<p class="sub">Tongliao Sharp Eyes: the daily worklist of camera faults, as they stood at the end of '
             f"{worklist.day}; the open faults are also in the CSV beside this page.</p>{missing}"
             f'<table class="summary"><tr>{cards}</tr></table>')
    return html_page(f"运维工单 {worklist.day}{scope} · Daily worklist", STYLE,
                     f"通辽市雪亮工程 每日运维工单 · {worklist.day}{scope}", intro, sections,
                     "gold.camera_faults, gold.camera_daily_health and gold.banner_daily_kpis", generated)


def worklist_path(reports: Path, day: dt.date, code: str | None = None) -> Path:
    """`reports/worklist/<day>.html`, or `<day>-<code>.html` for one banner; the CSV has the same name."""
    return reports / "worklist" / f"{day}{f'-{code}' if code else ''}.html"


def write_worklist(lake: Lake, day: dt.date, reports: Path, code: str | None = None) -> tuple[Path, Path]:
    """Render the page and the CSV of open faults (each written beside, then swapped in)."""
    worklist = load(lake, day, code)
    page = worklist_path(reports, day, code)
    replace_text(page, render(worklist, dt.datetime.now(LOCAL_TZ)))
    table = page.with_suffix(".csv")
    replace_text(table, open_csv(worklist))
    return page, table
