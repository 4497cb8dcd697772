"""`xl receive`: the real server on 127.0.0.1 (a subprocess) driven by a real HTTP client (httpx), its landing
logs read back by the harvest's own parser."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.conftest import TEST_KEY, harvest_scope
from xl_pipelines.camera_health import status_intervals
from xl_pipelines.parsers import gat1400
from xl_pipelines.receiver_harvest import capture_devices, harvest_keepalives, keepalive_polls, reconcile
from xl_pipelines.settings import LOCAL_TZ

CAMERA, PASSWORD = "15050200001320000001", "s3cret-camera"  # Horqin (150502)
OTHER_CAMERA = "15052500001320000007"  # Naiman (150525)
FIXTURES = Path(__file__).parent / "fixtures" / "real" / "gat1400"
AT = dt.datetime(2026, 11, 20, 10, 15, 30, 250000, LOCAL_TZ)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m xl_pipelines.receiver` in a subprocess, with XL_HOME under `home`."""

    def __init__(self, home: Path, *args: str, file_limit: int | None = None):
        self.home, self.port = home, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"

        def limited():  # files may not grow past `file_limit` bytes: a write beyond fails (EFBIG), as on a full disk
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

        self.proc = subprocess.Popen([sys.executable, "-m", "xl_pipelines.receiver", "--port", str(self.port), *args],
                                     env={**os.environ, "XL_HOME": str(home)}, stderr=subprocess.PIPE,
                                     preexec_fn=limited if file_limit else None)
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(self.url + "/VIID/System/Time", timeout=1)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(self.proc.stderr.read().decode()) from None
                time.sleep(0.05)

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    def metric(self, line: str) -> float:
        for row in httpx.get(self.url + "/metrics").text.splitlines():
            if row.rsplit(" ", 1)[0] == line:
                return float(row.rsplit(" ", 1)[1])
        return 0.0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # never leave a server behind, and say so
                self.proc.kill()
                self.proc.wait()
                raise
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("replay"), "--replay", "--max-body-mb", "1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    home = tmp_path_factory.mktemp("guarded")
    (home / "devices.yaml").write_text(f'realm: tongliao\ndevices:\n  "{CAMERA}": "{PASSWORD}"\n')
    server = Server(home, "--devices", str(home / "devices.yaml"))
    yield server
    server.stop()


def _vehicle(serial: int, device: str = CAMERA, shot: str = "20261120101520", **extra) -> dict:
    return {"MotorVehicleID": f"{device}02{shot}{serial:05d}01{serial:05d}", "DeviceID": device, "InfoKind": 1,
            "PassTime": shot, "PlateNo": "蒙G5A217", **extra}


def _post(server: Server, path: str, body: bytes | dict, at: dt.datetime = AT, **headers) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return httpx.post(server.url + path, content=data, headers={"X-XL-Received-At": at.isoformat(), **headers})


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_registration_by_digest_then_keepalive_captures_and_unregister(guarded):
    register = {"RegisterObject": {"DeviceID": CAMERA}}
    first = httpx.post(guarded.url + "/VIID/System/Register", json=register)
    assert first.status_code == 401
    challenge = first.headers["www-authenticate"]
    assert challenge.startswith("Digest ") and 'qop="auth"' in challenge and 'realm="tongliao"' in challenge

    # the digest worked out by hand (RFC 7616, MD5, qop=auth) from the challenge's nonce
    nonce = challenge.split('nonce="')[1].split('"')[0]
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = md5(f"{CAMERA}:tongliao:{PASSWORD}"), md5("POST:/VIID/System/Register")
    response = md5(f"{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}")
    authorization = (f'Digest username="{CAMERA}", realm="tongliao", nonce="{nonce}", uri="/VIID/System/Register", '
                     f'qop=auth, nc=00000001, cnonce="0a4f113b", response="{response}", algorithm=MD5')
    ok = httpx.post(guarded.url + "/VIID/System/Register", json=register, headers={"Authorization": authorization})
    assert ok.status_code == 200
    assert ok.json()["ResponseStatusObject"]["StatusCode"] == 0 and ok.json()["ResponseStatusObject"]["Id"] == CAMERA
    assert len(ok.json()["ResponseStatusObject"]["LocalTime"]) == 14

    # a wrong password and an unknown device are refused (401) and counted; httpx's own digest client is used
    wrong = httpx.post(guarded.url + "/VIID/System/Register", json=register, auth=httpx.DigestAuth(CAMERA, "guess"))
    stranger = httpx.post(guarded.url + "/VIID/System/Register", json={"RegisterObject": {"DeviceID": OTHER_CAMERA}},
                          auth=httpx.DigestAuth(OTHER_CAMERA, PASSWORD))
    assert (wrong.status_code, stranger.status_code) == (401, 401)
    assert guarded.metric('xl_receiver_auth_refused_total{reason="wrong_password"}') == 1
    assert guarded.metric('xl_receiver_auth_refused_total{reason="unknown_device"}') == 1
    again = httpx.post(guarded.url + "/VIID/System/Register", json=register, auth=httpx.DigestAuth(CAMERA, PASSWORD))
    assert again.status_code == 200

    me = {"User-Identify": CAMERA}
    assert httpx.post(guarded.url + "/VIID/System/Keepalive", json={"KeepaliveObject": {"DeviceID": CAMERA}},
                      headers=me).status_code == 200
    # an unregistered device's captures are refused (no --replay here: the X-XL-Received-At header is ignored)
    foreign = {"MotorVehicleListObject": {"MotorVehicleObject": [_vehicle(1, OTHER_CAMERA)]}}
    refused = httpx.post(guarded.url + "/VIID/MotorVehicles", json=foreign, headers={"User-Identify": OTHER_CAMERA})
    assert refused.status_code == 401 and "www-authenticate" in refused.headers
    sent = httpx.post(guarded.url + "/VIID/MotorVehicles", headers={**me, "X-XL-Received-At": AT.isoformat()},
                      json={"MotorVehicleListObject": {"MotorVehicleObject": [_vehicle(2)]}})
    assert sent.status_code == 200
    assert httpx.post(guarded.url + "/VIID/System/UnRegister", json={"UnRegisterObject": {"DeviceID": CAMERA}},
                      headers=me).status_code == 200
    assert httpx.post(guarded.url + "/VIID/System/Keepalive", json={"KeepaliveObject": {"DeviceID": CAMERA}},
                      headers=me).status_code == 401

    now = dt.datetime.now(LOCAL_TZ)
    logged = harvest_keepalives(sorted((guarded.landing / "viid_keepalive").glob("*/150502/*.jsonl")), harvest_scope(
        channels=[CAMERA], day=now.date(), now=now + dt.timedelta(minutes=1)))
    assert logged.accepted["event"].to_list() == ["register", "register", "keepalive", "unregister"]
    assert logged.accepted["device_id"].unique().to_list() == [CAMERA] and logged.read == 4
    captured = [f for f in (guarded.landing / "viid").rglob("*.jsonl")]
    assert len(captured) == 1 and captured[0].parent.parent.name in (now.date().isoformat(),
                                                                       (now - dt.timedelta(seconds=5)).date().isoformat())
    assert guarded.metric('xl_receiver_rejected_total{reason="unregistered"}') == 2


