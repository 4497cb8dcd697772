"""The receiver stage of `make bench`: sustained GA/T 1400 POSTs per second on loopback, against a floor.

Three servers in turn, each in its own process on uvicorn (httptools, uvloop), each loaded by the same client
process: `xl receive` (devices registered by digest first, every POST answered after its fsync), the floor (a
bare ASGI app of the same stack that reads the body and answers 200), and a bare Starlette app doing the same
(what a framework would cost: why the receiver is a raw ASGI app). The client is asyncio on uvloop writing
pre-built HTTP/1.1 requests on CLIENTS keep-alive connections, one POST in flight on each, like cameras; it
times every POST from its first byte sent to its answer's last byte read. After the run, the lines in the
receiver's hour files are counted against the POSTs it answered 200 (acknowledged = landed).

`python -m bench.receiver` runs the stage alone.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

CLIENTS, OBJECTS, WARMUP_S, MEASURE_S = 64, 10, 2.0, 10.0
DEVICES = [f"1505020000132{i:07d}" for i in range(1, CLIENTS + 1)]  # Horqin checkpoints
PASSWORD = "bench-camera-password"
GOAL_POSTS_S, GOAL_P99_MS = 2000, 50


async def bare(scope, receive, send):
    """The floor: read the body, answer 200 with a small JSON."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def starlette_app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def motor_vehicles(request):
        await request.body()
        return JSONResponse({})

    return Starlette(routes=[Route("/VIID/MotorVehicles", motor_vehicles, methods=["POST"])])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vehicle(device: str, post: int, i: int) -> dict:
    """A checkpoint's vehicle object as the simulator writes them (sub-image by storage path, no image bytes)."""
    shot = f"20261130{(post // 3600) % 24:02d}{(post // 60) % 60:02d}{post % 60:02d}"
    object_id = f"{device}02{shot}{post % 100_000:05d}0{i}{post % 100_000:05d}"
    return {"MotorVehicleID": object_id, "DeviceID": device, "InfoKind": 1, "PassTime": shot, "PlateNo": f"蒙G{i}A21{i}",
            "PlateColor": "5", "VehicleColor": "3", "VehicleClass": "K33", "Speed": 42, "Direction": "1",
            "TollgateID": device, "LaneNo": 2, "SubImageList": {"SubImageInfoObject": [
                {"ImageID": object_id, "Type": "14", "StoragePath": f"http://10.15.0.8/viid/pic/{object_id}",
                 "ShotTime": shot, "Width": 1920, "Height": 1080}]}}


