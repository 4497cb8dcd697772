-- Every network indicator of one banner on one day as a numerator and a denominator, one row per indicator
-- (quality/indicators.yaml lists them): the one place each indicator's formula is written. Every other table
-- only sums these: a rate over any set of banner-days (a banner-day, a city day, a banner's month) is
-- Σ numerator / Σ denominator, never a mean of rates; a count is Σ numerator.
-- online_rate sums seconds over all its cameras; snapshot_online_rate is the share of registered cameras
-- online at the banner's last poll of the day. clock_accuracy: devices (IP cameras and NVRs) whose median skew
-- that day is within the clock limit of quality/thresholds.yaml (60 s) / devices that answered DeviceStatus.
-- annotation_accuracy: cameras with a correct annotation / all cameras, where a camera whose catalog item was
-- quarantined for coordinates outside the city (zero, swapped, far off) counts as registered and wrong.
-- recording_completeness sums recorded over scheduled seconds of the cameras measured (from files or index);
-- retention_compliance: cameras on storage keeping their required days / cameras on storage;
-- image_quality_rate: cameras with no fault / cameras diagnosed; intact_rate: intact cameras / all registered
-- cameras (DOMAIN.md: online ≥ 90 %, recording and a normal image). capture_activity: registered capture
-- cameras that sent captures / registered capture cameras; upload_timeliness, capture_clock_accuracy and
-- capture_uniqueness sum gold.capture_daily's counts over all devices; volume_change compares the banner's
-- captures with the same weekday a week before, and volume_alarms counts the devices whose own volume rose or
-- fell beyond the limit.
-- A banner with no registered cameras still gets its rows. A source that did not land leaves the numerator
-- and the denominator null (unmeasured), never 0, so a sum over days leaves that day out of both: no status
-- poll, the snapshot rate; no poll or no recording measured, the intact rate; no capture received, the capture
-- activity (the `landed` check names the empty folder).
-- partitions: day, banner
WITH clocks AS (
    SELECT
        count(*) AS clock_devices,
        count(*) FILTER (WHERE abs(devices.skew) <= limits.clock_skew_s) AS clock_accurate_devices
    FROM (
        SELECT device_id, median(clock_skew_s) AS skew
        FROM bronze.device_status
        WHERE clock_skew_s IS NOT NULL
        GROUP BY device_id
    ) AS devices, context.limits AS limits
),

outside_city AS (
    SELECT count(DISTINCT record_id) AS cameras_outside_city
    FROM quarantine.catalog
    WHERE reason = 'outside_city'
        AND substr(record_id, 11, 3) IN ('131', '132')
        AND record_id NOT IN (SELECT channel_id FROM silver.cameras)
),

capture AS (
    SELECT
        CASE WHEN coalesce(sum(captures), 0) + coalesce(sum(resent), 0) > 0
            THEN count(*) FILTER (WHERE capture_camera) END AS capture_cameras,
        CASE WHEN coalesce(sum(captures), 0) + coalesce(sum(resent), 0) > 0
            THEN count(*) FILTER (WHERE capture_camera AND active) END AS active_capture_cameras,
        coalesce(sum(captures), 0)::BIGINT AS captures,
        coalesce(sum(resent), 0)::BIGINT AS resent_captures,
        coalesce(sum(timely_captures), 0)::BIGINT AS timely_captures,
        coalesce(sum(clock_ok_captures), 0)::BIGINT AS clock_ok_captures,
        sum(captures_week_before)::BIGINT AS captures_week_before,
        count(volume_alarm) AS volume_alarms
    FROM gold.capture_daily
),

per_banner AS (
    SELECT
        scope.date,
        scope.code,
        scope.banner_name,
        scope.banner_name_zh,
        count(health.channel_id)::BIGINT AS cameras,
        coalesce(sum(health.online_s), 0)::BIGINT AS online_s,
        coalesce(sum(health.expected_s), 0)::BIGINT AS expected_s,
        CASE WHEN count(health.online_at_last_poll) > 0
            THEN count(*) FILTER (WHERE health.online_at_last_poll) END AS online_at_last_poll,
        count(*) FILTER (WHERE health.annotation_ok) AS annotated_cameras,
        coalesce(sum(health.recorded_s), 0)::BIGINT AS recorded_s,
        coalesce(sum(health.scheduled_s), 0)::BIGINT AS scheduled_s,
        count(health.retention_ok) AS retention_measured,
        count(*) FILTER (WHERE health.retention_ok) AS retention_compliant,
        count(health.image_faults) AS image_diagnosed,
        count(*) FILTER (WHERE len(health.image_faults) = 0) AS image_ok,
        CASE WHEN sum(health.expected_s) > 0 AND sum(health.scheduled_s) > 0
            THEN count(*) FILTER (WHERE health.intact) END AS intact_cameras
    FROM context.banner_days AS scope
    LEFT JOIN gold.camera_daily_health AS health ON health.code = scope.code
    GROUP BY ALL
),

counts AS (
    SELECT * FROM per_banner, clocks, outside_city, capture
)

SELECT
    counts.date,  -- The local day (Asia/Shanghai).
    counts.code,  -- Banner: the 6-digit administrative code of the reporting unit.
    figures.indicator,  -- The indicator's name (quality/indicators.yaml), e.g. online_rate.
    figures.numerator,  -- What the indicator counts (e.g. seconds online); null: unmeasured that day.
    CASE WHEN figures.numerator IS NOT NULL THEN figures.denominator END AS denominator  -- What it counts against (e.g. seconds observed); null for a count, or when unmeasured.
FROM counts, LATERAL (VALUES
    ('online_rate', online_s, expected_s),
    ('snapshot_online_rate', online_at_last_poll, cameras),
    ('intact_rate', intact_cameras, cameras),
    ('recording_completeness', recorded_s, scheduled_s),
    ('retention_compliance', retention_compliant, retention_measured),
    ('clock_accuracy', clock_accurate_devices, clock_devices),
    ('annotation_accuracy', annotated_cameras, cameras + cameras_outside_city),
    ('image_quality_rate', image_ok, image_diagnosed),
    ('capture_activity', active_capture_cameras, capture_cameras),
    ('upload_timeliness', timely_captures, captures),
    ('capture_clock_accuracy', clock_ok_captures, captures),
    ('capture_uniqueness', captures, captures + resent_captures),
    ('volume_change', captures, captures_week_before),
    ('cameras', cameras, NULL),
    ('cameras_outside_city', cameras_outside_city, NULL),
    ('captures', captures, NULL),
    ('resent_captures', resent_captures, NULL),
    ('volume_alarms', volume_alarms, NULL)
) AS figures (indicator, numerator, denominator)
ORDER BY counts.code
