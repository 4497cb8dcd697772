-- The whole city on one day, over all nine banners: every figure sums the banners' numerators and denominators
-- in gold.banner_daily_indicators (a rate is Σ numerator / Σ denominator, never a mean over banners). A banner
-- whose figure is null (its source did not land: unmeasured) is left out of numerator and denominator alike.
-- partitions: day
-- checks: alert_levels
SELECT
    date,  -- The local day (Asia/Shanghai).
    banners_reporting,  -- Banners with figures in gold.banner_daily_indicators that day (nine: the model waits for all nine).
    count_of(figures, 'cameras') AS cameras,  -- Registered cameras, all banners.
    rate_of(figures, 'online_rate') AS online_rate,  -- online rate (在线率): Σ online seconds / Σ observed (expected) seconds.
    rate_of(figures, 'snapshot_online_rate') AS snapshot_online_rate,  -- Snapshot online rate: Σ cameras online at their banner's last poll / Σ registered cameras.
    rate_of(figures, 'clock_accuracy') AS clock_accuracy,  -- clock accuracy (时钟准确率): Σ devices with median |skew| ≤ 60 s / Σ devices that answered DeviceStatus.
    rate_of(figures, 'annotation_accuracy') AS annotation_accuracy,  -- annotation accuracy (点位标注): Σ correctly annotated cameras / Σ (cameras + cameras quarantined outside the city).
    rate_of(figures, 'recording_completeness') AS recording_completeness,  -- recording completeness (录像完整率): Σ recorded seconds / Σ scheduled seconds (7×24).
    rate_of(figures, 'retention_compliance') AS retention_compliance,  -- retention compliance: Σ cameras on storage keeping their required days / Σ cameras on storage.
    rate_of(figures, 'image_quality_rate') AS image_quality_rate,  -- image quality (图像质量正常率): Σ cameras with no image fault / Σ cameras diagnosed.
    rate_of(figures, 'intact_rate') AS intact_rate,  -- intact rate (完好率): Σ intact cameras / Σ registered cameras.
    count_of(figures, 'captures') AS captures,  -- Distinct captures received that day, all banners.
    rate_of(figures, 'capture_activity') AS capture_activity,  -- capture activity (抓拍机活跃率): Σ registered capture cameras that sent captures / Σ registered capture cameras.
    rate_of(figures, 'upload_timeliness') AS upload_timeliness,  -- upload timeliness (上传及时率): Σ captures received ≤ 60 s after their shot time / Σ captures.
    rate_of(figures, 'capture_clock_accuracy') AS capture_clock_accuracy,  -- capture clock accuracy: Σ captures whose shot time is not later than receipt by more than 60 s / Σ captures.
    rate_of(figures, 'capture_uniqueness') AS capture_uniqueness,  -- capture uniqueness (数据唯一率): Σ distinct captures / Σ (captures + re-sends).
    change_of(figures, 'volume_change') AS volume_change  -- Σ captures / Σ captures on the same weekday a week before − 1 (null without that day's data; not a rate: may be negative).
FROM (
    SELECT date, count(DISTINCT code) AS banners_reporting,
        list({'indicator': indicator, 'numerator': numerator, 'denominator': denominator}) AS figures
    FROM gold.banner_daily_indicators
    GROUP BY date
) AS city_day
