"""The governance team's worklist: fault episodes from the daily facts, repair figures, the page, notifications.

The inputs (gold.camera_daily_health and silver.cameras) are written straight into a lake by hand, one
banner-day at a time; every expected episode below is worked out from those hand-written days.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import http.server
import json
import re
import socket
import threading

import dagster as dg
import numpy as np
import polars as pl
import pytest

from xl_pipelines.banners import load_banners
from xl_pipelines.lake import Lake
from xl_pipelines.sql_models import load_models, run_model

D = dt.date(2026, 10, 29)  # day 0; the month turns between day 2 (10-31) and day 3 (11-01)
A, B = "15050200001320000001", "15050200001320000002"  # Horqin: A a key site, B removed while faulty
C = "15052100001320000003"  # Horqin Left Middle: its banner-day 10-31 was not harvested
HEALTHY = {"point_class": 3, "online_rate": 1.0, "flaps": 0, "clock_skew_s": 0.0, "record_on_rate": 1.0,
           "recording_source": "file", "recording_completeness": 1.0, "retained_days": 40, "required_days": 30,
           "retention_ok": True, "image_faults": [], "annotation_ok": True, "annotation_fault": None}
HEALTH_SCHEMA = {"code": pl.String, "channel_id": pl.String, "name": pl.String, "point_class": pl.Int8, "online_rate": pl.Float64,
                 "flaps": pl.Int64, "clock_skew_s": pl.Float64, "record_on_rate": pl.Float64,
                 "recording_source": pl.String, "recording_completeness": pl.Float64, "retained_days": pl.Int32,
                 "required_days": pl.Int32, "retention_ok": pl.Boolean, "image_faults": pl.List(pl.String),
                 "annotation_ok": pl.Boolean, "annotation_fault": pl.String}
UNITS = {A: "科尔沁区公安局建国派出所", B: "科尔沁区公安局明仁派出所", C: "科左中旗公安局保康派出所"}
NAMES = {A: "科尔沁区建国路与明仁大街交叉口", B: "=HYPERLINK(\"http://x\")", C: "<b>保康镇</b>\u202e"}
MODELS = {m.name: m for m in load_models()}


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


def write_day(lake: Lake, when: dt.date, cameras: dict[str, dict]) -> None:
    """One day's facts: {channel: what differs from a healthy camera}, one partition per banner present."""
    rows = [{**HEALTHY, **facts, "code": channel[:6], "channel_id": channel, "name": NAMES[channel]}
            for channel, facts in cameras.items()]
    frame = pl.DataFrame(rows, schema=HEALTH_SCHEMA)
    for (code,), part in frame.group_by("code"):
        keys = {"date": when.isoformat(), "banner": code}
        lake.write("gold", "camera_daily_health", keys, part)
        lake.write("gold", "banner_daily_kpis", keys, part.select(
            "code", banner_name=pl.lit(load_banners().by_code(code).name_en), online_rate=pl.col("online_rate").mean(),
            recording_completeness=pl.col("recording_completeness").mean()).head(1))
        lake.write("silver", "cameras", keys, part.select(
            "channel_id", "code", management_unit=pl.col("channel_id").replace_strict(UNITS), owner=pl.lit("通辽市公安局")))


OFFLINE = {"online_rate": 0.5, "recording_completeness": 0.5}  # an offline day's recording is not judged
# What each camera showed, day by day (None: not in the facts that day).
STORY = {
    A: [{"point_class": 1}, {**OFFLINE, "point_class": 1}, {**OFFLINE, "point_class": 1}, {**OFFLINE, "point_class": 1},
        {"point_class": 1}, {**OFFLINE, "point_class": 1}, {**OFFLINE, "point_class": 1}],
    B: [{}, {"clock_skew_s": 120.0, "recording_completeness": 0.5}, None, None, None, None, None],
    C: [{}, {"online_rate": 0.2, "image_faults": ["blur"]}, None, {"online_rate": 0.3, "image_faults": None},
        {"image_faults": []}, {"image_faults": ["blur", "too_dark"]}, {"record_on_rate": 0.0}],
}


