"""`xl receive`: the GA/T 1400 view-library receiver that checkpoint and smart cameras (or a lower-level view
library) push their captures to; it writes the landing zone's capture logs the harvest reads.

The device side of GA/T 1400.4 over HTTP: `POST /VIID/System/Register` with HTTP Digest (RFC 7616: MD5,
qop=auth; the nonce is the expiry time signed with a per-process key, and the counts a nonce was used with are
kept till it expires, so a replayed request is refused), then every request names its device in the
`User-Identify` header; `Keepalive`, `UnRegister`, `GET /VIID/System/Time` (this
clock: what capture clock accuracy is measured against). Captures (`/VIID/MotorVehicles`, `/VIID/Faces`,
`/VIID/Persons`, `/VIID/NonMotorVehicles`, `/VIID/SubscribeNotifications`) are answered with a
`ResponseStatusListObject`, one status per object, after the POST's line is fsynced (receiver_log.py):
`viid/<date>/<code>/<HH>.jsonl`, `{"received_at", "path", "body"}`, the body as received (byte for byte unless
an image `Data` had to be stripped or the body spans lines, then the same JSON re-encoded on one line). The
banner is the first object's DeviceID's unit (banners.yaml), else the User-Identify device's; a POST of no
known unit, a body that is not JSON, goes to `viid_quarantine/<date>/<HH>.jsonl` with its reason (the raw bytes
in base64, image payloads cut out first). Images, video slices and files are logged to `viid_media/…`;
registrations and keepalives to `viid_keepalive/<date>/<code>/<HH>.jsonl`.

A raw ASGI app on uvicorn (httptools, uvloop): the handful of routes need no router, and every microsecond per
POST is the ceiling on 2 cores (bench/receiver.py measures it against a bare app of the same stack).
Dagster-independent: `python -m xl_pipelines.receiver` runs it under systemd or in a container.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import codecs
import datetime as dt
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml

from xl_pipelines.banners import BannerConfig, load_banners
from xl_pipelines.parsers.viid_routes import NOTIFICATIONS, PATHS
from xl_pipelines.receiver_log import HourKey, LandingLog
from xl_pipelines.settings import LOCAL_TZ, ConfigError

# route → (kind, list envelope, object list, object ID field): what the harvest reads (parsers/gat1400.py)
CAPTURES = {**PATHS, NOTIFICATIONS: ("notification", "SubscribeNotificationListObject", "SubscribeNotificationObject",
                                      "NotificationID")}
MEDIA = {  # logged, never harvested as captures; their Data is stripped like any other
    "/VIID/Images": ("image", "ImageListObject", "Image", "ImageID"),
    "/VIID/VideoSlices": ("video_slice", "VideoSliceListObject", "VideoSlice", "VideoID"),
    "/VIID/Files": ("file", "FileListObject", "File", "FileID"),
}
NOTICE_LISTS = tuple(f"{listed}List" for _, _, listed, _ in PATHS.values())
# GA/T 1400.4's response status codes (应答状态代码)
OK, OTHER_ERROR, DEVICE_BUSY, INVALID_OPERATION, INVALID_JSON_FORMAT, INVALID_JSON_CONTENT = 0, 1, 2, 4, 7, 8
STATUS_STRINGS = {OK: "OK", OTHER_ERROR: "Other Error", DEVICE_BUSY: "Device Busy", INVALID_OPERATION: "Invalid Operation",
                  INVALID_JSON_FORMAT: "Invalid JSON Format", INVALID_JSON_CONTENT: "Invalid JSON Content"}
RECEIVED_HEADER = b"x-xl-received-at"  # honoured only with --replay (loopback): the receive time of a replayed POST
DATA = re.compile(rb'"Data"\s*:\s*"[^"]*("|$)')  # an image payload in bytes that may not parse
NONCE_S = 300
FSYNC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass
class Options:
    landing: Path
    devices: dict[str, str]  # device ID (the digest user name) → password; empty with open access
    realm: str = "xl"
    server_id: str = "15050000005030000001"
    open_access: bool = False  # no registration asked (a trusted network, or --replay)
    replay: bool = False
    max_body: int = 16 * 2**20
    min_free: int = 1024 * 2**20


@dataclass
class Metrics:
    """Counters and the fsync histogram, rendered in Prometheus text format."""

    counts: Counter = field(default_factory=Counter)
    fsync: list[int] = field(default_factory=lambda: [0] * (len(FSYNC_BUCKETS) + 1))
    fsync_sum: float = 0.0

    def add(self, name: str, value: float = 1, **labels: str) -> None:
        self.counts[(name, tuple(sorted(labels.items())) if labels else ())] += value

    def observe(self, seconds: float, lines: int) -> None:
        index = next((i for i, bound in enumerate(FSYNC_BUCKETS) if seconds <= bound), len(FSYNC_BUCKETS))
        self.fsync[index] += 1
        self.fsync_sum += seconds
        self.add("xl_receiver_lines_written_total", lines)

    def text(self) -> str:
        out = []
        for name in sorted({name for name, _ in self.counts}):
            out.append(f"# TYPE {name} counter")
            for (n, labels), value in sorted(self.counts.items()):
                if n == name:
                    shown = ",".join(f'{k}="{v}"' for k, v in labels)
                    out.append(f"{name}{{{shown}}} {value:g}" if shown else f"{name} {value:g}")
        out.append("# TYPE xl_receiver_fsync_seconds histogram")
        running = 0
        for bound, count in zip((*FSYNC_BUCKETS, "+Inf"), self.fsync, strict=True):
            running += count
            out.append(f'xl_receiver_fsync_seconds_bucket{{le="{bound}"}} {running}')
        out += [f"xl_receiver_fsync_seconds_sum {self.fsync_sum:.6f}", f"xl_receiver_fsync_seconds_count {running}"]
        return "\n".join(out) + "\n"


def load_devices(path: Path) -> tuple[str, dict[str, str]]:
    """(realm, device ID → password) from a yaml file `{realm: xl, devices: {"<20 digits>": "<password>"}}`."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read the devices file {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"the devices file {path} is not YAML") from None
    devices = raw.get("devices") if isinstance(raw, dict) else None
    if not isinstance(devices, dict) or not devices:
        raise ConfigError(f"the devices file {path} has no `devices:` mapping of device ID to password")
    return str(raw.get("realm") or "xl"), {str(k): str(v) for k, v in devices.items()}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class Digest:
    """HTTP Digest (RFC 7616, MD5, qop=auth) with signed nonces, `<expiry>.<random>:<HMAC of them>`: any nonce
    this process made is known without a table; only the counts (nc) each was used with are kept, until it
    expires, so a captured Authorization header cannot be replayed."""

    def __init__(self, realm: str, passwords: dict[str, str]):
        self.realm, self.passwords, self.key = realm, passwords, secrets.token_bytes(32)
        self.used: dict[str, tuple[int, set[str]]] = {}  # nonce → (its expiry, the nc values it was used with)

    def sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), "sha256").hexdigest()

    def challenge(self, stale: bool = False) -> str:
        signed = f"{int(time.time()) + NONCE_S}.{secrets.token_hex(8)}"  # unique: two devices never share one
        nonce = base64.b64encode(f"{signed}:{self.sign(signed)}".encode()).decode()
        return (f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", opaque="{_md5(self.realm)}", '
                f'algorithm=MD5{", stale=true" if stale else ""}')

    def verify(self, header: str, method: str) -> tuple[str | None, str]:
        """(the authenticated user, "") or (None, why: no_credentials, unknown_device, stale_nonce, wrong_password,
        replayed_nonce: a nonce and nc that already authenticated a request)."""
        if not header.lower().startswith("digest "):
            return None, "no_credentials"
        fields = dict((k.lower(), v.strip('"')) for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header[7:]))
        user = fields.get("username", "")
        if user not in self.passwords:
            return None, "unknown_device"
        try:
            signed, signature = base64.b64decode(fields.get("nonce", ""), validate=True).decode().split(":")
            expiry = int(signed.split(".")[0])
        except ValueError:
            return None, "stale_nonce"
        if not hmac.compare_digest(signature, self.sign(signed)) or expiry < time.time():
            return None, "stale_nonce"
        ha1 = _md5(f"{user}:{fields.get('realm', '')}:{self.passwords[user]}")
        ha2 = _md5(f"{method}:{fields.get('uri', '')}")
        expected = _md5(f"{ha1}:{fields['nonce']}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}") \
            if fields.get("qop") == "auth" else _md5(f"{ha1}:{fields['nonce']}:{ha2}")
        if fields.get("realm") != self.realm or not hmac.compare_digest(expected, fields.get("response", "")):
            return None, "wrong_password"
        now = time.time()
        if len(self.used) > 1024:  # forget the nonces that expired (they are refused as stale anyway)
            self.used = {n: entry for n, entry in self.used.items() if entry[0] >= now}
        _, counts = self.used.setdefault(fields["nonce"], (expiry, set()))
        if fields.get("nc", "") in counts:
            return None, "replayed_nonce"
        counts.add(fields.get("nc", ""))
        return user, ""


