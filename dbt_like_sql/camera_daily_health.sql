-- Health of each registered camera on one day. online_rate is time-weighted by DOMAIN.md's rule:
-- seconds online / seconds observed, with harvester outages left out of both; a flap is a change from
-- online to anything else; online_at_last_poll feeds the banner's snapshot rate.
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
        coalesce(sum(seconds) FILTER (WHERE state = 'online'), 0) AS online_s,
        sum(seconds) AS expected_s,
        count(*) FILTER (WHERE previous_state = 'online' AND state <> 'online') AS flaps,
        bool_or(from_last = 1 AND state = 'online') AS online_at_last_poll
    FROM spans
    GROUP BY channel_id
)

SELECT
    cameras.date,
    cameras.code,
    cameras.channel_id,
    coalesce(per_camera.online_s, 0) AS online_s,
    coalesce(per_camera.expected_s, 0) AS expected_s,
    per_camera.online_s / nullif(per_camera.expected_s, 0) AS online_rate,
    coalesce(per_camera.flaps, 0) AS flaps,
    coalesce(per_camera.online_at_last_poll, false) AS online_at_last_poll
FROM silver.cameras AS cameras
LEFT JOIN per_camera USING (channel_id)
ORDER BY cameras.channel_id
