-- The whole city on one day, over all nine banners: the same indicators as banner_daily_kpis, summed
-- over every camera of the city rather than averaged over banners.
-- partitions: day
SELECT
    days.date,
    count(DISTINCT health.code) AS banners_reporting,
    count(health.channel_id) AS cameras,
    sum(health.online_s) / nullif(sum(health.expected_s), 0) AS online_rate,
    avg(health.online_at_last_poll::INTEGER) AS snapshot_online_rate
FROM (SELECT DISTINCT date FROM context.banner_days) AS days
LEFT JOIN gold.camera_daily_health AS health ON true
GROUP BY days.date