def test_each_kind_answered_per_object_and_landed_as_sent(replay):
    posts = {  # path → body, the standard's envelopes
        "/VIID/MotorVehicles": {"MotorVehicleListObject": {"MotorVehicleObject": [_vehicle(11), _vehicle(12)]}},
        "/VIID/Faces": {"FaceListObject": {"FaceObject": [
            {"FaceID": f"{CAMERA}0620261120101520000130600013", "DeviceID": CAMERA, "FaceAppearTime": "20261120101520"}]}},
        "/VIID/Persons": {"PersonListObject": {"PersonObject": [
            {"PersonID": f"{CAMERA}0120261120101520000140100014", "DeviceID": CAMERA, "PersonAppearTime": "20261120101520"}]}},
        "/VIID/NonMotorVehicles": {"NonMotorVehicleListObject": {"NonMotorVehicleObject": [
            {"NonMotorVehicleID": f"{CAMERA}0320261120101520000150300015", "DeviceID": CAMERA, "AppearTime": "20261120101520"}]}},
    }
    at = AT.replace(hour=11)
    for path, body in posts.items():
        answer = _post(replay, path, body, at)
        assert answer.status_code == 200
        statuses = answer.json()["ResponseStatusListObject"]["ResponseStatusObject"]
        listed = next(iter(next(iter(body.values())).values()))
        id_field = next(k for k in listed[0] if k.endswith("ID") and k != "DeviceID")
        assert [s["Id"] for s in statuses] == [o[id_field] for o in listed]
        assert {(s["StatusCode"], s["StatusString"], s["RequestURL"]) for s in statuses} == {(0, "OK", path)}
    hour_file = replay.landing / "viid" / "2026-11-20" / "150502" / "11.jsonl"
    raw = hour_file.read_bytes().splitlines()
    assert len(raw) == 4
    for line, (path, body) in zip(raw, posts.items(), strict=True):  # the body byte for byte as it was sent
        assert line == (b'{"received_at":"2026-11-20T11:15:30.250+08:00","path":"' + path.encode() + b'","body":'
                        + json.dumps(body, ensure_ascii=False).encode() + b"}")
    frame = gat1400.post_log_frame([hour_file], TEST_KEY.encode())
    assert frame["line_reason"].null_count() == 5
    assert frame["kind"].to_list() == ["motor_vehicle", "motor_vehicle", "face", "person", "non_motor"]
    assert frame["received_at"].unique().to_list() == [at.replace(microsecond=250000)]


