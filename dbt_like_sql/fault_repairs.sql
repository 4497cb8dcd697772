-- The figures of repair, per banner, maintenance unit and month, from gold.camera_faults: faults opened and
-- closed in the month, those still open at its end (the month under way: its banner's latest day harvested),
-- the median and 90th percentile time to repair of the faults repaired in the month (linear interpolation
-- between the ordered times, as percentile_cont), the share repaired within their limit (limits
-- repair_hours_key_site at key sites, repair_hours elsewhere, quality/thresholds.yaml), and the longest
-- open. A fault closed because its camera left the registry counts as closed, not repaired. Units rank
-- within the month across the city: the largest share repaired within the limit first, then the fewest
-- still open, then the shortest median.
-- partitions: none
WITH bounds AS (
    SELECT code, min(opened_on) AS first_day, max(as_of) AS as_of FROM gold.camera_faults GROUP BY code
),

months AS (
    SELECT code, as_of, unnest(range(date_trunc('month', first_day), as_of + 1, INTERVAL 1 MONTH))::DATE AS month_start
    FROM bounds
),

spans AS (
    SELECT code, month_start,
           least(month_start + INTERVAL 1 MONTH - INTERVAL 1 DAY, as_of)::DATE AS month_end
    FROM months
),

per_unit AS (
    SELECT
        spans.month_start,
        spans.month_end,
        faults.code,
        faults.maintenance_unit,
        count(*) FILTER (WHERE faults.opened_on BETWEEN spans.month_start AND spans.month_end) AS opened,
        count(*) FILTER (WHERE faults.closed_on BETWEEN spans.month_start AND spans.month_end) AS closed,
        count(*) FILTER (WHERE faults.closed_on BETWEEN spans.month_start AND spans.month_end
                         AND faults.resolution = 'repaired') AS repaired,
        count(*) FILTER (WHERE faults.opened_on <= spans.month_end
                         AND coalesce(faults.closed_on > spans.month_end, true)) AS still_open,
        count(*) FILTER (WHERE faults.opened_on <= spans.month_end
                         AND coalesce(faults.closed_on > spans.month_end, true)
                         AND spans.month_end >= faults.overdue_from) AS overdue,
        round(quantile_cont(faults.repair_h, 0.5)
              FILTER (WHERE faults.closed_on BETWEEN spans.month_start AND spans.month_end), 1) AS median_repair_h,
        round(quantile_cont(faults.repair_h, 0.9)
              FILTER (WHERE faults.closed_on BETWEEN spans.month_start AND spans.month_end), 1) AS p90_repair_h,
        avg((faults.repair_h <= faults.limit_h)::INTEGER)
            FILTER (WHERE faults.closed_on BETWEEN spans.month_start AND spans.month_end AND faults.repair_h IS NOT NULL)
            AS within_limit_share,
        max(spans.month_end - faults.opened_on + 1) FILTER (WHERE faults.opened_on <= spans.month_end
                         AND coalesce(faults.closed_on > spans.month_end, true)) AS longest_open_days
    FROM gold.camera_faults AS faults
    JOIN spans USING (code)
    GROUP BY ALL
)

SELECT
    strftime(per_unit.month_start, '%Y-%m') AS month,  -- The local month, e.g. 2026-11.
    per_unit.code,  -- Banner: the 6-digit administrative code of the reporting unit.
    per_unit.maintenance_unit,  -- The maintenance unit (the registry's ManagementUnit, else Owner).
    per_unit.month_end AS as_of,  -- The month's last day, or its banner's latest day harvested in a month under way.
    per_unit.opened,  -- Faults opened in the month.
    per_unit.closed,  -- Faults closed in the month (repaired, or the camera left the registry).
    per_unit.repaired,  -- Faults repaired in the month.
    per_unit.still_open,  -- Faults open at the end of the month (as_of).
    per_unit.overdue,  -- Of those, open longer than their limit.
    per_unit.median_repair_h,  -- Median time to repair of the faults repaired in the month, hours (to 0.1 h).
    per_unit.p90_repair_h,  -- 90th-percentile time to repair, hours (linear interpolation, to 0.1 h).
    per_unit.within_limit_share,  -- Share of the faults repaired in the month that were repaired within their limit.
    per_unit.longest_open_days,  -- The longest-open fault still open at the month's end, days (null: none open).
    rank() OVER (PARTITION BY per_unit.month_start
                 ORDER BY per_unit.within_limit_share DESC NULLS LAST, per_unit.still_open,
                          per_unit.median_repair_h NULLS LAST)
        AS unit_rank  -- 1 = the best unit of the city that month: most repaired within the limit, fewest open, fastest.
FROM per_unit
WHERE per_unit.opened + per_unit.closed + per_unit.still_open > 0
ORDER BY month, unit_rank, per_unit.code, per_unit.maintenance_unit
