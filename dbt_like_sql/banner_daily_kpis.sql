-- The network indicators of one banner on one day. online_rate sums seconds over all its cameras
-- (not an average of camera rates); snapshot_online_rate is the share of registered cameras online at
-- the banner's last poll of the day. A banner with no registered cameras still gets its row.
-- partitions: day, banner
SELECT
    scope.date,
    scope.code,
    scope.banner_name,
    scope.banner_name_zh,
    count(health.channel_id) AS cameras,
    sum(health.online_s) / nullif(sum(health.expected_s), 0) AS online_rate,
    avg(health.online_at_last_poll::INTEGER) AS snapshot_online_rate
FROM context.banner_days AS scope
LEFT JOIN gold.camera_daily_health AS health ON health.code = scope.code
GROUP BY ALL
ORDER BY scope.code
