-- The network indicators of one banner on one day, with the counts behind each rate.
-- online_rate sums seconds over all its cameras (not an average of camera rates); snapshot_online_rate
-- is the share of registered cameras online at the banner's last poll of the day. clock_accuracy:
-- devices (IP cameras and NVRs) whose median skew that day is within the clock limit of
-- quality/thresholds.yaml (60 s) / devices that answered DeviceStatus. annotation_accuracy: cameras
-- with a correct annotation / all cameras, where a camera whose catalog item was quarantined for
-- coordinates outside the city (zero, swapped, far off) counts as registered and wrong.
-- recording_completeness sums recorded over scheduled seconds of the cameras measured (from files or
-- index); retention_compliance: cameras on storage keeping their required days / cameras on storage;
-- image_quality_rate: cameras with no fault / cameras diagnosed; intact_rate: intact cameras / all
-- registered cameras (DOMAIN.md: online ≥ 90 %, recording and a normal image).
-- capture_activity: registered capture cameras that sent captures / registered capture cameras;
-- upload_timeliness, capture_clock_accuracy and capture_uniqueness sum gold.capture_daily's counts over
-- all devices; volume_change compares the banner's captures with the same weekday a week before, and
-- volume_alarms counts the devices whose own volume rose or fell beyond the limit.
-- A banner with no registered cameras still gets its row. A source that did not land leaves its figures null
-- (unmeasured), never 0: no status poll, the online and snapshot rates; no poll or no recording measured, the
-- intact rate; no capture received, the capture figures (the `landed` check names the empty folder).
-- partitions: day, banner
-- checks: alert_levels
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
        count(health.channel_id) AS cameras,
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
)

SELECT
    per_banner.date,  -- The local day (Asia/Shanghai).
    per_banner.code,  -- Banner: the 6-digit administrative code of the reporting unit.
    per_banner.banner_name,  -- The banner's English name, e.g. Horqin District.
    per_banner.banner_name_zh,  -- The banner's Chinese name, e.g. 科尔沁区.
    per_banner.cameras,  -- Registered cameras (silver.cameras) that day.
    per_banner.online_s,  -- Σ cameras' seconds online.
    per_banner.expected_s,  -- Σ cameras' seconds observed (expected seconds), harvester outages left out.
    per_banner.online_at_last_poll,  -- Cameras online at the banner's last poll of the day (null: no poll landed).
    per_banner.annotated_cameras,  -- Cameras whose point annotation is correct.
    per_banner.recorded_s,  -- Σ seconds recorded by the cameras measured.
    per_banner.scheduled_s,  -- Σ seconds scheduled (7×24) of the cameras measured.
    per_banner.retention_measured,  -- Cameras on storage (retention measured).
    per_banner.retention_compliant,  -- Cameras on storage keeping their required days.
    per_banner.image_diagnosed,  -- Cameras diagnosed for image quality.
    per_banner.image_ok,  -- Cameras diagnosed with no image fault.
    per_banner.intact_cameras,  -- Intact cameras (gold.camera_daily_health.intact; null: no poll landed or no recording measured).
    clocks.clock_devices,  -- Devices (IP cameras, NVRs) whose DeviceStatus answers that day carried a DeviceTime.
    clocks.clock_accurate_devices,  -- Of those, devices whose median skew is within ±60 s (limits clock_skew_s).
    outside_city.cameras_outside_city,  -- Cameras (types 131/132) missing from the registry: catalog item quarantined as outside_city.
    capture.capture_cameras,  -- Registered capture cameras (FunctionType 01–04; null: no capture received, unmeasured).
    capture.active_capture_cameras,  -- Registered capture cameras that sent captures that day (null: no capture received).
    capture.captures,  -- Distinct captures received that day.
    capture.resent_captures,  -- Re-sends of a capture already received (quarantined as duplicate).
    capture.timely_captures,  -- Captures received at most 60 s after their shot time.
    capture.clock_ok_captures,  -- Captures whose shot time is not later than their receipt by more than 60 s.
    capture.captures_week_before,  -- Captures on the same weekday a week before (null: that day not materialised).
    capture.volume_alarms,  -- Devices with a volume alarm (gold.capture_daily.volume_alarm: rise or drop).
    online_s / nullif(expected_s, 0) AS online_rate,  -- online rate (在线率): online_s / expected_s.
    online_at_last_poll / nullif(cameras, 0) AS snapshot_online_rate,  -- Snapshot online rate: online_at_last_poll / cameras.
    clock_accurate_devices / nullif(clock_devices, 0) AS clock_accuracy,  -- clock accuracy (时钟准确率): clock_accurate_devices / clock_devices.
    annotated_cameras / nullif(cameras + cameras_outside_city, 0) AS annotation_accuracy,  -- annotation accuracy (点位标注): annotated_cameras / (cameras + cameras_outside_city).
    recorded_s / nullif(scheduled_s, 0) AS recording_completeness,  -- recording completeness (录像完整率): recorded_s / scheduled_s.
    retention_compliant / nullif(retention_measured, 0) AS retention_compliance,  -- retention compliance: retention_compliant / retention_measured.
    image_ok / nullif(image_diagnosed, 0) AS image_quality_rate,  -- image quality (图像质量正常率): image_ok / image_diagnosed.
    intact_cameras / nullif(cameras, 0) AS intact_rate,  -- intact rate (完好率): intact_cameras / cameras.
    active_capture_cameras / nullif(capture_cameras, 0) AS capture_activity,  -- capture activity (抓拍机活跃率): active_capture_cameras / capture_cameras.
    timely_captures / nullif(captures, 0) AS upload_timeliness,  -- upload timeliness (上传及时率): timely_captures / captures.
    clock_ok_captures / nullif(captures, 0) AS capture_clock_accuracy,  -- capture clock accuracy: clock_ok_captures / captures.
    captures / nullif(captures + resent_captures, 0) AS capture_uniqueness,  -- capture uniqueness (数据唯一率): captures / (captures + resent_captures).
    captures / nullif(captures_week_before, 0) - 1 AS volume_change  -- captures / captures_week_before − 1 (null: none or no data a week before; may be negative).
FROM per_banner, clocks, outside_city, capture
ORDER BY per_banner.code
