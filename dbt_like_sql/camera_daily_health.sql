-- Health of each registered camera on one day, described with that day's registry (name, coordinates
-- and point class as they stood that day). online_rate is time-weighted by DOMAIN.md's rule: seconds
-- online / seconds observed, harvester outages left out of both; a flap is a change from online to
-- anything else; online_at_last_poll feeds the banner's snapshot rate. clock_skew_s is the median of
-- the day's hourly DeviceStatus skews (DeviceTime − receive time, positive = device ahead) of the
-- camera itself or, if it did not answer itself, of the device it is recorded through (its NVR);
-- record_on_rate and encode_on_rate are the shares of those responses saying Record ON / Encode ON.
-- annotation_ok: coordinates present and inside the banner, class-required fields filled;
-- annotation_fault says what is wrong. recording_completeness: seconds recorded / seconds scheduled
-- (7×24), from the camera's segment files when storage holds them, else from its device's RecordInfo
-- index (recording_source); gap_count: uncovered stretches longer than the gap tolerance;
-- corrupt_segments: truncated, corrupt or unfinished files. retention_ok: the oldest recording kept is
-- at least required_days old (cameras on storage only). image_faults: what the video-quality diagnosis
-- of a sampled segment found, of its twelve kinds (null: not diagnosed). intact: online and recording at least the intact
-- shares of limits (90 %) with no image fault found.
-- partitions: day, banner
WITH spans AS (
    SELECT
        channel_id,
        state,
        date_diff('second', start_at, end_at) AS seconds,
        lag(state) OVER (PARTITION BY channel_id ORDER BY start_at) AS previous_state,
        row_number() OVER (PARTITION BY channel_id ORDER BY start_at DESC) AS from_last
    FROM silver.status_intervals
),

per_camera AS (
    SELECT
        channel_id,
        coalesce(sum(seconds) FILTER (WHERE state = 'online'), 0)::BIGINT AS online_s,
        sum(seconds)::BIGINT AS expected_s,
        count(*) FILTER (WHERE previous_state = 'online' AND state <> 'online') AS flaps,
        bool_or(from_last = 1 AND state = 'online') AS online_at_last_poll
    FROM spans
    GROUP BY channel_id
),

clocks AS (
    SELECT
        device_id,
        median(clock_skew_s) AS clock_skew_s,
        count(*) AS status_responses,
        avg(record_on::INTEGER) AS record_on_rate,
        avg(encode_on::INTEGER) AS encode_on_rate
    FROM bronze.device_status
    GROUP BY device_id
),

health AS (
    SELECT
        cameras.date,
        cameras.code,
        cameras.channel_id,
        cameras.device_id,
        cameras.name,
        cameras.longitude,
        cameras.latitude,
        cameras.point_class,
        coalesce(per_camera.online_s, 0) AS online_s,
        coalesce(per_camera.expected_s, 0) AS expected_s,
        per_camera.online_s / nullif(per_camera.expected_s, 0) AS online_rate,
        coalesce(per_camera.flaps, 0) AS flaps,
        per_camera.online_at_last_poll,
        coalesce(own.clock_skew_s, recorder.clock_skew_s) AS clock_skew_s,
        coalesce(own.status_responses, recorder.status_responses, 0) AS status_responses,
        coalesce(own.record_on_rate, recorder.record_on_rate) AS record_on_rate,
        coalesce(own.encode_on_rate, recorder.encode_on_rate) AS encode_on_rate,
        coverage.source AS recording_source,
        coverage.recorded_s,
        coverage.scheduled_s,
        coverage.recorded_s / nullif(coverage.scheduled_s, 0) AS recording_completeness,
        coverage.gap_count,
        coverage.longest_gap_s,
        coverage.corrupt_segments,
        coverage.missing_files,
        coverage.missing_index,
        coverage.duration_mismatches,
        coverage.retained_days,
        coverage.required_days,
        coverage.retained_days >= coverage.required_days AS retention_ok,
        diagnosis.image_faults,
        cameras.annotation_fault IS NULL AS annotation_ok,
        cameras.annotation_fault
    FROM silver.cameras AS cameras
    LEFT JOIN per_camera USING (channel_id)
    LEFT JOIN clocks AS own ON own.device_id = cameras.channel_id
    LEFT JOIN clocks AS recorder ON recorder.device_id = cameras.device_id
    LEFT JOIN silver.recording_coverage AS coverage USING (channel_id)
    LEFT JOIN silver.image_diagnosis AS diagnosis USING (channel_id)
)

