"""The simulator: deterministic, in the native formats the landing-zone contract names, with planned faults."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from xl_pipelines.banners import load_banners
from xl_pipelines.simulator import DEFAULT_SEED, simulate
from xl_pipelines.simulator.city import CHANNEL_TYPES, UNREGISTERED_SERIALS, build_city, split_cameras
from xl_pipelines.simulator.faults import (
    CAPTURE_FAULTS,
    CATALOG_FAULTS,
    FAULT_CHANCE,
    FAULT_CHANCES,
    FAULTS,
    FORCED_FAULT_EVERY,
    OUTAGE_POLLS,
    plan_day,
)
from xl_pipelines.simulator.platforms import platform_of
from xl_pipelines.simulator.revisions import registry_on
from xl_pipelines.simulator.seeding import stream
from xl_pipelines.simulator.status import OFFLINE, ONLINE, POLLS_PER_DAY, day_states

DAYS = [dt.date(2026, 11, 19), dt.date(2026, 11, 20), dt.date(2026, 11, 21)]
CAMERAS = 200  # enough for the largest banners to need more than one catalog page
BANNERS = load_banners()
PAGE_NAME = re.compile(r"^(\d{8}T\d{6})-(\d+)-(\d+)\.xml$")
DECLARATION = re.compile(rb'^<\?xml version="1\.0" encoding="([^"]+)"\?>')
KNOWN_STATUS = {"ON", "ONLINE", "OFF", "VLOST", "DEFECT"}


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    counts = simulate(root, root / "recordings", DAYS, cameras=CAMERAS)
    csvs = sorted(root.glob("status/*/*/*.csv"))
    assert counts["status_files"] == len(csvs)
    assert counts["catalog_pages"] + counts["catalog_notifications"] == len(list(root.glob("catalog/*/*/*.xml")))
    assert counts["device_status_files"] == len(list(root.glob("devicestatus/*/*/*.xml")))
    assert counts["status_rows"] == sum(len(p.read_bytes().splitlines()) - 1 for p in csvs)
    return root


def tree_digest(root: Path, under: str = "") -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and under in p.as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def banner_days():
    return [(day, index, banner.code) for day in DAYS for index, banner in enumerate(BANNERS.banners)]


def read_pages(
    folder: Path, seen: set[str] | None = None, recover: bool = False
) -> list[tuple[re.Match, bytes, etree._Element | None, etree._Element]]:
    """(name match, bytes, strict parse or None when it fails, lenient parse) per catalog page, in page order.

    Change notifications are left out. Files that are no catalog page of the day's one catalog are left out
    and their fault added to `seen`: bytes that do not decode as declared, a stray DeviceStatus response,
    the second copy of a re-sent page.
    With `recover`, a misencoded page is read in the encoding it really has (the other of UTF-8 and GBK).
    """
    seen = set() if seen is None else seen
    pages, numbers = [], set()
    for path in sorted(folder.glob("*.xml")):
        data = path.read_bytes()
        try:
            data.decode(DECLARATION.match(data).group(1).decode())
        except UnicodeDecodeError:
            seen.add("wrong_encoding_page")
            if not recover:
                continue
            for actual in ("utf-8", "gbk"):
                try:
                    data = data.decode(actual).split("?>", 1)[1].encode("utf-8")
                    break
                except UnicodeDecodeError:
                    pass
        try:
            strict = etree.fromstring(data)
        except etree.XMLSyntaxError:
            strict = None
        lenient = etree.fromstring(data, etree.XMLParser(recover=True))
        name = PAGE_NAME.match(path.name)
        if lenient.tag == "Notify":
            continue
        if lenient.findtext("CmdType") != "Catalog":
            seen.add("stray_response")
        elif name.group(3) in numbers:
            seen.add("resent_page")
        else:
            numbers.add(name.group(3))
            pages.append((name, data, strict, lenient))
    return sorted(pages, key=lambda page: int(page[0].group(3)))


def notifications(folder: Path) -> list[Path]:
    """The catalog change notifications among a catalog folder's files."""
    return [path for path in folder.glob("*.xml") if b"<Notify>" in path.read_bytes()]


def complete_items(lenient: etree._Element) -> list[etree._Element]:
    """Items a lenient parse recovered whole: the truncated page's last one lost its Name and what follows."""
    return [item for item in lenient.iter("Item") if item.find("Name") is not None]


