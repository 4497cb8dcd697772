"""The data dictionary: every public table and column analysts see in xl.duckdb, from the code that makes them.

Written down once, next to what produces it, so the docs cannot drift from the tables:
- a gold table is its SQL model: the model's leading comment is the table's description, and each output
  column of its outermost SELECT carries a trailing line comment describing it, e.g.
  `sum(online_s) / nullif(sum(expected_s), 0) AS online_rate,  -- Σ online seconds / Σ observed seconds`;
- the tables the Python harvests and refines land (bronze, silver, quarantine) are described in
  `tables.yaml` beside this module.
A table's columns are listed as its DuckDB view shows them: the partition keys from the lake path first
(`date` or `month`; not `banner`, which rows carry as `code`), then the columns of its Parquet files.

`python -m xl_pipelines.dictionary` (`make docs`) writes docs/data_dictionary.md; with `--check` it exits 1
when that file is stale.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import yaml
from sqlglot import exp

from xl_pipelines.lake import LAYERS
from xl_pipelines.sql_models import MODELS_DIR, SqlModel, load_models, parsed

ROOT = Path(__file__).resolve().parent.parent
TABLES_FILE = Path(__file__).with_name("tables.yaml")
DOCS_FILE = ROOT / "docs" / "data_dictionary.md"
COMMAND = "make docs"  # or `python -m xl_pipelines.dictionary`
# YAML's safe loader, in C where PyYAML has libyaml: tables.yaml is read at every import of the code location
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LAYER_NOTES = {
    "bronze": "Parsed rows of the landing zone, one per record accepted, personal data pseudonymised.",
    "silver": "The registry, intervals and facts refined from bronze.",
    "gold": "KPIs and marts, each built by a SQL model in dbt_like_sql/.",
    "quarantine": "Rejected records: source file, line or item, and why. For every source and partition, "
                  "rows read = rows accepted + rows quarantined.",
}


class PartitionKey(NamedTuple):
    word: str  # what one partition is, in words
    path: str  # how the lake path spells it
    column: str | None  # what the view's column holds (a table may describe its own); None: not in the view


PARTITION_KEYS = {
    "date": PartitionKey("day", "date=YYYY-MM-DD", "The local day (Asia/Shanghai) of the partition, from the lake path."),
    "month": PartitionKey("month", "month=YYYY-MM", "The local month (Asia/Shanghai) of the partition, from the lake path."),
    "banner": PartitionKey("banner", "banner=<code>", None),  # rows carry the banner as `code`
}


class DictionaryError(ValueError):
    """A table the dictionary cannot describe: a model column without its comment, a malformed tables.yaml."""


@dataclass(frozen=True)
class Table:
    layer: str
    name: str
    description: str
    partitions: tuple[str, ...]  # the lake path's keys, in order
    columns: tuple[tuple[str, str], ...]  # (column, description), as the DuckDB view shows them
    documented_in: str  # the file to edit to change the entry

    @property
    def qualified(self) -> str:
        return f"{self.layer}.{self.name}"


def model_columns(model: SqlModel) -> list[tuple[str, str]]:
    """(column, description) for each output column of the model's outermost SELECT, in order.

    The description is the column's trailing line comment; a column without exactly one, without a name,
    or a `*` (which hides the columns from the reader) is refused, naming the model and the column.
    """
    columns = []
    for item in parsed(model.sql).selects:
        if item.is_star:
            raise DictionaryError(f"{model.name}.sql: its outermost SELECT has `{_shown(item)}`: list the columns "
                                  "instead, each with a trailing `-- description`")
        if not item.output_name:
            raise DictionaryError(f"{model.name}.sql: output `{_shown(item)}` has no name: give it an alias "
                                  "(`… AS name,  -- description`)")
        comments = [c.strip() for c in item.comments or [] if c.strip()]
        if len(comments) != 1:
            found = "none" if not comments else f"{len(comments)}: {comments}"
            raise DictionaryError(f"{model.name}.sql: output column {item.output_name} needs one trailing "
                                  f"`-- description` on its line (found {found})")
        columns.append((item.output_name, comments[0]))
    return columns


def _shown(item: exp.Expression) -> str:
    """A refused output column as its SQL (written only then: SQL generation is slow to load)."""
    return item.sql(dialect="duckdb", comments=False)


def view_columns(qualified: str, columns: list[tuple[str, str]], partitions: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The columns as the table's DuckDB view shows them (warehouse.view_sql): the path's keys but `banner`
    first, then the file's columns (a partition key in the data is dropped when written: the path holds it)."""
    described = dict(columns)
    leading = []
    for key in partitions:
        if key == "banner":
            continue
        description = described.get(key) or (PARTITION_KEYS[key].column if key in PARTITION_KEYS else None)
        if description is None:
            raise DictionaryError(f"{qualified}: describe its partition column {key}")
        leading.append((key, description))
    return (*leading, *((name, text) for name, text in columns if name not in partitions))


