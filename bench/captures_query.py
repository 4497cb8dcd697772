"""The capture query taken apart, on the largest banner's POST logs (after `python -m bench.captures_banner WORK sim`).

`python -m bench.captures_query WORK`: the hour files' lines read as the harvest reads them (`gat1400.lines`,
one batch), then DuckDB timed on them: the whole capture query, the same without its HMACs, `json_transform`
alone (every field materialised, then only the path and time), and DuckDB's own `read_json` of the same files
with the same structure (lines that are not JSON nulled). Wall and CPU seconds (all threads) each.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow as pa

from bench.captures_banner import CODE
from bench.run import BENCH_KEY, DAY, read_json_columns
from xl_pipelines.parsers import gat1400
from xl_pipelines.pseudonym import hmac_params


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(work: Path) -> None:
    files = sorted((work / "landing" / "viid" / DAY.isoformat() / CODE).glob("*.jsonl"))
    lines = pl.concat([gat1400.lines(path) for path in files])
    con = gat1400.session()
    text = pl.DataFrame({"i": pl.int_range(lines.height, dtype=pl.UInt32, eager=True),
                         "text": gat1400._repaired(lines["raw"])}).to_arrow(compat_level=pl.CompatLevel.newest())
    con.register("lines", pa.Table.from_batches(text.to_batches(max_chunksize=gat1400.SCAN_ROWS), schema=text.schema))
    keyed = gat1400._capture_sql()
    gat1400.hmac_sql = lambda value: f"({value})"  # the same query with each value passed through unkeyed
    unkeyed = gat1400._capture_sql()
    transform = f"SELECT i, TRY(json_transform({gat1400.RENAMED}, $structure)) AS post FROM lines"
    queries = {
        "the whole capture query": (keyed, True),
        "… without its HMACs": (unkeyed, False),
        "json_transform, every field materialised": (transform, False),
        "json_transform, path and time kept": (f"SELECT i, post.path, post.received_at FROM ({transform})", False),
        "read_json of the same files": ("SELECT * FROM read_json($files, format = 'newline_delimited', "
                                        "columns = $columns, ignore_errors = true)", False)}
    print(f"{lines.height:,} lines in {len(files)} hour files\n\n| what DuckDB computes | rows | wall s | CPU s |\n"
          "|---|---:|---:|---:|")
    for name, (sql, keyed) in queries.items():
        params = ({"files": [str(f) for f in files], "columns": read_json_columns(gat1400.POST)}
                  if "read_json" in sql else {"structure": json.dumps(gat1400.POST), **(hmac_params(BENCH_KEY) if keyed else {})})
        wall, cpu = time.perf_counter(), _cpu()
        rows = con.sql(sql, params=params).to_arrow_table().num_rows
        print(f"| {name} | {rows:,} | {time.perf_counter() - wall:.2f} | {_cpu() - cpu:.2f} |", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