def write_story(lake: Lake, order: list[int]) -> None:
    for n in order:
        cameras = {channel: days[n] for channel, days in STORY.items() if days[n] is not None}
        if n == 2:  # C's banner was not harvested on 10-31: its partition is simply missing
            cameras.pop(C, None)
        write_day(lake, day(n), cameras)


def faults(lake: Lake) -> pl.DataFrame:
    return run_model(MODELS["camera_faults"], lake, {}, load_banners())


def fault_id(channel: str, kind: str, opened: dt.date) -> str:
    return hashlib.md5(f"{channel}|{kind}|{opened.isoformat()}".encode()).hexdigest()[:16]


def test_episodes_cross_the_month_close_reopen_and_end_when_a_camera_is_removed(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    write_story(lake, range(7))
    table = faults(lake)
    got = {(r["channel_id"], r["kind"], r["opened_on"]): r for r in table.iter_rows(named=True)}
    columns = ("closed_on", "resolution", "days_open", "repair_h", "limit_h", "severity")
    expected = {
        # A, a key site: offline 10-30 … 11-01 across the month's end, back 11-02 (3 days = 72 h against 24 h),
        # offline again 11-03 and still on the latest day, 11-04 (2 days open)
        (A, "offline", day(1)): (day(4), "repaired", 3, 72, 24, 1),
        (A, "offline", day(5)): (None, None, 2, None, 24, 1),
        # B: clock and recording faults on 10-30, gone from the registry 10-31: they end as removed, not repaired;
        # its removal is itself open from 10-31 to 11-04 (5 days)
        (B, "clock_skew", day(1)): (day(2), "removed", 1, None, 72, 3),
        (B, "not_recording", day(1)): (day(2), "removed", 1, None, 72, 3),
        (B, "removed", day(2)): (None, None, 5, None, 72, 3),
        # C: offline 10-30, its banner not harvested 10-31, offline 11-01, back 11-02: one episode of 3 days;
        # blur 10-30, not diagnosed 11-01, sound 11-02: one episode; blur and too dark 11-03, then not diagnosed
        # and no day since: open (2 days to 11-04); Record OFF while online all 11-04: not recording
        (C, "offline", day(1)): (day(4), "repaired", 3, 72, 72, 3),
        (C, "image_blur", day(1)): (day(4), "repaired", 3, 72, 72, 3),
        (C, "image_blur", day(5)): (day(6), "repaired", 1, 24, 72, 3),
        (C, "image_too_dark", day(5)): (day(6), "repaired", 1, 24, 72, 3),
        (C, "not_recording", day(6)): (None, None, 1, None, 72, 3),
    }
    assert {key: tuple(row[c] for c in columns) for key, row in got.items()} == expected
    # C's image faults on 11-04: [] is diagnosed sound, so both close on 11-04
    assert got[(C, "not_recording", day(6))]["measure"] == "record_on_rate"
    assert (got[(C, "not_recording", day(6))]["value"], got[(C, "not_recording", day(6))]["limit_value"]) == (0.0, 0.9)
    assert (got[(A, "offline", day(1))]["value"], got[(A, "offline", day(1))]["limit_value"]) == (0.5, 0.9)
    assert got[(B, "clock_skew", day(1))]["value"] == 120.0
    assert got[(B, "removed", day(2))]["maintenance_unit"] == UNITS[B]  # its unit as last registered
    assert got[(A, "offline", day(5))]["as_of"] == day(6)
    assert [got[k]["fault_id"] for k in expected] == [fault_id(*k) for k in expected]
    assert table["fault_id"].n_unique() == table.height


def test_a_backfill_in_any_order_converges_to_the_same_table(tmp_path):
    """Days materialised out of order: once all are in, the table is the in-order one (the asset keeps nothing
    between runs, so it runs after the third day and the last); on the way, a missing day neither opens nor
    closes an episode."""
    in_order, shuffled = Lake(str(tmp_path / "a")), Lake(str(tmp_path / "b"))
    write_story(in_order, range(7))
    expected = faults(in_order)
    from assets.gold import HISTORY_ASSETS
    from xl_pipelines.resources import LakeResource, ReportsResource

    asset = next(a for a in HISTORY_ASSETS if a.key == dg.AssetKey(["gold", "camera_faults"]))
    for step, n in enumerate([4, 1, 6, 0, 3, 2, 5]):
        write_story(shuffled, [n])
        if step not in (2, 6):
            continue
        reports = ReportsResource(root=str(tmp_path / "reports"))
        assert dg.materialize([asset], resources={"lake": LakeResource(url=shuffled.url), "reports": reports}).success
        if step == 2:  # 10-30, 11-02 and 11-04 so far: A offline 10-30 (10-31, 11-01 not in yet), sound 11-02,
            # offline 11-04; once 11-03 arrives, the second episode opens a day earlier (another fault_id)
            partial = shuffled.read("gold", "camera_faults", {}).filter(channel_id=A, kind="offline")
            assert partial.select("opened_on", "closed_on").rows() == [(day(1), day(4)), (day(6), None)]
    assert shuffled.read("gold", "camera_faults", {}).equals(expected)


def episode(unit: str, opened: dt.date, closed: dt.date | None, key_site: bool = False,
            resolution: str | None = "repaired", as_of: dt.date = dt.date(2026, 11, 30)) -> dict:
    limit = 24 if key_site else 72
    repair = (closed - opened).days * 24 if closed and resolution == "repaired" else None
    return {"fault_id": f"{unit}{opened}{closed}", "code": "150502", "maintenance_unit": unit, "opened_on": opened,
            "closed_on": closed, "resolution": resolution if closed else None, "limit_h": limit, "repair_h": repair,
            "key_site": key_site, "as_of": as_of,
            "overdue_from": opened + dt.timedelta(days=limit // 24)}  # open 1 (3) whole days: 24 (72) h, not yet over


def test_repair_figures_median_p90_limit_share_and_longest_open(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    nov = dt.date(2026, 11, 1)
    u = "甲派出所"
    episodes = [
        episode(u, nov, nov + dt.timedelta(days=1), key_site=True),  # 24 h, key site: within 24 h
        episode(u, nov, nov + dt.timedelta(days=1)),  # 24 h: within 72 h
        episode(u, nov, nov + dt.timedelta(days=2), key_site=True),  # 48 h: over 24 h
        episode(u, nov, nov + dt.timedelta(days=3)),  # 72 h: within 72 h (at the limit)
        episode(u, dt.date(2026, 10, 25), dt.date(2026, 11, 4)),  # opened in October, 10 days = 240 h: over 72 h
        episode(u, dt.date(2026, 10, 20), None),  # open since 10-20 (other point, 72 h limit)
        episode(u, nov, nov + dt.timedelta(days=5), resolution="removed"),  # closed by removal: not a repair
        episode("乙派出所", nov, nov + dt.timedelta(days=2)),  # 48 h within 72 h: all of its one repair in time
    ]
    lake.write("gold", "camera_faults", {}, pl.DataFrame(episodes))
    table = run_model(MODELS["fault_repairs"], lake, {}, load_banners())
    rows = {(r["month"], r["maintenance_unit"]): r for r in table.iter_rows(named=True)}
    columns = ("opened", "closed", "repaired", "still_open", "overdue", "median_repair_h", "p90_repair_h",
               "within_limit_share", "longest_open_days", "unit_rank", "as_of")
    # November, 甲: 5 opened (two more in October), 6 closed (one by removal); repairs 24, 24, 48, 72, 240 h →
    # median 48; P90 at position 0.9 × 4 = 3.6 between 72 and 240:
    # 72 + 0.6 × 168 = 172.8; within limit 3 of 5; still open at 11-30 only the one of 10-20: 42 days (> 72 h)
    assert tuple(rows["2026-11", u][c] for c in columns) == (
        5, 6, 5, 1, 1, 48.0, pytest.approx(172.8), 0.6, 42, 2, dt.date(2026, 11, 30))
    assert tuple(rows["2026-11", "乙派出所"][c] for c in columns) == (1, 1, 1, 0, 0, 48.0, 48.0, 1.0, None, 1,
                                                                   dt.date(2026, 11, 30))
    # October, 甲: opened 10-20 and 10-25, both open at 10-31 (12 and 7 days: both past 72 h); nothing repaired
    assert tuple(rows["2026-10", u][c] for c in columns) == (2, 0, 0, 2, 2, None, None, None, 12, 1,
                                                              dt.date(2026, 10, 31))
    assert ("2026-10", "乙派出所") not in rows  # nothing opened, closed or open that month


@pytest.fixture(scope="module")
def story_lake(tmp_path_factory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("story") / "lake"))
    write_story(lake, range(7))
    lake.write("gold", "camera_faults", {}, faults(lake))
    return lake


def test_the_worklist_of_a_day_lists_what_was_open_then_by_banner_and_unit(story_lake):
    from xl_pipelines.worklist import load

    on = load(story_lake, day(5))  # 11-03
    # open at the end of 11-03: A offline (opened that day; a key site, 1 day = 24 h: not over 24 h),
    # B removed since 10-31 (4 days = 96 h > 72 h: overdue), C blur and too dark (opened that day)
    assert on.open.select("channel_id", "kind", "opened_on", "days_open", "overdue").rows() == [
        (A, "offline", day(5), 1, False), (B, "removed", day(2), 4, True),
        (C, "image_blur", day(5), 1, False), (C, "image_too_dark", day(5), 1, False)]
    assert on.new.select("channel_id", "kind").rows() == [(A, "offline"), (C, "image_blur"), (C, "image_too_dark")]
    others = sorted(set(load_banners().codes) - {"150502", "150521"})  # never harvested in this lake
    assert on.closed.is_empty() and on.missing == others
    closing = load(story_lake, day(4))  # 11-02: A's and C's offline and C's first blur end
    assert sorted(closing.closed.select("channel_id", "kind").rows()) == [(A, "offline"), (C, "image_blur"), (C, "offline")]
    assert closing.open.select("channel_id", "kind").rows() == [(B, "removed")]
    gap = load(story_lake, day(2))  # 10-31: C's banner not harvested: named, its faults not shown
    assert gap.missing == sorted([*others, "150521"]) and set(gap.open["code"]) == {"150502"}
    one = load(story_lake, day(5), code="150521")
    assert set(one.open["channel_id"]) == {C} and one.trend["code"].unique().to_list() == ["150521"]


def test_the_csv_of_open_faults_is_safe_in_a_spreadsheet_and_the_page_escapes_names(story_lake, tmp_path):
    import csv

    from xl_pipelines.worklist import write_worklist

    page, table = write_worklist(story_lake, day(5), tmp_path)
    assert (page.name, table.name) == ("2026-11-03.html", "2026-11-03.csv")
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [(r["channel_id"], r["kind"], r["days_open"], r["overdue"]) for r in rows] == [
        (A, "offline", "1", "false"), (B, "removed", "4", "true"), (C, "image_blur", "1", "false"),
        (C, "image_too_dark", "1", "false")]
    assert rows[1]["name"] == "'" + NAMES[B]  # a formula is neutralised
    assert rows[0]["fault_id"] == fault_id(A, "offline", day(5))
    text = page.read_text(encoding="utf-8")
    assert "<b>保康镇</b>" not in text and "&lt;b&gt;保康镇&lt;/b&gt;\\u202e" in text  # markup and bidi shown, not run
    assert not re.search(r"<script|\bsrc=|href=|url\(|@import", text)  # nothing run or fetched


def test_xl_worklist_says_one_line_for_a_day_not_harvested(story_lake, tmp_path, monkeypatch, capsys):
    from xl_pipelines.cli import main

    monkeypatch.setenv("XL_HOME", str(tmp_path))
    monkeypatch.setenv("XL_LAKE_URL", story_lake.url)
    assert main(["worklist", "--date", "2026-12-01"]) == 2
    assert capsys.readouterr().err == ("xl: error: 2026-12-01 is not harvested for any banner: run xl materialize "
                                       "--start 2026-12-01 --end 2026-12-01\n")
    assert main(["worklist", "--date", "2026-11-03", "--banner", "150521"]) == 0
    assert (tmp_path / "reports" / "worklist" / "2026-11-03-150521.html").exists()
    assert main(["worklist", "--date", "2026-11-03", "--banner", "999999"]) == 2


def test_the_worklist_renders_in_a_real_browser(story_lake, tmp_path):
    """Headless Chromium, network off, draws the page: ink, the red of overdue and key-site cells, the blue of the
    30-day lines."""
    from tests.conftest import screenshot
    from xl_pipelines.worklist import write_worklist

    page, _ = write_worklist(story_lake, day(5), tmp_path)
    pixels = screenshot(page, tmp_path, 1200, 1800)
    assert pixels.shape == (1800, 1200, 3)
    assert (pixels.sum(axis=2) < 600).mean() > 0.01
    red = (pixels[..., 0] > pixels[..., 1] + 40) & (pixels[..., 0] > pixels[..., 2] + 40)
    blue = pixels[..., 2] > pixels[..., 0] + 60
    assert red.mean() > 0.0005 and blue.mean() > 0.0005


class Robot(http.server.BaseHTTPRequestHandler):
    """A group robot on 127.0.0.1: keeps each JSON body; answers errcode 0, or 310000 while `refuse` is set."""

    received: list = []
    refuse = False

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        answer = {"errcode": 310000, "errmsg": "keywords not in content"} if self.refuse else {"errcode": 0, "errmsg": "ok"}
        self.send_response(200)
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def robot():
    Robot.received, Robot.refuse = [], False
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Robot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/robot/send?access_token=t"
    server.shutdown()
    server.server_close()


@pytest.fixture
def relay():
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=email.policy.default)))
            return "250 OK"

    with socket.socket() as probe:  # a free port (the controller checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def _channels(tmp_path, webhook: str, port: int) -> str:
    path = tmp_path / "notifications.yaml"
    path.write_text(f"webhook: {{enabled: true, url: '{webhook}', timeout_s: 2}}\n"
                    f"mail: {{enabled: true, host: 127.0.0.1, port: {port}, sender: xl@test.internal, "
                    f"recipients: [governance@test.internal], timeout_s: 2}}\n")
    return str(path)


