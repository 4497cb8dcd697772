"""Hostile exporters: a status poller or case export that writes personal data into a line of the wrong shape.

A line with the contract's fields keeps its raw text in quarantine (those fields name no person); a line of
another shape may hold anything, so only its file, line number, reason and field count are kept.
"""

from __future__ import annotations

import datetime as dt

from tests.conftest import POLL_TIMES, camera_id, harvest_scope, write_landing
from xl_pipelines.banners import load_banners
from xl_pipelines.camera_health import harvest_status_polls
from xl_pipelines.cases import harvest_cases

PLATE, ID_NUMBER, NAME = "蒙G7Q2K9", "150502198807154321", "王秀英"
A = camera_id(1)


def _everything(harvest) -> str:
    return harvest.quarantined.write_ndjson() + harvest.accepted.write_ndjson()


def test_a_poll_line_with_extra_fields_keeps_no_text_of_it(tmp_path):
    at = POLL_TIMES[0].isoformat()
    text = (f"channel_id,polled_at,status\n{A},{at},ON\n{A},{at},ON,{PLATE} {NAME}\n"
            f"{ID_NUMBER} {NAME}\n{A},{at},OFF\n").encode()
    files = write_landing(tmp_path, "status", {"0000.csv": text})
    harvest = harvest_status_polls(files, harvest_scope(channels=[A]))
    assert harvest.read == 4 == harvest.accepted.height + harvest.quarantined.height
    rows = harvest.quarantined.sort("item").select("item", "record_id", "reason", "detail", "raw").rows()
    assert rows == [(3, None, "malformed_line", "4 fields, expected 3", None),
                    (4, None, "malformed_line", "1 fields, expected 3", None),
                    (5, A, "duplicate", None, f"{A},{at},OFF")]  # a well-shaped line keeps its text
    assert [v for v in (PLATE, ID_NUMBER, NAME) if v in _everything(harvest)] == []


def test_a_case_line_with_an_extra_name_column_keeps_no_text_of_it(tmp_path):
    header = "case_id,opened_at,code,category,video_assisted,cameras,suspects_caught,accident_replays,missing_found,closed_at"
    good = "C1,2026-11-07T09:00:00+08:00,150502,criminal,true,,1,0,0,"
    hostile = f"C2,2026-11-07T09:00:00+08:00,150502,criminal,true,,1,0,0,,{NAME},{ID_NUMBER}"
    path = tmp_path / "2026-11.csv"
    path.write_text(f"{header}\n{good}\n{hostile}\n{NAME} {PLATE}\n", encoding="utf-8")
    harvest = harvest_cases(path, "2026-11", load_banners(), dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    assert harvest.read == 3 and harvest.accepted["case_id"].to_list() == ["C1"]
    rows = harvest.quarantined.sort("item").select("item", "code", "record_id", "reason", "detail", "raw").rows()
    assert rows == [(3, None, None, "malformed_line", "12 fields, expected 10", None),
                    (4, None, None, "malformed_line", "1 fields, expected 10", None)]
    assert [v for v in (PLATE, ID_NUMBER, NAME) if v in _everything(harvest)] == []
