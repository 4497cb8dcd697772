"""Benchmark the camera-health slice on one simulated city-day (default 30,000 cameras).

Each stage materialises the pipeline's own assets (one in-process Dagster run per banner, as the nightly
schedule runs them, with the checks each harvest makes as it lands; Dagster's cost per run included) in a
fresh process, so its peak memory (max RSS) is its own. The floor reads the same
landing bytes with the fastest plain reader (Polars for CSV, lxml for XML: catalog pages, the hourly
DeviceStatus responses and RecordInfo pages, one file each; PyAV's demuxer for the segment files, every packet
read, none decoded) and writes the same number of rows with DuckDB `COPY … TO parquet`; ratio = stage time /
floor time. The slice's floor is the sum of the five stages that read landing files (catalog, status polls,
DeviceStatus, recordings, keepalives: DuckDB's `read_json` for those lines); status intervals and the gold models
read only the lake, so they count whole against it. Each stage's process starts as a worker of `xl`'s fork server
does, the code location and Great Expectations imported (`xl_pipelines.preload`) before its clock starts, and each
floor's with its readers imported; what those imports cost a process is measured once and counted once in the
slice and once in its floor, as a deployment's worker pays it once for all its runs. Each stage and each floor
is timed after the landing files it reads were read once (untimed), so that neither pays the cold reads the other
is spared, as far as the page cache holds them (each used to find what the one before it had left: the stage read
cold files, then its floor read them warm). Results:
bench/results.{json,md}; `--only slice` times the slice again on the last full run's landing and lake (printed).

The recordings probe reads the packets of a few thousand segment files with PyAV (`container.demux`, never
decoded) against one `ffprobe` process a file asked for the same packet facts, on an even sample of the
same files: the per-file cost the harvest would pay if it shelled out to FFmpeg. It must be ≥ 50× faster.
`--only recordings` runs that stage alone (printed; bench/results.* are left as they are).

The captures stage harvests a Tongliao-sized day of GA/T 1400 POST logs (20 M+ captures at 30,000 cameras)
and its ONVIF documents (time, peak memory; goal ≤ 150 s and ≤ 4 GiB) beside DuckDB's own NDJSON reader
(`read_json`, the harvest's structure) over the same bytes, and beside the least work the contract sets any
harvest of that day: the same reader with the keyed pseudonyms, and Great Expectations' suite of the table (by
pandas, as DESIGN.md fixes) on the partitions xl wrote; then the largest banner again beside two floors:
Polars' `read_ndjson` and DuckDB's `read_json`, the objects exploded and written to Parquet. `--only
captures` runs it alone on the landing of the last run (simulating one if there is none) and writes its table
at the top of bench/captures.md (the write-ups below it kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import subprocess
import time
from pathlib import Path

from bench.receiver import receiver_bench, receiver_lines

BENCH_DIR = Path(__file__).resolve().parent
DAY = dt.date(2026, 11, 20)
BENCH_KEY = b"bench-only pseudonym key, not a secret"
CAPTURES_PER_CAMERA = 6500  # a checkpoint's mean captures a day: 30,000 cameras give a Tongliao day of 20 M+


# What a `stage_*` and a `floor_*` process imports before its clock starts (a `startup_*` measures these imports).
WARM = {"stage": ("xl_pipelines.preload",), "floor": ("polars", "duckdb", "lxml.etree", "av")}


def _child(queue, fn, args):
    for module in WARM.get(fn.__name__.split("_")[0], ()):
        importlib.import_module(module)
    began = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rows = fn(*args)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    queue.put((time.perf_counter() - began, cpu, rows, after.ru_maxrss / 1024))


def measure(fn, *args, reads: tuple[Path, ...] = ()) -> dict:
    """Run fn(*args) -> rows in a fresh process: seconds, CPU seconds (all its threads), rows, rows/s and peak RSS
    in MiB. The files below `reads` (what fn reads) are read once before, untimed, so that a stage and its floor
    start from the same cache (each used to read whatever the one before it had left: a stage's cold reads warmed
    its floor's)."""
    for folder in reads:
        _read_through(folder)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, args))
    proc.start()
    proc.join()  # the result is a small tuple: it fits the pipe, so the child can exit before it is read
    if proc.exitcode:
        raise RuntimeError(f"{fn.__name__} failed in its process (exit code {proc.exitcode})")
    seconds, cpu, rows, peak = queue.get()
    result = {"seconds": round(seconds, 3), "cpu_s": round(cpu, 3), "rows": rows, "rows_per_s": round(rows / seconds),
              "peak_mib": round(peak)}
    print(f"bench: {fn.__name__} {result}", flush=True)  # said as it ends: a later stage's failure keeps it
    return result