def _evaluate(story_lake, cursor=None):
    from assets.worklist import notify
    from xl_pipelines.resources import LakeResource

    context = dg.build_sensor_context(cursor=cursor, resources={"lake": LakeResource(url=story_lake.url)})
    result = notify(context)
    return result, context.cursor


def test_notifications_reach_a_real_robot_and_relay_once_per_event(story_lake, robot, relay, tmp_path, monkeypatch):
    port, inbox = relay
    monkeypatch.setenv("XL_NOTIFICATIONS", _channels(tmp_path, robot, port))
    result, cursor = _evaluate(story_lake)
    # banner-days under an alert level (online 95 %, recording 95 %), by hand from the story: Horqin 10-30
    # (online 75 %, recording 50 %), 10-31, 11-01, 11-03, 11-04 (A alone offline: 50 %, 50 %): 10; Horqin Left
    # Middle 10-30 (20 %) and 11-01 (30 %) online: 2; A's offline open since 11-03, 2 days at a key site: 1
    assert len(Robot.received) == len(inbox.messages) == 13
    assert result.skip_message == "26 message(s) sent, 0 failed"
    kinds, bodies = zip(*Robot.received, strict=True)
    assert set(kinds) == {"application/json; charset=utf-8"}
    assert all(set(b) == {"msgtype", "text"} and b["msgtype"] == "text" and set(b["text"]) == {"content"} for b in bodies)
    overdue = [b["text"]["content"] for b in bodies if b["text"]["content"].startswith("Key site")]
    assert overdue == [f"Key site {A} (150502, {UNITS[A]}): offline open since 2026-11-03, 2 days by 2026-11-04, past its "
                       f"limit of 24 h. Fault {fault_id(A, 'offline', day(5))}."]
    rcpt, mail = inbox.messages[0]
    assert rcpt == ["governance@test.internal"] and mail["From"] == "xl@test.internal"
    assert mail["Subject"] == "[xl] Horqin District online_rate 75.00% < 95% on 2026-10-30"
    _evaluate(story_lake, cursor)  # nothing new: nothing sent twice
    assert len(Robot.received) == len(inbox.messages) == 13


