-- Vehicles per checkpoint-hour, the feed behind the public road-condition service: distinct
-- motor-vehicle captures (GA/T 1400 and ONVIF) received that day, by the local hour of their shot time,
-- for the hours of that day. A capture shot before midnight and received after it is left out: the
-- feed is live, and its hour was over. An hour without a row had no vehicle captured (or the
-- checkpoint sent nothing: see gold.capture_daily).
-- partitions: day, banner
SELECT
    date_trunc('hour', captures.shot_at) AS hour,  -- Local hour (Asia/Shanghai) the vehicles were shot in: the start of the hour.
    captures.code,  -- Banner: the 6-digit administrative code of the reporting unit.
    captures.device_id,  -- The 20-digit GB/T 28181 ID of the camera (checkpoint) that shot them.
    count(*) AS vehicles  -- Distinct motor-vehicle captures it shot in that hour and that were received the same day.
FROM silver.captures AS captures
JOIN context.banner_days AS scope ON captures.shot_at::DATE = scope.date
WHERE captures.kind = 'motor_vehicle'
GROUP BY ALL
ORDER BY hour, device_id