def _read_through(folder: Path) -> None:
    """Every file below `folder` read once and dropped (into the page cache)."""
    for parent, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(parent, name), "rb", buffering=0) as file:
                while file.read(1 << 20):
                    pass


def _files(landing: Path, source: str, banner: str, pattern: str) -> list[Path]:
    """The files the pipeline's own landing resource would hand to the harvest (the floors read the same)."""
    from xl_pipelines.resources import LandingResource

    return LandingResource(root=str(landing)).files(source, DAY, banner, pattern).files


def materialise(selection: list, landing: Path, lake_url: str, day: dt.date = DAY, codes: list[str] | None = None) -> None:
    """The pipeline's own assets (`selection`, as the code location defines them: with the checks each step makes
    on what it writes, its tables' suites included) for `day` in each banner (or `codes`), with the resources the
    code location gives them and the clock of the nightly schedule that harvests `day`: one job and one instance
    for all the banners' runs, as a deployment has (`dg.materialize` built both anew for each run: about 0.15 s a
    run). XL_HOME and the key come from the environment (main)."""
    import dagster as dg

    from xl_pipelines.banners import load_banners
    from xl_pipelines.definitions import BANNER_DAY_ASSETS
    from xl_pipelines.partitions import banner_day_key, harvest_time
    from xl_pipelines.resources import replay_resources

    resources = replay_resources(lake_url, landing, landing.parent / "recordings", harvest_time(day))
    defs = dg.Definitions(jobs=[dg.define_asset_job("bench_stage", selection=selection)], assets=BANNER_DAY_ASSETS,
                          resources=resources)
    job, instance = defs.resolve_job_def("bench_stage"), dg.DagsterInstance.ephemeral()
    for code in codes or load_banners().codes:
        job.execute_in_process(partition_key=banner_day_key(day, code), instance=instance)


def _rows(lake_url: str, tables: list[str], codes: list[str] | None = None) -> int:
    """Rows the banner-days hold in `tables` (layer.table): a harvest's bronze + quarantine rows are the records it read."""
    from xl_pipelines.banners import load_banners
    from xl_pipelines.lake import Lake

    lake = Lake(lake_url)
    return sum(lake.count(*table.split("."), {"date": DAY.isoformat(), "banner": code})
               for code in codes or load_banners().codes for table in tables)


def stage_registry_before(landing: Path, lake_url: str) -> int:
    """Not timed: the registry of the day before, which a running deployment has (the first day falls back on it)."""
    from assets import camera_health

    materialise([camera_health.catalog_harvest, camera_health.cameras], landing, lake_url, DAY - dt.timedelta(days=1))
    return 0


def stage_catalog(landing: Path, lake_url: str) -> int:
    from assets import camera_health

    materialise([camera_health.catalog_harvest, camera_health.cameras, camera_health.camera_changes], landing, lake_url)
    return _rows(lake_url, ["bronze.catalog_items", "quarantine.catalog"])


def stage_polls(landing: Path, lake_url: str) -> int:
    from assets import camera_health

    materialise([camera_health.status_poll_harvest], landing, lake_url)
    return _rows(lake_url, ["bronze.status_polls", "quarantine.status_polls"])


def stage_device_status(landing: Path, lake_url: str) -> int:
    from assets import camera_health

    materialise([camera_health.device_status_harvest], landing, lake_url)
    return _rows(lake_url, ["bronze.device_status", "quarantine.device_status"])


def stage_recordings(landing: Path, lake_url: str) -> int:
    """The recordings slice per banner: segment files probed, RecordInfo harvested, reconciled, covered,
    diagnosed (assets/recordings.py). Rows: files read + index rows read."""
    from assets import recordings

    materialise(recordings.ASSETS, landing, lake_url)
    return _rows(lake_url, ["bronze.recording_files", "quarantine.recordings", "bronze.record_index",
                            "quarantine.record_index"])


def stage_captures(landing: Path, lake_url: str, codes: list[str] | None = None) -> int:
    """GA/T 1400 POST logs and ONVIF documents per banner (all, or `codes`), a batch of hour files at a time
    (assets/captures.py). Rows: capture records read."""
    from assets import captures

    materialise(captures.ASSETS, landing, lake_url, codes=codes)
    return _rows(lake_url, ["silver.captures", "quarantine.captures"], codes)