def _local_time(at: dt.datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S")


def status(url: str, code: int, at: dt.datetime, object_id: str = "") -> dict:
    return {"RequestURL": url, "StatusCode": code, "StatusString": STATUS_STRINGS[code], "Id": object_id,
            "LocalTime": _local_time(at)}


def status_list(url: str, ids: list[str], at: dt.datetime) -> bytes:
    """`{"ResponseStatusListObject": …}`, one OK per object ID."""
    local = _local_time(at)
    return orjson.dumps({"ResponseStatusListObject": {"ResponseStatusObject": [
        {"RequestURL": url, "StatusCode": OK, "StatusString": STATUS_STRINGS[OK], "Id": i, "LocalTime": local}
        for i in ids]}})


def parse(body: bytes, charset: str) -> tuple[object, bool]:
    """The body's JSON value, and whether orjson read it (then orjson writes it back as faithfully). What orjson
    refuses but JSON allows (integers beyond 64 bits, lone surrogates) is read by the standard library, which
    raises ValueError for what is no JSON (UnicodeDecodeError included) or has stray bytes."""
    if charset == "utf-8":
        data = body[3:] if body.startswith(codecs.BOM_UTF8) else body
        try:
            return orjson.loads(data), True
        except orjson.JSONDecodeError:
            text = data.decode()
    else:
        text = body.decode(charset).removeprefix("\ufeff")
    return json.loads(text), False


def encode(value, fast: bool) -> bytes:
    """The value as compact UTF-8 JSON (by orjson when it read it, else as the standard library read it)."""
    return orjson.dumps(value) if fast else json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def strip_images(value, removed: list[int]):
    """The JSON value without image payloads (`Data` text anywhere); their sizes appended to `removed`."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if key == "Data" and isinstance(item, str):
                removed.append(len(item))
            else:
                kept[key] = strip_images(item, removed)
        return kept
    if isinstance(value, list):
        return [strip_images(item, removed) for item in value]
    return value


def _listed(value) -> list:
    """A list the standard gives, or a lone object standing for one."""
    return value if isinstance(value, list) else [value] if isinstance(value, dict) else []


def objects_of(body: dict, envelope: str, listed: str) -> list:
    """The objects under the route's envelope; a notification's objects are its captures of every kind."""
    items = _listed((body.get(envelope) or {}).get(listed) if isinstance(body.get(envelope), dict) else None)
    if envelope != "SubscribeNotificationListObject":
        return items
    return [obj for notice in items if isinstance(notice, dict) for name in NOTICE_LISTS
            if isinstance(notice.get(name), dict) for obj in _listed(notice[name].get(name[:-4]))]


def device_of(objects: list) -> str | None:
    """The first DeviceID among the objects (on the object or, for images and files, in its …Info)."""
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        found = obj.get("DeviceID")
        if found is None:
            found = next((v.get("DeviceID") for k, v in obj.items() if k.endswith("Info") and isinstance(v, dict)), None)
        if isinstance(found, str | int) and str(found):
            return str(found)
    return None


def _charset(headers: dict[bytes, bytes]) -> str:
    return _charset_of(headers.get(b"content-type", b""))


@functools.lru_cache(maxsize=256)  # a handful of Content-Type spellings, each read once
def _charset_of(content_type: bytes) -> str:
    found = re.search(rb"charset=\"?([\w-]+)", content_type, re.I)
    name = found.group(1).decode().lower() if found else "utf-8"
    return "gb18030" if name in ("gbk", "gb2312", "gb18030", "cp936") else "utf-8"


class Receiver:
    """The ASGI application."""

    def __init__(self, options: Options, banners: BannerConfig | None = None):
        self.options = options
        self.banners = banners or load_banners()
        self.unit_of = functools.lru_cache(maxsize=2**16)(self.banners.unit_of)  # a device's unit, once
        self.metrics = Metrics()
        self.log = LandingLog(options.landing, self.metrics.observe)
        self.digest = Digest(options.realm, options.devices)
        self.registered: set[str] = set()
        self.disk_ok_until, self.disk_ok = 0.0, True
        self.janitor: asyncio.Task | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        headers = dict(scope["headers"])
        if path == "/metrics" and method == "GET":
            return await _send(send, 200, self.metrics.text().encode(), b"text/plain; version=0.0.4")
        at = self._received_at(headers)
        if at is None:
            return await self._answer(send, 400, path, OTHER_ERROR, dt.datetime.now(LOCAL_TZ))
        if path == "/VIID/System/Time" and method == "GET":
            return await _json(send, 200, {"SystemTimeObject": {
                "VIIDServerID": self.options.server_id, "TimeMode": "1", "LocalTime": _local_time(at),
                "TimeZone": str(LOCAL_TZ)}})
        route = CAPTURES.get(path) or MEDIA.get(path)
        if method != "POST" or (route is None and not path.startswith("/VIID/System/")):
            self.metrics.add("xl_receiver_rejected_total", reason="unknown_route")
            return await self._answer(send, 404, path, INVALID_OPERATION, at)
        body = await self._body(receive, headers)
        if body is None:
            self.metrics.add("xl_receiver_rejected_total", reason="too_large")
            return await self._answer(send, 413, path, OTHER_ERROR, at)
        self.metrics.add("xl_receiver_bytes_total", len(body))
        if not self._disk_has_room():
            self.metrics.add("xl_receiver_rejected_total", reason="disk_full")
            return await self._answer(send, 503, path, DEVICE_BUSY, at, retry=True)
        user = headers.get(b"user-identify", b"").decode("latin-1")
        if route is not None and not (self.options.open_access or user in self.registered):
            self.metrics.add("xl_receiver_rejected_total", reason="unregistered")
            return await self._answer(send, 401, path, INVALID_OPERATION, at, challenge=True)
        full_path = path + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
        charset = _charset(headers)
        try:
            parsed, fast = parse(body, charset)
            if not isinstance(parsed, dict):
                raise ValueError("not a JSON object")
        except ValueError:  # UnicodeDecodeError and JSONDecodeError too
            self.metrics.add("xl_receiver_rejected_total", reason="malformed_json")
            try:  # a capture's bytes are kept; a system request's are not (anyone may send one)
                if route is not None:
                    await self._quarantine(at, full_path, "malformed_json", headers, raw=body)
            except OSError:
                return await self._answer(send, 503, path, DEVICE_BUSY, at, retry=True)
            return await self._answer(send, 400, path, INVALID_JSON_FORMAT, at)
        if path.startswith("/VIID/System/"):
            return await self._system(send, path, headers, parsed, at)
        verbatim = charset == "utf-8" and b"\n" not in body and b"\r" not in body and not body.startswith(codecs.BOM_UTF8)
        return await self._objects(send, path, full_path, route, parsed, fast, body, verbatim, at, user)

    async def _objects(self, send, path, full_path, route, parsed, fast, body, verbatim, at, user):
        kind, envelope, listed, id_field = route
        objects = objects_of(parsed, envelope, listed)
        removed: list[int] = []
        if b'"Data"' in body:
            parsed = strip_images(parsed, removed)
        if removed or not verbatim:  # the same JSON on one line, in UTF-8
            body = encode(parsed, fast)
        if removed:
            self.metrics.add("xl_receiver_images_stripped_total", len(removed))
            self.metrics.add("xl_receiver_image_bytes_stripped_total", sum(removed))
        device = device_of(objects) or user
        code = self.unit_of(device) if device else None
        line = (b'{"received_at":"' + at.isoformat(timespec="milliseconds").encode() + b'","path":'
                + orjson.dumps(full_path) + b',"body":' + body + b"}\n")
        folder = "viid" if path in CAPTURES else "viid_media"
        try:
            if code is None:
                self.metrics.add("xl_receiver_rejected_total", reason="unknown_unit")
                await self._quarantine(at, full_path, "unknown_unit", None, line=line)
            else:
                await self.log.append(HourKey(folder, at.date(), code, at.hour), line, len(objects))
        except OSError:
            self.metrics.add("xl_receiver_rejected_total", reason="write_failed")
            return await self._answer(send, 503, path, DEVICE_BUSY, at, retry=True)
        self.metrics.add("xl_receiver_posts_total", route=path)
        self.metrics.add("xl_receiver_objects_total", len(objects), kind=kind)
        if not objects:  # logged (the harvest quarantines it as bad_envelope), and the sender told
            return await self._answer(send, 200, path, INVALID_JSON_CONTENT, at)
        ids = [str(obj.get(id_field, "")) if isinstance(obj, dict) else ""
               for obj in (_listed(parsed[envelope][listed]) if kind == "notification" else objects)]
        return await _send(send, 200, status_list(path, ids, at), JSON)

    async def _system(self, send, path, headers, parsed, at):
        name = path.rsplit("/", 1)[1]
        inner = parsed.get(f"{name}Object") if isinstance(parsed.get(f"{name}Object"), dict) else parsed
        device = str(inner.get("DeviceID") or headers.get(b"user-identify", b"").decode("latin-1"))
        if name == "Register":
            if not self.options.open_access:
                user, why = self.digest.verify(headers.get(b"authorization", b"").decode("latin-1"), "POST")
                if user is None:
                    if why != "no_credentials":
                        self.metrics.add("xl_receiver_auth_refused_total", reason=why)
                    return await self._answer(send, 401, path, INVALID_OPERATION, at, challenge=True,
                                              stale=why in ("stale_nonce", "replayed_nonce"))
                self.registered.add(user)  # the device that proved its password, whatever the body says
                device = user
        elif name in ("Keepalive", "UnRegister"):
            if not (self.options.open_access or device in self.registered):
                self.metrics.add("xl_receiver_rejected_total", reason="unregistered")
                return await self._answer(send, 401, path, INVALID_OPERATION, at, challenge=True)
            if name == "UnRegister":
                self.registered.discard(device)
        else:
            return await self._answer(send, 404, path, INVALID_OPERATION, at)
        code = self.unit_of(device)
        if code is not None:
            line = json.dumps({"received_at": at.isoformat(timespec="milliseconds"), "device_id": device,
                               "event": name.lower()}, ensure_ascii=False).encode() + b"\n"
            try:
                await self.log.append(HourKey("viid_keepalive", at.date(), code, at.hour), line)
            except OSError:
                return await self._answer(send, 503, path, DEVICE_BUSY, at, retry=True)
        self.metrics.add("xl_receiver_system_total", event=name.lower())
        return await self._answer(send, 200, path, OK, at, object_id=device)

    async def _quarantine(self, at, full_path, reason, headers, raw: bytes = b"", line: bytes = b""):
        """A POST the harvest cannot place: the line it would have had, or the raw bytes (images cut out)."""
        record = {"received_at": at.isoformat(timespec="milliseconds"), "path": full_path, "reason": reason}
        if headers is not None:
            record["user_identify"] = headers.get(b"user-identify", b"").decode("latin-1")
        if raw:
            record["raw_base64"] = base64.b64encode(DATA.sub(b'"Data":""', raw)).decode()
            data = json.dumps(record, ensure_ascii=False).encode() + b"\n"
        else:
            data = json.dumps(record, ensure_ascii=False).encode()[:-1] + b',"line":' + line.rstrip(b"\n") + b"}\n"
        await self.log.append(HourKey("viid_quarantine", at.date(), "", at.hour), data)

    def _received_at(self, headers) -> dt.datetime | None:
        if self.options.replay and RECEIVED_HEADER in headers:
            try:
                given = dt.datetime.fromisoformat(headers[RECEIVED_HEADER].decode())
            except ValueError:
                return None
            return given.astimezone(LOCAL_TZ) if given.tzinfo else None
        return dt.datetime.now(LOCAL_TZ)

    async def _body(self, receive, headers) -> bytes | None:
        """The request body, or None once it exceeds the limit (the rest is not read)."""
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.options.max_body:
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.options.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _disk_has_room(self) -> bool:
        now = time.monotonic()
        if now >= self.disk_ok_until:
            self.options.landing.mkdir(parents=True, exist_ok=True)
            self.disk_ok = shutil.disk_usage(self.options.landing).free >= self.options.min_free
            self.disk_ok_until = now + 1.0
        return self.disk_ok

    async def _answer(self, send, http: int, url: str, code: int, at: dt.datetime, object_id: str = "",
                      challenge: bool = False, stale: bool = False, retry: bool = False):
        extra = [(b"www-authenticate", self.digest.challenge(stale).encode())] if challenge else []
        extra += [(b"retry-after", b"5")] if retry else []
        return await _json(send, http, {"ResponseStatusObject": status(url, code, at, object_id)}, extra)

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.janitor = asyncio.create_task(self._close_finished_hours())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.janitor:
                    self.janitor.cancel()
                await self.log.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _close_finished_hours(self):
        while True:
            await asyncio.sleep(1.0)
            self.log.close_finished(time.time())


JSON = b"application/json;charset=UTF-8"


async def _json(send, http: int, payload: dict, extra: list | None = None):
    await _send(send, http, orjson.dumps(payload), JSON, extra)


async def _send(send, http: int, data: bytes, content_type: bytes, extra: list | None = None):
    await send({"type": "http.response.start", "status": http, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(data)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": data})


def options_from(args: argparse.Namespace, landing: Path) -> Options:
    """The receiver's options from the command line (devices file from --devices or XL_RECEIVER_DEVICES)."""
    source = args.devices or os.environ.get("XL_RECEIVER_DEVICES")
    if args.replay and args.host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError("--replay trusts the sender's receive time: it listens on loopback only (--host 127.0.0.1)")
    if not source and not (args.open or args.replay):
        raise ConfigError("no devices file: give --devices FILE (or XL_RECEIVER_DEVICES) with each device's password, "
                          "or --open to accept unregistered devices on a trusted network")
    realm, devices = load_devices(Path(source)) if source else ("xl", {})
    return Options(landing=landing, devices=devices, realm=realm, server_id=args.server_id,
                   open_access=bool(args.open or args.replay), replay=args.replay, max_body=args.max_body_mb * 2**20,
                   min_free=args.min_free_mb * 2**20)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for cameras on the network)")
    p.add_argument("--port", type=int, default=1400)
    p.add_argument("--devices", help="yaml of device IDs and passwords (default: $XL_RECEIVER_DEVICES)")
    p.add_argument("--open", action="store_true", help="accept devices without registration (a trusted network)")
    p.add_argument("--replay", action="store_true",
                   help="loopback only, no registration, the X-XL-Received-At header is the receive time "
                        "(replaying logs, xl simulate --via)")
    p.add_argument("--server-id", default="15050000005030000001", help="this view library's 20-digit ID")
    p.add_argument("--max-body-mb", type=int, default=16)
    p.add_argument("--min-free-mb", type=int, default=1024, help="answer 503 when the landing disk has less free")


def serve(options: Options, host: str, port: int) -> None:
    """Run the receiver until SIGINT / SIGTERM (uvicorn flushes and closes the hour files on the way out)."""
    import uvicorn

    uvicorn.run(Receiver(options), host=host, port=port, loop="uvloop", http="httptools", lifespan="on",
                access_log=False, log_level="warning", timeout_graceful_shutdown=10)


def main(argv: list[str] | None = None) -> int:
    from xl_pipelines.settings import get_settings

    parser = argparse.ArgumentParser(prog="xl-receive", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        options = options_from(args, get_settings().landing)
    except ConfigError as exc:
        print(f"xl: error: {exc}", file=sys.stderr)
        return 2
    serve(options, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
