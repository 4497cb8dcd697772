-- The network indicators of one banner on one day, with the counts behind each rate: gold.banner_daily_indicators
-- (where each formula is written, once) laid out one column per figure. Each rate is its numerator over its
-- denominator, each count its numerator (rate_of, numerator_of, denominator_of and count_of sum a group's
-- rows of an indicator: here the banner-day's one row). A source that did not land leaves its figures null
-- (unmeasured), never 0.
-- partitions: day, banner
-- checks: alert_levels
SELECT
    banner_day.date,  -- The local day (Asia/Shanghai).
    banner_day.code,  -- Banner: the 6-digit administrative code of the reporting unit.
    scope.banner_name,  -- The banner's English name, e.g. Horqin District.
    scope.banner_name_zh,  -- The banner's Chinese name, e.g. 科尔沁区.
    count_of(figures, 'cameras') AS cameras,  -- Registered cameras (silver.cameras) that day.
    numerator_of(figures, 'online_rate') AS online_s,  -- Σ cameras' seconds online.
    denominator_of(figures, 'online_rate') AS expected_s,  -- Σ cameras' seconds observed (expected seconds), harvester outages left out.
    numerator_of(figures, 'snapshot_online_rate') AS online_at_last_poll,  -- Cameras online at the banner's last poll of the day (null: no poll landed).
    numerator_of(figures, 'annotation_accuracy') AS annotated_cameras,  -- Cameras whose point annotation is correct.
    numerator_of(figures, 'recording_completeness') AS recorded_s,  -- Σ seconds recorded by the cameras measured.
    denominator_of(figures, 'recording_completeness') AS scheduled_s,  -- Σ seconds scheduled (7×24) of the cameras measured.
    denominator_of(figures, 'retention_compliance') AS retention_measured,  -- Cameras on storage (retention measured).
    numerator_of(figures, 'retention_compliance') AS retention_compliant,  -- Cameras on storage keeping their required days.
    denominator_of(figures, 'image_quality_rate') AS image_diagnosed,  -- Cameras diagnosed for image quality.
    numerator_of(figures, 'image_quality_rate') AS image_ok,  -- Cameras diagnosed with no image fault.
    numerator_of(figures, 'intact_rate') AS intact_cameras,  -- Intact cameras (gold.camera_daily_health.intact; null: no poll landed or no recording measured).
    denominator_of(figures, 'clock_accuracy') AS clock_devices,  -- Devices (IP cameras, NVRs) whose DeviceStatus answers that day carried a DeviceTime.
    numerator_of(figures, 'clock_accuracy') AS clock_accurate_devices,  -- Of those, devices whose median skew is within ±60 s (limits clock_skew_s).
    count_of(figures, 'cameras_outside_city') AS cameras_outside_city,  -- Cameras (types 131/132) missing from the registry: catalog item quarantined as outside_city.
    denominator_of(figures, 'capture_activity') AS capture_cameras,  -- Registered capture cameras (FunctionType 01–04; null: no capture received, unmeasured).
    numerator_of(figures, 'capture_activity') AS active_capture_cameras,  -- Registered capture cameras that sent captures that day (null: no capture received).
    count_of(figures, 'captures') AS captures,  -- Distinct captures received that day.
    count_of(figures, 'resent_captures') AS resent_captures,  -- Re-sends of a capture already received (quarantined as duplicate).
    numerator_of(figures, 'upload_timeliness') AS timely_captures,  -- Captures received at most 60 s after their shot time.
    numerator_of(figures, 'capture_clock_accuracy') AS clock_ok_captures,  -- Captures whose shot time is not later than their receipt by more than 60 s.
    denominator_of(figures, 'volume_change') AS captures_week_before,  -- Captures on the same weekday a week before (null: that day not materialised).
    count_of(figures, 'volume_alarms') AS volume_alarms,  -- Devices with a volume alarm (gold.capture_daily.volume_alarm: rise or drop).
    rate_of(figures, 'online_rate') AS online_rate,  -- online rate (在线率): online_s / expected_s.
    rate_of(figures, 'snapshot_online_rate') AS snapshot_online_rate,  -- Snapshot online rate: online_at_last_poll / cameras.
    rate_of(figures, 'clock_accuracy') AS clock_accuracy,  -- clock accuracy (时钟准确率): clock_accurate_devices / clock_devices.
    rate_of(figures, 'annotation_accuracy') AS annotation_accuracy,  -- annotation accuracy (点位标注): annotated_cameras / (cameras + cameras_outside_city).
    rate_of(figures, 'recording_completeness') AS recording_completeness,  -- recording completeness (录像完整率): recorded_s / scheduled_s.
    rate_of(figures, 'retention_compliance') AS retention_compliance,  -- retention compliance: retention_compliant / retention_measured.
    rate_of(figures, 'image_quality_rate') AS image_quality_rate,  -- image quality (图像质量正常率): image_ok / image_diagnosed.
    rate_of(figures, 'intact_rate') AS intact_rate,  -- intact rate (完好率): intact_cameras / cameras.
    rate_of(figures, 'capture_activity') AS capture_activity,  -- capture activity (抓拍机活跃率): active_capture_cameras / capture_cameras.
    rate_of(figures, 'upload_timeliness') AS upload_timeliness,  -- upload timeliness (上传及时率): timely_captures / captures.
    rate_of(figures, 'capture_clock_accuracy') AS capture_clock_accuracy,  -- capture clock accuracy: clock_ok_captures / captures.
    rate_of(figures, 'capture_uniqueness') AS capture_uniqueness,  -- capture uniqueness (数据唯一率): captures / (captures + resent_captures).
    change_of(figures, 'volume_change') AS volume_change  -- captures / captures_week_before − 1 (null: none or no data a week before; may be negative).
FROM (
    SELECT date, code, list({'indicator': indicator, 'numerator': numerator, 'denominator': denominator}) AS figures
    FROM gold.banner_daily_indicators
    GROUP BY date, code
) AS banner_day
JOIN context.banner_days AS scope USING (date, code)
ORDER BY banner_day.code