def test_a_failing_channel_never_fails_and_is_tried_again(story_lake, robot, relay, tmp_path, monkeypatch):
    port, inbox = relay
    monkeypatch.setenv("XL_NOTIFICATIONS", _channels(tmp_path, robot, port))
    Robot.refuse = True  # the robot answers 200 with an errcode: not delivered
    _, cursor = _evaluate(story_lake)
    assert len(Robot.received) == len(inbox.messages) == 13
    Robot.refuse = False
    _, cursor = _evaluate(story_lake, cursor)  # the robot again, the relay not again
    assert len(Robot.received) == 26 and len(inbox.messages) == 13
    monkeypatch.setenv("XL_NOTIFICATIONS", _channels(tmp_path, "http://127.0.0.1:9/closed", port + 1))
    result, _ = _evaluate(story_lake)  # nothing listening at all: still no exception
    assert result.skip_message == "0 message(s) sent, 26 failed"


def test_notifications_are_off_by_default(story_lake, monkeypatch):
    monkeypatch.delenv("XL_NOTIFICATIONS", raising=False)
    result, cursor = _evaluate(story_lake)
    assert isinstance(result, dg.SkipReason) and "no notification channel is enabled" in result.skip_message
    assert cursor is None


def test_the_worklist_schedule_asks_for_yesterday_after_the_harvest_deadline():
    from assets.worklist import daily_worklist
    from xl_pipelines.settings import LOCAL_TZ

    at = dt.datetime(2026, 11, 21, 7, 0, tzinfo=LOCAL_TZ)
    request = daily_worklist(dg.build_schedule_context(scheduled_execution_time=at))
    assert (request.partition_key, daily_worklist.cron_schedule) == ("2026-11-20", "0 7 * * *")


