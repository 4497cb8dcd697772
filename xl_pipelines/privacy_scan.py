"""`xl privacy-scan`: is any plate, ID number, name, face / person capture ID or image the landing zone holds
in clear found anywhere else under XL_HOME?

What is sought comes from the landing zone itself: every value of a personal field in the GA/T 1400 POST logs
(`PlateNo`, `IDNumber` / `IdNumber`, `Name`, `FaceID` / `PersonID`, the image `Data`, in the JSON body or in a
path's query string) and every ONVIF plate (`PlateNumber` elements and SimpleItems); placeholders (`null`,
`无车牌`, …) and values too short to name anyone are not sought. Where it is sought: every file under XL_HOME
but the landing zone and the recordings. Parquet files and DuckDB tables are decoded column by column (their
pages are compressed, so a byte search would miss a value), SQLite databases row by row (zlib blobs inflated:
Dagster compresses its snapshots), and every file is also read as bytes (UTF-8, what no decoder sees: free
pages, logs, HTML, JSON), with its path.

Texts are never compared with every value: candidate tokens are cut from them by shape and intersected
with the sought values (a hash join), so the cost grows with the text, not with text × values.
- plates (a Han character and 6 or 7 letters or digits): every Han character followed by letters or digits,
  cut to 7 and 8 characters. Sound: where a plate stands, a match of that pattern starts at its first
  character (the one before it cannot run across a Han character) and runs at least to its end.
- names (2 to 4 Han characters): every substring of 2 to 4 characters of every run of Han characters.
  Sound: a name in a text lies inside one maximal run of Han characters, and at its offset in that run it is
  one of the substrings cut.
- ID numbers and capture IDs (digits, an ID number's last perhaps X) and image payloads (base64): whole runs
  of digits or of base64 characters, as every writer delimits them (JSON, CSV, paths, HTML); a value glued
  into a longer run of digits is not found, since cutting every window of the lake's millions of 48-digit
  vehicle capture IDs would cost more than the scan.
A value of another shape (a name with a middle dot, a plate ending in 学 or 警) is searched for as it is,
with one Aho-Corasick pass per text (Polars), as such values are few.
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
import stat
import urllib.parse
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from xl_pipelines.parsers.gat1400 import NO_PLATE, PLACEHOLDERS
from xl_pipelines.pseudonym import plate_key

KINDS = {"plate": "plates", "id_number": "ID numbers", "name": "names", "capture_id": "face / person capture IDs",
         "image": "image payloads"}
FIELDS = {"PlateNo": "plate", "IDNumber": "id_number", "IdNumber": "id_number", "Name": "name",
          "FaceID": "capture_id", "PersonID": "capture_id", "Data": "image"}
MIN_LENGTH = {"name": 2}  # shorter values name no one and would be found everywhere (a name: 2 Han characters)
MIN_OTHER = 6
_KEYS = "|".join(FIELDS)
JSON_FIELD = rf'"(?:{_KEYS})"\s*:\s*(?:"(?:[^"\\]|\\.)*"|[-+0-9.eE]+)'
QUERY_FIELD = rf"[?&](?:{_KEYS})=[^&#\"\s]*"
ONVIF_ELEMENT = r"<(?:[\w.-]+:)?PlateNumber\b[^>]*>[^<]*<"
ONVIF_ITEM = r"<(?:[\w.-]+:)?SimpleItem\b[^>]*>"
ONVIF_ITEM_NAMES = ("PlateNumber", "LicensePlate", "PlateNo", "Plate")
# The shapes tokens are cut by (see the module's docstring); a sought value of none of them is searched as is.
SHAPES = {"plate": r"^\p{Han}[A-Za-z0-9]{6,7}$", "digits": r"^\d+[Xx]?$", "name": r"^\p{Han}{2,4}$",
          "base64": r"^[A-Za-z0-9+/]{16,}={0,2}$"}
SQLITE = b"SQLite format 3\x00"
PARQUET = b"PAR1"
BATCH_ROWS, BATCH_BYTES = 250_000, 64 * 2**20  # distinct texts searched at once, and their size


@dataclass
class Leak:
    where: str  # the file, relative to XL_HOME, and the column or table in it
    kind: str
    values: int  # distinct values found
    example: str  # first character and length, never the value

    def line(self) -> str:
        return f"leak: {self.where}: {self.values:,} {KINDS[self.kind]} in clear (e.g. {self.example})"


@dataclass
class Scan:
    sought: dict[str, int]
    files: int = 0
    size: int = 0
    leaks: list[Leak] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # files that could not be searched through: no clean bill

    def summary(self) -> str:
        sought = ", ".join(f"{self.sought.get(k, 0):,} {label}" for k, label in KINDS.items())
        return (f"privacy scan: sought {sought} (from the landing zone); searched {self.files:,} files "
                f"({self.size / 2**20:,.1f} MiB) outside the landing zone and recordings; {len(self.leaks)} leak(s)"
                + (f", {len(self.unreadable)} file(s) not searched through" if self.unreadable else ""))


def masked(value: str) -> str:
    """What a report may show of a personal value: its first character and its length."""
    return f"{value[:1]}… ({len(value)} characters)"


def _files(root: Path, skip: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Regular files below `root`, links not followed, `skip` folders left out."""
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if (here / d) not in skip]
        for name in names:
            path = here / name
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