def test_image_payloads_are_stripped_and_counted(replay):
    picture = base64.b64encode(b"\xff\xd8\xff\xe0 a JPEG's first bytes" * 20).decode()
    vehicle = _vehicle(21, SubImageList={"SubImageInfoObject": [
        {"ImageID": "img-1", "Type": "14", "Data": picture, "ShotTime": "20261120101520"},
        {"ImageID": "img-2", "Type": "01", "StoragePath": "http://10.15.0.8/pic/2"}]})
    body = {"MotorVehicleListObject": {"MotorVehicleObject": [vehicle]}}
    before = replay.metric("xl_receiver_images_stripped_total")
    assert _post(replay, "/VIID/MotorVehicles", body, AT.replace(hour=12)).status_code == 200
    hour_file = replay.landing / "viid" / "2026-11-20" / "150502" / "12.jsonl"
    text = hour_file.read_text(encoding="utf-8")
    assert picture[:40] not in text and '"Data"' not in text
    expected = json.loads(json.dumps(body))
    del expected["MotorVehicleListObject"]["MotorVehicleObject"][0]["SubImageList"]["SubImageInfoObject"][0]["Data"]
    assert _lines(hour_file)[0]["body"] == expected  # everything else kept
    assert replay.metric("xl_receiver_images_stripped_total") - before == 1
    assert replay.metric("xl_receiver_image_bytes_stripped_total") >= len(picture)


def test_malformed_oversized_unknown_unit_and_charset(replay):
    at = AT.replace(hour=13)
    cut = b'{"MotorVehicleListObject":{"MotorVehicleObject":[{"MotorVehicleID":"1505","Data":"/9j/4AAQSkZJ'
    bad = _post(replay, "/VIID/MotorVehicles", cut, at, **{"User-Identify": CAMERA})
    assert bad.status_code == 400 and bad.json()["ResponseStatusObject"]["StatusCode"] == 7  # Invalid JSON Format
    big = _post(replay, "/VIID/MotorVehicles", b"{" + b" " * (2 * 2**20) + b"}", at)
    assert big.status_code == 413
    stranger = "99990000001320000001"  # no unit of banners.yaml
    unknown = _post(replay, "/VIID/MotorVehicles", {"MotorVehicleListObject": {"MotorVehicleObject": [
        _vehicle(31, stranger)]}}, at)
    assert unknown.status_code == 200  # kept, in the quarantine log
    # a GBK body, declared so, is logged in UTF-8: the name reads as it was meant
    face = {"FaceListObject": {"FaceObject": [{"FaceID": f"{CAMERA}0620261120131500000320600032", "DeviceID": CAMERA,
                                               "FaceAppearTime": "20261120131500", "Name": "王建国"}]}}
    gbk = _post(replay, "/VIID/Faces", json.dumps(face, ensure_ascii=False).encode("gbk"), at,
                **{"Content-Type": "application/json; charset=GBK"})
    assert gbk.status_code == 200

    quarantined = _lines(replay.landing / "viid_quarantine" / "2026-11-20" / "13.jsonl")
    assert [q["reason"] for q in quarantined] == ["malformed_json", "unknown_unit"]
    assert base64.b64decode(quarantined[0]["raw_base64"]) == cut.replace(b'"/9j/4AAQSkZJ', b'""')  # image cut out
    assert quarantined[0]["user_identify"] == CAMERA
    assert quarantined[1]["line"]["body"]["MotorVehicleListObject"]["MotorVehicleObject"][0]["DeviceID"] == stranger
    landed = _lines(replay.landing / "viid" / "2026-11-20" / "150502" / "13.jsonl")
    assert [row["body"] for row in landed] == [face]
    assert replay.metric('xl_receiver_rejected_total{reason="malformed_json"}') == 1
    assert replay.metric('xl_receiver_rejected_total{reason="too_large"}') == 1
    assert replay.metric('xl_receiver_rejected_total{reason="unknown_unit"}') == 1


def test_hour_files_rotate_at_local_midnight(replay):
    body = {"MotorVehicleListObject": {"MotorVehicleObject": [_vehicle(41)]}}
    evening = dt.datetime(2026, 11, 21, 23, 59, 59, 900000, LOCAL_TZ)
    for at in (evening, evening + dt.timedelta(seconds=0.2), dt.datetime(2026, 11, 21, 16, 0, 1, tzinfo=dt.UTC)):
        assert _post(replay, "/VIID/MotorVehicles", body, at).status_code == 200
    viid = replay.landing / "viid"
    before = _lines(viid / "2026-11-21" / "150502" / "23.jsonl")
    after = _lines(viid / "2026-11-22" / "150502" / "00.jsonl")  # 16:00:01Z is 00:00:01 in Tongliao
    assert [row["received_at"] for row in before] == ["2026-11-21T23:59:59.900+08:00"]
    assert [row["received_at"] for row in after] == ["2026-11-22T00:00:00.100+08:00", "2026-11-22T00:00:01.000+08:00"]


