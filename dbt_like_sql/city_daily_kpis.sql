-- The whole city on one day, over all nine banners: every rate is recomputed from the banners' counts
-- (sums of numerators over sums of denominators), never averaged over banners. A banner whose count is null
-- (its source did not land: unmeasured) is left out of numerator and denominator alike.
-- partitions: day
-- checks: alert_levels
SELECT
    date,  -- The local day (Asia/Shanghai).
    count(*) AS banners_reporting,  -- Banners with a row in gold.banner_daily_kpis that day (nine: the model waits for all nine).
    sum(cameras)::BIGINT AS cameras,  -- Registered cameras, all banners.
    sum(online_s) / nullif(sum(expected_s), 0) AS online_rate,  -- online rate (在线率): Σ online seconds / Σ observed (expected) seconds.
    sum(online_at_last_poll) / nullif(sum(cameras) FILTER (WHERE online_at_last_poll IS NOT NULL), 0) AS snapshot_online_rate,  -- Snapshot online rate: Σ cameras online at their banner's last poll / Σ registered cameras.
    sum(clock_accurate_devices) / nullif(sum(clock_devices), 0) AS clock_accuracy,  -- clock accuracy (时钟准确率): Σ devices with median |skew| ≤ 60 s / Σ devices that answered DeviceStatus.
    sum(annotated_cameras) / nullif(sum(cameras) + sum(cameras_outside_city), 0) AS annotation_accuracy,  -- annotation accuracy (点位标注): Σ correctly annotated cameras / Σ (cameras + cameras quarantined outside the city).
    sum(recorded_s) / nullif(sum(scheduled_s), 0) AS recording_completeness,  -- recording completeness (录像完整率): Σ recorded seconds / Σ scheduled seconds (7×24).
    sum(retention_compliant) / nullif(sum(retention_measured), 0) AS retention_compliance,  -- retention compliance: Σ cameras on storage keeping their required days / Σ cameras on storage.
    sum(image_ok) / nullif(sum(image_diagnosed), 0) AS image_quality_rate,  -- image quality (图像质量正常率): Σ cameras with no image fault / Σ cameras diagnosed.
    sum(intact_cameras) / nullif(sum(cameras) FILTER (WHERE intact_cameras IS NOT NULL), 0) AS intact_rate,  -- intact rate (完好率): Σ intact cameras / Σ registered cameras.
    sum(captures)::BIGINT AS captures,  -- Distinct captures received that day, all banners.
    sum(active_capture_cameras) / nullif(sum(capture_cameras), 0) AS capture_activity,  -- capture activity (抓拍机活跃率): Σ registered capture cameras that sent captures / Σ registered capture cameras.
    sum(timely_captures) / nullif(sum(captures), 0) AS upload_timeliness,  -- upload timeliness (上传及时率): Σ captures received ≤ 60 s after their shot time / Σ captures.
    sum(clock_ok_captures) / nullif(sum(captures), 0) AS capture_clock_accuracy,  -- capture clock accuracy: Σ captures whose shot time is not later than receipt by more than 60 s / Σ captures.
    sum(captures) / nullif(sum(captures) + sum(resent_captures), 0) AS capture_uniqueness,  -- capture uniqueness (数据唯一率): Σ distinct captures / Σ (captures + re-sends).
    sum(captures) / nullif(sum(captures_week_before), 0) - 1 AS volume_change  -- Σ captures / Σ captures on the same weekday a week before − 1 (null without that day's data; not a rate: may be negative).
FROM gold.banner_daily_kpis
GROUP BY date
