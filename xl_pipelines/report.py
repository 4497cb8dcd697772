"""The monthly leadership report: one self-contained HTML file per month, in Chinese with English beside.

It only shows gold: outcomes per banner (gold.case_assistance_monthly), the network indicators per banner
against their targets with the ranking (gold.banner_monthly_kpis), the city's daily trend
(gold.city_daily_kpis), the worst cameras (gold.camera_monthly_health), the maintenance units' repairs
(gold.fault_repairs) and the twelve image-fault kinds per banner (gold.image_fault_monthly). Every figure's
cell names the gold table, row and column it shows (`data-gold`), so a test can hold each one against the
lake. Charts are inline SVG; nothing is fetched when it is opened.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from xl_pipelines.charts import bar_chart, line_chart
from xl_pipelines.display import html_page, html_text
from xl_pipelines.gates import load_thresholds
from xl_pipelines.image_faults import FAULT_NAMES
from xl_pipelines.indicators import judged, load_indicators
from xl_pipelines.lake import Lake, replace_text
from xl_pipelines.partitions import month_days
from xl_pipelines.settings import LOCAL_TZ, ConfigError
from xl_pipelines.warehouse import sql_literal, view_sql

OUTCOMES = (
    ("criminal_cases_assisted", "协助破获刑事案件", "criminal cases assisted"),
    ("administrative_cases_assisted", "协助查处治安案件", "administrative cases assisted"),
    ("suspects_caught", "抓获嫌疑人", "suspects caught"),
    ("accident_replays", "事故回放", "accident replays"),
    ("missing_persons_found", "找回走失人员", "missing persons found"),
    ("assistance_served", "便民服务", "assistance served"),
)
TRENDS = ("online_rate", "recording_completeness", "intact_rate")  # the city's days, from the registry's labels
WORST = 10
HISTORY = 12  # months of outcomes in the trend


@dataclass(frozen=True)
class ReportData:
    month: str
    kpis: pl.DataFrame  # gold.banner_monthly_kpis of the month, by rank
    outcomes: pl.DataFrame | None  # gold.case_assistance_monthly of the month (None: export not harvested)
    history: pl.DataFrame  # gold.case_assistance_monthly of the months up to this one, per month (city sums)
    trend: pl.DataFrame  # gold.city_daily_kpis of the month's days
    worst: pl.DataFrame  # gold.camera_monthly_health, the WORST worst cameras
    repairs: pl.DataFrame | None = None  # gold.fault_repairs of the month, by unit_rank (None: not built yet)
    image_faults: pl.DataFrame | None = None  # gold.image_fault_monthly of the month (None: not built yet)


def load(lake: Lake, month: str) -> ReportData:
    """What the report shows for `month`, read from gold; a clear error when its statistics are not built."""
    missing = [t for t in ("banner_monthly_kpis", "camera_monthly_health") if not lake.exists("gold", t, {"month": month})]
    if missing:
        raise ConfigError(f"no network statistics for {month} yet (gold.{', gold.'.join(missing)}): materialise "
                          f"days of that month first, e.g. xl materialize --start {month}-01 --end {month}-07")
    days = month_days(month)
    with lake.connect() as con:
        con.execute(f"SET TimeZone = {sql_literal(str(LOCAL_TZ))}")

        def read(table: str, keys: dict | None = None, where: str = "true", order: str = "1") -> pl.DataFrame:
            return con.sql(f"SELECT * FROM ({view_sql(lake, 'gold', table, keys)}) WHERE {where} ORDER BY {order}").pl()

        kpis = read("banner_monthly_kpis", {"month": month}, order="rank, code")
        has_cases = lake.exists("gold", "case_assistance_monthly", {"month": month})
        outcomes = read("case_assistance_monthly", {"month": month}, order="code") if has_cases else None
        sums = ", ".join(f"sum({c})::BIGINT AS {c}" for c, _, _ in OUTCOMES)
        history = con.sql(
            f"SELECT * FROM (SELECT month, {sums} FROM ({view_sql(lake, 'gold', 'case_assistance_monthly')}) "
            f"WHERE month <= {sql_literal(month)} GROUP BY month ORDER BY month DESC LIMIT {HISTORY}) ORDER BY month"
        ).pl() if has_cases else pl.DataFrame()
        span = f"date BETWEEN {sql_literal(str(days[0]))} AND {sql_literal(str(days[-1]))}"
        trend = (read("city_daily_kpis", where=span, order="date")
                 if lake.table_path("gold", "city_daily_kpis").exists() else pl.DataFrame(schema={"date": pl.Date}))
        worst = read("camera_monthly_health", {"month": month}, where=f"worst_rank <= {WORST}", order="worst_rank")
        repairs = (read("fault_repairs", where=f"month = {sql_literal(month)}", order="unit_rank, code, maintenance_unit")
                   if lake.exists("gold", "fault_repairs", {}) else None)
        image_faults = (read("image_fault_monthly", {"month": month}, order="code")
                        if lake.exists("gold", "image_fault_monthly", {"month": month}) else None)
    return ReportData(month, kpis, outcomes, history, trend, worst, repairs, image_faults)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}%"


def _int(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _cell(table: str, row: str, column: str, text: str, css: str = "") -> str:
    return f'<td class="num {css}" data-gold="{html_text(f"{table}|{row}|{column}")}">{html_text(text)}</td>'


def _both(zh: str, en: str) -> str:
    return f'{html_text(zh)}<br><span class="en">{html_text(en)}</span>'


def _coverage(data: ReportData) -> tuple[str, bool]:
    """The days the statistics cover, and whether the month is partial."""
    days = month_days(data.month)
    first, last = data.kpis["first_day"].min(), data.kpis["last_day"].max()
    covered = int(data.kpis["days"].max() or 0)
    partial = covered < len(days)
    text = (f"统计区间 {first} 至 {last}，本月 {len(days)} 天中的 {covered} 天"
            f"{'（非完整月）' if partial else ''} · Covers {first} … {last}: {covered} of {len(days)} days"
            f"{' — a partial month' if partial else ''}")
    return text, partial


def _outcome_section(data: ReportData) -> str:
    if data.outcomes is None:
        return ('<p class="warn">本月案件数据尚未收到 · The case-management export of this month has not been '
                'harvested: outcomes are left out.</p>')
    head = "".join(f"<th>{_both(zh, en)}</th>" for _, zh, en in OUTCOMES)
    rows = []
    for row in data.outcomes.iter_rows(named=True):
        cells = "".join(_cell("case_assistance_monthly", row["code"], c, _int(row[c])) for c, _, _ in OUTCOMES)
        rows.append(f"<tr><td>{_both(row['banner_name_zh'], row['banner_name'])}</td>{cells}</tr>")
    totals = "".join(_cell("case_assistance_monthly", "total", c, _int(int(data.outcomes[c].sum())))
                     for c, _, _ in OUTCOMES)
    rows.append(f'<tr class="total"><td>{_both("全市合计", "City total")}</td>{totals}</tr>')
    per_banner = bar_chart(
        [n for n in data.outcomes["banner_name_zh"]],
        {"案件 cases": (data.outcomes["criminal_cases_assisted"] + data.outcomes["administrative_cases_assisted"]).to_list(),
         "嫌疑人 suspects": data.outcomes["suspects_caught"].to_list(),
         "事故回放 replays": data.outcomes["accident_replays"].to_list()},
        "outcomes per banner", percent=False)
    months = data.history["month"].to_list()
    history = bar_chart(
        [m[2:] for m in months],
        {"案件 cases": (data.history["criminal_cases_assisted"] + data.history["administrative_cases_assisted"]).to_list(),
         "嫌疑人 suspects": data.history["suspects_caught"].to_list(),
         "事故回放 replays": data.history["accident_replays"].to_list()},
        "outcomes per month", percent=False)
    return (f'<table><tr><th>{_both("旗县区", "Banner")}</th>{head}</tr>{"".join(rows)}</table>'
            f'<div class="charts"><figure>{per_banner}<figcaption>{_both("各旗县区本月成效", "This month, per banner")}'
            f'</figcaption></figure><figure>{history}<figcaption>'
            f'{_both(f"近{len(months)}个月全市成效", f"The city over the last {len(months)} months")}'
            f'</figcaption></figure></div>')


def _ranking_section(data: ReportData) -> str:
    """The judged indicators (quality/indicators.yaml) per banner against their targets, and the ranking."""
    shown = judged()
    head = "".join(f"<th>{_both(i.zh, i.en)}<br><span class='target'>≥ {i.target * 100:g}%</span></th>" for i in shown)
    rows = []
    for row in data.kpis.iter_rows(named=True):
        cells = "".join(
            _cell("banner_monthly_kpis", row["code"], i.name, _pct(row[i.name]),
                  "" if row[i.name] is None else "met" if row[i.name] >= i.target else "missed")
            for i in shown)
        rows.append(f"<tr>{_cell('banner_monthly_kpis', row['code'], 'rank', str(row['rank']))}"
                    f"<td>{_both(row['banner_name_zh'], row['banner_name'])}</td>"
                    f"{_cell('banner_monthly_kpis', row['code'], 'cameras', _int(row['cameras']))}{cells}"
                    f"{_cell('banner_monthly_kpis', row['code'], 'targets_met', str(row['targets_met']))}"
                    f"{_cell('banner_monthly_kpis', row['code'], 'indicators_measured', str(row['indicators_measured']))}</tr>")
    chart = bar_chart([n for n in data.kpis["banner_name_zh"]],
                      {"在线率 online rate": data.kpis["online_rate"].to_list(),
                       "录像完整率 recording": data.kpis["recording_completeness"].to_list()},
                      "online rate per banner", target=load_indicators()["online_rate"].target)
    caption = _both("各旗县区在线率与录像完整率（虚线：在线率目标）",
                    "Online rate and recording completeness per banner (dashed: online-rate target)")
    return (f'<table><tr><th>{_both("排名", "Rank")}</th><th>{_both("旗县区", "Banner")}</th>'
            f'<th>{_both("摄像机", "Cameras")}</th>{head}<th>{_both("达标项", "Targets met")}</th>'
            f'<th>{_both("考核项", "Measured")}</th></tr>'
            f'{"".join(rows)}</table><figure>{chart}<figcaption>'
            f'{caption}</figcaption></figure>')


def _trend_section(data: ReportData) -> str:
    if data.trend.is_empty():
        return ('<p class="warn">全市日指标尚未生成 · No city-wide day of this month is built yet: a city day waits '
                'for all nine banners.</p>')
    labels = [d.strftime("%m-%d") for d in data.trend["date"]]
    trends = [load_indicators()[name] for name in TRENDS]
    chart = line_chart(labels, {f"{i.zh} {i.en}": data.trend[i.name].to_list() for i in trends}, "city trend")
    head = "".join(f"<th>{_both(i.zh, i.en)}</th>" for i in trends)
    rows = "".join(
        f"<tr><td>{row['date']}</td>" + "".join(_cell("city_daily_kpis", str(row["date"]), i.name, _pct(row[i.name]))
                                                 for i in trends) + "</tr>"
        for row in data.trend.iter_rows(named=True))
    return (f'<div class="charts"><figure>{chart}<figcaption>{_both("全市每日趋势", "The city, day by day")}'
            f'</figcaption></figure><table><tr><th>{_both("日期", "Date")}</th>{head}</tr>{rows}</table></div>')


def _worst_section(data: ReportData) -> str:
    rows = "".join(
        f"<tr>{_cell('camera_monthly_health', row['channel_id'], 'worst_rank', str(row['worst_rank']))}"
        f"<td>{html_text(row['code'])}</td><td class='id'>{html_text(row['channel_id'])}</td>"
        f"<td>{html_text(row['name'] or '')}</td>"
        f"{_cell('camera_monthly_health', row['channel_id'], 'online_rate', _pct(row['online_rate']))}"
        f"{_cell('camera_monthly_health', row['channel_id'], 'recording_completeness', _pct(row['recording_completeness']))}"
        f"{_cell('camera_monthly_health', row['channel_id'], 'image_fault_days', _int(row['image_fault_days']))}"
        f"<td>{'<br>'.join(_both(*FAULT_NAMES[kind]) for kind in row['image_fault_kinds'])}</td>"
        f"{_cell('camera_monthly_health', row['channel_id'], 'days', _int(row['days']))}</tr>"
        for row in data.worst.iter_rows(named=True))
    return (f'<table><tr><th>#</th><th>{_both("旗县区", "Banner")}</th><th>{_both("编码", "Camera ID")}</th>'
            f'<th>{_both("名称", "Name")}</th><th>{_both("在线率", "Online rate")}</th>'
            f'<th>{_both("录像完整率", "Recording")}</th><th>{_both("图像故障天数", "Image-fault days")}</th>'
            f'<th>{_both("图像故障类型", "Image faults found")}</th>'
            f'<th>{_both("统计天数", "Days")}</th></tr>{rows}</table>')


REPAIR_UNITS = 15  # maintenance units shown in the ranking
REPAIR_FIGURES = (("opened", "新增故障", "opened", "n"), ("repaired", "已修复", "repaired", "n"),
                  ("still_open", "未修复", "still open", "n"), ("overdue", "超时未修", "overdue", "n"),
                  ("median_repair_h", "修复时长中位数(时)", "median repair, h", "n"),
                  ("p90_repair_h", "90%修复时长(时)", "90th pct repair, h", "n"),
                  ("within_limit_share", "按时修复率", "repaired in time", "pct"),
                  ("longest_open_days", "最长未修(天)", "longest open, days", "n"))


def _repair_section(data: ReportData) -> str:
    """The maintenance units ranked by how fast they repair (gold.fault_repairs of the month)."""
    if data.repairs is None or data.repairs.is_empty():
        return ('<p class="warn">本月无故障修复数据 · No fault episodes for this month yet (gold.fault_repairs is built '
                'from every day harvested).</p>')
    limits = load_thresholds().limits
    rows = []
    for row in data.repairs.head(REPAIR_UNITS).iter_rows(named=True):
        key = f"{row['code']}/{row['maintenance_unit']}"
        cells = "".join(_cell("fault_repairs", key, c, _pct(row[c]) if kind == "pct" else
                              "–" if row[c] is None else f"{row[c]:g}")
                        for c, _, _, kind in REPAIR_FIGURES)
        rows.append(f"<tr>{_cell('fault_repairs', key, 'unit_rank', str(row['unit_rank']))}"
                    f"<td>{html_text(row['code'])}</td><td>{html_text(row['maintenance_unit'])}</td>{cells}</tr>")
    head = "".join(f"<th>{_both(zh, en)}</th>" for _, zh, en, _ in REPAIR_FIGURES)
    note = _both(f"共{data.repairs.height}个运维单位，按时修复率排名；时限：重点点位 {limits['repair_hours_key_site']:g} 小时，"
                 f"其他 {limits['repair_hours']:g} 小时；故障按日判定，修复时长以整天计。",
                 f"{data.repairs.height} maintenance units, ranked by the share repaired within the limit "
                 f"({limits['repair_hours_key_site']:g} h at key sites, {limits['repair_hours']:g} h elsewhere); "
                 "faults are judged by the day, so times to repair are whole days.")
    return (f'<p class="sub">{note}</p><table><tr><th>{_both("排名", "Rank")}</th><th>{_both("旗县区", "Banner")}</th>'
            f'<th>{_both("运维单位", "Maintenance unit")}</th>{head}</tr>{"".join(rows)}</table>')


def _image_fault_section(data: ReportData) -> str:
    """The twelve image-fault kinds (rows) per banner (columns): on how many cameras each was found, and how
    many camera-days were diagnosed at all (no diagnosis is no news, not a sound network)."""
    if data.image_faults is None or data.image_faults.is_empty():
        return '<p class="warn">本月无图像诊断统计 · No image-diagnosis statistics for this month yet.</p>'
    codes = list(dict.fromkeys(data.image_faults["code"]))
    by_key = {(row["code"], row["kind"]): row for row in data.image_faults.iter_rows(named=True)}
    rows = [f"<tr><td>{_both(*names)}</td>"
            + "".join(_cell("image_fault_monthly", f"{code}/{kind}", "cameras", _int(by_key[code, kind]["cameras"]))
                      for code in codes) + "</tr>" for kind, names in FAULT_NAMES.items()]
    first = next(iter(FAULT_NAMES))
    rows.append(f"<tr class='total'><td>{_both('诊断摄像机·天', 'Camera-days diagnosed')}</td>"
                + "".join(_cell("image_fault_monthly", f"{code}/{first}", "diagnosed_days",
                                _int(by_key[code, first]["diagnosed_days"])) for code in codes) + "</tr>")
    head = "".join(f"<th>{html_text(code)}</th>" for code in codes)
    note = _both("各旗县区本月发现该类故障的摄像机数（至少一天）；末行为已诊断的摄像机·天数，为0时该旗县区未诊断。",
                 "Cameras of each banner the diagnosis found the fault on, on at least one day of the month; the last "
                 "row is how many camera-days were diagnosed (0: the banner was not diagnosed, not sound).")
    return (f'<p class="sub">{note}</p><table><tr><th>{_both("故障类型", "Fault")}</th>{head}</tr>'
            f'{"".join(rows)}</table>')


STYLE = """
td.met{background:#e3f4e8}td.missed{background:#fbe4e4;color:#8b1d1d}tr.total td{font-weight:bold;background:#f5f7fa}
.target{color:#8b1d1d;font-weight:normal}.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:8px 0}svg.chart{width:600px;height:auto;background:#fff}
svg .target{stroke:#b23b3b;stroke-dasharray:6 4;stroke-width:1.5}
"""  # beside display.BASE_STYLE


def render(data: ReportData, generated: dt.datetime) -> str:
    """The report's HTML."""
    year, month = data.month.split("-")
    coverage, partial = _coverage(data)
    sections = [
        ("一、视频破案成效", "Outcomes: what video did for policing", _outcome_section(data)),
        ("二、网络指标与排名", "Network indicators against targets, and ranking", _ranking_section(data)),
        ("三、本月趋势", "Trends over the month", _trend_section(data)),
        (f"四、问题最多的{WORST}路摄像机", f"The {WORST} worst cameras of the city", _worst_section(data)),
        ("五、故障修复与运维单位排名", "Faults repaired, and the maintenance units ranked", _repair_section(data)),
        ("六、图像故障类型", "Image faults by kind", _image_fault_section(data)),
    ]
    intro = (f'<p class="sub">Tongliao Sharp Eyes video network — monthly report for leadership, {data.month}</p>'
             f'<p class="{"warn" if partial else "sub"}">{html_text(coverage)}</p>')
    return html_page(f"通辽市雪亮工程月报 {data.month} · Tongliao Sharp Eyes monthly report", STYLE,
                     f"通辽市雪亮工程视频监控网络月报 · {year}年{int(month)}月", intro, sections,
                     "the gold tables; figures as in gold.banner_monthly_kpis, gold.case_assistance_monthly, "
                     "gold.city_daily_kpis and gold.camera_monthly_health", generated)


def report_path(reports: Path, month: str) -> Path:
    return reports / "leadership" / f"{month}.html"


def write_report(lake: Lake, month: str, reports: Path) -> Path:
    """Render `month`'s report to reports/leadership/<month>.html (written beside, then swapped in)."""
    html = render(load(lake, month), dt.datetime.now(LOCAL_TZ))
    target = report_path(reports, month)
    replace_text(target, html)  # a unique temporary name: many `xl report` of one month at once never collide
    return target
