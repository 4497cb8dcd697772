"""Hostile analysts, hostile values and hostile paths: output that cannot attack its reader, a pseudonym key
that cannot change silently, an XL_HOME with a quote, a space and CJK, and hidden characters shown."""

import csv
import datetime as dt
import hashlib
import io
import json

import dagster as dg
import polars as pl
import pytest

from tests.conftest import (
    BANNER,
    DAY,
    TEST_KEY,
    camera_id,
    catalog_item,
    catalog_page,
    land_banner,
    run_job,
    write_catalog,
)
from xl_pipelines.banners import load_banners
from xl_pipelines.cli import main
from xl_pipelines.lake import Lake
from xl_pipelines.partitions import banner_day_key
from xl_pipelines.quality_report import record, render
from xl_pipelines.runner import instance_for
from xl_pipelines.settings import ConfigError, get_settings
from xl_pipelines.warehouse import refresh_views

RLO, LRI, ZWSP, ESC = "\u202e", "\u2066", "\u200b", "\x1b"
HOSTILE_NAMES = [f"{ESC}[2J{ESC}]0;pwned\x07", f"建国路{RLO}口叉交", f"明仁{LRI}大街{ZWSP}", "back\rspace\x08\x7f"]
SHOWN_NAMES = ["\\x1b[2J\\x1b]0;pwned\\x07", "建国路\\u202e口叉交", "明仁\\u2066大街\\u200b", "back\\x0dspace\\x08\\x7f"]
FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]
NOT_FORMULAS = ["-5", "+7", "-0.25", "1e-3", "正常", "a=b", "a-b"]


def xl(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()  # what ran before (e.g. Dagster's log) is not this command's output
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The single `xl: error:` line a failure must end in (never a traceback)."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xl: error: "), err
    return lines[0]


@pytest.fixture
def hostile_lake(xl_home) -> Lake:
    """A table whose text cells attack spreadsheets and terminals, beside plain numbers."""
    lake = Lake(get_settings().lake_url)
    cells = HOSTILE_NAMES + FORMULAS + NOT_FORMULAS
    lake.write("silver", "cameras", {"date": "2026-11-20", "banner": BANNER}, pl.DataFrame({
        "channel_id": [f"c{n:02d}" for n in range(len(cells))], "name": cells, "code": BANNER,
        "delta": [-n for n in range(len(cells))], "ratio": [-n / 4 for n in range(len(cells))]}))
    refresh_views(lake, get_settings().warehouse_path)
    return lake


# --- xl sql output -----------------------------------------------------------------------------------------

def test_csv_cells_that_would_start_a_formula_are_quoted_and_numbers_are_not(hostile_lake, capsys):
    code, out, err = xl(capsys, "sql", "select channel_id, name, delta, ratio, '=1' AS \"=x\" from silver.cameras "
                                       "order by channel_id", "--format", "csv")
    assert code == 0, err
    read = list(csv.reader(io.StringIO(out, newline="")))
    assert read[0] == ["channel_id", "name", "delta", "ratio", "'=x"]
    names = {row[0]: row[1] for row in read[1:]}
    offset = len(HOSTILE_NAMES)
    for n, formula in enumerate(FORMULAS):
        assert names[f"c{offset + n:02d}"] == "'" + formula
    for n, plain in enumerate(NOT_FORMULAS):
        assert names[f"c{offset + len(FORMULAS) + n:02d}"] == plain
    assert [row[2] for row in read[1:]] == [str(-n) for n in range(len(read) - 1)]  # numeric: never quoted
    assert read[3][3] == "-0.5" and all(row[4] == "'=1" for row in read[1:])
    # JSON is for programs: the values exactly as stored
    code, out, _ = xl(capsys, "sql", "select name from silver.cameras order by channel_id", "--format", "json")
    assert [r["name"] for r in json.loads(out)] == HOSTILE_NAMES + FORMULAS + NOT_FORMULAS


def test_table_output_shows_escape_sequences_and_bidi_controls_instead_of_obeying_them(hostile_lake, capsys):
    code, out, err = xl(capsys, "sql", "select name from silver.cameras order by channel_id limit 4")
    assert code == 0, err
    hidden = [c for c in out if c in (ESC, RLO, LRI, ZWSP, "\r", "\x07", "\x08", "\x7f")]
    assert hidden == []
    for shown in SHOWN_NAMES:
        assert shown in out


@pytest.mark.parametrize("query", [
    "select [1, 2] as list_col", "select {'a': 1} as struct_col", "select map {'k': 1} as map_col",
    "select 'x'::blob as blob_col", "select [1, 2]::int[2] as array_col"])