def test_real_fixtures_replayed_through_the_receiver_read_the_same(replay, tmp_path):
    """Every line of the real-device fixtures, POSTed with its receive time, lands so the harvest reads the same
    objects as from the fixture file itself; the one POST naming no device at all (a notification of tollgates only,
    no User-Identify) has no banner, so it goes to the quarantine log instead of a banner's file."""
    originals = sorted(FIXTURES.rglob("*.jsonl"))
    home = tmp_path / "home"
    server = Server(home, "--replay")
    try:
        for path in originals:
            for line in path.read_bytes().splitlines():
                record = json.loads(line)
                answer = _post(server, record["path"], record["body"], dt.datetime.fromisoformat(record["received_at"]))
                assert answer.status_code == 200
    finally:
        server.stop()
    columns = ["kind", "object_id", "device_id", "received_at", "shot_raw", "plate_pseudonym", "line_reason"]
    direct = gat1400.post_log_frame(originals, TEST_KEY.encode()).select(columns)
    received = gat1400.post_log_frame(sorted((home / "landing" / "viid").rglob("*.jsonl")), TEST_KEY.encode()).select(columns)
    assert direct.height == 21 and direct["line_reason"].to_list().count("bad_envelope") == 1
    expected = direct.filter(pl.col("line_reason").ne_missing("bad_envelope"))
    assert received.sort(columns, nulls_last=True).equals(expected.sort(columns, nulls_last=True))
    quarantined = _lines(home / "landing" / "viid_quarantine" / "2026-11-20" / "11.jsonl")
    assert [(q["reason"], q["path"]) for q in quarantined] == [("unknown_unit", "/VIID/SubscribeNotifications")]


def test_crash_loses_nothing_acknowledged_and_a_torn_line_is_read_alone(tmp_path):
    home = tmp_path / "home"
    server = Server(home, "--replay")
    acknowledged: list[str] = []
    stop = threading.Event()

    def client(lane: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5) as http:
            serial = 0
            while not stop.is_set():
                serial += 1
                objects = [_vehicle(lane * 10_000 + serial * 10 + i) for i in range(10)]
                try:
                    answer = http.post("/VIID/MotorVehicles", json={"MotorVehicleListObject": {
                        "MotorVehicleObject": objects}}, headers={"X-XL-Received-At": AT.isoformat()})
                except httpx.TransportError:
                    return  # the server is gone: this POST was never acknowledged
                if answer.status_code == 200:
                    acknowledged.extend(o["MotorVehicleID"] for o in objects)

    clients = [threading.Thread(target=client, args=(lane,)) for lane in range(6)]
    for c in clients:
        c.start()
    time.sleep(1.5)
    server.stop(signal.SIGKILL)  # kill -9 while the clients post
    stop.set()
    for c in clients:
        c.join()
    hour_file = home / "landing" / "viid" / "2026-11-20" / "150502" / "10.jsonl"
    with hour_file.open("ab") as f:  # and a crash in the middle of a write
        f.write(b'{"received_at":"2026-11-20T10:15:30.250+08:00","path":"/VIID/MotorVehicles","body":{"MotorVe')
    restarted = Server(home, "--replay")
    try:
        after = _post(restarted, "/VIID/MotorVehicles", {"MotorVehicleListObject": {"MotorVehicleObject": [
            _vehicle(99_999)]}})
        assert after.status_code == 200
    finally:
        restarted.stop()

    frame = gat1400.post_log_frame([hour_file], TEST_KEY.encode())
    read = frame.filter(pl.col("line_reason").is_null())["object_id"]
    assert len(acknowledged) > 100
    assert set(acknowledged) <= set(read.to_list())  # every acknowledged object is in the log
    assert read.is_duplicated().sum() == 0
    assert read.to_list()[-1] == _vehicle(99_999)["MotorVehicleID"]  # the line after the torn one is whole
    torn = frame.filter(pl.col("line_reason").is_not_null())
    assert torn["line_reason"].to_list()[-1:] == ["malformed_line"]  # the torn line: one quarantined record
    assert torn.height <= 2  # at most the kill's own torn line besides
    # the counts kept beside the file: at least what the clients saw answered (an answer may be lost in the
    # kill), at most what the log holds (lines written before the kill, never answered); the restart's 1 too
    from xl_pipelines.receiver_log import read_acked

    counted = read_acked(hour_file.with_suffix(".acked"))["objects"]
    assert len(acknowledged) + 1 <= counted <= read.len()


def test_disk_nearly_full_is_503_not_a_silent_loss(tmp_path):
    server = Server(tmp_path / "home", "--open", "--min-free-mb", str(2**40))
    try:
        answer = _post(server, "/VIID/MotorVehicles", {"MotorVehicleListObject": {"MotorVehicleObject": [_vehicle(1)]}})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert answer.json()["ResponseStatusObject"]["StatusCode"] == 2  # Device Busy
        assert server.metric('xl_receiver_rejected_total{reason="disk_full"}') == 1
    finally:
        server.stop()
    assert not (tmp_path / "home" / "landing" / "viid").exists()