def _polars_post_schema():
    """The harvest's JSON structure (parsers/gat1400.POST, DuckDB's notation) as a Polars schema, for its reader."""
    import polars as pl

    def typed(shape):
        if isinstance(shape, dict):
            return pl.Struct({name: typed(inner) for name, inner in shape.items()})
        return pl.List(typed(shape[0])) if isinstance(shape, list) else pl.String

    from xl_pipelines.parsers.gat1400 import POST

    return dict(typed(POST).to_schema())


def floor_captures(landing: Path, out: Path, codes: list[str] | None = None) -> int:
    """Polars' NDJSON reader over the same POST logs, one hour file at a time, with the same schema the
    harvest decodes; the objects exploded to rows and written to Parquet (no checks, no pseudonyms).

    `read_ndjson` refuses a whole file for one cut or non-UTF-8 line, even with ignore_errors; for such a
    file the floor keeps the lines that are JSON (Polars' `json_path_match`) and reads those, in the time."""
    import io

    import polars as pl

    from xl_pipelines.banners import load_banners
    from xl_pipelines.parsers.gat1400 import PATHS

    schema, rows = _polars_post_schema(), 0
    for code in codes or load_banners().codes:
        for path in _files(landing, "viid", code, "*.jsonl"):
            try:
                posts = pl.read_ndjson(path, schema=schema, ignore_errors=True)
            except pl.exceptions.ComputeError:
                text = pl.read_csv(path, has_header=False, separator="\x1f", quote_char=None, schema={"line": pl.String},
                                   encoding="utf8-lossy")["line"]
                kept = text.filter(text.str.json_path_match("$.path").is_not_null() & ~text.str.contains("\ufffd"))
                posts = pl.read_ndjson(io.BytesIO(kept.str.join("\n").item().encode()), schema=schema)
            objects = pl.concat([posts.select(pl.col("body").struct.field(envelope).struct.field(listed).alias("o"))
                                 .explode("o").drop_nulls().unnest("o") for _, envelope, listed, _ in PATHS.values()])
            objects.write_parquet(out / f"captures_floor_{code}_{path.stem}.parquet", compression="zstd")
            rows += objects.height
    return rows


def read_json_columns(structure: dict) -> dict[str, str]:
    """A `json_transform` structure (parsers/gat1400.POST) as `read_json`'s `columns`: DuckDB type names."""
    def typed(shape) -> str:
        if isinstance(shape, dict):
            return "STRUCT(" + ", ".join(f'"{name}" {typed(inner)}' for name, inner in shape.items()) + ")"
        return typed(shape[0]) + "[]" if isinstance(shape, list) else "VARCHAR"

    return {name: typed(shape) for name, shape in structure.items()}


def floor_captures_duckdb(landing: Path, out: Path, codes: list[str] | None = None, key: bytes | None = None) -> int:
    """DuckDB's own NDJSON reader (`read_json`, the harvest's structure as its columns, lines that are not JSON
    skipped) over the same POST logs, a banner's hour files in one scan; the objects unnested and written to
    Parquet by `COPY` (no checks). With a `key`, the keyed pseudonyms the harvest makes are made too (faces' and
    persons' IDs, plates, ID numbers: `pseudonym.hmac_sql`) in place of those fields: the least any harvest must do."""
    import duckdb

    from xl_pipelines.banners import load_banners
    from xl_pipelines.parsers.gat1400 import PATHS, POST
    from xl_pipelines.pseudonym import hmac_params, hmac_sql, plate_key_sql

    lists = ", ".join(f"body.{envelope}.{listed}" for _, envelope, listed, _ in PATHS.values())
    keyed, params = "", {}
    if key is not None:
        personal = ("FaceID", "PersonID", "PlateNo", "IDNumber")
        keyed = (f" EXCLUDE ({', '.join(personal)}), {hmac_sql('coalesce(FaceID, PersonID)')} AS capture_pseudonym, "
                 f"{hmac_sql(plate_key_sql('PlateNo'))} AS plate_pseudonym, {hmac_sql('IDNumber')} AS person_pseudonym")
        params = hmac_params(key)
    rows = 0
    with duckdb.connect() as con:
        for code in codes or load_banners().codes:
            files = [str(f) for f in _files(landing, "viid", code, "*.jsonl")]
            target = out / f"captures_duckdb_floor_{code}.parquet"
            rows += con.execute(
                f"COPY (SELECT *{keyed} FROM (SELECT unnest(o, recursive := true) FROM (SELECT unnest(list_concat("
                f"{lists})) AS o FROM read_json($files, format = 'newline_delimited', columns = $columns, "
                f"ignore_errors = true)))) TO '{target}' (FORMAT parquet, COMPRESSION zstd)",
                {"files": files, "columns": read_json_columns(POST), **params}).fetchone()[0]
    return rows