def test_nested_or_binary_columns_in_csv_are_one_clear_line(hostile_lake, capsys, query):
    code, _, err = xl(capsys, "sql", query, "--format", "csv")
    assert code == 2
    line = one_line(err)
    assert "CSV cannot hold nested or binary values" in line and query.rsplit(" ", 1)[1] in line


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_type_with_no_table_form_is_one_clear_line(hostile_lake, capsys, fmt):
    code, _, err = xl(capsys, "sql", "select interval 3 day as i", "--format", fmt)
    assert code == 2 and "cannot be shown" in one_line(err)


def test_a_one_megabyte_query_is_one_clear_line(hostile_lake, capsys):
    query = "select count(*) from silver.cameras where delta in (" + ",".join(["-1"] * 350_000) + ")"
    assert len(query) > 1_000_000
    code, _, err = xl(capsys, "sql", query)
    assert code == 2 and f"a query of {len(query):,} characters is refused (at most 100,000)" in one_line(err)


@pytest.mark.parametrize("query", [
    "select * from " + "(select * from " * 5000 + "silver.cameras" + ")" * 5000,
    "select 1 from silver.cameras t0 " + " ".join(f"join silver.cameras t{n} using (code)" for n in range(1, 1500)),
])
def test_a_query_nested_thousands_deep_is_one_clear_line(hostile_lake, capsys, query):
    code, _, err = xl(capsys, "sql", query)
    assert code == 2 and "nests too deeply" in one_line(err)


def test_an_error_quoting_the_data_shows_its_hidden_characters(hostile_lake, capsys):
    code, _, err = xl(capsys, "sql", "select name::int from silver.cameras where channel_id = 'c00'")
    assert code == 2 and "Could not convert string '\\x1b[2J\\x1b]0;pwned\\x07'" in one_line(err) and ESC not in err


def test_a_lake_path_duckdb_would_read_as_a_pattern_is_one_clear_line(tmp_path):
    lake = Lake(str(tmp_path / "lake[1]"))
    lake.write("silver", "cameras", {"date": "2026-11-20", "banner": BANNER}, pl.DataFrame({"code": [BANNER]}))
    with pytest.raises(ConfigError, match=r"has a character DuckDB reads as a file pattern \(\* \? \[\)"):
        refresh_views(lake, tmp_path / "xl.duckdb")


# --- the pseudonym key -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "why"), [
    (" " * 16, "is only whitespace"), ("\t \n" * 8, "is only whitespace"),
    ("a" * 32, "has only 1 distinct characters (at least 6)"), ("abcab" * 4, "has only 3 distinct characters"),
    ("short but mixed", "is shorter than 16 characters")])
def test_a_weak_key_is_refused_before_any_work(xl_home, monkeypatch, capsys, key, why):
    monkeypatch.setenv("XL_PSEUDONYM_KEY", key)
    (xl_home / "landing").mkdir(parents=True)
    code, _, err = xl(capsys, "materialize", "--start", "2020-01-01", "--end", "2020-01-01")
    assert code == 2 and f"XL_PSEUDONYM_KEY {why}" in one_line(err)
    assert not (xl_home / "lake").exists()


def _scrypt(key: str, record: dict) -> str:
    """RFC 7914 scrypt of the key under the recorded salt and costs, computed here independently."""
    return hashlib.scrypt(key.encode(), salt=bytes.fromhex(record["salt"]), n=record["n"], r=record["r"],
                          p=record["p"], maxmem=2**26, dklen=32).hex()


def _captures_run(key: str, monkeypatch) -> dg.ExecuteInProcessResult:
    """The capture asset alone for DAY (as a run started from the Dagster UI), over a one-camera registry and one
    POST line, with `key` in the environment."""
    from assets.captures import capture_harvest
    from xl_pipelines.definitions import defs

    monkeypatch.setenv("XL_PSEUDONYM_KEY", key)
    return dg.materialize([capture_harvest], partition_key=str(banner_day_key(DAY, BANNER)), raise_on_error=False,
                          resources={k: defs.resources[k] for k in ("lake", "landing", "pseudonyms", "clock", "reports")},
                          instance=dg.DagsterInstance.ephemeral())