def test_a_batch_that_cannot_be_written_whole_is_cut_back_and_refused(tmp_path):
    server = Server(tmp_path / "home", "--replay", file_limit=4096)
    answers = []
    try:
        for serial in range(20):  # about 330 bytes a line: the 13th does not fit
            body = {"MotorVehicleListObject": {"MotorVehicleObject": [_vehicle(serial)]}}
            answers.append((serial, _post(server, "/VIID/MotorVehicles", body).status_code))
        assert server.metric('xl_receiver_rejected_total{reason="write_failed"}') == sum(c == 503 for _, c in answers)
    finally:
        server.stop()
    codes = [c for _, c in answers]
    assert 200 in codes and 503 in codes and set(codes) == {200, 503}
    hour_file = tmp_path / "home" / "landing" / "viid" / "2026-11-20" / "150502" / "10.jsonl"
    data = hour_file.read_bytes()
    assert data.endswith(b"\n") and len(data) <= 4096
    frame = gat1400.post_log_frame([hour_file], TEST_KEY.encode())
    assert frame["line_reason"].null_count() == frame.height  # no torn line left behind
    assert frame["object_id"].to_list() == [_vehicle(s)["MotorVehicleID"] for s, c in answers if c == 200]


def test_metrics_in_prometheus_text(replay):
    text = httpx.get(replay.url + "/metrics").text
    assert "# TYPE xl_receiver_fsync_seconds histogram" in text
    assert replay.metric('xl_receiver_fsync_seconds_bucket{le="+Inf"}') == replay.metric("xl_receiver_fsync_seconds_count") > 0
    assert replay.metric('xl_receiver_posts_total{route="/VIID/MotorVehicles"}') >= 1