def test_simulated_faults_live_for_days_at_their_units_pace():
    """Cameras break and stay broken until repaired: lives of several days, a few for weeks, a slow unit's
    longer than a quick one's; a day's answer is the same whatever other days are asked."""
    from xl_pipelines.simulator.faults import LONGEST_LIFE, broken_cameras, unit_pace

    units = ["甲派出所", "乙派出所"] * 800
    paces = unit_pace(7, "甲派出所"), unit_pace(7, "乙派出所")
    days = [dt.date(2026, 9, 1) + dt.timedelta(days=i) for i in range(80)]
    broken = np.array([(lambda b: b.offline | b.silent)(broken_cameras(7, "150502", d, units)) for d in days])
    later = broken_cameras(7, "150502", days[60], units)
    assert np.array_equal(later.offline | later.silent, broken[60])  # asked alone, the same
    assert not (later.offline & later.silent).any()
    # lives: runs of broken days per camera, those begun after the first LONGEST_LIFE days and ended in the window
    lives = {0: [], 1: []}
    for camera in range(len(units)):
        column = np.concatenate(([False], broken[:, camera], [False]))
        edges = np.flatnonzero(column[1:] != column[:-1])
        lives[camera % 2] += [int(stop - start) for start, stop in zip(edges[::2], edges[1::2], strict=True)
                              if start >= LONGEST_LIFE and stop < len(days)]
    every = lives[0] + lives[1]
    assert len(every) > 60 and max(every) >= 14 and np.median(every) >= 1
    slow, quick = (0, 1) if paces[0] > paces[1] else (1, 0)
    assert abs(paces[0] - paces[1]) > 0.5  # the two units' paces differ (drawn from the seed)
    assert np.mean(lives[slow]) > np.mean(lives[quick])
