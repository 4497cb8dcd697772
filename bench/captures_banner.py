"""The largest banner's captures day alone, at city scale, without simulating the other eight banners.

`python -m bench.captures_banner WORK STEP[,STEP] [cameras]` (default 30,000 cameras, banner 150502):
`sim` writes that banner's GA/T 1400 hour files and ONVIF documents as `xl simulate` would (its registry of the
day kept for `harvest`); `harvest` runs `captures.harvest_captures` with a spill folder and writes both tables
with `Lake.write`, as the asset does (the Dagster run around it is left out); `validate` judges the written
silver.captures partition by its suite, read back as `quality.checks.validated` reads it; `duckdb` is
bench/run.py's DuckDB `read_json` floor on the same files, `keyed` the same with the harvest's keyed
pseudonyms. Steps joined by a comma run in one process, in order (`harvest,validate` is the asset's work; its
peak RSS is theirs together). Each step prints wall and CPU seconds (all threads, since the process began), peak
RSS and the load.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

CODE = "150502"


def simulate(work: Path, cameras: int) -> dict:
    from bench.run import CAPTURES_PER_CAMERA, DAY
    from xl_pipelines.banners import load_banners
    from xl_pipelines.simulator import DEFAULT_SEED, POLLS_PER_DAY, plan_day, registry_on
    from xl_pipelines.simulator.captures import capture_cameras, write_captures
    from xl_pipelines.simulator.city import build_city

    city = build_city(load_banners(), cameras, DEFAULT_SEED)
    index = [registered.banner.code for registered in city].index(CODE)
    _, revised, _ = registry_on(city[index], DAY, DEFAULT_SEED)
    viid, onvif = (work / "landing" / source / DAY.isoformat() / CODE for source in ("viid", "onvif"))
    viid.mkdir(parents=True, exist_ok=True)
    onvif.mkdir(parents=True, exist_ok=True)
    (work / "channels.json").write_text(json.dumps([c.device_id for c in revised.channels]))
    return write_captures(viid, onvif, DAY, revised, capture_cameras(city[index], DEFAULT_SEED), CAPTURES_PER_CAMERA,
                          plan_day(DEFAULT_SEED, DAY, CODE, index, len(city), POLLS_PER_DAY), DEFAULT_SEED)


def harvest(work: Path) -> dict:
    import polars as pl

    from bench.run import BENCH_KEY, DAY, _files
    from xl_pipelines.banners import load_banners
    from xl_pipelines.captures import harvest_captures
    from xl_pipelines.harvest_scope import HarvestScope
    from xl_pipelines.lake import Lake
    from xl_pipelines.partitions import harvest_time

    channels = pl.Series(json.loads((work / "channels.json").read_text()), dtype=pl.String)
    scope = HarvestScope(CODE, DAY, load_banners(), harvest_time(DAY), channels=channels)
    lake, keys = Lake(str(work / "lake")), {"date": DAY.isoformat(), "banner": CODE}
    posts, documents = _files(work / "landing", "viid", CODE, "*.jsonl"), _files(work / "landing", "onvif", CODE, "*/*.xml")
    with tempfile.TemporaryDirectory(prefix="xl-captures-", dir=work) as spill:
        got = harvest_captures(posts, documents, scope, BENCH_KEY, spill=Path(spill))
        lake.write("silver", "captures", keys, got.accepted)
        lake.write("quarantine", "captures", keys, got.quarantined)
    return {"read": got.read, "accepted": lake.count("silver", "captures", keys), "quarantined": got.quarantined.height}


def validate(work: Path) -> dict:
    from bench.run import captures_suite

    result = captures_suite(str(work / "lake"), CODE)
    return {"evaluated": result.evaluated, "failed": [f.expectation for f in result.failures]}


def duckdb_floor(work: Path, keyed: bool = False) -> int:
    from bench.run import BENCH_KEY, floor_captures_duckdb

    (work / "floor").mkdir(exist_ok=True)
    return floor_captures_duckdb(work / "landing", work / "floor", [CODE], BENCH_KEY if keyed else None)


if __name__ == "__main__":
    work = Path(sys.argv[1])
    os.environ.setdefault("XL_PSEUDONYM_KEY", "bench-only pseudonym key, not a secret")
    steps = {"sim": lambda: simulate(work, int(sys.argv[3]) if len(sys.argv) > 3 else 30000),
             "harvest": lambda: harvest(work), "validate": lambda: validate(work), "duckdb": lambda: duckdb_floor(work),
             "keyed": lambda: duckdb_floor(work, keyed=True)}
    for step in sys.argv[2].split(","):
        if step not in steps:
            sys.exit(f"unknown step {step!r}: one of {', '.join(steps)}")
        load, began = os.getloadavg()[0], time.perf_counter()
        result = steps[step]()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(step, json.dumps({"result": result, "wall_s": round(time.perf_counter() - began, 1),
                                "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                                "peak_mib": round(usage.ru_maxrss / 1024), "load_start": round(load, 1),
                                "load_end": round(os.getloadavg()[0], 1)}), flush=True)
