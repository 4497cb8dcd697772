"""The automation sensor's conditions on the real definitions, in a deployment whose history starts long before the
first harvest: only 2026-11-20 is harvested (XL_START_DATE defaults to 2025-01-01: every earlier banner-day, and
the month's earlier days, are partitions and missing).
Materialisations are recorded as events; each tick is Dagster's own evaluation at a given time."""

import datetime as dt

import dagster as dg
import pytest

from assets import outcomes
from tests.conftest import DAY
from xl_pipelines.definitions import BANNER_DAY_ASSETS, defs
from xl_pipelines.partitions import BANNER, banner_day_key, harvest_time
from xl_pipelines.settings import get_settings

NIGHT = harvest_time(DAY) + dt.timedelta(hours=1)  # the morning after the nightly harvest of DAY
MONTH = DAY.strftime("%Y-%m")
CITY_DAY = dg.AssetKey(["gold", "city_daily_kpis"])
WAREHOUSE = {dg.AssetKey("xl_duckdb"), dg.AssetKey("quality_report")}


class Sensor:
    """Successive ticks of the automation sensor over one instance."""

    def __init__(self):
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None

    def tick(self) -> dict[dg.AssetKey, set[str | None]]:
        """What this tick requests: {asset key: partition keys} (None: an unpartitioned asset)."""
        result = dg.evaluate_automation_conditions(defs=defs, instance=self.instance, evaluation_time=NIGHT,
                                                   cursor=self.cursor)
        self.cursor = result.cursor
        return {r.key: set(result.get_requested_partitions(r.key)) for r in result.results
                if result.get_num_requested(r.key)}

    def harvested(self, banners: list[str]) -> None:
        """Every table of DAY's banner-day in each of `banners`, as the nightly banner_day runs leave them."""
        for code in banners:
            for key in (key for a in BANNER_DAY_ASSETS for key in a.keys):
                self.record(key, banner_day_key(DAY, code))

    def record(self, key: dg.AssetKey, partition: str | None = None) -> None:
        self.instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

    def ran(self, requested: dict[dg.AssetKey, set[str | None]]) -> None:
        """The runs of a tick's requests succeeded."""
        for key, partitions in requested.items():
            for partition in partitions:
                self.record(key, partition)


@pytest.fixture
def sensor() -> Sensor:
    assert get_settings().start_date < DAY.replace(day=1)  # the premise: missing days before DAY in its month
    sensor = Sensor()
    assert sensor.tick() == {}  # a new deployment: nothing is asked for before data lands
    return sensor


def gold(*names: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(["gold", name]) for name in names]


def test_a_harvested_night_brings_the_city_day_the_month_and_faults_then_the_warehouse_once(sensor):
    """Other days missing does not hold back the day's city rollup, the month under way (built over the days
    it has), the fault history (its two models in one run) or the warehouse; the warehouse waits until nothing
    upstream is still asked for, then refreshes once."""
    sensor.harvested(BANNER.get_partition_keys())
    first = sensor.tick()
    assert first == {CITY_DAY: {DAY.isoformat()}, **dict.fromkeys(gold(
        "banner_monthly_kpis", "camera_monthly_health", "image_fault_monthly"), {MONTH}),
        **dict.fromkeys(gold("camera_faults", "fault_repairs"), {None})}  # no case export yet: no case month
    sensor.ran(first)
    second = sensor.tick()
    assert second == dict.fromkeys(WAREHOUSE, {None})
    sensor.ran(second)
    assert sensor.tick() == {}  # once per change, not on every tick


def test_a_blocked_banner_holds_back_its_city_day_only_and_nothing_follows_a_run_in_flight(sensor):
    """While a banner-day run is in flight nothing downstream of it starts; once it has failed (its tables
    blocked by a check, so missing), the city day waits for it, while the month, the fault history and then
    the warehouse follow the eight banners that are in."""
    *eight, ninth = BANNER.get_partition_keys()
    sensor.harvested(eight)
    run = sensor.instance.create_run_for_job(
        defs.resolve_job_def("banner_day"), status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": banner_day_key(DAY, ninth), "dagster/partition/date": DAY.isoformat(),
              "dagster/partition/banner": ninth})
    assert sensor.tick() == {}
    sensor.instance.report_run_failed(run)
    first = sensor.tick()
    assert first == {**dict.fromkeys(gold("banner_monthly_kpis", "camera_monthly_health", "image_fault_monthly"),
                                     {MONTH}), **dict.fromkeys(gold("camera_faults", "fault_repairs"), {None})}
    sensor.ran(first)
    assert sensor.tick() == dict.fromkeys(WAREHOUSE, {None})
    sensor.harvested([ninth])  # re-run after the fix at the source
    assert sensor.tick()[CITY_DAY] == {DAY.isoformat()}


def test_the_leadership_month_follows_its_inputs_of_the_days_there_are(sensor):
    """With the month's case export in (a mid-month export run by hand: the nightly one is last month's, made by
    the monthly_report schedule), the month's report follows once its city day, months and faults are made."""
    for key in outcomes.case_harvest.keys:
        sensor.record(key, MONTH)
    sensor.harvested(BANNER.get_partition_keys())
    first = sensor.tick()
    assert first == {CITY_DAY: {DAY.isoformat()}, **dict.fromkeys(gold(
        "banner_monthly_kpis", "camera_monthly_health", "image_fault_monthly", "case_assistance_monthly"), {MONTH}),
        **dict.fromkeys(gold("camera_faults", "fault_repairs"), {None})}
    sensor.ran(first)
    second = sensor.tick()
    assert second == {dg.AssetKey(["reports", "leadership_monthly"]): {MONTH}, **dict.fromkeys(WAREHOUSE, {None})}
    sensor.ran(second)
    assert sensor.tick() == {}