def _landing_text(data: bytes) -> str:
    """UTF-8, or line by line GB 18030 where a line is not (a receiver that logged a name in GBK)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\n".join(_line(line) for line in data.split(b"\n"))


def _line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("gb18030", "replace")


def _text(data: bytes) -> str:
    """What xl writes is UTF-8; other bytes (compressed pages, binary) become U+FFFD, never made-up Han text."""
    return data.decode("utf-8", "replace")


def _matches(text: str, pattern: str) -> pl.Series:
    return pl.Series([text], dtype=pl.String).str.extract_all(pattern).explode().drop_nulls().unique()


def _json_values(matches: pl.Series) -> pl.DataFrame:
    """`"Key": value` matches → (kind, value), JSON strings unescaped (Python only on the few with a backslash)."""
    frame = pl.DataFrame({"match": matches}).select(
        kind=pl.col("match").str.extract(r'^"(\w+)"').replace_strict(FIELDS),
        value=pl.col("match").str.extract(r'^"\w+"\s*:\s*(.*)$', 1))
    quoted = pl.col("value").str.starts_with('"')
    frame = frame.with_columns(value=pl.when(quoted).then(pl.col("value").str.slice(1, pl.col("value").str.len_chars() - 2))
                               .otherwise("value"), escaped=quoted & pl.col("value").str.contains("\\", literal=True))
    plain = frame.filter(~pl.col("escaped")).select("kind", "value")
    escaped = frame.filter(pl.col("escaped"))
    unescaped = [_unescape(v) for v in escaped["value"]]
    return pl.concat([plain, pl.DataFrame({"kind": escaped["kind"], "value": unescaped}, schema=plain.schema)])


def _unescape(value: str) -> str:
    """A JSON string's content (without its quotes) unescaped."""
    try:
        return json.loads(f'"{value}"')
    except ValueError:
        return value


def _query_values(matches: pl.Series) -> pl.DataFrame:
    frame = pl.DataFrame({"match": matches}).select(
        kind=pl.col("match").str.extract(r"^[?&](\w+)=").replace_strict(FIELDS),
        value=pl.col("match").str.extract(r"^[?&]\w+=(.*)$"))
    return frame.with_columns(value=pl.Series([urllib.parse.unquote(v) for v in frame["value"]], dtype=pl.String))


def _onvif_values(text: str) -> pl.DataFrame:
    elements = _matches(text, ONVIF_ELEMENT).str.extract(r">([^<]*)<$")
    items = _matches(text, ONVIF_ITEM)
    names = items.str.extract(r"""\bName\s*=\s*["']([^"']*)["']""")
    values = items.filter(names.is_in(ONVIF_ITEM_NAMES)).str.extract(r"""\bValue\s*=\s*["']([^"']*)["']""")
    plates = [html.unescape(v) for v in pl.concat([elements, values]).drop_nulls().unique()]
    return pl.DataFrame({"kind": ["plate"] * len(plates), "value": plates}, schema={"kind": pl.String, "value": pl.String})


