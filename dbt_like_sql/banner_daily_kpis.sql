-- The network indicators of one banner on one day, with the counts behind each rate.
-- online_rate sums seconds over all its cameras (not an average of camera rates); snapshot_online_rate
-- is the share of registered cameras online at the banner's last poll of the day. clock_accuracy:
-- devices (IP cameras and NVRs) whose median skew that day is within the clock limit of
-- quality/thresholds.yaml (60 s) / devices that answered DeviceStatus. annotation_accuracy: cameras
-- with a correct annotation / all cameras, where a camera whose catalog item was quarantined for
-- coordinates outside the city (zero, swapped, far off) counts as registered and wrong.
-- A banner with no registered cameras still gets its row.
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

per_banner AS (
    SELECT
        scope.date,
        scope.code,
        scope.banner_name,
        scope.banner_name_zh,
        count(health.channel_id) AS cameras,
        coalesce(sum(health.online_s), 0)::BIGINT AS online_s,
        coalesce(sum(health.expected_s), 0)::BIGINT AS expected_s,
        count(*) FILTER (WHERE health.online_at_last_poll) AS online_at_last_poll,
        count(*) FILTER (WHERE health.annotation_ok) AS annotated_cameras
    FROM context.banner_days AS scope
    LEFT JOIN gold.camera_daily_health AS health ON health.code = scope.code
    GROUP BY ALL
)

SELECT
    per_banner.*,
    clocks.clock_devices,
    clocks.clock_accurate_devices,
    outside_city.cameras_outside_city,
    online_s / nullif(expected_s, 0) AS online_rate,
    online_at_last_poll / nullif(cameras, 0) AS snapshot_online_rate,
    clock_accurate_devices / nullif(clock_devices, 0) AS clock_accuracy,
    annotated_cameras / nullif(cameras + cameras_outside_city, 0) AS annotation_accuracy
FROM per_banner, clocks, outside_city
ORDER BY per_banner.code
