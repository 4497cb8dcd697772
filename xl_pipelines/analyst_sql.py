"""What `xl sql` lets analysts run: queries over the views, nothing else; and how results leave it.

Every statement is classified by DuckDB's own parser (statement types, and the parse tree of a SELECT), so
what is checked is what DuckDB would run; a regex would miss comments, quoting and nesting. The read-only
connection is locked down as well (`warehouse.connect_readonly`), in case this check misses something.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import duckdb
import polars as pl

from xl_pipelines.lake import connect
from xl_pipelines.settings import ConfigError

REFUSED = "xl sql is read-only"
WRITES = "{} would write (analysts may only read; the lake is written by the pipeline)"
DATABASES = "{} is refused: only the views in xl.duckdb are open to analysts"
FILES = "reading files ({}) is refused: query the views (e.g. gold.banner_daily_kpis)"
COPIES = "{} is refused: it moves data to or from files; take results away with --format csv or json"
SETTINGS = "changing settings ({}) is refused"
OTHERS = "{} is not a query (allowed: SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN)"

BY_TYPE = {
    **dict.fromkeys(("INSERT", "UPDATE", "DELETE", "CREATE", "CREATE_FUNC", "DROP", "ALTER", "VACUUM", "ANALYZE",
                     "MERGE_INTO", "COPY_DATABASE"), WRITES),
    "MULTI": "{} … ON a column without an IN list runs several statements (it creates a type first): "
             "name the values, PIVOT … ON code IN ('150502', '150521') …",
    **dict.fromkeys(("ATTACH", "DETACH"), DATABASES),
    **dict.fromkeys(("COPY", "EXPORT"), COPIES),
    **dict.fromkeys(("SET", "VARIABLE_SET", "PRAGMA", "LOAD", "CALL"), SETTINGS),
}
BY_KEYWORD = {"USE": DATABASES, "CHECKPOINT": WRITES, "IMPORT": COPIES}  # DuckDB files these under SET, CALL, PRAGMA
MAX_QUERY_CHARS = 100_000  # far beyond a written query; past it DuckDB's parser alone takes many seconds
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})  # plus the duckdb_* catalog listings


class RefusedQuery(ConfigError):
    """A statement analysts may not run; the message names it and says why."""


def check(sql: str) -> None:
    """Raise RefusedQuery unless every statement in `sql` only reads the views (a syntax error is left to
    DuckDB: duckdb.ParserException)."""
    if len(sql) > MAX_QUERY_CHARS:
        raise RefusedQuery(f"{REFUSED}: a query of {len(sql):,} characters is refused (at most {MAX_QUERY_CHARS:,})")
    try:
        with connect() as con:  # parses only; never fetches an extension
            for statement in con.extract_statements(sql):
                _check_statement(con, statement)
    except RecursionError:  # the parse tree nests deeper than Python reads it; DuckDB itself stops at 1000
        raise RefusedQuery(f"{REFUSED}: the query nests too deeply to be checked (subqueries, joins or "
                           "expressions hundreds of levels deep)") from None


def _check_statement(con: duckdb.DuckDBPyConnection, statement) -> None:
    query, keyword = statement.query, _words(statement.query)[0][1]
    try:
        kind = statement.type.name
    except ValueError:  # a type the Python API cannot name (e.g. UPDATE EXTENSIONS): not a query either
        kind = "UNKNOWN"
    if kind == "EXPLAIN":  # shows (with ANALYZE: runs) the statement it wraps, so that one is checked
        for explained in con.extract_statements(_explained(query)):
            _check_statement(con, explained)
        return
    if kind != "SELECT":
        raise RefusedQuery(f"{REFUSED}: " + BY_KEYWORD.get(keyword, BY_TYPE.get(kind, OTHERS)).format(keyword))
    source = next(_outside_sources(parse_tree(con, query)), None)
    if source:
        raise RefusedQuery(f"{REFUSED}: {FILES.format(source)}")


def parse_tree(con: duckdb.DuckDBPyConnection, select: str) -> dict:
    """DuckDB's parse tree of a SELECT (json_serialize_sql), refused if DuckDB cannot give one."""
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [select]).fetchall()[0][0])
    if tree["error"]:
        raise RefusedQuery(f"{REFUSED}: DuckDB cannot show what this statement reads ({tree['error_message']})")
    return tree


def nodes(tree) -> Iterator[dict]:
    """Every object in a parse tree, depth first: table references hide in CTEs, subqueries and joins."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from nodes(value)


def _outside_sources(tree: dict) -> Iterator[str]:
    """Table functions beyond a harmless few (so read_csv, read_parquet, glob, query… are out), and table names
    that are file paths (DuckDB's replacement scans: FROM 'some/file.csv')."""
    for node in nodes(tree):
        if node.get("type") == "TABLE_FUNCTION":
            name = node["function"]["function_name"]
            if name not in TABLE_FUNCTIONS and not name.startswith("duckdb_"):
                yield name
        elif node.get("type") == "BASE_TABLE" and any(c in node["table_name"] for c in "./\\:"):
            yield repr(node["table_name"])


def _words(query: str) -> list[tuple[int, str]]:
    """(offset, upper-cased text) of each token but comments, from DuckDB's tokenizer."""
    tokens = duckdb.tokenize(query)
    ends = [start for start, _ in tokens[1:]] + [len(query)]
    return [(start, query[start:end].strip().upper())
            for (start, kind), end in zip(tokens, ends, strict=True) if kind != duckdb.token_type.comment]


def _explained(query: str) -> str:
    """The statement of `EXPLAIN [ANALYZE] [(options)] statement`."""
    depth = 0
    for start, word in _words(query)[1:]:
        depth += (word == "(") - (word == ")")
        if depth == 0 and word not in ("ANALYZE", ")"):
            return query[start:]
    raise RefusedQuery(f"{REFUSED}: {OTHERS.format('EXPLAIN without a statement')}")


FORMULA_START = r"^[=+\-@\t\r\n]"  # a spreadsheet runs a cell beginning so as a formula (OWASP, CSV injection)
PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
TEXT = (pl.String, pl.Categorical, pl.Enum)


def csv_text(frame: pl.DataFrame) -> str:
    """`frame` as CSV that is safe to open in a spreadsheet: a text cell (or column name) that would start a
    formula gets a leading single quote, unless it is a plain number ("-5"); numeric columns are left as they
    are. Nested and binary columns (lists, structs, maps, blobs), which CSV cannot hold, are refused by name."""
    nested = [f"{name} ({dtype})" for name, dtype in frame.schema.items()
              if not (dtype.is_numeric() or dtype.is_temporal() or isinstance(dtype, (*TEXT, pl.Boolean, pl.Null)))]
    if nested:
        raise ConfigError(f"CSV cannot hold nested or binary values: {', '.join(nested)}; use --format json, or "
                          "turn them into text in the query (e.g. column::VARCHAR)")
    names = pl.DataFrame({"name": frame.columns}).select(_neutralised(pl.col("name")).alias("name"))["name"]
    return frame.select((_neutralised(pl.col(name).cast(pl.String)) if isinstance(dtype, TEXT) else pl.col(name)).alias(safe)
                        for (name, dtype), safe in zip(frame.schema.items(), names, strict=True)).write_csv()


def _neutralised(text: pl.Expr) -> pl.Expr:
    return pl.when(text.str.contains(FORMULA_START) & ~text.str.contains(PLAIN_NUMBER)).then("'" + text).otherwise(text)