def sought_values(landing: Path) -> pl.DataFrame:
    """(kind, value) of every personal value the landing zone's POST logs and ONVIF documents hold in clear."""
    parts = [pl.DataFrame(schema={"kind": pl.String, "value": pl.String})]
    for path in _files(landing / "viid") if (landing / "viid").is_dir() else ():
        if path.suffix == ".jsonl":
            text = _landing_text(path.read_bytes())
            parts += [_json_values(_matches(text, JSON_FIELD)), _query_values(_matches(text, QUERY_FIELD))]
    for path in _files(landing / "onvif") if (landing / "onvif").is_dir() else ():
        if path.suffix == ".xml":
            parts.append(_onvif_values(_landing_text(path.read_bytes())))
    values = pl.concat(parts).unique()
    values = pl.concat([values, values.filter(pl.col("kind") == "plate").with_columns(value=plate_key(pl.col("value")))])
    value = pl.col("value").str.strip_chars()
    values = values.with_columns(value).filter(
        ~value.is_in([*PLACEHOLDERS, *NO_PLATE]), value.is_not_null(),
        value.str.len_chars() >= pl.col("kind").replace_strict(MIN_LENGTH, default=MIN_OTHER, return_dtype=pl.UInt32))
    return values.unique().sort("kind", "value")


def tokens(texts: pl.DataFrame) -> pl.DataFrame:
    """The candidate tokens of texts (`where`, `text`), by shape (the module's docstring says why none is missed):
    (`where`, `value`)."""
    frame = texts.drop_nulls().unique()

    def cut(pattern: str) -> pl.DataFrame:
        return frame.select("where", value=pl.col("text").str.extract_all(pattern)).explode("value").drop_nulls().unique()

    plates = cut(r"\p{Han}[A-Za-z0-9]{6,}").select(
        "where", value=pl.concat_list(pl.col("value").str.slice(0, 7), pl.col("value").str.slice(0, 8))).explode("value")
    runs = cut(r"\p{Han}{2,}").with_columns(n=pl.col("value").str.len_chars())
    names = [runs.filter(pl.col("n") >= k).select("where", "value", at=pl.int_ranges(0, pl.col("n") - k + 1))
             .explode("at").select("where", pl.col("value").str.slice(pl.col("at"), k)) for k in (2, 3, 4)]
    return pl.concat([plates, *names, cut(r"\d+[Xx]?"), cut(r"[A-Za-z0-9+/]{16,}={0,2}")]).unique()


class Finder:
    """Finds sought values in texts: by token where the value has a shape tokens are cut by, else as is."""

    def __init__(self, sought: pl.DataFrame):
        shaped = pl.any_horizontal(pl.col("value").str.contains(s) for s in SHAPES.values())
        self.shaped = sought.filter(shaped)
        self.odd = sought.filter(~shaped)

    def found(self, texts: pl.DataFrame) -> pl.DataFrame:
        """(`where`, `kind`, `value`) of the sought values found in texts (`where`, `text`)."""
        hits = tokens(texts).join(self.shaped, on="value")
        if self.odd.height and texts.height:
            seen = texts.drop_nulls().unique().select(
                "where", value=pl.col("text").str.extract_many(self.odd["value"].implode(), overlapping=True))
            hits = pl.concat([hits, seen.explode("value").unique().join(self.odd, on="value")])
        return hits.select("where", "kind", "value")


def strings(series: pl.Series) -> pl.Series | None:
    """A column's values as text, nested ones flattened; None for types that cannot hold such a value (floats,
    times, booleans)."""
    dtype = series.dtype
    if isinstance(dtype, pl.Array):
        return strings(series.arr.explode())
    if isinstance(dtype, pl.List):
        return strings(series.explode())
    if isinstance(dtype, pl.Struct):
        parts = [s for f in dtype.fields if (s := strings(series.struct.field(f.name))) is not None]
        return pl.concat(parts) if parts else None
    if dtype == pl.Binary:
        return pl.Series([_text(b) for b in series.drop_nulls().unique()], dtype=pl.String)
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum) or dtype.is_integer():
        return series.cast(pl.String)
    return None


def _parquet_columns(path: Path) -> Iterator[tuple[str, pl.Series]]:
    parquet = pq.ParquetFile(path)
    for name in parquet.schema_arrow.names:
        yield f"column {name}", pl.from_arrow(parquet.read(columns=[name]).column(0))


