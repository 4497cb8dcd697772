-- Each of the twelve image faults per banner and month, from gold.camera_daily_health: on how many cameras
-- and camera-days the video-quality diagnosis found it (the leadership report's table of fault kinds). Every
-- banner has a row for every kind, 0 where it was not found; diagnosed_days says how many camera-days of the
-- banner were diagnosed at all (a kind on no camera of a banner that was never diagnosed is unknown, not none).
-- partitions: month
WITH diagnosed AS (
    SELECT code, channel_id, image_faults FROM gold.camera_daily_health WHERE image_faults IS NOT NULL
),

found AS (
    SELECT code, channel_id, unnest(image_faults) AS kind FROM diagnosed
)

SELECT
    (SELECT strftime(min(date), '%Y-%m') FROM context.banner_days) AS month,  -- the local month, e.g. 2026-11
    banners.code,  -- the banner
    kinds.kind,  -- the fault kind: signal_loss, frozen, blur, too_bright, too_dark, greyscale, colour_cast, noise, stripes, low_contrast, occlusion or scene_change
    any_value(kinds.name_zh) AS kind_zh,  -- its name as the platforms give it in Chinese
    any_value(kinds.name_en) AS kind_en,  -- its name in English
    count(DISTINCT found.channel_id) AS cameras,  -- cameras it was found on, on at least one day of the month
    count(found.channel_id) AS camera_days,  -- camera-days it was found on
    (SELECT count(*) FROM diagnosed WHERE diagnosed.code = banners.code) AS diagnosed_days  -- camera-days of the banner diagnosed at all
FROM context.banners AS banners
CROSS JOIN context.image_faults AS kinds
LEFT JOIN found ON found.code = banners.code AND found.kind = kinds.kind
GROUP BY banners.code, kinds.kind, kinds.position
ORDER BY banners.code, kinds.position