def floor_captures_keyed(landing: Path, out: Path) -> int:
    """The day through DuckDB's reader with the harvest's keyed pseudonyms (`floor_captures_duckdb` with the key)."""
    return floor_captures_duckdb(landing, out, key=BENCH_KEY)


def captures_suite(lake_url: str, code: str):
    """Great Expectations' silver.captures suite on the banner's partition of DAY, read back as the asset's check
    reads it (quality/checks.validated): its SuiteResult."""
    import functools

    from xl_pipelines import gates
    from xl_pipelines.lake import Lake

    lake, keys = Lake(lake_url), {"date": DAY.isoformat(), "banner": code}
    return gates.validate_columns(lake.columns("silver", "captures", keys),
                                  functools.partial(lake.read, "silver", "captures", keys),
                                  gates.load_suite("silver.captures"))


def suite_captures(_landing: Path, lake_url: str) -> int:
    """`captures_suite` on every banner's partition of the day: the harvest stage's checking, alone. Rows: rows
    judged."""
    from xl_pipelines import gates
    from xl_pipelines.banners import load_banners

    for code in load_banners().codes:
        if (result := captures_suite(lake_url, code)).severity == gates.ERROR and not result.passed:
            raise RuntimeError(f"silver.captures of {code} failed its suite: {result.as_dict()}")
    return _rows(lake_url, ["silver.captures"])


def stage_intervals(landing: Path, lake_url: str) -> int:
    from assets import camera_health

    materialise([camera_health.status_intervals], landing, lake_url)
    return _rows(lake_url, ["bronze.status_polls"])


def stage_keepalives(landing: Path, lake_url: str) -> int:
    """The capture devices' keepalives to `xl receive` and their intervals (assets/receiver.py), which the
    capture models read. Rows: keepalives read."""
    from assets import receiver

    materialise(receiver.ASSETS, landing, lake_url)
    return _rows(lake_url, ["bronze.keepalives", "quarantine.keepalives"])


def floor_keepalives(landing: Path, out: Path) -> int:
    """DuckDB's `read_json` over the same keepalive lines (their three fields, lines that are not JSON skipped),
    a banner's hour files in one scan, written to Parquet by `COPY`."""
    import duckdb

    from xl_pipelines.banners import load_banners

    rows = 0
    with duckdb.connect() as con:
        for code in load_banners().codes:
            files = [str(f) for f in _files(landing, "viid_keepalive", code, "*.jsonl")]
            target = out / f"keepalives_floor_{code}.parquet"
            rows += con.execute(
                "COPY (SELECT * FROM read_json($files, format = 'newline_delimited', ignore_errors = true, columns = "
                "{received_at: 'VARCHAR', device_id: 'VARCHAR', event: 'VARCHAR'})) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)", {"files": files}).fetchone()[0] if files else 0
    return rows


def startup_stage() -> int:
    """The imports a stage's process makes before its clock starts, timed (once for the slice)."""
    for module in WARM["stage"]:
        importlib.import_module(module)
    return 0


def startup_floor() -> int:
    """The imports a floor's process makes before its clock starts, timed (once for the slice's floor)."""
    for module in WARM["floor"]:
        importlib.import_module(module)
    return 0


def stage_gold(landing: Path, lake_url: str) -> int:
    """Every gold model of the banner-days, then the city day once its nine banners are in."""
    import dagster as dg

    from xl_pipelines.definitions import BANNER_DAY_ASSETS, DAY_ASSETS
    from xl_pipelines.resources import LakeResource, ReportsResource

    gold = [a for a in BANNER_DAY_ASSETS if all(key.path[0] == "gold" for key in a.keys)]
    materialise(gold, landing, lake_url)
    dg.materialize(DAY_ASSETS, partition_key=DAY.isoformat(), resources={"lake": LakeResource(url=lake_url),
                                                                        "reports": ReportsResource()})
    return _rows(lake_url, [".".join(a.key.path) for a in gold])


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


