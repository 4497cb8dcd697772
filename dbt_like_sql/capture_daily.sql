-- Capture quality of each capture camera on one day (GA/T 1400 and ONVIF): every registered camera
-- with a capture function (FunctionType 01 face, 02 person, 03 motor vehicle, 04 non-motor) and every
-- device that sent captures. captures: distinct captures received that day; resent: re-sends of a
-- capture already received (quarantined as duplicate). upload_timeliness: captures received at most
-- capture_delay_s (60 s) after their shot time / captures; capture_clock_accuracy: captures whose shot
-- time is not later than their receive time by more than capture_clock_s (60 s) / captures;
-- capture_uniqueness: captures / (captures + resent); id_time_mismatches: GA/T 1400 captures whose
-- object ID carries another time than ShotTime. volume_change: captures / captures on the same weekday
-- a week before − 1 (null without that day's data); beyond ±volume_change (50 %) it is a sudden rise or
-- drop (volume_alarm). online_s / expected_s / online_rate: the capture device's online time from its
-- keepalives to xl receive (silver.keepalive_intervals), by the polls' rule; null when it sent none that day.
-- partitions: day, banner
WITH registered AS (
    SELECT channel_id AS device_id, function_type
    FROM silver.cameras
    WHERE function_type IN ('01', '02', '03', '04')
),

counted AS (
    SELECT
        device_id,
        count(*) AS captures,
        count(*) FILTER (WHERE delay_s <= limits.capture_delay_s) AS timely_captures,
        count(*) FILTER (WHERE -delay_s <= limits.capture_clock_s) AS clock_ok_captures,
        count(*) FILTER (WHERE NOT id_time_ok) AS id_time_mismatches,
        count(*) FILTER (WHERE kind = 'motor_vehicle') AS vehicles,
        count(*) FILTER (WHERE kind = 'face') AS faces,
        count(*) FILTER (WHERE kind = 'person') AS persons,
        count(*) FILTER (WHERE kind = 'non_motor') AS non_motor_vehicles,
        median(delay_s) AS median_delay_s,
        any_value(source) AS source,
        max(received_at) AS last_received_at
    FROM silver.captures, context.limits AS limits
    GROUP BY device_id
),

resent AS (
    SELECT record_id AS device_id, count(*) AS resent
    FROM quarantine.captures
    WHERE reason = 'duplicate'
    GROUP BY record_id
),

week_before AS (
    SELECT device_id, count(*) AS captures
    FROM silver_week_before.captures
    GROUP BY device_id
),

kept_alive AS (
    SELECT
        channel_id AS device_id,
        coalesce(sum(date_diff('second', start_at, end_at)) FILTER (WHERE state = 'online'), 0)::BIGINT AS online_s,
        sum(date_diff('second', start_at, end_at))::BIGINT AS expected_s
    FROM silver.keepalive_intervals
    GROUP BY channel_id
),

devices AS (
    SELECT device_id FROM registered
    UNION
    SELECT device_id FROM counted
),

per_device AS (
    SELECT
        scope.date,
        scope.code,
        devices.device_id,
        registered.function_type,
        registered.device_id IS NOT NULL AS capture_camera,
        counted.source,
        coalesce(counted.captures, 0) AS captures,
        coalesce(resent.resent, 0) AS resent,
        coalesce(counted.timely_captures, 0) AS timely_captures,
        coalesce(counted.clock_ok_captures, 0) AS clock_ok_captures,
        coalesce(counted.id_time_mismatches, 0) AS id_time_mismatches,
        coalesce(counted.vehicles, 0) AS vehicles,
        coalesce(counted.faces, 0) AS faces,
        coalesce(counted.persons, 0) AS persons,
        coalesce(counted.non_motor_vehicles, 0) AS non_motor_vehicles,
        counted.median_delay_s,
        counted.last_received_at,
        CASE WHEN earlier.available THEN coalesce(week_before.captures, 0) END AS captures_week_before,
        kept_alive.online_s,
        kept_alive.expected_s
    FROM devices
    CROSS JOIN context.banner_days AS scope
    CROSS JOIN context.week_before AS earlier
    LEFT JOIN registered ON registered.device_id = devices.device_id
    LEFT JOIN counted ON counted.device_id = devices.device_id
    LEFT JOIN resent ON resent.device_id = devices.device_id
    LEFT JOIN week_before ON week_before.device_id = devices.device_id
    LEFT JOIN kept_alive ON kept_alive.device_id = devices.device_id
)

SELECT
    per_device.date,  -- The local day (Asia/Shanghai).
    per_device.code,  -- Banner: the 6-digit administrative code of the reporting unit.
    per_device.device_id,  -- The capture device's 20-digit GB/T 28181 ID (a registered capture camera, or a sender).
    per_device.function_type,  -- Registered FunctionType: 01 face, 02 person, 03 motor vehicle, 04 non-motor (null: none).
    per_device.capture_camera,  -- Registered with a capture function (counts for capture activity).
    per_device.source,  -- Where its captures came from: gat1400 or onvif (either, if both; null: none that day).
    per_device.captures,  -- Distinct captures received that day.
    per_device.resent,  -- Re-sends of a capture already received (quarantined as duplicate).
    per_device.timely_captures,  -- Captures received at most 60 s (limits capture_delay_s) after their shot time.
    per_device.clock_ok_captures,  -- Captures whose shot time is not later than their receipt by more than 60 s (capture_clock_s).
    per_device.id_time_mismatches,  -- GA/T 1400 captures whose object ID carries another time than ShotTime.
    per_device.vehicles,  -- Captures of motor vehicles.
    per_device.faces,  -- Captures of faces.
    per_device.persons,  -- Captures of persons.
    per_device.non_motor_vehicles,  -- Captures of non-motor vehicles.
    per_device.median_delay_s,  -- Median seconds from shot time to receipt.
    per_device.last_received_at,  -- When its last capture of the day was received.
    per_device.captures_week_before,  -- Its captures on the same weekday a week before (null: that day not materialised).
    per_device.online_s,  -- Seconds online that day by its keepalives to xl receive (a round of 3 min is a poll; null: no keepalives).
    per_device.expected_s,  -- Seconds observed: rounds in which the receiver heard the banner, a round holding at most 10 min.
    per_device.online_s / nullif(per_device.expected_s, 0) AS online_rate,  -- online rate (在线率) of the capture device: online_s / expected_s (null: not observed).
    captures > 0 AS active,  -- Sent at least one capture that day.
    timely_captures / nullif(captures, 0) AS upload_timeliness,  -- upload timeliness (上传及时率): timely_captures / captures.
    clock_ok_captures / nullif(captures, 0) AS capture_clock_accuracy,  -- capture clock accuracy: clock_ok_captures / captures.
    captures / nullif(captures + resent, 0) AS capture_uniqueness,  -- capture uniqueness (数据唯一率): captures / (captures + resent).
    captures / nullif(captures_week_before, 0) - 1 AS volume_change,  -- captures / captures_week_before − 1 (null: none or no data a week before; may be negative).
    CASE
        WHEN captures_week_before > 0 AND captures / captures_week_before - 1 < -limits.volume_change THEN 'drop'
        WHEN captures_week_before > 0 AND captures / captures_week_before - 1 > limits.volume_change THEN 'rise'
        WHEN captures_week_before = 0 AND captures > 0 THEN 'rise'
    END AS volume_alarm  -- rise / drop: volume_change beyond ±0.5 (limits volume_change), or captures after none; else null.
FROM per_device, context.limits AS limits
ORDER BY device_id