def model_table(model: SqlModel) -> Table:
    """A gold table from its SQL model."""
    return Table("gold", model.name, model.description, model.dimensions,
                 view_columns(f"gold.{model.name}", model_columns(model), model.dimensions),
                 f"{MODELS_DIR.name}/{model.name}.sql")


def yaml_tables(path: Path = TABLES_FILE) -> list[Table]:
    """The tables tables.yaml describes (`layer.table`: description, partitions, columns)."""
    tables = []
    for qualified, entry in (yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}).items():
        layer, _, name = qualified.partition(".")
        if layer not in LAYERS or not name:
            raise DictionaryError(f"{path.name}: {qualified!r} is not <layer>.<table> with a layer of {LAYERS}")
        if not isinstance(entry, dict) or set(entry) != {"description", "partitions", "columns"}:
            raise DictionaryError(f"{path.name}: {qualified} needs exactly description, partitions and columns")
        columns = list((entry["columns"] or {}).items())
        if missing := [column for column, text in columns if not isinstance(text, str) or not text.strip()]:
            raise DictionaryError(f"{path.name}: {qualified} has columns without a description: {missing}")
        partitions = tuple(entry["partitions"] or ())
        tables.append(Table(layer, name, " ".join(entry["description"].split()), partitions,
                            view_columns(qualified, columns, partitions), f"xl_pipelines/{path.name}"))
    return tables


def load_dictionary(models: list[SqlModel] | None = None, tables_file: Path = TABLES_FILE) -> list[Table]:
    """Every documented table, by layer (bronze, silver, gold, quarantine) then name."""
    tables = [model_table(m) for m in (load_models() if models is None else models)] + yaml_tables(tables_file)
    seen: dict[str, str] = {}
    for table in tables:
        if table.qualified in seen:
            raise DictionaryError(f"{table.qualified} is described twice: in {seen[table.qualified]} and "
                                  f"{table.documented_in}")
        seen[table.qualified] = table.documented_in
    return sorted(tables, key=lambda t: (LAYERS.index(t.layer), t.name))


def partitioning(keys: tuple[str, ...]) -> str:
    """One sentence on how a table is partitioned in the lake."""
    if not keys:
        return "Not partitioned."
    known = [PARTITION_KEYS.get(k, PartitionKey(k, f"{k}=…", None)) for k in keys]
    words, path = " × ".join(k.word for k in known), "/".join(k.path for k in known)
    banner = " (the view shows the banner as each row's `code`)" if "banner" in keys else ""
    return f"One partition per {words}: `{path}`{banner}."


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(tables: list[Table] | None = None) -> str:
    """docs/data_dictionary.md: a section per table, grouped by layer, each with its columns."""
    tables = load_dictionary() if tables is None else tables
    lines = [
        "# Data dictionary",
        "",
        f"> Generated by `{COMMAND}` (`python -m xl_pipelines.dictionary`) from the SQL models' comments "
        "(`dbt_like_sql/*.sql`) and `xl_pipelines/tables.yaml`. Do not edit it by hand: change those and "
        "regenerate; the tests fail while this file is stale.",
        "",
        "Every table analysts see in `$XL_HOME/xl.duckdb` (read-only views over the Parquet lake, one schema per "
        "layer). Rates are fractions in [0, 1]; times are timestamps with time zone, shown in local time "
        "(Asia/Shanghai); `code` is the banner's 6-digit administrative code (DOMAIN.md).",
    ]
    for layer in LAYERS:
        in_layer = [t for t in tables if t.layer == layer]
        if not in_layer:
            continue
        lines += ["", f"## {layer}", "", LAYER_NOTES[layer]]
        for table in in_layer:
            lines += ["", f"### {table.qualified}", "", table.description, "",
                      f"{partitioning(table.partitions)} Documented in `{table.documented_in}`.", "",
                      "| column | description |", "|---|---|"]
            lines += [f"| `{name}` | {_cell(text)} |" for name, text in table.columns]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    shown = DOCS_FILE.relative_to(ROOT)
    parser = argparse.ArgumentParser(prog="python -m xl_pipelines.dictionary",
                                     description=f"Write {shown} from the SQL models and xl_pipelines/tables.yaml.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file is stale")
    args = parser.parse_args(argv)
    try:
        tables = load_dictionary()
    except DictionaryError as exc:
        print(f"data dictionary: {exc}", file=sys.stderr)
        return 1
    text = render_markdown(tables)
    if args.check:
        if not DOCS_FILE.exists() or DOCS_FILE.read_text(encoding="utf-8") != text:
            print(f"{shown} is stale: the SQL models or xl_pipelines/tables.yaml changed since it was written; "
                  f"run `{COMMAND}` and commit it", file=sys.stderr)
            return 1
        print(f"{shown} is up to date")
        return 0
    DOCS_FILE.parent.mkdir(parents=True, exist_ok=True)
    DOCS_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {shown} ({len(tables)} tables)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
