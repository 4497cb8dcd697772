-- The network indicators of each banner over one month, against their national targets, with a ranking: the
-- leadership report's table. Every rate sums the month's numerators and denominators of
-- gold.banner_daily_indicators (Σ numerator / Σ denominator, so a day weighs by its cameras and seconds), never
-- a mean over days; the snapshot online rate too (cameras online at the last poll, summed over the days, over
-- the cameras registered on those days). A banner with no day in the month still has its row, its rates null.
-- targets_met counts the indicators at or above their target in quality/indicators.yaml among those
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
        count(DISTINCT figures.date) AS days,
        min(figures.date) AS first_day,
        max(figures.date) AS last_day,
        arg_max(figures.numerator, figures.date) FILTER (WHERE figures.indicator = 'cameras') AS cameras,
        list({'indicator': figures.indicator, 'numerator': figures.numerator, 'denominator': figures.denominator})
            FILTER (WHERE figures.indicator IS NOT NULL) AS figures
    FROM context.banners AS banners
    LEFT JOIN gold.banner_daily_indicators AS figures USING (code)
    GROUP BY banners.code
),

scored AS (
    SELECT
        code,
        count(rate) AS indicators_measured,
        count(*) FILTER (WHERE rate >= target) AS targets_met
    FROM (
        SELECT per_banner.code, judged.target, rate_of(per_banner.figures, judged.indicator) AS rate
        FROM per_banner, context.indicators AS judged
        WHERE judged.target IS NOT NULL
    ) AS rates
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
    rate_of(per_banner.figures, 'online_rate') AS online_rate,  -- 在线率: Σ online seconds / Σ observed seconds over the month
    rate_of(per_banner.figures, 'snapshot_online_rate') AS snapshot_online_rate,  -- Σ cameras online at the day's last poll / Σ cameras registered, over the days
    rate_of(per_banner.figures, 'intact_rate') AS intact_rate,  -- 完好率: intact camera-days / camera-days
    rate_of(per_banner.figures, 'recording_completeness') AS recording_completeness,  -- 录像完整率: Σ recorded seconds / Σ scheduled seconds
    rate_of(per_banner.figures, 'retention_compliance') AS retention_compliance,  -- camera-days keeping their required retention / camera-days on storage
    rate_of(per_banner.figures, 'clock_accuracy') AS clock_accuracy,  -- 时钟准确率: device-days within the clock limit / device-days measured
    rate_of(per_banner.figures, 'annotation_accuracy') AS annotation_accuracy,  -- 点位标注: correctly annotated camera-days / camera-days
    rate_of(per_banner.figures, 'image_quality_rate') AS image_quality_rate,  -- 图像质量正常率: camera-days with no image fault / camera-days diagnosed
    rate_of(per_banner.figures, 'capture_activity') AS capture_activity,  -- 抓拍机活跃率: active capture-camera-days / capture-camera-days registered
    rate_of(per_banner.figures, 'upload_timeliness') AS upload_timeliness,  -- 上传及时率: captures received ≤ 60 s after the shot / captures
    rate_of(per_banner.figures, 'capture_clock_accuracy') AS capture_clock_accuracy,  -- captures not shot > 60 s after receipt / captures
    rate_of(per_banner.figures, 'capture_uniqueness') AS capture_uniqueness,  -- 数据唯一率: distinct captures / captures received
    coalesce(count_of(per_banner.figures, 'captures'), 0) AS captures,  -- distinct captures received in the month
    coalesce(scored.indicators_measured, 0) AS indicators_measured,  -- indicators with a value and a target
    coalesce(scored.targets_met, 0) AS targets_met,  -- of those, at or above target
    rank() OVER (ORDER BY coalesce(scored.targets_met / nullif(scored.indicators_measured, 0), 0) DESC,
                          rate_of(per_banner.figures, 'online_rate') DESC NULLS LAST)
        AS rank  -- 1 = best: the largest share of measured indicators at target, then the highest online rate
FROM per_banner
CROSS JOIN month
LEFT JOIN scored USING (code)
ORDER BY rank, per_banner.code
