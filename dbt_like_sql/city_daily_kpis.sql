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
    sum(intact_cameras) / nullif(sum(cameras), 0) AS intact_rate
FROM gold.banner_daily_kpis
GROUP BY date
