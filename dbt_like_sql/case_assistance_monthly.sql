-- What video did for policing in each banner and month, from the case-management export (DOMAIN.md's
-- outcome statistics): only cases marked video-assisted count, in the month they were opened. Every banner
-- has a row every month, zero when it had no such case.
-- partitions: month
SELECT
    month.month,  -- the local month, e.g. 2026-11
    banners.code,  -- the banner
    banners.name_zh AS banner_name_zh,  -- its name in Chinese
    banners.name_en AS banner_name,  -- its name in English
    count(cases.case_id) FILTER (WHERE cases.category = 'criminal')
        AS criminal_cases_assisted,  -- criminal cases assisted by video (刑事案件)
    count(cases.case_id) FILTER (WHERE cases.category = 'administrative')
        AS administrative_cases_assisted,  -- administrative cases assisted by video (治安案件)
    coalesce(sum(cases.suspects_caught), 0)::BIGINT AS suspects_caught,  -- suspects caught in video-assisted cases (抓获嫌疑人)
    coalesce(sum(cases.accident_replays), 0)::BIGINT AS accident_replays,  -- traffic-accident scenes replayed from video (事故回放)
    coalesce(sum(cases.missing_found), 0)::BIGINT AS missing_persons_found,  -- missing persons found with video (找回走失人员)
    count(cases.case_id) FILTER (WHERE cases.category = 'assistance')
        AS assistance_served  -- public-assistance requests served with video (便民服务)
FROM context.banners AS banners
CROSS JOIN (SELECT strftime(min(date), '%Y-%m') AS month FROM context.banner_days) AS month
LEFT JOIN silver.cases AS cases ON cases.code = banners.code AND cases.video_assisted
GROUP BY ALL
ORDER BY banners.code