def test_a_run_with_another_key_is_refused_by_xl_and_by_the_asset(xl_home, monkeypatch, capsys):
    from tests.conftest import capture, post, write_post_logs
    from xl_pipelines.settings import LOCAL_TZ

    lake = Lake(get_settings().lake_url)
    channel = camera_id(1)
    keys = {"date": DAY.isoformat(), "banner": BANNER}
    lake.write("silver", "cameras", keys, pl.DataFrame({"channel_id": [channel], "device_id": [channel]}))  # an IP camera
    lake.write("quarantine", "catalog", keys, pl.DataFrame({"record_id": []}, schema={"record_id": pl.String}))
    shot = dt.datetime.combine(DAY, dt.time(8), LOCAL_TZ)
    write_post_logs(xl_home / "landing", {8: [post(shot, "motor_vehicle", [capture("motor_vehicle", channel, shot, 1,
                                                                                    PlateNo="蒙G7Q2K9")])]})
    assert _captures_run(TEST_KEY, monkeypatch).success  # the first run records its key
    recorded = json.loads((xl_home / "lake" / "_pseudonym_key.json").read_text())
    assert recorded["fingerprint"] == _scrypt(TEST_KEY, recorded) and TEST_KEY not in json.dumps(recorded)
    first = lake.read("silver", "captures", keys)

    other = "another key entirely, 0123456789"
    result = _captures_run(other, monkeypatch)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "XL_PSEUDONYM_KEY is not the key this lake was pseudonymised with" in failure.event_specific_data.error.message
    assert lake.read("silver", "captures", keys).equals(first)

    monkeypatch.setenv("XL_PSEUDONYM_KEY", other)
    code, _, err = xl(capsys, "materialize", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert code == 2 and "is not the key this lake was pseudonymised with" in one_line(err)
    monkeypatch.delenv("XL_PSEUDONYM_KEY")  # the demo would take the public development key: refused as well
    code, _, err = xl(capsys, "demo", "--cameras", "10")
    assert code == 2 and "is not the key this lake was pseudonymised with" in err.splitlines()[-1]
    assert not (xl_home / "landing" / "catalog").exists()  # refused before it simulated anything


def test_a_key_is_rotated_on_purpose_only_with_the_current_one(xl_home, monkeypatch, capsys):
    from xl_pipelines.pseudonym import checked_key

    lake = Lake(get_settings().lake_url)
    checked_key(lake)
    before = lake.key_fingerprint()
    new = "the new key after rotation, 2026"
    monkeypatch.setenv("XL_PSEUDONYM_KEY", new)
    code, _, err = xl(capsys, "rotate-key")
    assert code == 2 and "XL_PSEUDONYM_OLD_KEY is not set" in one_line(err)
    monkeypatch.setenv("XL_PSEUDONYM_OLD_KEY", "not the current key, 987654")
    code, _, err = xl(capsys, "rotate-key")
    assert code == 2 and "XL_PSEUDONYM_OLD_KEY is not the lake key" in one_line(err)
    monkeypatch.setenv("XL_PSEUDONYM_OLD_KEY", TEST_KEY)
    code, _, err = xl(capsys, "rotate-key")
    assert code == 0 and "re-materialise" in err
    after = lake.key_fingerprint()
    assert after["fingerprint"] == _scrypt(new, after) and after["salt"] != before["salt"]
    assert after["previous"][0]["fingerprint"] == before["fingerprint"] and "ended_at" in after["previous"][0]
    assert checked_key(lake) == new.encode()
    monkeypatch.setenv("XL_PSEUDONYM_KEY", TEST_KEY)
    with pytest.raises(ConfigError, match="is not the key this lake was pseudonymised with"):
        checked_key(lake)


@pytest.mark.parametrize("text", [
    "{not json", "[]", '{"scheme": "scrypt", "n": 1073741824, "r": 8, "p": 1, "salt": "00", "fingerprint": "00"}',
    '{"scheme": "scrypt", "n": 16384, "r": 8, "p": 1, "fingerprint": "' + "0" * 64 + '"}'])
def test_a_fingerprint_file_xl_did_not_write_is_one_clear_line(xl_home, capsys, text):
    (xl_home / "landing").mkdir(parents=True)
    (xl_home / "lake").mkdir()
    (xl_home / "lake" / "_pseudonym_key.json").write_text(text)
    code, _, err = xl(capsys, "materialize", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert code == 2 and "_pseudonym_key.json is not a key fingerprint xl wrote" in one_line(err)


def test_a_second_first_run_keeps_the_first_fingerprint(xl_home):
    lake = Lake(get_settings().lake_url)
    first = lake.record_key_fingerprint({"fingerprint": "first"})
    assert lake.record_key_fingerprint({"fingerprint": "second"}) == first == {"fingerprint": "first"}
    assert [p.name for p in (xl_home / "lake").iterdir()] == ["_pseudonym_key.json"]  # no temporary left


# --- a real pipeline under a hostile XL_HOME, a camera name with hidden characters --------------------------

HOSTILE_NAME = f"科尔沁区{RLO}口叉交{LRI}街大仁明{ZWSP}"
CAMERAS = [camera_id(n) for n in (1, 2, 3)]


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory):
    """One banner-day and its month run for real (Dagster's jobs in this process, as `xl materialize`'s workers run
    them: the banner-day, the views, the month on XL_HOME's own instance; the lake; the month's report) with XL_HOME
    under a directory whose name has a quote, a space and CJK, and a camera named with a right-to-left override."""
    root = tmp_path_factory.mktemp("home") / "通辽 o'brien" / "xl"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("XL_LAKE_URL", "XL_LANDING", "XL_RECORDINGS"):
            mp.delenv(name, raising=False)
        mp.setenv("XL_HOME", str(root))
        mp.setenv("XL_PSEUDONYM_KEY", TEST_KEY)
        landing = root / "landing"
        land_banner(landing, BANNER, CAMERAS, lambda camera, at: "OFF" if camera == CAMERAS[0] else "ON")
        west, south, east, north = load_banners().by_code(BANNER).bbox
        here = {"lon": f"{(west + east) / 2:.6f}", "lat": f"{(south + north) / 2:.6f}"}
        write_catalog(landing, [catalog_page([catalog_item(c, name=HOSTILE_NAME if c == CAMERAS[0] else "建国路",
                                                           **here) for c in CAMERAS], encoding="UTF-8")])
        settings = get_settings()
        for job, key in (("banner_day", banner_day_key(DAY, BANNER)), ("warehouse", None)):
            assert run_job(job, key)[1].ok
        from xl_pipelines.definitions import defs
        month = defs.resolve_job_def("month").execute_in_process(partition_key=DAY.strftime("%Y-%m"),
                                                                 instance=instance_for(settings), raise_on_error=False)
        assert month.success
        yield root


def test_views_banner_views_and_report_work_under_a_home_with_a_quote_a_space_and_cjk(hostile_home, capsys):
    assert "'" in str(hostile_home) and " " in str(hostile_home)
    code, out, err = xl(capsys, "sql", "select channel_id from silver.cameras order by 1", "--format", "json")
    assert code == 0, err
    assert [r["channel_id"] for r in json.loads(out)] == CAMERAS
    code, out, err = xl(capsys, "sql", "select count(*) as n from gold.banner_daily_kpis", "--format", "json",
                        "--banner", BANNER)
    assert code == 0 and json.loads(out) == [{"n": 1}], err
    code, out, err = xl(capsys, "sql", "select count(*) as n from silver.cameras", "--format", "json", "--banner", "150521")
    assert code == 0 and json.loads(out) == [{"n": 0}], err
    code, out, err = xl(capsys, "report", "--month", DAY.strftime("%Y-%m"))
    assert code == 0, err
    assert out.strip() == str(hostile_home / "reports" / "leadership" / f"{DAY:%Y-%m}.html")


def test_a_right_to_left_override_in_a_camera_name_is_shown_in_the_report_and_in_xl_sql(hostile_home, capsys):
    assert xl(capsys, "report", "--month", DAY.strftime("%Y-%m"))[0] == 0
    html = (hostile_home / "reports" / "leadership" / f"{DAY:%Y-%m}.html").read_text(encoding="utf-8")
    assert "科尔沁区\\u202e口叉交\\u2066街大仁明\\u200b" in html  # camera 1, off all day, is among the worst
    assert not {RLO, LRI, ZWSP} & set(html)
    code, out, _ = xl(capsys, "sql", f"select name from silver.cameras where channel_id = '{CAMERAS[0]}'")
    assert code == 0 and "科尔沁区\\u202e口叉交\\u2066街大仁明\\u200b" in out and RLO not in out


def test_the_quality_report_shows_hidden_characters_from_the_data(xl_home):
    reports = get_settings().reports
    record(reports, "silver.cameras", "expectations", {"date": DAY.isoformat(), "banner": BANNER}, False, "WARN",
           f"1 of 2 met{RLO}", False, {"failures": [{"expectation": "expect_column_values_to_match_regex",
                                                   "column": "name", "severity": "WARN", "unexpected": 1,
                                                   "elements": 3, "sample": [HOSTILE_NAMES[0], HOSTILE_NAME]}]})
    html = render(reports).read_text(encoding="utf-8")
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in html and "1 of 2 met\\u202e" in html
    assert not {ESC, RLO, LRI, ZWSP, "\x07"} & set(html)
