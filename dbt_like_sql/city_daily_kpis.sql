-- The whole city on one day, over all nine banners: every rate is recomputed from the banners' counts
-- (sums of numerators over sums of denominators), never averaged over banners.
-- partitions: day
-- checks: alert_levels
SELECT
    date,
    count(*) AS banners_reporting,
    sum(cameras)::BIGINT AS cameras,
    sum(online_s) / nullif(sum(expected_s), 0) AS online_rate,
    sum(online_at_last_poll) / nullif(sum(cameras), 0) AS snapshot_online_rate,
    sum(clock_accurate_devices) / nullif(sum(clock_devices), 0) AS clock_accuracy,
    sum(annotated_cameras) / nullif(sum(cameras) + sum(cameras_outside_city), 0) AS annotation_accuracy,
    sum(recorded_s) / nullif(sum(scheduled_s), 0) AS recording_completeness,
    sum(retention_compliant) / nullif(sum(retention_measured), 0) AS retention_compliance,
    sum(image_ok) / nullif(sum(image_diagnosed), 0) AS image_quality_rate,
    sum(intact_cameras) / nullif(sum(cameras), 0) AS intact_rate,
    sum(captures)::BIGINT AS captures,
    sum(active_capture_cameras) / nullif(sum(capture_cameras), 0) AS capture_activity,
    sum(timely_captures) / nullif(sum(captures), 0) AS upload_timeliness,
    sum(clock_ok_captures) / nullif(sum(captures), 0) AS capture_clock_accuracy,
    sum(captures) / nullif(sum(captures) + sum(resent_captures), 0) AS capture_uniqueness,
    sum(captures) / nullif(sum(captures_week_before), 0) - 1 AS volume_change
FROM gold.banner_daily_kpis
GROUP BY date
