"""Benchmark the camera-health slice on one simulated city-day (default 30,000 cameras).

Each stage runs in a fresh process so its peak memory (max RSS) is its own. The floor reads the same
landing bytes with the fastest plain reader (Polars for CSV, lxml for XML: catalog pages and the hourly
DeviceStatus responses, one file each) and writes the same number of
rows with DuckDB `COPY … TO parquet`; ratio = stage time / floor time. Results: bench/results.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import platform
import resource
import shutil
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DAY = dt.date(2026, 11, 20)


def _child(queue, fn, args):
    began = time.perf_counter()
    rows = fn(*args)
    queue.put((time.perf_counter() - began, rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measure(fn, *args) -> dict:
    """Run fn(*args) -> rows in a fresh process: seconds, rows, rows/s and peak RSS in MiB."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, args))
    proc.start()
    seconds, rows, peak = queue.get()
    proc.join()
    return {"seconds": round(seconds, 3), "rows": rows, "rows_per_s": round(rows / seconds), "peak_mib": round(peak)}


def _keys(banner: str) -> dict[str, str]:
    return {"date": DAY.isoformat(), "banner": banner}


def _files(landing: Path, source: str, banner: str, pattern: str) -> list[Path]:
    """The files the pipeline's own landing resource would hand to the harvest."""
    from xl_pipelines.resources import LandingResource

    return LandingResource(root=str(landing)).files(source, DAY, banner, pattern)


def stage_catalog(landing: Path, lake_url: str) -> int:
    from xl_pipelines import camera_health
    from xl_pipelines.banners import load_banners
    from xl_pipelines.lake import Lake

    lake, banners, rows = Lake(lake_url), load_banners(), 0
    for code in banners.codes:
        harvest = camera_health.harvest_catalog(_files(landing, "catalog", code, "*.xml"), code, banners)
        lake.write("bronze", "catalog_items", _keys(code), harvest.accepted)
        lake.write("quarantine", "catalog", _keys(code), harvest.quarantined)
        lake.write("silver", "cameras", _keys(code), camera_health.registry(harvest.accepted, banners.by_code(code)))
        rows += harvest.read
    return rows


def _stage_after_catalog(landing: Path, lake_url: str, source: str, pattern: str, table: str, harvest) -> int:
    """Harvest `source` per banner against the registry the catalog stage wrote; bronze and quarantine `table`.

    `harvest(files, code, banners, cameras, now, rejected)` is the pipeline's own harvest function.
    """
    from xl_pipelines.banners import load_banners
    from xl_pipelines.lake import Lake

    lake, banners, rows = Lake(lake_url), load_banners(), 0
    now = dt.datetime.now(dt.UTC)
    for code in banners.codes:
        cameras = lake.read("silver", "cameras", _keys(code))
        rejected = lake.read("quarantine", "catalog", _keys(code))["record_id"].drop_nulls()
        result = harvest(_files(landing, source, code, pattern), code, banners, cameras, now, rejected)
        lake.write("bronze", table, _keys(code), result.accepted)
        lake.write("quarantine", table, _keys(code), result.quarantined)
        rows += result.read
    return rows


def stage_polls(landing: Path, lake_url: str) -> int:
    from xl_pipelines import camera_health

    def harvest(files, code, banners, cameras, now, rejected):
        return camera_health.harvest_status_polls(files, code, DAY, banners, cameras["channel_id"], now, rejected)

    return _stage_after_catalog(landing, lake_url, "status", "*.csv", "status_polls", harvest)


def stage_device_status(landing: Path, lake_url: str) -> int:
    from xl_pipelines import camera_health

    def harvest(files, code, banners, cameras, now, rejected):
        devices = camera_health.registered_devices(cameras)
        return camera_health.harvest_device_status(files, code, DAY, banners, devices, now, rejected)

    return _stage_after_catalog(landing, lake_url, "devicestatus", "*.xml", "device_status", harvest)


def stage_intervals(lake_url: str) -> int:
    from xl_pipelines import camera_health
    from xl_pipelines.banners import load_banners
    from xl_pipelines.lake import Lake

    lake, rows = Lake(lake_url), 0
    for code in load_banners().codes:
        polls = lake.read("bronze", "status_polls", _keys(code))
        channels = lake.read("silver", "cameras", _keys(code))["channel_id"]
        intervals = camera_health.status_intervals(polls, channels, code, DAY)
        lake.write("silver", "status_intervals", _keys(code), intervals)
        rows += polls.height
    return rows


def stage_gold(lake_url: str) -> int:
    from xl_pipelines.banners import load_banners
    from xl_pipelines.lake import Lake
    from xl_pipelines.sql_models import load_models, run_model

    lake, banners, rows = Lake(lake_url), load_banners(), 0
    models = {m.name: m for m in load_models()}
    for code in banners.codes:
        for name in ("camera_daily_health", "banner_daily_kpis"):
            frame = run_model(models[name], lake, _keys(code), banners)
            lake.write("gold", name, _keys(code), frame)
            rows += frame.height
    city = run_model(models["city_daily_kpis"], lake, {"date": DAY.isoformat()}, banners)
    lake.write("gold", "city_daily_kpis", {"date": DAY.isoformat()}, city)
    return rows