def floor_recordings(landing: Path, out: Path) -> int:
    """lxml over the RecordInfo pages (one row an item, as the other XML floors), and every segment file of the
    day the harvest probes (its listing; dot-files are not probed) demuxed by PyAV, opened by path, each
    packet's time and flags read, never decoded: one row a file, no checks. Reading a container's packets is
    the least that reads these files (ffprobe, a process a file, is 60× slower: the recordings probe below).
    Both written by DuckDB COPY."""
    import av
    import polars as pl

    from xl_pipelines.banners import load_banners
    from xl_pipelines.recordings import segment_files

    rows = []
    for code in load_banners().codes:
        for path in segment_files(landing.parent / "recordings", code, DAY).files:
            if path.name.startswith("."):
                continue
            try:
                with av.open(str(path)) as container:
                    packets = [(p.pts, p.duration, p.is_keyframe) for p in container.demux(container.streams.video[0])
                               if p.pts is not None]
            except (av.error.FFmpegError, IndexError):
                packets = []
            rows.append({"path": str(path), "packets": len(packets), "keyframes": sum(p[2] for p in packets),
                         "first_pts": min((p[0] for p in packets), default=None),
                         "end_pts": max((p[0] + (p[1] or 0) for p in packets), default=None)})
    _copy_out(pl.DataFrame(rows, schema={"path": pl.String, "packets": pl.Int64, "keyframes": pl.Int64,
                                         "first_pts": pl.Int64, "end_pts": pl.Int64}), out / "segments_floor.parquet")
    return _floor_xml(landing, out, "recordinfo", "RecordList/Item") + len(rows)


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


def simulate_city(landing: Path, cameras: int, day: dt.date = DAY, captures_per_camera: int = CAPTURES_PER_CAMERA) -> int:
    from xl_pipelines.simulator import simulate

    counts = simulate(landing, landing.parent / "recordings", [day], cameras=cameras,
                      captures_per_camera=captures_per_camera)
    if day == DAY:
        (landing.parent / "simulated.json").write_text(json.dumps(counts))
    return counts["status_rows"]


def _environment(work: Path) -> None:
    """XL_HOME (the quality report of the checks) and the key, inherited by every stage's process."""
    os.environ["XL_HOME"] = str(work / "home")
    os.environ["XL_PSEUDONYM_KEY"] = BENCH_KEY.decode()


def make_segments(root: Path, files: int) -> list[Path]:
    """`files` hour segments laid out as the media server does, `<code>/<channel>/<date>/HH-00-00.<ext>`:
    a day (24 files) per camera, every tenth camera MPEG-TS, the rest MP4."""
    from xl_pipelines.banners import load_banners
    from xl_pipelines.simulator.recordings import segment_bytes

    codes, paths = load_banners().codes, []
    for index in range(files):
        camera, hour = divmod(index, 24)
        ext = "ts" if camera % 10 == 0 else "mp4"
        path = root / codes[camera % len(codes)] / f"{camera:020d}" / DAY.isoformat() / f"{hour:02d}-00-00.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(segment_bytes(3600, ext))
        paths.append(path)
    return paths


def stage_probe(files: list[Path], out: Path) -> int:
    """The harvest's own probe on every file; packet counts go to out/probe_packets.json."""
    from xl_pipelines.recordings import probe

    packets = {str(f): probe(f)["packets"] for f in files}
    (out / "probe_packets.json").write_text(json.dumps(packets))
    return len(packets)


def baseline_ffprobe(files: list[Path], out: Path) -> int:
    """One ffprobe process a file for the same packet facts (pts, duration, flags; no decoding); packet
    counts go to out/ffprobe_packets.json. ffprobe prints a blank line after a TS packet: not counted."""
    packets = {}
    for f in files:
        run = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                              "packet=pts,duration,flags", "-of", "csv=p=0", str(f)],
                             capture_output=True, text=True, check=True)
        packets[str(f)] = sum(1 for line in run.stdout.splitlines() if line)
    (out / "ffprobe_packets.json").write_text(json.dumps(packets))
    return len(packets)