def _duckdb_columns(path: Path) -> Iterator[tuple[str, pl.Series]]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = "
                             "current_database()").fetchall()
        for schema, table in tables:
            name = f'{_ident(schema)}.{_ident(table)}'
            for column in [c for c, *_ in con.execute(f"DESCRIBE {name}").fetchall()]:
                yield f"table {schema}.{table} column {column}", con.sql(f"SELECT {_ident(column)} FROM {name}").pl().to_series()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_columns(path: Path) -> Iterator[tuple[str, pl.Series]]:
    # immutable: read as it lies, creating no -wal / -shm beside it (a -wal left by a live writer is opened
    # normally, read-only, so its pages are seen; the -wal file's bytes are searched as a file too)
    wal = path.with_name(path.name + "-wal").exists()
    con = sqlite3.connect(path.as_uri() + ("?mode=ro" if wal else "?mode=ro&immutable=1"), uri=True)
    try:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = con.execute(f"SELECT * FROM {_ident(table)}")
            columns = [d[0] for d in cursor.description]
            cells: list[list[str]] = [[] for _ in columns]
            for row in cursor:
                for cell, values in zip(row, cells, strict=True):
                    if isinstance(cell, str):
                        values.append(cell)
                    elif isinstance(cell, bytes):
                        values.append(_blob(cell))
                    elif isinstance(cell, int):
                        values.append(str(cell))
            for column, values in zip(columns, cells, strict=True):
                yield f"table {table} column {column}", pl.Series(values, dtype=pl.String)
    finally:
        con.close()


def _blob(data: bytes) -> str:
    try:
        return _text(zlib.decompress(data))
    except zlib.error:
        return _text(data)


def _decoded(path: Path, head: bytes) -> Iterator[tuple[str, pl.Series]]:
    """The columns of a file a byte search cannot see through (Parquet, DuckDB, SQLite)."""
    if head.startswith(PARQUET):
        yield from _parquet_columns(path)
    elif head.startswith(SQLITE):
        yield from _sqlite_columns(path)
    elif head[8:12] == b"DUCK":
        yield from _duckdb_columns(path)


def _texts(path: Path, relative: str) -> Iterator[tuple[str, pl.Series]]:
    """Where in the file, and the texts there: its name and bytes, then the columns a decoder finds."""
    data = path.read_bytes()
    yield "bytes", pl.Series([relative, *_text(data).split("\n")], dtype=pl.String)
    head = data[:16]
    del data
    yield from _decoded(path, head)


def _batches(paths: list[Path], home: Path, result: Scan) -> Iterator[pl.DataFrame]:
    """The files' texts (`where`, `text`), a few files at a time: the tokens of many columns are cut and joined
    with the sought values at once (a join per column would cost more than the search)."""
    batch: list[pl.DataFrame] = []
    rows = size = 0
    for path in paths:
        relative = str(path.relative_to(home))
        result.files += 1
        result.size += path.stat().st_size
        try:
            texts = [pl.DataFrame({"text": text.unique()}).select(where=pl.lit(f"{relative} ({where})"), text="text")
                     for where, series in _texts(path, relative) if (text := strings(series)) is not None]
        except (OSError, sqlite3.Error, pa.ArrowException, duckdb.Error) as exc:  # its message may quote the data
            result.unreadable.append(f"{relative} ({type(exc).__name__})")
            continue
        batch += texts
        rows += sum(t.height for t in texts)
        size += sum(t["text"].str.len_bytes().sum() for t in texts)
        if rows >= BATCH_ROWS or size >= BATCH_BYTES:
            yield pl.concat(batch)
            batch, rows, size = [], 0, 0
    if batch:
        yield pl.concat(batch)


def scan(home: Path, landing: Path, recordings: Path) -> Scan:
    """Search every file under `home` but the landing zone and recordings for the landing zone's personal values."""
    sought = sought_values(landing)
    result = Scan(sought=dict(sought.group_by("kind").len().iter_rows()))
    if sought.is_empty():
        return result
    finder = Finder(sought)
    for texts in _batches(sorted(_files(home, skip=(landing, recordings))), home, result):
        leaks = finder.found(texts).group_by("where", "kind").agg(pl.len(), pl.col("value").min()).sort("where", "kind")
        result.leaks += [Leak(where, kind, n, masked(value)) for where, kind, n, value in leaks.iter_rows()]
    return result