def requests_for(device: str, port: int, count: int = 200) -> list[bytes]:
    """Pre-built POSTs of OBJECTS vehicles each from one device."""
    out = []
    for post in range(count):
        body = json.dumps({"MotorVehicleListObject": {"MotorVehicleObject": [
            _vehicle(device, post, i) for i in range(OBJECTS)]}}, ensure_ascii=False, separators=(",", ":")).encode()
        out.append(b"POST /VIID/MotorVehicles HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                   b"User-Identify: %s\r\nContent-Length: %d\r\n\r\n%s" % (port, device.encode(), len(body), body))
    return out


async def _connection(port: int, requests: list[bytes], start: float, until: float, latencies: list, codes: Counter,
                      total: Counter):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    while (now := time.perf_counter()) < until:
        writer.write(requests[sent % len(requests)])
        sent += 1
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(int(re.search(rb"(?i)content-length: *(\d+)", head).group(1)))
        total[int(head[9:12])] += 1
        if now >= start:
            latencies.append(time.perf_counter() - now)
            codes[int(head[9:12])] += 1
    writer.close()


def _load(port: int, queue) -> None:
    """The client process: CLIENTS connections for WARMUP_S + MEASURE_S, timings of the measured part."""
    import uvloop

    latencies: list[float] = []
    codes, total = Counter(), Counter()

    requests = [requests_for(d, port) for d in DEVICES]  # built before the clock starts

    async def run():
        start = time.perf_counter() + WARMUP_S
        await asyncio.gather(*(_connection(port, r, start, start + MEASURE_S, latencies, codes, total) for r in requests))

    uvloop.run(run())
    queue.put((sorted(latencies), dict(codes), total[200], sum(total.values())))


def _serve(target: str, port: int, env: dict) -> subprocess.Popen:
    """A server process (`nice`d like the client): the receiver's own entry point or uvicorn on an app."""
    command = ([sys.executable, "-m", "xl_pipelines.receiver", "--port", str(port), "--devices", env["DEVICES_FILE"]]
               if target == "receiver" else
               [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--log-level", "warning", *(["--factory"] if "starlette" in target else [])])
    proc = subprocess.Popen(command, env=env, cwd=Path(__file__).parent.parent)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{target} did not start")


def _cpu_s(pid: int) -> float:
    """The process's CPU seconds so far (all its threads, user + system): what a POST costs the server, which
    a machine shared with other work does not blur as it blurs POSTs per second."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _register(port: int) -> None:
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for device in DEVICES:
            answer = client.post("/VIID/System/Register", json={"RegisterObject": {"DeviceID": device}},
                                 auth=httpx.DigestAuth(device, PASSWORD))
            assert answer.status_code == 200, answer.text


def _run(target: str, env: dict) -> dict:
    port = _free_port()
    server = _serve(target, port, env)
    try:
        if target == "receiver":
            _register(port)
        queue = multiprocessing.get_context("spawn").Queue()
        client = multiprocessing.get_context("spawn").Process(target=_load, args=(port, queue))
        began = _cpu_s(server.pid)
        client.start()
        latencies, codes, acknowledged, answered = queue.get()
        client.join()
        cpu_s = _cpu_s(server.pid) - began
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    posts = len(latencies)
    return {"posts": posts, "codes": codes, "acknowledged": acknowledged,
            "cpu_ms_per_post": round(1000 * cpu_s / answered, 3), "posts_per_s": round(posts / MEASURE_S),
            "objects_per_s": round(posts * OBJECTS / MEASURE_S),
            "p50_ms": round(1000 * latencies[posts // 2], 2) if posts else None,
            "p99_ms": round(1000 * latencies[int(posts * 0.99)], 2) if posts else None}


def receiver_bench(work: Path) -> dict:
    """The receiver, the floor and bare Starlette under the same load; the receiver's landed lines counted."""
    home = work / "receiver"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "devices.yaml").write_text("devices:\n" + "".join(f'  "{d}": "{PASSWORD}"\n' for d in DEVICES))
    env = {**os.environ, "XL_HOME": str(home), "DEVICES_FILE": str(home / "devices.yaml"),
           "PYTHONPATH": str(Path(__file__).parent.parent)}
    result = {"clients": CLIENTS, "objects_per_post": OBJECTS, "seconds": MEASURE_S,
              "xl": _run("receiver", env), "floor": _run("bench.receiver:bare", env),
              "starlette": _run("bench.receiver:starlette_app", env)}
    landed = sum(len(path.read_bytes().splitlines()) for path in (home / "landing" / "viid").rglob("*.jsonl"))
    result["landed_lines"] = landed  # every POST answered 200, warm-up included, must be a line
    result["ratio"] = round(result["xl"]["posts_per_s"] / result["floor"]["posts_per_s"], 2)
    result["ok"] = result["xl"]["posts_per_s"] >= GOAL_POSTS_S and result["xl"]["p99_ms"] < GOAL_P99_MS
    assert landed == result["xl"]["acknowledged"], f"{result['xl']['acknowledged']:,} POSTs acknowledged, {landed:,} landed"
    return result


def receiver_lines(result: dict) -> list[str]:
    rows = [("xl receive (digest-registered devices, fsynced before each answer)", result["xl"]),
            ("floor: bare ASGI app on the same uvicorn + httptools + uvloop, answers 200", result["floor"]),
            ("bare Starlette app, answers 200 (not used: for the stack choice)", result["starlette"])]
    xl = result["xl"]
    return [f"## Receiver: {result['clients']} cameras posting {result['objects_per_post']} vehicles per POST on "
            f"loopback, {result['seconds']:g} s", "",
            "| server | POSTs | POSTs/s | objects/s | p50 ms | p99 ms | server CPU ms / POST | answers |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
            *(f"| {name} | {m['posts']:,} | {m['posts_per_s']:,} | {m['objects_per_s']:,} | {m['p50_ms']} | {m['p99_ms']} | "
              f"{m['cpu_ms_per_post']} | "
              f"{', '.join(f'{k}: {v:,}' for k, v in sorted(m['codes'].items()))} |" for name, m in rows), "",
            f"xl / floor = {result['ratio']}; goal ≥ {GOAL_POSTS_S:,} POSTs/s with p99 < {GOAL_P99_MS} ms: "
            f"{'yes' if result['ok'] else 'NO'} ({xl['posts_per_s']:,} POSTs/s, p99 {xl['p99_ms']} ms); "
            f"{result['landed_lines']:,} lines landed for the {xl['acknowledged']:,} POSTs answered 200 (warm-up "
            "included).", ""]


if __name__ == "__main__":
    print("\n".join(receiver_lines(receiver_bench(Path(__file__).parent / "work"))))