def _copy_out(frame, target: Path) -> None:
    import duckdb

    with duckdb.connect() as con:
        con.register("frame", frame)
        con.execute(f"COPY frame TO '{target}' (FORMAT parquet, COMPRESSION zstd)")


def _floor_xml(landing: Path, out: Path, source: str, elements: str) -> int:
    """lxml parse of every file + one row per element at `elements` (child tag -> text), by DuckDB COPY."""
    import polars as pl
    from lxml import etree

    from xl_pipelines.banners import load_banners

    rows = []
    for code in load_banners().codes:
        for path in _files(landing, source, code, "*.xml"):
            try:
                root = etree.fromstring(path.read_bytes())
            except etree.XMLSyntaxError:
                continue
            rows += [{child.tag: child.text for child in node if len(child) == 0} for node in root.iterfind(elements)]
    _copy_out(pl.DataFrame(rows, infer_schema_length=None), out / f"{source}_floor.parquet")
    return len(rows)


def floor_catalog(landing: Path, out: Path) -> int:
    return _floor_xml(landing, out, "catalog", "DeviceList/Item")


def floor_device_status(landing: Path, out: Path) -> int:
    return _floor_xml(landing, out, "devicestatus", ".")


def floor_polls(landing: Path, out: Path) -> int:
    """Polars' CSV reader over the same files + DuckDB COPY of those rows."""
    import polars as pl

    from xl_pipelines.banners import load_banners

    rows = 0
    for code in load_banners().codes:
        files = [str(f) for f in _files(landing, "status", code, "*.csv")]
        frame = pl.scan_csv(files, schema={"channel_id": pl.String, "polled_at": pl.String, "status": pl.String},
                            truncate_ragged_lines=True, ignore_errors=True).collect()
        _copy_out(frame, out / f"polls_floor_{code}.parquet")
        rows += frame.height
    return rows


def simulate_city(landing: Path, cameras: int) -> int:
    from xl_pipelines.simulator import simulate

    return simulate(landing, [DAY], cameras=cameras)["status_rows"]


def main() -> None:
    p = argparse.ArgumentParser(prog="make bench")
    p.add_argument("--cameras", type=int, default=30000)
    args = p.parse_args()
    work = BENCH_DIR / "work"
    shutil.rmtree(work, ignore_errors=True)
    landing, lake_url, floor_out = work / "landing", str(work / "lake"), work / "floor"
    floor_out.mkdir(parents=True)
    print(f"simulating one city-day with {args.cameras:,} cameras …", flush=True)
    sim = measure(simulate_city, landing, args.cameras)
    stages = {
        "catalog": (measure(stage_catalog, landing, lake_url), measure(floor_catalog, landing, floor_out)),
        "status_polls": (measure(stage_polls, landing, lake_url), measure(floor_polls, landing, floor_out)),
        "device_status": (measure(stage_device_status, landing, lake_url),
                          measure(floor_device_status, landing, floor_out)),
        "status_intervals": (measure(stage_intervals, lake_url), None),
        "gold_sql_models": (measure(stage_gold, lake_url), None),
    }
    slice_s = sum(s["seconds"] for s, _ in stages.values())
    floor_s = sum(f["seconds"] for _, f in stages.values() if f)
    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"), "machine": f"{platform.machine()} {multiprocessing.cpu_count()} cores",
        "cameras": args.cameras, "simulate": sim,
        "stages": {k: {"xl": s, "floor": f, "ratio": round(s["seconds"] / f["seconds"], 2) if f else None} for k, (s, f) in stages.items()},
        "slice_seconds": round(slice_s, 2), "floor_seconds": round(floor_s, 2), "slice_vs_floor": round(slice_s / floor_s, 2),
    }
    (BENCH_DIR / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Bench: camera-health slice, one city-day, {args.cameras:,} cameras", "",
             f"{result['date']} on {result['machine']}; simulate: {sim['seconds']} s for {sim['rows']:,} poll rows.", "",
             "| stage | xl s | rows | rows/s | peak MiB | floor s | floor rows/s | floor peak MiB | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in result["stages"].items():
        s, f = row["xl"], row["floor"] or {}
        lines.append(f"| {name} | {s['seconds']} | {s['rows']:,} | {s['rows_per_s']:,} | {s['peak_mib']} | "
                     f"{f.get('seconds', '–')} | {f.get('rows_per_s', '–') if not f else format(f['rows_per_s'], ',')} | "
                     f"{f.get('peak_mib', '–')} | {row['ratio'] or '–'} |")
    lines += ["", f"Whole slice {slice_s:.2f} s; floor (read landing + COPY to Parquet) {floor_s:.2f} s; "
              f"slice / floor = {result['slice_vs_floor']}.", ""]
    (BENCH_DIR / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
