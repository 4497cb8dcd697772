"""Notifications to the governance team: a banner's rate under its alert level, a key-site fault open past its limit.

One message per event, to the channels of a yaml file (`XL_NOTIFICATIONS`, else the packaged
notifications.yaml, where both are off): a webhook (a JSON POST in the text-message shape DingTalk and WeCom
group robots accept) and mail through an SMTP relay. Sending never raises: a channel that fails is reported
back, and the event is tried again at the next evaluation, so an unreachable robot cannot fail a run.
"""

from __future__ import annotations

import json
import os
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import polars as pl
import yaml

from xl_pipelines import indicators
from xl_pipelines.lake import Lake
from xl_pipelines.settings import LOCAL_TZ, ConfigError
from xl_pipelines.warehouse import sql_literal, view_sql

DEFAULT_FILE = Path(__file__).with_name("notifications.yaml")
LOOKBACK_DAYS = 7  # banner days looked at for rates under their alert level


@dataclass(frozen=True)
class Event:
    key: str  # what identifies it, so it is sent once: e.g. rate:2026-11-20:150502:online_rate
    subject: str
    text: str


@dataclass(frozen=True)
class Channels:
    webhook: dict
    mail: dict

    @property
    def any(self) -> bool:
        return bool(self.webhook.get("enabled") or self.mail.get("enabled"))


def load_channels(path: str | None = None) -> Channels:
    """The channels' configuration; a missing or malformed file is a ConfigError naming what is wrong."""
    path = Path(path or os.environ.get("XL_NOTIFICATIONS") or DEFAULT_FILE)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        channels = Channels(dict(raw.get("webhook") or {}), dict(raw.get("mail") or {}))
    except (OSError, yaml.YAMLError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot read the notification channels ({exc})") from None
    if channels.webhook.get("enabled") and not str(channels.webhook.get("url", "")).startswith(("http://", "https://")):
        raise ConfigError(f"{path}: webhook.url must be an http(s) URL")
    if channels.mail.get("enabled") and not (channels.mail.get("host") and channels.mail.get("recipients")):
        raise ConfigError(f"{path}: mail needs a host and recipients")
    return channels


def events(lake: Lake) -> list[Event]:
    """The events the lake shows: each banner-day rate under its alert level in the last LOOKBACK_DAYS days
    harvested, each key-site fault open longer than its limit."""
    found: list[Event] = []
    alerts = indicators.alerts()
    with lake.connect() as con:
        con.execute(f"SET TimeZone = {sql_literal(str(LOCAL_TZ))}")
        if lake.table_path("gold", "banner_daily_kpis").exists():
            kpis = con.sql(f"SELECT * FROM ({view_sql(lake, 'gold', 'banner_daily_kpis')}) "
                           f"QUALIFY date > max(date) OVER () - {LOOKBACK_DAYS}").pl()
            levels = pl.DataFrame({"name": list(alerts), "alert": list(alerts.values())}).with_row_index("order")
            under = (kpis.unpivot([n for n in alerts if n in kpis.columns], index=["date", "code", "banner_name"],
                                  variable_name="name")
                     .join(levels, on="name").filter(pl.col("value") < pl.col("alert")).sort("date", "code", "order"))
            found += [Event(f"rate:{r['date']}:{r['code']}:{r['name']}",
                            f"[xl] {r['banner_name']} {r['name']} {r['value'] * 100:.2f}% < {r['alert'] * 100:g}% on {r['date']}",
                            f"{r['date']} {r['code']} {r['banner_name']}: {r['name']} {r['value'] * 100:.2f}%, under its "
                            f"alert level {r['alert'] * 100:g}% (quality/thresholds.yaml).") for r in under.iter_rows(named=True)]
        if lake.exists("gold", "camera_faults", {}):
            overdue = con.sql(
                f"SELECT * FROM ({view_sql(lake, 'gold', 'camera_faults')}) WHERE key_site AND closed_on IS NULL "
                "AND as_of >= overdue_from ORDER BY opened_on, channel_id, kind").pl()
            for row in overdue.iter_rows(named=True):
                detail = f" ({row['detail']})" if row["detail"] else ""
                found.append(Event(
                    f"overdue:{row['fault_id']}",
                    f"[xl] key site {row['channel_id']} {row['kind']} open {row['days_open']} days",
                    f"Key site {row['channel_id']} ({row['code']}, {row['maintenance_unit']}): {row['kind']}{detail} "
                    f"open since {row['opened_on']}, {row['days_open']} days by {row['as_of']}, past its limit of "
                    f"{row['limit_h']} h. Fault {row['fault_id']}."))
    return found


def _post(webhook: dict, event: Event) -> None:
    body = json.dumps({"msgtype": "text", "text": {"content": event.text}}, ensure_ascii=False).encode()
    request = urllib.request.Request(webhook["url"], data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    with urllib.request.urlopen(request, timeout=float(webhook.get("timeout_s", 5))) as response:
        answer = json.loads(response.read() or b"{}")
    if answer.get("errcode", 0) != 0:  # DingTalk and WeCom answer 200 with errcode / errmsg
        raise OSError(f"the robot refused the message: {answer.get('errmsg', answer)}")


def _mail(mail: dict, event: Event) -> None:
    message = EmailMessage()
    message["Subject"], message["From"] = event.subject, mail.get("sender", "xl@localhost")
    message["To"] = ", ".join(mail["recipients"])
    message.set_content(event.text)
    with smtplib.SMTP(mail["host"], int(mail.get("port", 25)), timeout=float(mail.get("timeout_s", 10))) as smtp:
        smtp.send_message(message)


def send(channels: Channels, event: Event, done: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """Send one event to every enabled channel not in `done`; return the channels it reached and what failed,
    one line each."""
    reached, failures = [], []
    for name, config, deliver in (("webhook", channels.webhook, _post), ("mail", channels.mail, _mail)):
        if not config.get("enabled") or name in done:
            continue
        try:
            deliver(config, event)
            reached.append(name)
        except (OSError, urllib.error.URLError, smtplib.SMTPException, ValueError) as exc:
            failures.append(f"{name}: {event.key}: {exc}")
    return reached, failures
