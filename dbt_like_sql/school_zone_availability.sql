-- Camera availability around each school at school hours, per zone and day (DOMAIN.md: a public service
-- built on the same data). A zone is a point and a radius (xl_pipelines/school_zones.yaml); its cameras are
-- the banner's registered cameras whose coordinates lie within the radius (great-circle distance). Its
-- availability is the online rate's rule applied to the school-hours windows only (07:00–08:30 and
-- 16:00–18:00 local by default): seconds online / seconds observed, summed over the zone's cameras, harvester
-- outages left out of both. Every day is reported; school_day tells Monday to Friday.
-- partitions: day, banner
WITH zones AS (
    SELECT zones.*, banner_days.date
    FROM context.school_zones AS zones
    JOIN context.banner_days AS banner_days USING (code)
),

windows AS (
    SELECT
        (zones.date + hours.starts::TIME)::TIMESTAMPTZ AS window_start,
        (zones.date + hours.ends::TIME)::TIMESTAMPTZ AS window_end
    FROM (SELECT DISTINCT date FROM zones) AS zones, context.school_hours AS hours
),

members AS (
    SELECT zones.zone_id, cameras.channel_id
    FROM zones
    JOIN silver.cameras AS cameras
        ON cameras.longitude IS NOT NULL AND cameras.latitude IS NOT NULL
        AND 2 * 6371008.8 * asin(sqrt(
            pow(sin(radians(cameras.latitude - zones.latitude) / 2), 2)
            + cos(radians(zones.latitude)) * cos(radians(cameras.latitude))
            * pow(sin(radians(cameras.longitude - zones.longitude) / 2), 2)
        )) <= zones.radius_m
),

school_hours AS (
    SELECT
        intervals.channel_id,
        intervals.state,
        date_diff('second', greatest(intervals.start_at, windows.window_start),
                  least(intervals.end_at, windows.window_end)) AS seconds
    FROM silver.status_intervals AS intervals
    JOIN windows
        ON intervals.start_at < windows.window_end AND intervals.end_at > windows.window_start
),

per_camera AS (
    SELECT
        members.zone_id,
        members.channel_id,
        coalesce(sum(school_hours.seconds) FILTER (WHERE school_hours.state = 'online'), 0) AS online_s,
        coalesce(sum(school_hours.seconds), 0) AS expected_s
    FROM members
    LEFT JOIN school_hours USING (channel_id)
    GROUP BY ALL
)

SELECT
    zones.date,  -- the local day
    zones.code,  -- the banner the zone belongs to
    zones.zone_id,  -- the zone's ID in school_zones.yaml
    zones.name_zh,  -- the school's name (Chinese)
    zones.name_en,  -- the school's name (English)
    isodow(zones.date) <= 5 AS school_day,  -- Monday to Friday
    count(per_camera.channel_id) AS cameras,  -- registered cameras within the zone's radius
    coalesce(sum(per_camera.expected_s), 0)::BIGINT AS expected_s,  -- school-hours seconds observed by the polls, over the zone's cameras
    coalesce(sum(per_camera.online_s), 0)::BIGINT AS online_s,  -- of which online
    sum(per_camera.online_s) / nullif(sum(per_camera.expected_s), 0) AS availability,  -- online_s / expected_s (null: no camera, or nothing observed)
    count(*) FILTER (WHERE per_camera.expected_s > 0 AND per_camera.online_s = per_camera.expected_s)
        AS cameras_always_online  -- cameras online throughout the school hours observed
FROM zones
LEFT JOIN per_camera USING (zone_id)
GROUP BY ALL
ORDER BY zones.zone_id
