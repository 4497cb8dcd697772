-- Each camera's health over one month, from gold.camera_daily_health, ranked worst first across the city:
-- the leadership report's worst cameras. Rates are recomputed from the month's seconds (Σ numerators /
-- Σ denominators). The worst camera is the least online; ties go to the less completely recorded one,
-- then to the one with more days of image faults.
-- partitions: month
SELECT
    strftime(min(date), '%Y-%m') AS month,  -- the local month, e.g. 2026-11
    code,  -- the banner
    channel_id,  -- the camera's 20-digit GB/T 28181 ID
    arg_max(name, date) AS name,  -- its registered name on the last day covered
    count(*) AS days,  -- days of the month the camera was registered and measured
    sum(online_s)::BIGINT AS online_s,  -- seconds online
    sum(expected_s)::BIGINT AS expected_s,  -- seconds observed
    sum(online_s) / nullif(sum(expected_s), 0) AS online_rate,  -- online_s / expected_s
    sum(flaps)::BIGINT AS flaps,  -- changes from online to anything else
    sum(recorded_s) / nullif(sum(scheduled_s), 0) AS recording_completeness,  -- Σ recorded / Σ scheduled seconds
    sum(gap_count)::BIGINT AS gaps,  -- recording gaps beyond the tolerance
    count(*) FILTER (WHERE len(image_faults) > 0) AS image_fault_days,  -- days the image diagnosis found a fault
    coalesce(list_sort(list_distinct(flatten(list(image_faults) FILTER (WHERE image_faults IS NOT NULL)))),
             []::VARCHAR[]) AS image_fault_kinds,  -- the image fault kinds found on any of those days
    count(*) FILTER (WHERE intact) AS intact_days,  -- days the camera was intact
    row_number() OVER (
        ORDER BY sum(online_s) / nullif(sum(expected_s), 0) ASC NULLS FIRST,
                 sum(recorded_s) / nullif(sum(scheduled_s), 0) ASC NULLS FIRST,
                 count(*) FILTER (WHERE len(image_faults) > 0) DESC,
                 channel_id
    ) AS worst_rank  -- 1 = the worst camera of the city that month
FROM gold.camera_daily_health
GROUP BY code, channel_id
ORDER BY worst_rank