def test_wrong_set_up_is_one_line(tmp_path):
    env = {**os.environ, "XL_HOME": str(tmp_path)}
    for args, says in ((["receive"], "no devices file"), (["receive", "--replay", "--host", "0.0.0.0"], "loopback only"),
                       (["receive", "--devices", str(tmp_path / "none.yaml")], "cannot read the devices file")):
        done = subprocess.run([sys.executable, "-m", "xl_pipelines.cli", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_simulated_day_posted_via_the_receiver_lands_the_same_captures(replay, tmp_path):
    """One banner-day with every capture fault, written directly and posted through the receiver: the harvest
    accepts the same captures and quarantines the same records, but for the simulator's two receiver faults, which
    a receiver in the path does not commit: the line it cut off and the face line it logged in GBK (declared GBK
    now, but cut short of its closing brace too) are refused (400) and kept in the receiver's quarantine log."""
    from collections import Counter

    from xl_pipelines.banners import load_banners
    from xl_pipelines.captures import harvest_captures
    from xl_pipelines.simulator.captures import capture_cameras, write_captures
    from xl_pipelines.simulator.city import build_city
    from xl_pipelines.simulator.faults import CAPTURE_FAULTS, DayPlan

    day = dt.date(2026, 11, 24)
    registry = build_city(load_banners(), 300, 3)[0]
    code = registry.banner.code
    direct = tmp_path / "viid" / str(day) / code
    for folder in (direct, tmp_path / "onvif"):
        folder.mkdir(parents=True)
    every_fault = DayPlan(frozenset(CAPTURE_FAULTS), range(0))
    written = write_captures(direct, tmp_path / "onvif", day, registry, capture_cameras(registry, 3), 15, every_fault, 3)
    posted = write_captures(tmp_path / "unused", tmp_path / "onvif", day, registry, capture_cameras(registry, 3), 15,
                            every_fault, 3, via=replay.url)
    assert posted == written and not (tmp_path / "unused").exists()

    def harvest(folder: Path):
        scope = harvest_scope(channels=[c.device_id for c in registry.channels], day=day, code=code,
                              now=dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
        return harvest_captures(sorted(folder.glob("*.jsonl")), [], scope, b"a test key, sixteen characters or more")

    a, b = harvest(direct), harvest(replay.landing / "viid" / str(day) / code)
    columns = [c for c in a.accepted.columns if c not in ("source_file", "item", "position")]
    assert a.accepted.height > 200
    assert a.accepted.select(columns).sort(columns).equals(b.accepted.select(columns).sort(columns))
    # what the receiver acknowledged into each hour file is what the harvest read from it, every fault included
    received = replay.landing / "viid" / str(day) / code
    read = pl.concat([b.accepted.select("source_file"), b.quarantined.select("source_file")]).group_by(
        "source_file").agg(records=pl.len())
    verdict, table = reconcile(sorted(received.glob("*.jsonl")), sorted(received.glob("*.acked")), read)
    assert verdict.passed and table.height == len(list(received.glob("*.jsonl"))), verdict.description
    reasons_a, reasons_b = Counter(a.quarantined["reason"]), Counter(b.quarantined["reason"])
    assert reasons_a - reasons_b == Counter({"malformed_line": 1, "wrong_encoding": 1}) and not reasons_b - reasons_a
    refused = [q for f in (replay.landing / "viid_quarantine" / str(day)).glob("*.jsonl") for q in _lines(f)]
    assert sorted((q["reason"], q["path"]) for q in refused) == [("malformed_json", "/VIID/Faces"),
                                                                  ("malformed_json", "/VIID/MotorVehicles")]


def test_posting_via_a_receiver_that_is_not_there_is_one_line():
    from xl_pipelines.settings import ConfigError
    from xl_pipelines.simulator.captures import post_via

    line = b'{"received_at":"2026-11-24T10:00:00.000+08:00","path":"/VIID/Faces","body":{}}'
    with pytest.raises(ConfigError, match="cannot post to the receiver"):
        post_via(f"http://127.0.0.1:{_free_port()}", [line], CAMERA)


B_CAMERA, C_CAMERA = "15050200001320000002", "15050200001320000003"


def _keepalive(at: str, device: str, event: str = "keepalive") -> str:
    return json.dumps({"received_at": at, "device_id": device, "event": event})


def test_keepalives_become_online_seconds_by_the_polls_rule(tmp_path):
    a, b, c = CAMERA, B_CAMERA, C_CAMERA
    log = tmp_path / "10.jsonl"
    rows = [_keepalive(f"2026-11-20T10:0{m}:10.000+08:00", a) for m in range(6)] + [
        _keepalive("2026-11-20T10:00:40.000+08:00", b, "register"),
        _keepalive("2026-11-20T10:04:00.000+08:00", b, "unregister"),
        _keepalive("2026-11-20T10:21:30.000+08:00", a),
        _keepalive("2026-11-20T10:00:10.000+08:00", a),  # written twice
        _keepalive("2026-11-20T10:01:00", a),  # no offset
        _keepalive("2026-11-20T10:02:00.000+08:00", a, "reboot"),
        _keepalive("2026-11-21T00:00:00.000+08:00", a),  # the next day
        _keepalive("2026-11-20T10:02:00.000+08:00", OTHER_CAMERA),  # Naiman's, in Horqin's folder
        _keepalive("2026-11-20T10:02:00.000+08:00", "15050200001320000099"),  # in no catalog
        '{"received_at": "2026-11-20T10:03:00.000+08:00", "device_id": "1505',  # torn by a crash
    ]
    log.write_text("\n".join(rows), encoding="utf-8")
    scope = harvest_scope(channels=[a, b, c])
    harvest = harvest_keepalives([log], scope)
    assert harvest.read == 16 and harvest.accepted.height == 9
    assert harvest.quarantined.select("item", "reason").rows() == [
        (10, "duplicate"), (11, "bad_received_at"), (12, "unknown_event"), (13, "outside_day"),
        (14, "wrong_banner"), (15, "unknown_device"), (16, "malformed_line")]
    assert harvest.quarantined["raw"].null_count() == 7  # a DeviceID may be anything: never copied

    # Rounds of 3 min heard: 10:00 (a, b), 10:03 (a; b's last word an unregister), 10:21 (a). Each holds until
    # the next round heard, at most 10 min: 10:00–10:03 (180 s), 10:03–10:13 (600 s), 10:21–10:31 (600 s);
    # nobody heard 10:13–10:21 and after 10:31: left out. a online throughout (1380 s), b only in the first
    # round (180 s), c never heard (offline, 0 s).
    polls = keepalive_polls(harvest.accepted)
    intervals = status_intervals(polls, pl.Series([a, b, c]), "150502", dt.date(2026, 11, 20))
    seconds = intervals.with_columns(s=(pl.col("end_at") - pl.col("start_at")).dt.total_seconds()).group_by(
        "channel_id").agg(online=pl.col("s").filter(pl.col("state") == "online").sum(), expected=pl.col("s").sum())
    assert sorted(seconds.rows()) == [(a, 1380, 1380), (b, 180, 1380), (c, 0, 1380)]
    # measured: the registry's capture cameras heard that day (c, never heard, is left to the polls)
    registry = pl.DataFrame({"channel_id": [a, b, c, OTHER_CAMERA], "function_type": ["03", "01", "03", None]})
    assert capture_devices(registry, harvest.accepted).to_list() == [a, b]


def test_the_current_hour_is_left_for_the_next_run():
    from xl_pipelines.landing import Listing

    folder = Path("/landing/viid/2026-11-20/150502")
    files = [folder / f"{h:02d}.jsonl" for h in (8, 9, 10)] + [folder / "notes.jsonl"]
    listing = Listing(files, limits={f.name: 2_000 for f in files})

    def unfinished(now: str) -> list[str]:
        kept, left = harvest_scope(now=dt.datetime.fromisoformat(now)).finished(listing)
        assert sorted(kept.files + left) == sorted(listing.files)
        assert kept.limits == listing.limits  # what is read is still checked against its own source's limit
        return [p.name for p in left]

    assert unfinished("2026-11-20T10:30:00+08:00") == ["10.jsonl"]
    # 09 closes 5 s after its hour: a POST received at 09:59:59.9 may still be written at 10:00:00.1
    assert unfinished("2026-11-20T10:00:03+08:00") == ["09.jsonl", "10.jsonl"]
    assert unfinished("2026-11-20T10:00:06+08:00") == ["10.jsonl"]
    assert unfinished("2026-11-21T02:30:00+08:00") == []  # the nightly run: the day is over


def _sidecar(log: Path, *batches: tuple[int, int, int]) -> Path:
    path = log.with_suffix(".acked")
    path.write_text("".join(json.dumps({"posts": p, "objects": o, "without_objects": w}) + "\n"
                            for p, o, w in batches) + '{"posts": 3, "obj', encoding="utf-8")  # a torn last batch
    return path


def test_acknowledged_objects_reconciled_with_the_harvest(tmp_path):
    ten, eleven, twelve = (tmp_path / f"{h}.jsonl" for h in (10, 11, 12))
    sidecars = [_sidecar(ten, (2, 15, 0), (1, 0, 1)), _sidecar(eleven, (4, 40, 0))]  # 10: 15 + 1 = 16; 11: 40
    read = pl.DataFrame({"source_file": [str(ten), str(eleven), str(twelve)], "records": [16, 40, 7]})
    verdict, table = reconcile([ten, eleven, twelve], sidecars, read)
    assert verdict.passed and "2 hour files: 56 records acknowledged = 56 read" in verdict.description
    assert "1 hour files not written by xl receive" in verdict.description  # 12 has no counts: not reconciled

    short = read.with_columns(records=pl.when(pl.col("source_file") == str(eleven)).then(38).otherwise("records"))
    verdict, _ = reconcile([ten, eleven, twelve], sidecars, short)
    assert (verdict.passed, verdict.severity) == (False, "ERROR") and "11.jsonl acknowledged 40, read 38" in verdict.description
    # an hour file the harvest never read (refused, or gone) with objects acknowledged into it
    verdict, table = reconcile([ten], sidecars, read.filter(pl.col("source_file") == str(ten)))
    assert not verdict.passed and "11.jsonl acknowledged 40, read 0" in verdict.description
    more = read.with_columns(records=pl.when(pl.col("source_file") == str(ten)).then(17).otherwise("records"))
    verdict, _ = reconcile([ten, eleven, twelve], sidecars, more)
    assert (verdict.passed, verdict.severity) == (False, "WARN") and "10.jsonl acknowledged 16, read 17" in verdict.description


def test_a_replayed_digest_is_refused_as_stale(guarded):
    register = {"RegisterObject": {"DeviceID": CAMERA}}
    challenges = [httpx.post(guarded.url + "/VIID/System/Register", json=register).headers["www-authenticate"]
                  for _ in range(2)]  # in the same second: two devices asking at once never share a nonce
    nonce, other = (challenge.split('nonce="')[1].split('"')[0] for challenge in challenges)
    assert nonce != other
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = md5(f"{CAMERA}:tongliao:{PASSWORD}"), md5("POST:/VIID/System/Register")

    def authorization(nc: str) -> dict[str, str]:
        response = md5(f"{ha1}:{nonce}:{nc}:77aa11:auth:{ha2}")
        return {"Authorization": f'Digest username="{CAMERA}", realm="tongliao", nonce="{nonce}", '
                                 f'uri="/VIID/System/Register", qop=auth, nc={nc}, cnonce="77aa11", response="{response}"'}

    before = guarded.metric('xl_receiver_auth_refused_total{reason="replayed_nonce"}')
    assert httpx.post(guarded.url + "/VIID/System/Register", json=register, headers=authorization("00000001")).status_code == 200
    replayed = httpx.post(guarded.url + "/VIID/System/Register", json=register, headers=authorization("00000001"))
    assert replayed.status_code == 401 and "stale=true" in replayed.headers["www-authenticate"]
    assert guarded.metric('xl_receiver_auth_refused_total{reason="replayed_nonce"}') == before + 1
    # the same nonce with the next count is the client's own next request
    assert httpx.post(guarded.url + "/VIID/System/Register", json=register, headers=authorization("00000002")).status_code == 200


def test_an_expired_nonce_is_stale():
    import hmac

    from xl_pipelines.receiver import Digest

    digest = Digest("xl", {CAMERA: PASSWORD})
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = md5(f"{CAMERA}:xl:{PASSWORD}"), md5("POST:/VIID/System/Register")

    def header(expiry: int) -> str:  # a nonce this receiver signed, expiring at `expiry`
        signed = f"{expiry}.5eed"
        nonce = base64.b64encode(f"{signed}:{hmac.new(digest.key, signed.encode(), 'sha256').hexdigest()}".encode()).decode()
        return (f'Digest username="{CAMERA}", realm="xl", nonce="{nonce}", uri="/VIID/System/Register", qop=auth, '
                f'nc=00000001, cnonce="c", response="{md5(f"{ha1}:{nonce}:00000001:c:auth:{ha2}")}"')

    assert digest.verify(header(int(time.time()) + 60), "POST") == (CAMERA, "")
    assert digest.verify(header(int(time.time()) - 1), "POST") == (None, "stale_nonce")


def test_an_hour_file_asked_for_by_many_requests_at_once_is_opened_once(tmp_path):
    """Requests keep arriving while the hour's file is being opened (its directories synced): each gets its line
    written once, and no request spins waiting for the file."""
    from xl_pipelines.receiver_log import HourKey, LandingLog

    async def burst() -> None:
        log = LandingLog(tmp_path)
        key = HourKey("viid", dt.date(2026, 11, 20), "150502", 10)
        tasks = []
        for n in range(300):
            tasks.append(asyncio.create_task(log.append(key, b'{"n":%d}\n' % n)))
            await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        await log.close()

    spinning = threading.Thread(target=asyncio.run, args=(burst(),), daemon=True)  # a spin is a failure, not a hang
    spinning.start()
    spinning.join(30)
    assert not spinning.is_alive()
    lines = (tmp_path / "viid" / "2026-11-20" / "150502" / "10.jsonl").read_bytes().splitlines()
    assert sorted(json.loads(line)["n"] for line in lines) == list(range(300))


def test_a_day_through_the_receiver_is_reconciled_and_gives_capture_devices_an_online_rate(xl_home):
    """Keepalives and captures posted to the real server, the banner-day harvested by the code location's own
    assets: the capture devices' online seconds in gold.capture_daily, worked out by hand, and the check
    `acknowledged` passing, then failing with the hour file named once a line is lost from it."""
    import dagster as dg

    from assets import camera_health, captures, gold, receiver
    from tests.conftest import DAY, catalog_item, catalog_page, write_catalog
    from xl_pipelines.lake import Lake
    from xl_pipelines.partitions import banner_day_key, harvest_time
    from xl_pipelines.resources import replay_resources

    checkpoint = "<PointType>2</PointType><FunctionType>03</FunctionType><RecordSaveDays>30</RecordSaveDays>"
    write_catalog(xl_home / "landing", [catalog_page([catalog_item(c, info=checkpoint) for c in (CAMERA, B_CAMERA)])])
    server = Server(xl_home, "--replay")
    try:
        def at(clock: str) -> dt.datetime:
            return dt.datetime.fromisoformat(f"2026-11-20T{clock}+08:00")

        def system(route: str, device: str, clock: str) -> None:
            assert _post(server, f"/VIID/System/{route}", {f"{route}Object": {"DeviceID": device}}, at(clock),
                         **{"User-Identify": device}).status_code == 200

        for minute in range(30):  # a: a keepalive every minute 10:00–10:29
            system("Keepalive", CAMERA, f"10:{minute:02d}:10")
        system("Register", B_CAMERA, "10:00:40")  # b: registers, keeps alive twice, then falls silent
        system("Keepalive", B_CAMERA, "10:01:40")
        system("Keepalive", B_CAMERA, "10:02:40")
        for serial in range(3):  # 3 POSTs of 2 vehicles from a, then 1 vehicle from b: 7 objects acknowledged
            objects = [_vehicle(serial * 2 + i, shot="20261120101500") for i in range(2)]
            assert _post(server, "/VIID/MotorVehicles", {"MotorVehicleListObject": {"MotorVehicleObject": objects}},
                         at("10:15:30")).status_code == 200
        assert _post(server, "/VIID/MotorVehicles", {"MotorVehicleListObject": {"MotorVehicleObject": [
            _vehicle(7, B_CAMERA, shot="20261120101500")]}}, at("10:15:40")).status_code == 200
    finally:
        server.stop()

    lake = Lake(str(xl_home / "lake"))
    daily = next(a for a in gold.BANNER_DAY_ASSETS if a.key.path[-1] == "capture_daily")
    harvests = [camera_health.catalog_harvest, camera_health.cameras, captures.capture_harvest, *receiver.ASSETS]
    key = banner_day_key(DAY, "150502")

    def evaluations(assets, now: dt.datetime | None = None) -> dict[str, dg.AssetCheckEvaluation]:
        result = dg.materialize(assets, partition_key=key, raise_on_error=False, resources=(
            replay_resources(lake.url, xl_home / "landing", xl_home / "no-storage", now or harvest_time(DAY))))
        return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == captures.CAPTURES}

    def acknowledged(assets) -> dg.AssetCheckEvaluation:
        return evaluations(assets)["acknowledged"]

    check = acknowledged([*harvests, daily])
    assert check.passed and "1 hour files: 7 records acknowledged = 7 read" in check.description
    # Rounds of 3 min heard 10:00 … 10:27 (ten), each holding until the next, the last 10 min: 9 × 180 + 600 =
    # 2220 s observed. a is heard in every round; b only in the first (180 s), then counts as offline.
    rows = lake.read("gold", "capture_daily", {"date": str(DAY), "banner": "150502"}).sort("device_id")
    assert rows.select("device_id", "online_s", "expected_s", "online_rate").rows() == [
        (CAMERA, 2220, 2220, 1.0), (B_CAMERA, 180, 2220, 180 / 2220)]

    # harvested at 10:40 that day, the 10 o'clock file is still being written: left for the next run, and said
    early = evaluations([captures.capture_harvest], dt.datetime(2026, 11, 20, 10, 40, tzinfo=LOCAL_TZ))
    assert not early["landed"].passed and "10.jsonl still being written" in early["landed"].description
    assert early["acknowledged"].passed and early["acknowledged"].description.startswith("0 hour files")
    assert lake.count("silver", "captures", {"date": str(DAY), "banner": "150502"}) == 0

    log = xl_home / "landing" / "viid" / "2026-11-20" / "150502" / "10.jsonl"
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:-1]))  # b's POST lost from the log
    check = acknowledged([captures.capture_harvest])
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "10.jsonl acknowledged 7, read 6" in check.description
