"""Text from the data as people may safely read it: hidden characters shown, never acted on.

A camera name (or any value an exporter controls) can carry characters a reader does not see but a screen
obeys: terminal escape sequences (ESC, CSI… recolour or rewrite a terminal), right-to-left overrides and
other bidi controls (U+202E makes "gpj.exe" read as "exe.jpg"), zero-width characters, line separators. Every
report, `xl sql` table and demo table shows each of them as its escape (`\\x1b`, `\\u202e`), so a name that
differs from another only by them reads differently too; the data itself is never changed.

Hidden means Unicode's control (Cc) and format (Cf) characters and the line and paragraph separators (Zl, Zp),
but the Mongolian vowel separator (U+180E), which Mongolian script needs (Tongliao writes it).
"""

from __future__ import annotations

import functools
import html
import sys
import unicodedata

import polars as pl

KEPT = {"\u180e"}


def _escape(char: str) -> str:
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


@functools.cache
def hidden() -> dict[str, str]:
    """Each hidden character and its escape (built on first use: it scans all of Unicode)."""
    return {chr(p): _escape(chr(p)) for p in range(sys.maxunicode + 1)
            if unicodedata.category(chr(p)) in ("Cc", "Cf", "Zl", "Zp") and chr(p) not in KEPT}


@functools.cache
def _table() -> dict[int, str]:
    return str.maketrans(hidden())


def visible(text: str) -> str:
    """`text` with every hidden character shown as its escape (a backslash shows as itself). Printable text
    has none (every hidden character is unprintable to Python): returned as it is, without the table."""
    return text if text.isprintable() else text.translate(_table())


def html_text(text: object) -> str:
    """`text` for an HTML page: hidden characters shown, then HTML-escaped."""
    return html.escape(visible(str(text)))


def visible_expr(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The same for a column of `dtype`, whole: strings, and strings inside lists and structs."""
    if dtype == pl.String:
        return expr.str.replace_many(list(hidden()), list(hidden().values()))
    if isinstance(dtype, pl.List):
        return expr.list.eval(visible_expr(pl.element(), dtype.inner))
    if isinstance(dtype, pl.Array):
        return expr.arr.eval(visible_expr(pl.element(), dtype.inner))
    if isinstance(dtype, pl.Struct):
        fields = pl.struct(*(visible_expr(expr.struct.field(f.name), f.dtype).alias(f.name) for f in dtype.fields))
        return pl.when(expr.is_not_null()).then(fields)
    return expr


def visible_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` as printed for people: every text value `visible`, column names too."""
    return frame.select(visible_expr(pl.col(name), dtype).alias(visible(name)) for name, dtype in frame.schema.items())


# The rules every page shares: a Chinese font the machine has, headings, notes, tables of figures, chart text.
BASE_STYLE = """
body{font-family:"WenQuanYi Zen Hei","Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px 32px;color:#1d2733}
h1{font-size:24px;margin:0}h2{font-size:18px;border-bottom:2px solid #1f5fa8;padding-bottom:4px;margin-top:28px}
.en{color:#5a6b7d;font-size:85%}.sub{color:#5a6b7d}.warn{background:#fff4e0;border-left:4px solid #d9822b;padding:6px 10px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #d5dde6;padding:4px 7px;vertical-align:top}
th{background:#eef3f8;text-align:center}td.num{text-align:right;font-variant-numeric:tabular-nums}td.id{font-family:monospace}
figcaption{font-size:12px;text-align:center}svg .grid{stroke:#e3e8ee}svg .tick,svg .legend{font-size:11px;fill:#44525f}
"""


def html_page(title: str, style: str, heading: str, intro: str, sections: list[tuple[str, str, str]], sources: str,
              generated) -> str:
    """One self-contained offline page (the leadership report, the worklist): a heading, `intro` (HTML), then
    each (Chinese title, English title, HTML) section, and a footer naming when and from which tables; styled
    by BASE_STYLE and the page's own `style`."""
    body = "".join(f"<h2>{html_text(zh)} <span class='en'>{html_text(en)}</span></h2>{part}" for zh, en, part in sections)
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html_text(title)}</title>'
            f"<style>{BASE_STYLE}{style}</style></head><body><h1>{html_text(heading)}</h1>{intro}{body}"
            f'<p class="sub">生成于 {generated:%Y-%m-%d %H:%M} · Generated {generated.isoformat(timespec="minutes")} '
            f"by xl from {html_text(sources)}.</p></body></html>")
