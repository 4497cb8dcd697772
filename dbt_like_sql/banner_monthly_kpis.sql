-- The network indicators of each banner over one month, against their national targets, with a ranking: the
-- leadership report's table. Every rate is recomputed from the month's daily counts in
-- gold.banner_daily_kpis (sums of numerators over sums of denominators, so a day weighs by its cameras and
-- seconds), never averaged over days; a banner with no day in the month still has its row, its rates null;
-- snapshot_online_rate is that of the month's last day with data.
-- targets_met counts the indicators at or above their target in quality/thresholds.yaml among those
-- measured; banners rank by the share of their measured indicators that meet target (an indicator a banner
-- cannot measure, e.g. capture activity without FunctionType, neither helps nor hurts it), then by online
-- rate. A month under way covers the days so far.
-- partitions: month
WITH month AS (
    SELECT
        strftime(min(date), '%Y-%m') AS month,
        count(DISTINCT date) AS days_in_month
    FROM context.banner_days
),

per_banner AS (
    SELECT
        banners.code,
        any_value(banners.name_zh) AS banner_name_zh,
        any_value(banners.name_en) AS banner_name,
        count(kpis.date) AS days,
        min(kpis.date) AS first_day,
        max(kpis.date) AS last_day,
        arg_max(kpis.cameras, kpis.date) AS cameras,
        sum(kpis.online_s) / nullif(sum(kpis.expected_s), 0) AS online_rate,
        arg_max(kpis.snapshot_online_rate, kpis.date) AS snapshot_online_rate,
        sum(kpis.intact_cameras) / nullif(sum(kpis.cameras) FILTER (WHERE kpis.intact_cameras IS NOT NULL), 0)
            AS intact_rate,
        sum(kpis.recorded_s) / nullif(sum(kpis.scheduled_s), 0) AS recording_completeness,
        sum(kpis.retention_compliant) / nullif(sum(kpis.retention_measured), 0) AS retention_compliance,
        sum(kpis.clock_accurate_devices) / nullif(sum(kpis.clock_devices), 0) AS clock_accuracy,
        sum(kpis.annotated_cameras) / nullif(sum(kpis.cameras + kpis.cameras_outside_city), 0) AS annotation_accuracy,
        sum(kpis.image_ok) / nullif(sum(kpis.image_diagnosed), 0) AS image_quality_rate,
        sum(kpis.active_capture_cameras) / nullif(sum(kpis.capture_cameras), 0) AS capture_activity,
        sum(kpis.timely_captures) / nullif(sum(kpis.captures), 0) AS upload_timeliness,
        sum(kpis.clock_ok_captures) / nullif(sum(kpis.captures), 0) AS capture_clock_accuracy,
        sum(kpis.captures) / nullif(sum(kpis.captures + kpis.resent_captures), 0) AS capture_uniqueness,
        coalesce(sum(kpis.captures), 0)::BIGINT AS captures
    FROM context.banners AS banners
    LEFT JOIN gold.banner_daily_kpis AS kpis USING (code)
    GROUP BY banners.code
),

scored AS (
    SELECT
        code,
        count(rate) AS indicators_measured,
        count(*) FILTER (WHERE rate >= targets.target) AS targets_met
    FROM (
        UNPIVOT per_banner
        ON online_rate, snapshot_online_rate, intact_rate, recording_completeness, retention_compliance,
           clock_accuracy, annotation_accuracy, image_quality_rate, capture_activity, upload_timeliness,
           capture_clock_accuracy, capture_uniqueness
        INTO NAME indicator VALUE rate
    ) AS rates
    JOIN context.targets AS targets USING (indicator)
    GROUP BY code
)

SELECT
    month.month,  -- the local month, e.g. 2026-11
    per_banner.code,  -- the banner
    per_banner.banner_name_zh,  -- its name in Chinese
    per_banner.banner_name,  -- its name in English
    month.days_in_month,  -- days in the calendar month
    per_banner.days,  -- days of the month with the banner's KPIs (fewer: a month under way, or days missing)
    per_banner.first_day,  -- first day covered
    per_banner.last_day,  -- last day covered
    per_banner.cameras,  -- registered cameras on the last day covered
    per_banner.online_rate,  -- 在线率: Σ online seconds / Σ observed seconds over the month
    per_banner.snapshot_online_rate,  -- cameras online at the last poll of the last day / registered cameras
    per_banner.intact_rate,  -- 完好率: intact camera-days / camera-days
    per_banner.recording_completeness,  -- 录像完整率: Σ recorded seconds / Σ scheduled seconds
    per_banner.retention_compliance,  -- camera-days keeping their required retention / camera-days on storage
    per_banner.clock_accuracy,  -- 时钟准确率: device-days within the clock limit / device-days measured
    per_banner.annotation_accuracy,  -- 点位标注: correctly annotated camera-days / camera-days
    per_banner.image_quality_rate,  -- 图像质量正常率: camera-days with no image fault / camera-days diagnosed
    per_banner.capture_activity,  -- 抓拍机活跃率: active capture-camera-days / capture-camera-days registered
    per_banner.upload_timeliness,  -- 上传及时率: captures received ≤ 60 s after the shot / captures
    per_banner.capture_clock_accuracy,  -- captures not shot > 60 s after receipt / captures
    per_banner.capture_uniqueness,  -- 数据唯一率: distinct captures / captures received
    per_banner.captures,  -- distinct captures received in the month
    coalesce(scored.indicators_measured, 0) AS indicators_measured,  -- indicators with a value and a target
    coalesce(scored.targets_met, 0) AS targets_met,  -- of those, at or above target
    rank() OVER (ORDER BY coalesce(scored.targets_met / nullif(scored.indicators_measured, 0), 0) DESC,
                          per_banner.online_rate DESC NULLS LAST)
        AS rank  -- 1 = best: the largest share of measured indicators at target, then the highest online rate
FROM per_banner
CROSS JOIN month
LEFT JOIN scored USING (code)
ORDER BY rank, per_banner.code