def items_of(folder: Path) -> list[etree._Element]:
    return [item for *_, lenient in read_pages(folder, recover=True) for item in complete_items(lenient)]


def read_polls(folder: Path) -> dict[str, tuple[list[list[str]], bytes]]:
    """{HHMM: (rows split on commas, the file's bytes)}."""
    polls = {}
    for path in folder.glob("*.csv"):
        data = path.read_bytes()
        lines = data.decode("ascii").split("\n")
        separator = ";" if lines[0] == "channel_id;polled_at;status" else ","  # the garbled-export fault
        assert lines[0] == separator.join(["channel_id", "polled_at", "status"])
        polls[path.stem] = ([line.split(separator) for line in lines[1:] if line], data)
    return polls


def parses_as_iso(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def stamp(day: dt.date, hhmm: str) -> str:
    return f"{day.isoformat()}T{hhmm[:2]}:{hhmm[2:]}:00+08:00"


def test_same_arguments_give_the_same_bytes_whatever_else_is_simulated(tmp_path, landing):
    """A rerun of one day reproduces the bytes of the three-day run, and replaces another seed's files; a day
    simulated for its registry alone (the demo's day before) has the same catalog and nothing else."""
    day, folder = [DAYS[-1]], DAYS[-1].isoformat()
    simulate(tmp_path, tmp_path / "recordings", day, cameras=CAMERAS, seed=1)
    assert tree_digest(tmp_path, folder) != tree_digest(landing, folder)
    simulate(tmp_path, tmp_path / "recordings", [DAYS[0], *day], cameras=CAMERAS, registry_only=[DAYS[0]])
    assert tree_digest(tmp_path, folder) == tree_digest(landing, folder)
    first = DAYS[0].isoformat()
    assert tree_digest(tmp_path, f"catalog/{first}/") == tree_digest(landing, f"catalog/{first}/")
    assert {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file() and first in p.as_posix()} \
        == {"catalog"}


def test_cameras_split_by_weight_and_add_up():
    assert split_cameras(10, [1, 1, 1]) == [4, 3, 3]
    weights = [b.weight for b in BANNERS.banners]
    for total in (9, 90, 1500, 30000):
        parts = split_cameras(total, weights)
        assert sum(parts) == total
        assert all(abs(p - total * w / sum(weights)) < 1 for p, w in zip(parts, weights))


def test_every_page_declares_its_encoding_and_decodes_with_it_but_the_injected_one(landing):
    seen = set()
    for folder in landing.glob("catalog/*/*"):
        pages = read_pages(folder)
        responses = [p for p in folder.glob("*.xml") if b"<Notify>" not in p.read_bytes()]
        assert len(responses) - len(pages) <= 3  # at most one wrong-encoding, stray, re-sent file
        for _, data, _, _ in pages:
            encoding = DECLARATION.match(data).group(1).decode()
            text = data.decode(encoding)
            seen.add(encoding)
            for name in re.findall(r"<Name>([^<]*)</Name>", text):
                name.encode("gb2312")  # every platform's names stay within GB2312, whatever it encodes them with
    assert seen == {"GB2312", "GBK", "UTF-8"}


def test_pages_share_one_sn_and_their_counts_add_up_to_sumnum(landing):
    checked_complete = checked_truncated = multi_page = 0
    for day, _, code in banner_days():
        lost: set[str] = set()
        pages = read_pages(landing / "catalog" / day.isoformat() / code, lost)
        multi_page += len(pages) > 1
        if not pages:  # a one-page catalog whose page was misencoded
            assert "wrong_encoding_page" in lost
            continue
        numbers = [int(name.group(3)) for name, *_ in pages]
        assert numbers == sorted(set(numbers)) and len(numbers) >= max(numbers) - ("wrong_encoding_page" in lost)
        assert len({name.group(2) for name, *_ in pages}) == 1
        assert all(name.group(1).startswith(f"{day:%Y%m%d}T020") for name, *_ in pages)
        sums = {int(lenient.findtext("SumNum")) for *_, lenient in pages}
        assert len(sums) == 1
        total = sums.pop()
        broken = [lenient for _, _, strict, lenient in pages if strict is None]
        for _, _, strict, _ in pages:
            if strict is not None:
                assert int(strict.find("DeviceList").get("Num")) == len(strict.findall("DeviceList/Item")) <= 40
        items = sum(len(complete_items(lenient)) for *_, lenient in pages)
        if broken or "wrong_encoding_page" in lost:
            assert len(broken) <= 1 and items < total
            checked_truncated += 1
        else:
            assert sum(int(strict.find("DeviceList").get("Num")) for _, _, strict, _ in pages) == total == items
            checked_complete += 1
    assert checked_complete and checked_truncated and multi_page


def test_ids_are_20_digits_and_map_to_their_banner_except_the_injected_faults(landing):
    for day, _, code in banner_days():
        ids = [item.findtext("DeviceID") for item in items_of(landing / "catalog" / day.isoformat() / code)]
        bad = [i for i in ids if not (len(i) == 20 and i.isdigit() and BANNERS.unit_of(i) == code)]
        assert len(bad) <= 3, bad  # a short ID, an unknown unit, a camera of another banner
        assert all(len(i) == 19 or BANNERS.unit_of(i) != code for i in bad)
        polls = read_polls(landing / "status" / day.isoformat() / code)
        short = [row[0] for rows, _ in polls.values() for row in rows if len(row) == 3 and len(row[0]) != 20]
        assert len(short) <= 1 and all(len(i) == 19 for i in short)
        bare = [row for rows, _ in polls.values() for row in rows if len(row) != 3]
        assert len(bare) <= 1 and all(len(row) == 1 and len(row[0]) < 20 for row in bare)


def test_development_zone_cameras_are_filed_under_horqin_grassroots_unit_71(landing):
    zone = [code for code, unit in BANNERS.id_prefixes.items() if unit == "150571"]
    assert zone == ["15050271"]
    for day in DAYS:
        ids = [item.findtext("DeviceID") for item in items_of(landing / "catalog" / day.isoformat() / "150571")]
        well_formed = [i for i in ids if len(i) == 20 and BANNERS.unit_of(i) is not None]
        assert well_formed and all(i.startswith("15050271") for i in well_formed)


def test_the_registry_holds_every_camera_and_changes_only_by_its_revisions(landing):
    """Each day's catalog shows the cameras as revisions.py says they stood at 02:00, and a camera revised
    that day arrives in an UPDATE notification as revised."""
    city = build_city(BANNERS, CAMERAS, DEFAULT_SEED)
    names: dict[str, set[str]] = {}
    updated = 0
    for day, index, code in banner_days():
        at_catalog, at_end, updates = registry_on(city[index], day, DEFAULT_SEED)
        expected = {c.device_id: c.name for c in at_catalog.channels}
        for item in items_of(landing / "catalog" / day.isoformat() / code):
            device_id = item.findtext("DeviceID")
            if device_id in expected:
                assert item.findtext("Name") == expected[device_id]
                names.setdefault(device_id, set()).add(item.findtext("Name"))
        notified = {}
        for path in notifications(landing / "catalog" / day.isoformat() / code):
            for item in etree.fromstring(path.read_bytes()).iter("Item"):
                if item.findtext("Event") == "UPDATE":
                    notified[item.findtext("DeviceID")] = item.findtext("Name")
        assert notified == {u.device.device_id: u.device.name for u in updates}
        updated += len(updates)
        assert {c.device_id: c.name for c in at_end.channels} == expected | notified
    assert len(names) == CAMERAS
    assert all(len(n) <= 2 for n in names.values())
    assert updated >= 1  # a few revisions a day in a city: at least one in three days of 200 cameras


def test_status_events_announce_the_state_the_next_poll_sees(landing):
    words = {"OFF": "OFF", "VLOST": "VLOST", "DEFECT": "DEFECT"}
    checked = 0
    for day, _, code in banner_days():
        polls = read_polls(landing / "status" / day.isoformat() / code)
        online = platform_of(BANNERS.by_code(code)).online_word
        for path in notifications(landing / "catalog" / day.isoformat() / code):
            root = etree.fromstring(path.read_bytes())
            received = dt.datetime.strptime(path.name[:15], "%Y%m%dT%H%M%S")
            poll = received + dt.timedelta(minutes=5 - received.minute % 5, seconds=-received.second)
            rows = polls.get(f"{poll:%H%M}")
            for item in root.iter("Item"):
                event = item.findtext("Event")
                if event == "UPDATE" or rows is None:
                    continue
                status = {r[0]: r[2] for r in rows[0] if len(r) == 3}.get(item.findtext("DeviceID"))
                assert status == words.get(event, online), (path, event)
                checked += 1
    assert checked > 50


def test_devices_answer_device_status_hourly_with_mostly_right_clocks(landing):
    city = build_city(BANNERS, CAMERAS, DEFAULT_SEED)
    for day, index, code in banner_days():
        devices = {c.device_id if c.type_code == "132" else c.parent_id for c in city[index].channels}
        skews, hours = [], Counter()
        for path in (landing / "devicestatus" / day.isoformat() / code).glob("*.xml"):
            received = dt.datetime.strptime(path.name[:15], "%Y%m%dT%H%M%S")
            device = path.name[16:36]
            try:
                root = etree.fromstring(path.read_bytes())
            except etree.XMLSyntaxError:
                continue  # the truncated-response fault
            assert root.findtext("DeviceID") == device and root.findtext("CmdType") == "DeviceStatus"
            hours[(device, received.hour)] += 1
            if device in devices and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", root.findtext("DeviceTime")):
                skews.append((dt.datetime.fromisoformat(root.findtext("DeviceTime")) - received).total_seconds())
        assert max(hours.values()) == 1  # one answer per device and hour
        assert {d for d, _ in hours} <= devices | {d for d, _ in hours if d not in devices and d[14:] >= "900000"}
        assert np.mean(np.abs(skews) <= 5) > 0.9  # NTP-synchronised, but for a few drifting or reset clocks


def test_status_polls_report_catalog_channels_only(landing):
    channels = {
        item.findtext("DeviceID")
        for path in landing.glob("catalog/*/*")
        for item in items_of(path)
        if (item.findtext("DeviceID") or "")[10:13] in CHANNEL_TYPES
    }
    for day, _, code in banner_days():
        ids = {row[0] for rows, _ in read_polls(landing / "status" / day.isoformat() / code).values() for row in rows}
        unknown = {i for i in ids if len(i) == 20} - channels
        assert len(unknown) <= 1  # the unregistered-camera fault


def test_editions_differ_by_banner(landing):
    for day, _, code in banner_days():
        edition = platform_of(BANNERS.by_code(code)).edition
        cameras = [i for i in items_of(landing / "catalog" / day.isoformat() / code) if i.find("Info") is not None]
        has_point_type = {i.find("Info/PointType") is not None for i in cameras}
        assert has_point_type == ({True} if edition >= 2022 else {False})


def test_coordinates_have_six_decimals_and_mostly_lie_in_their_banner():
    for registry in build_city(BANNERS, 3000, DEFAULT_SEED):
        lon_min, lat_min, lon_max, lat_max = registry.banner.bbox
        inside = [
            c.longitude is not None and lon_min <= c.longitude <= lon_max and lat_min <= c.latitude <= lat_max
            for c in registry.channels
        ]
        assert 0.9 <= np.mean(inside) < 1  # a few annotation faults are part of the simulation
        assert all(c.longitude is None or round(c.longitude, 6) == c.longitude for c in registry.channels)


def test_status_files_cover_the_day_but_for_one_outage_and_share_one_polled_at(landing):
    outages = 0
    for day, _, code in banner_days():
        polls = read_polls(landing / "status" / day.isoformat() / code)
        all_polls = [f"{m // 60:02d}{m % 60:02d}" for m in range(0, 24 * 60, 5)]
        assert set(polls) <= set(all_polls)
        missing = [i for i, hhmm in enumerate(all_polls) if hhmm not in polls]
        if missing:
            outages += 1
            assert missing == list(range(missing[0], missing[-1] + 1))
            assert OUTAGE_POLLS[0] <= len(missing) <= OUTAGE_POLLS[1]
        for hhmm, (rows, _) in polls.items():
            other_day = (f"{day.year + 10}", (day - dt.timedelta(days=1)).isoformat())  # two injected faults
            odd = [row[1] for row in rows if len(row) == 3 and row[1] != stamp(day, hhmm)
                   and not row[1].startswith(other_day)]
            assert len(odd) <= 1 and not any(parses_as_iso(t) for t in odd)
    assert outages >= 1


def test_injected_faults_appear_where_planned(landing):
    """Every fault the plan names shows in the files, and no other (a truncated page may swallow an item fault)."""
    registered = {c.device_id for r in build_city(BANNERS, CAMERAS, DEFAULT_SEED) for c in r.channels}
    for day, index, code in banner_days():
        plan = plan_day(DEFAULT_SEED, day, code, index, len(BANNERS.banners), POLLS_PER_DAY)
        seen: set[str] = set()
        pages = read_pages(landing / "catalog" / day.isoformat() / code, seen)
        if any(strict is None for _, _, strict, _ in pages):
            seen.add("truncated_page")
        for *_, lenient in pages:
            for item in complete_items(lenient):
                device_id, longitude = item.findtext("DeviceID"), item.findtext("Longitude")
                if len(device_id) == 19:
                    seen.add("short_device_id")
                elif BANNERS.unit_of(device_id) is None:
                    seen.add("unknown_unit")
                elif BANNERS.unit_of(device_id) != code:
                    seen.add("foreign_item")
                if longitude is not None and not re.fullmatch(r"-?\d+\.\d+", longitude):
                    seen.add("bad_longitude")
        for hhmm, (rows, data) in read_polls(landing / "status" / day.isoformat() / code).items():
            if not data.endswith(b"\n"):
                seen.add("truncated_line")
            if b";" in data:
                seen.add("garbled_export")
            whole = [row for row in rows if len(row) == 3]
            if any(len(r[0]) == 19 for r in whole):
                seen.add("short_channel_id")
            if any(len(r[0]) == 20 and r[0] not in registered for r in whole):
                seen.add("unregistered_channel")
            if any(r[1] != stamp(day, hhmm) and not parses_as_iso(r[1]) for r in whole):
                seen.add("bad_polled_at")
            if any(r[1].startswith(f"{day.year + 10}-") for r in whole):
                seen.add("future_polled_at")
            if any(r[1].startswith((day - dt.timedelta(days=1)).isoformat()) for r in whole):
                seen.add("previous_day_row")
            if any(r[2] not in KNOWN_STATUS for r in whole):
                seen.add("unknown_status")
            if max(Counter((r[0], r[1]) for r in whole).values(), default=0) > 1:
                seen.add("duplicate_row")
        for path in (landing / "devicestatus" / day.isoformat() / code).glob("*.xml"):
            try:
                root = etree.fromstring(path.read_bytes())
            except etree.XMLSyntaxError:
                seen.add("truncated_device_status")
                continue
            if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", root.findtext("DeviceTime")):
                seen.add("bad_device_time")
            if root.findtext("DeviceID")[14:] >= str(UNREGISTERED_SERIALS):
                seen.add("unregistered_device_status")
        seen |= recording_faults_seen(landing, day, code)
        planned = plan.faults - set(CAPTURE_FAULTS)  # captures: test_capture_faults_appear_where_planned…
        assert seen <= planned, (day, code)
        lost_page = {"truncated_page", "wrong_encoding_page"} & plan.faults  # its items may carry item faults
        swallowed = set(CATALOG_FAULTS) if lost_page else set()
        assert planned - seen <= swallowed, (day, code)
        polls = len(read_polls(landing / "status" / day.isoformat() / code))
        assert polls == POLLS_PER_DAY - len(plan.outage)


def recording_faults_seen(landing: Path, day: dt.date, code: str) -> set[str]:
    """The recording faults a banner-day's segment files and RecordInfo pages show, read from their bytes."""
    seen: set[str] = set()
    stems: dict[str, set[str]] = {}
    for path in (landing / "recordings" / code).glob(f"*/{day.isoformat()}/*"):
        data = path.read_bytes()
        stems.setdefault(path.parent.parent.name, set()).add(path.name.lstrip(".").split(".")[0])
        if path.name.startswith("."):
            seen.add("unfinished_segment")
        elif not data:
            seen.add("zero_byte_segment")
        elif path.suffix == ".ts":
            if len(data) % 188:
                seen.add("ts_cut")
        elif b"moov" not in data:
            seen.add("moov_missing")
        elif data.index(b"moov") < data.index(b"mdat"):
            seen.add("faststart_cut")
        elif b"avc1" not in data:
            seen.add("no_video_segment")
        if path.name.endswith("-02-30.mp4"):
            seen.add("overlapping_segment")
    listed: dict[str, set[str]] = {}
    for path in (landing / "recordinfo" / day.isoformat() / code).glob("*.xml"):
        try:
            root = etree.fromstring(path.read_bytes())
        except etree.XMLSyntaxError:
            seen.add("truncated_record_page")
            continue
        listed.setdefault(root.findtext("DeviceID"), set())
        for item in root.iterfind("RecordList/Item"):
            start, end = item.findtext("StartTime"), item.findtext("EndTime")
            if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", start):
                seen.add("bad_record_time")
                continue
            listed[root.findtext("DeviceID")].add(start[11:].replace(":", "-"))
            seconds = (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
            if seconds / 300 != int(item.findtext("FileSize")) / 4000:  # the index's length disagrees with its size
                seen.add("index_wrong_end")
    for channel, files in stems.items():
        if channel in listed and listed[channel] - files:
            seen.add("file_lost")
        if channel in listed and {f for f in files if not f.endswith("-02-30")} - listed[channel]:
            seen.add("index_missing_entry")
    return seen


def test_every_fault_kind_strikes_within_any_week_and_an_outage_within_any_three_days():
    n = len(BANNERS.banners)
    start = dt.date(2026, 1, 1)
    days = [start + dt.timedelta(d) for d in range(365)]
    plans = [
        [plan_day(DEFAULT_SEED, day, banner.code, i, n, POLLS_PER_DAY) for i, banner in enumerate(BANNERS.banners)]
        for day in days
    ]
    for first in range(365 - 6):
        assert {f for day in plans[first : first + 7] for plan in day for f in plan.faults} == set(FAULTS)
    for first in range(365 - 2):
        assert any(plan.outage for day in plans[first : first + 3] for plan in day)
    banner_days_total = 365 * n
    for kind in FAULTS:
        chance = FAULT_CHANCES.get(kind, FAULT_CHANCE)
        rate = sum(kind in p.faults for day in plans for p in day) / banner_days_total
        assert 0.75 * chance < rate < 1.5 * chance + 1 / (FORCED_FAULT_EVERY * n), kind
    assert 0.06 < sum(bool(p.outage) for day in plans for p in day) / banner_days_total < 0.15


def test_behaviours_have_their_shares_and_healthier_banners_do_better():
    def day(health: float, key: int) -> np.ndarray:
        return day_states(stream(1, "test", key), 20000, health)

    states = day(1.0, 0)
    assert states.shape == (POLLS_PER_DAY, 20000)
    always = (states == ONLINE).all(axis=0).mean()
    assert 0.78 < always < 0.92
    assert 0.004 < (states == OFFLINE).all(axis=0).mean() < 0.02
    present = set(np.unique(states).tolist())
    assert present == {0, 1, 2, 3, 4}  # online, offline, video lost, defect, absent
    healthy = np.mean([(day(0.5, k) == ONLINE).mean() for k in range(5)])
    unhealthy = np.mean([(day(2.2, k) == ONLINE).mean() for k in range(5)])
    assert healthy > unhealthy + 0.01


def capture_faults_seen(landing: Path, day: dt.date, code: str) -> tuple[set[str], bool, bool]:
    """The capture faults a banner-day's POST logs and ONVIF documents show, read line by line with the
    standard library's json; and whether the day has any POST line and any ONVIF document at all."""
    seen: set[str] = set()
    lines = [line for path in (landing / "viid" / day.isoformat() / code).glob("*.jsonl")
             for line in path.read_bytes().splitlines()]
    for line in lines:
        try:
            post = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            seen.add("wrong_encoding_post")
            continue
        except json.JSONDecodeError:
            seen.add("malformed_post_line")
            continue
        (envelope, listed), = post["body"].items()
        if post["path"] == "/VIID/Faces" and envelope != "FaceListObject":
            seen.add("wrong_envelope")
        for obj in next(iter(listed.values())):
            object_id = next(v for k, v in obj.items() if k.endswith("ID") and k != "DeviceID")
            if "DeviceID" not in obj:
                seen.add("post_without_device")
            elif obj["DeviceID"][14:] >= str(UNREGISTERED_SERIALS):
                seen.add("unregistered_capture_device")
            elif object_id[22:36] != obj["ShotTime"]:
                seen.add("id_time_mismatch")
    documents = list((landing / "onvif" / day.isoformat() / code).glob("*/*.xml"))
    for path in documents:
        try:
            etree.fromstring(path.read_bytes())
        except etree.XMLSyntaxError:
            seen.add("truncated_onvif")
    return seen, bool(lines), bool(documents)


def test_capture_faults_appear_where_planned_and_captures_follow_the_catalog(landing):
    registered = {c.device_id: c.function_type for r in build_city(BANNERS, CAMERAS, DEFAULT_SEED) for c in r.channels}
    for day, index, code in banner_days():
        plan = plan_day(DEFAULT_SEED, day, code, index, len(BANNERS.banners), POLLS_PER_DAY)
        seen, posted, documented = capture_faults_seen(landing, day, code)
        planned = plan.faults & set(CAPTURE_FAULTS)
        assert seen <= planned, (day, code)
        # faults that alter a capture need captures (and ONVIF documents) to alter; the rest add lines of their own
        needs_captures = {"malformed_post_line", "wrong_encoding_post", "id_time_mismatch"}
        assert planned - seen <= (set() if posted else needs_captures) | (set() if documented else {"truncated_onvif"})
    for path in landing.glob("viid/*/*/*.jsonl"):
        for line in path.read_bytes().splitlines():
            try:
                post = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if post["path"] == "/VIID/MotorVehicles":
                for obj in post["body"]["MotorVehicleListObject"]["MotorVehicleObject"]:
                    assert obj.get("DeviceID") is None or registered.get(obj["DeviceID"], "03") == "03"


def test_gat1400_capture_cameras_keep_alive_every_minute_while_up(landing):
    """Keepalives as `xl receive` writes them, for the GA/T 1400 capture cameras only: while a camera is up a
    whole 5-minute poll it keeps alive 5 times (once a minute, at its own second), down it sends nothing, and it
    registers again after each time it was down; every line reads with the harvest's own reader."""
    from tests.conftest import harvest_scope
    from xl_pipelines.receiver_harvest import harvest_keepalives
    from xl_pipelines.simulator.captures import capture_cameras

    city = build_city(BANNERS, CAMERAS, DEFAULT_SEED)
    day = DAYS[1]
    for registered in city:
        code = registered.banner.code
        files = sorted((landing / "viid_keepalive" / day.isoformat() / code).glob("*.jsonl"))
        cameras = capture_cameras(registered, DEFAULT_SEED)
        pushing = set(cameras.filter(~cameras["onvif"])["device_id"]) & {c.device_id for c in registered.channels}
        _, revised, _ = registry_on(registered, day, DEFAULT_SEED)
        harvest = harvest_keepalives(files, harvest_scope(channels=[c.device_id for c in revised.channels], day=day,
                                                          code=code))
        assert harvest.quarantined.height == 0 and harvest.read == harvest.accepted.height
        heard = harvest.accepted
        assert set(heard["device_id"]) <= pushing
        for device in set(heard["device_id"]):
            times = heard.filter(heard["device_id"] == device).sort("received_at")
            seconds = [(t.hour * 3600 + t.minute * 60 + t.second) for t in times["received_at"]]
            per_poll = Counter(s // 300 for s in seconds)
            assert set(per_poll.values()) == {5}, (code, device)
            assert len({s % 60 for s in seconds}) == 1  # its own second, every minute
            restarts = [s for prev, s in zip([None, *seconds], seconds, strict=False) if prev is not None and s - prev > 60]
            assert times["event"].to_list().count("register") == len(restarts)
    assert sum(len(p.read_bytes().splitlines()) for p in landing.glob("viid_keepalive/*/*/*.jsonl")) > 1000


def test_a_city_too_small_for_nine_banners_is_one_clear_error_and_the_smallest_one_simulates(tmp_path):
    import csv

    from xl_pipelines.settings import ConfigError

    weights = [b.weight for b in BANNERS.banners]
    with pytest.raises(ConfigError, match=r"^5 cameras leave a banner without any: simulate at least (\d+)$") as refused:
        simulate(tmp_path, tmp_path / "recordings", [DAYS[0]], cameras=5)
    least = int(re.search(r"at least (\d+)", str(refused.value)).group(1))
    assert min(split_cameras(least, weights)) == 1 and min(split_cameras(least - 1, weights)) == 0
    simulate(tmp_path, tmp_path / "recordings", [DAYS[0]], cameras=least)
    # a case may cite up to three cameras: a one-camera banner's cases cite its one camera (it failed before)
    alone = {r.banner.code: r.channels[0].device_id for r in build_city(BANNERS, least, DEFAULT_SEED) if len(r.channels) == 1}
    cited = [(row["code"], row["cameras"]) for path in (tmp_path / "cases").glob("*.csv")
             for row in csv.DictReader(path.open(encoding="utf-8")) if row["code"] in alone and row["cameras"]]
    assert alone and cited and all(cameras == alone[code] for code, cameras in cited)