SELECT
    health.date,  -- The local day (Asia/Shanghai).
    health.code,  -- Banner: the 6-digit administrative code of the reporting unit.
    health.channel_id,  -- The camera channel's 20-digit GB/T 28181 ID.
    health.device_id,  -- The device it is recorded through: its parent DVR/NVR in the catalog, else the channel itself.
    health.name,  -- The camera's name (catalog Name) in that day's registry.
    health.longitude,  -- WGS-84 longitude from the catalog (null: not given).
    health.latitude,  -- WGS-84 latitude from the catalog (null: not given).
    health.point_class,  -- Monitoring point class: 1/2/3 = class-one/two/three point (catalog PointType; null: not given).
    health.online_s,  -- Seconds online that day: a poll's state holds until the banner's next poll, at most 10 min.
    health.expected_s,  -- Seconds observed that day (expected seconds): harvester outages left out.
    health.online_rate,  -- online rate (在线率): online_s / expected_s (null: never observed).
    health.flaps,  -- Changes from online to any other state that day.
    health.online_at_last_poll,  -- Online at the banner's last poll of the day (feeds the snapshot online rate; null: never observed).
    health.clock_skew_s,  -- Median DeviceStatus clock skew that day, s: DeviceTime − receive time (own, else its recording device's).
    health.status_responses,  -- DeviceStatus responses that day: the camera's own, else its recording device's.
    health.record_on_rate,  -- Share of those responses saying Record ON.
    health.encode_on_rate,  -- Share of those responses saying Encode ON.
    health.recording_source,  -- Where recording was measured: file (segment files), index (RecordInfo); null: not measured.
    health.recorded_s,  -- Seconds of the day covered by the union of its recordings (null: not measured).
    health.scheduled_s,  -- Seconds of the day's 7×24 recording schedule (null: not measured).
    health.recording_completeness,  -- recording completeness (录像完整率): recorded_s / scheduled_s.
    health.gap_count,  -- Uncovered stretches longer than the gap tolerance (5 s), the day's start and end included.
    health.longest_gap_s,  -- The longest uncovered stretch of the day, s.
    health.corrupt_segments,  -- Segment files that are truncated, corrupt or unfinished.
    health.missing_files,  -- Index entries with no file on storage (problem missing_file).
    health.missing_index,  -- Files its device's index does not list (problem missing_index).
    health.duration_mismatches,  -- Matched file and index entries whose lengths differ by more than the gap tolerance.
    health.retained_days,  -- Age in days of its oldest recording on storage as it stood when built (null: not on storage).
    health.required_days,  -- Days it must keep: max(30, 90 for class-one points, its declared RecordSaveDays).
    health.retention_ok,  -- retained_days ≥ required_days (null: not on storage).
    health.image_faults,  -- Faults the video-quality diagnosis of a sampled segment found, of signal_loss, frozen, blur, too_bright, too_dark, greyscale, colour_cast, noise, stripes, low_contrast, occlusion, scene_change (empty: none; null: not diagnosed).
    health.annotation_ok,  -- Point annotation (点位标注) correct: coordinates present, inside the banner; class fields filled.
    health.annotation_fault,  -- What is wrong: no_coordinates, outside_banner or class_one_fields (null: correct).
    coalesce(
        health.online_rate >= limits.intact_online
        AND health.recording_completeness >= limits.intact_recording
        AND coalesce(len(health.image_faults) = 0, true),
        false
    ) AS intact  -- Intact (完好): online_rate and recording_completeness ≥ 0.9 (limits), no image fault found.
FROM health, context.limits AS limits
ORDER BY health.channel_id