def recordings_probe(work: Path, files: int, sample: int) -> dict:
    """Our probe on `files` segments and ffprobe on an even `sample` of them, in this run; both must count
    the same packets on every sampled file."""
    root, out = work / "segments", work / "probe"
    for folder in (root, out):
        shutil.rmtree(folder, ignore_errors=True)
    out.mkdir(parents=True)
    segments = make_segments(root, files)
    picked = segments[:: max(1, len(segments) // sample)][:sample]
    ours, theirs = measure(stage_probe, segments, out), measure(baseline_ffprobe, picked, out)
    probed = json.loads((out / "probe_packets.json").read_text())
    counted = json.loads((out / "ffprobe_packets.json").read_text())
    disagree = {f: (probed[f], n) for f, n in counted.items() if probed[f] != n}
    assert not disagree, f"probe vs ffprobe packet counts differ: {dict(list(disagree.items())[:5])}"
    speedup = round(theirs["seconds"] / theirs["rows"] / (ours["seconds"] / ours["rows"]), 1)  # per file
    return {"files": len(segments), "ts_files": sum(f.suffix == ".ts" for f in segments), "xl": ours,
            "ffprobe": theirs, "packets_agree_on": len(counted), "speedup": speedup, "required": 50,
            "ok": speedup >= 50}


def recordings_lines(rec: dict) -> list[str]:
    rows = [("xl probe (PyAV demux, no decode)", rec["xl"]), ("ffprobe, one process a file", rec["ffprobe"])]
    return [f"## Recordings probe: {rec['files']:,} segment files ({rec['ts_files']:,} MPEG-TS), "
            f"ffprobe on {rec['ffprobe']['rows']:,} of them", "",
            "| probe | files | s | ms/file | files/s |", "|---|---:|---:|---:|---:|",
            *(f"| {name} | {m['rows']:,} | {m['seconds']} | {1000 * m['seconds'] / m['rows']:.2f} | {m['rows_per_s']:,} |"
              for name, m in rows), "",
            f"xl is {rec['speedup']}× faster per file than ffprobe (≥ {rec['required']}× required: "
            f"{'yes' if rec['ok'] else 'NO'}); both count the same packets on all {rec['packets_agree_on']:,} "
            "sampled files.", ""]


def captures_bench(work: Path) -> dict:
    """The whole day through the harvest (time, peak memory) and through DuckDB's reader, then the largest
    banner through the harvest and through both floors, for the ratios: Polars' NDJSON reader is slow enough on
    these nested objects that flooring the whole day with it would take most of an hour."""
    from xl_pipelines.banners import load_banners

    landing, lake_url, out = work / "landing", str(work / "lake"), work / "floor"
    out.mkdir(parents=True, exist_ok=True)
    largest = max(load_banners().banners, key=lambda b: b.weight).code
    return {"day": _with_load(stage_captures, landing, lake_url), "banner": largest,
            "duckdb_day": _with_load(floor_captures_duckdb, landing, out),
            "keyed_day": _with_load(floor_captures_keyed, landing, out),
            "suite_day": _with_load(suite_captures, landing, lake_url),
            "xl": _with_load(stage_captures, landing, lake_url, [largest]),
            "floor": _with_load(floor_captures, landing, out, [largest]),
            "duckdb": _with_load(floor_captures_duckdb, landing, out, [largest]),
            "simulated": json.loads((work / "simulated.json").read_text())}


def _with_load(fn, *args) -> dict:
    """`measure`, with the 1-minute load average when it ended: on a shared machine wall times say more about the
    neighbours than about xl (its CPU seconds say less)."""
    return {**measure(fn, *args), "load": round(os.getloadavg()[0], 1)}


def captures_alone(work: Path, cameras: int) -> dict:
    """`--only captures`: on the landing of the last run (or a new one), after the registry it checks against."""
    _environment(work)
    if not (work / "simulated.json").exists():
        shutil.rmtree(work, ignore_errors=True)
        print(f"simulating one city-day with {cameras:,} cameras …", flush=True)
        measure(simulate_city, work / "landing", cameras)
    measure(stage_catalog, work / "landing", str(work / "lake"))
    return captures_bench(work)


def captures_lines(result: dict) -> list[str]:
    day, xl, simulated = result["day"], result["xl"], result["simulated"]
    hours = len(list((BENCH_DIR / "work" / "landing" / "viid").glob("*/*/*.jsonl")))
    banner = result["banner"]

    def row(name: str, m: dict) -> str:
        return (f"| {name} | {m['seconds']} | {m['cpu_s']} | {m['rows']:,} | {m['rows_per_s']:,} | {m['peak_mib']} "
                f"| {m['load']} |")

    least = result["keyed_day"]["seconds"] + result["suite_day"]["seconds"]
    least_cpu = result["keyed_day"]["cpu_s"] + result["suite_day"]["cpu_s"]
    floors = [("Polars read_ndjson, same schema, objects to Parquet", result["floor"]),
              ("DuckDB read_json, same structure, objects to Parquet by COPY", result["duckdb"])]
    return [f"## Captures: {simulated['capture_objects']:,} captures in {simulated['capture_posts']:,} POST lines "
            f"({hours} hour files) and {simulated['onvif_documents']:,} ONVIF documents", "",
            "| | s | CPU s | records | records/s | peak MiB | load |", "|---|---:|---:|---:|---:|---:|---:|",
            row("xl harvest, the whole day (checks, pseudonyms, duplicates, silver + quarantine)", day),
            row("floor, the whole day: DuckDB read_json, same structure, objects to Parquet by COPY", result["duckdb_day"]),
            row("least work, the whole day: the same, with the harvest's keyed pseudonyms", result["keyed_day"]),
            row("least work, the whole day: Great Expectations' silver.captures suite on xl's partitions (pandas)",
                result["suite_day"]),
            row(f"xl harvest, banner {banner}", xl),
            *(row(f"floor, banner {banner}: {name}", m) for name, m in floors), "",
            f"The whole day: {day['seconds']} s, {day['peak_mib']} MiB (goal ≤ 150 s and ≤ 4,096 MiB: "
            f"{'yes' if day['seconds'] <= 150 and day['peak_mib'] <= 4096 else 'NO'}); "
            f"xl / DuckDB floor = {day['seconds'] / result['duckdb_day']['seconds']:.2f}.",
            *(f"xl / {name.split(',')[0]} floor on banner {banner} = {xl['seconds'] / m['seconds']:.2f}."
              for name, m in floors),
            f"Least work the contract sets any harvest, banners one after another: DuckDB's reader with the keyed "
            f"pseudonyms and the suite, {least:.1f} s ({least_cpu:.1f} CPU s); "
            + (f"xl's own checks, quarantine and writes have {150 - least:.1f} s of the 150." if least < 150 else
               f"{least - 150:.1f} s over the 150 before xl checks a record.")
            + f" xl / least work = {day['seconds'] / least:.2f}.", ""]


def _replace_table(path: Path, lines: list[str]) -> None:
    """Write `lines` in place of what `path` holds before its first `# ` heading: the sessions' write-ups below
    it stay."""
    heading = re.search(r"^# ", path.read_text(encoding="utf-8"), re.MULTILINE) if path.exists() else None
    kept = heading.string[heading.start():] if heading else ""
    path.write_text("\n".join(lines).rstrip("\n") + ("\n\n" + kept if kept else "\n"), encoding="utf-8")


def landing_stages(work: Path) -> dict:
    """The slice's stages up to the keepalives, each timed beside its floor, on `work`'s landing and lake: each
    stage and each floor with the files it reads read once before it (`measure`)."""
    landing, lake_url, out = work / "landing", str(work / "lake"), work / "floor"

    def timed(stage, floor, *sources: str, more: tuple[Path, ...] = ()) -> tuple[dict, dict]:
        reads = (*(landing / source / DAY.isoformat() for source in sources), *more)
        return measure(stage, landing, lake_url, reads=reads), measure(floor, landing, out, reads=reads)

    return {"catalog": timed(stage_catalog, floor_catalog, "catalog"),
            "status_polls": timed(stage_polls, floor_polls, "status"),
            "device_status": timed(stage_device_status, floor_device_status, "devicestatus"),
            "status_intervals": (measure(stage_intervals, landing, lake_url), None),
            "recordings": timed(stage_recordings, floor_recordings, "recordinfo",
                                more=tuple(sorted((work / "recordings").glob(f"*/*/{DAY.isoformat()}")))),
            "keepalives": timed(stage_keepalives, floor_keepalives, "viid_keepalive")}


def lake_stages(work: Path) -> dict:
    """The slice's gold models (reading the lake only, silver.captures included) and its start-up, once."""
    return {"gold_sql_models": (measure(stage_gold, work / "landing", str(work / "lake")), None),
            "start-up, once": (measure(startup_stage), measure(startup_floor))}


def _sums(stages: dict, measured: str = "seconds") -> tuple[float, float]:
    """The slice's seconds (or CPU seconds) and its floor's."""
    return sum(s[measured] for s, _ in stages.values()), sum(f[measured] for _, f in stages.values() if f)


def slice_lines(stages: dict) -> list[str]:
    """The slice's table, its start-up row explained and its ratio, as results.md shows them."""
    lines = ["| stage | xl s | xl CPU s | rows | rows/s | peak MiB | floor s | floor CPU s | floor rows/s | floor peak MiB "
             "| ratio |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, (s, f) in stages.items():
        f = f or {}
        lines.append(f"| {name} | {s['seconds']} | {s['cpu_s']} | {s['rows']:,} | {s['rows_per_s']:,} | {s['peak_mib']} | "
                     f"{f.get('seconds', '–')} | {f.get('cpu_s', '–')} | "
                     f"{f.get('rows_per_s', '–') if not f else format(f['rows_per_s'], ',')} | "
                     f"{f.get('peak_mib', '–')} | {round(s['seconds'] / f['seconds'], 2) if f else '–'} |")
    slice_s, floor_s = _sums(stages)
    slice_cpu, floor_cpu = _sums(stages, "cpu_s")
    return [*lines, "", "Start-up, once: the imports each stage's process (the code location and Great Expectations, "
            "as the fork server preloads them) and each floor's (Polars, DuckDB, lxml, PyAV) makes before its clock "
            "starts, timed in a process of their own and counted once in the slice and once in its floor. Each stage "
            "and each floor is timed after the landing files it reads were read once, untimed (so that neither pays "
            "the cold reads the other is spared, as far as the page cache holds them).",
            "", f"Whole slice {slice_s:.2f} s; floor (read landing + COPY to Parquet) {floor_s:.2f} s; "
            f"slice / floor = {round(slice_s / floor_s, 2)}. By CPU seconds (what the disk's waits do not change): "
            f"{slice_cpu:.2f} / {floor_cpu:.2f} = {round(slice_cpu / floor_cpu, 2)}."]


def main() -> None:
    p = argparse.ArgumentParser(prog="make bench")
    p.add_argument("--cameras", type=int, default=30000)
    p.add_argument("--probe-files", type=int, default=3000)
    p.add_argument("--probe-sample", type=int, default=200, help="files also timed with ffprobe")
    p.add_argument("--only", choices=["slice", "recordings", "captures"],
                   help="run this alone (slice: its stages and floors on the landing and lake of the last full run; "
                        "captures: on the landing of the last full run, or a new one); "
                        "bench/results.* are left as they are")
    args = p.parse_args()
    work = BENCH_DIR / "work"
    if args.only == "recordings":
        print("\n".join(recordings_lines(recordings_probe(work, args.probe_files, args.probe_sample))))
        return
    if args.only == "slice":
        _environment(work)
        print("\n".join(slice_lines(landing_stages(work) | lake_stages(work))))
        return
    if args.only == "captures":
        lines = captures_lines(captures_alone(work, args.cameras))
        _replace_table(BENCH_DIR / "captures.md", lines)
        print("\n".join(lines))
        return
    shutil.rmtree(work, ignore_errors=True)
    landing, lake_url = work / "landing", str(work / "lake")
    (work / "floor").mkdir(parents=True)
    _environment(work)
    print(f"simulating one city-day with {args.cameras:,} cameras (and the day before's catalogs) …", flush=True)
    measure(simulate_city, landing, args.cameras, DAY - dt.timedelta(days=1), 0)
    measure(stage_registry_before, landing, lake_url)
    sim = measure(simulate_city, landing, args.cameras)
    stages = landing_stages(work)
    captures = captures_bench(work)  # before gold, whose capture models read silver.captures
    stages |= lake_stages(work)
    recordings = recordings_probe(work, args.probe_files, args.probe_sample)
    receiver = receiver_bench(work)
    from bench import vqd  # video-quality diagnosis on real photographs
    image_quality = vqd.run()
    slice_s, floor_s = _sums(stages)
    slice_cpu, floor_cpu = _sums(stages, "cpu_s")
    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {multiprocessing.cpu_count()} cores",
        "cameras": args.cameras, "simulate": sim,
        "stages": {k: {"xl": s, "floor": f, "ratio": round(s["seconds"] / f["seconds"], 2) if f else None}
                   for k, (s, f) in stages.items()},
        "slice_seconds": round(slice_s, 2), "floor_seconds": round(floor_s, 2), "slice_vs_floor": round(slice_s / floor_s, 2),
        "slice_vs_floor_cpu": round(slice_cpu / floor_cpu, 2),
        "recordings_probe": recordings, "captures": captures, "receiver": receiver,
    }
    (BENCH_DIR / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Bench: camera-health slice, one city-day, {args.cameras:,} cameras", "",
             f"{result['date']} on {result['machine']}; simulate: {sim['seconds']} s for {sim['rows']:,} poll rows.", "",
             *slice_lines(stages), "", *recordings_lines(recordings), *captures_lines(captures),
             *receiver_lines(receiver)]
    lines += ["", *vqd.lines(image_quality)]
    from bench.demo_scale import demo_scale  # issue 21: harvest vs simulate of a demo day; a city banner-day's overhead
    lines += ["", *demo_scale(work, landing)]
    (BENCH_DIR / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
