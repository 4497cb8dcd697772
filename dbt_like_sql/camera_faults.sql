-- Camera faults as tickets: one row per fault episode of a camera, derived afresh from the daily facts of
-- every day harvested (gold.camera_daily_health, the registry in silver.cameras), never appended to, so
-- re-running any day, or a backfill in any order, gives the same table once the same days are in.
-- An episode opens on the first day a camera shows the fault and closes on the next day measured that it
-- does not (repaired), or that the camera is gone from its banner's registry (removed); a day not measured
-- (its banner-day not harvested, no DeviceStatus answer, not diagnosed, on an offline day for recording)
-- neither opens nor closes one. Kinds: offline (online rate under limits.intact_online); not_recording
-- (completeness under the alert level of recording_completeness, or Record ON in under
-- limits.intact_recording of its DeviceStatus answers, judged on days the camera is not offline);
-- image_<fault> (each video-quality fault); clock_skew (beyond limits.clock_skew_s); annotation;
-- retention_short; removed (gone from the registry of its banner on a day harvested). Days are the local
-- days of the facts, so time to repair is counted in whole days (24 h each).
-- partitions: none
WITH facts AS (
    SELECT
        health.*,
        coalesce(nullif(trim(cameras.management_unit), ''), nullif(trim(cameras.owner), ''), '(none)')
            AS maintenance_unit
    FROM gold.camera_daily_health AS health
    LEFT JOIN silver.cameras AS cameras USING (date, code, channel_id)
),

harvested AS (  -- the banner-days measured, and each banner's latest
    SELECT DISTINCT date, code FROM facts
),

first_days AS (
    SELECT channel_id, code, min(date) AS first_day FROM facts GROUP BY channel_id, code
),

absent AS (  -- a day its banner was harvested without the camera in the registry
    SELECT harvested.date, first_days.code, first_days.channel_id
    FROM first_days
    JOIN harvested ON harvested.code = first_days.code AND harvested.date > first_days.first_day
    ANTI JOIN facts ON facts.channel_id = first_days.channel_id AND facts.date = harvested.date
),

fixed_kinds AS (
    SELECT date, code, channel_id, point_class, maintenance_unit, unnest(signals, recursive := true)
    FROM (
        SELECT
            facts.*,
            [
                {kind: 'offline', faulty: facts.online_rate < limits.intact_online, measure: 'online_rate',
                 value: facts.online_rate, limit_value: limits.intact_online::DOUBLE, detail: NULL::VARCHAR},
                {kind: 'not_recording',
                 faulty: CASE WHEN facts.online_rate < limits.intact_online THEN NULL
                              WHEN facts.recording_completeness < recording.alert THEN true
                              WHEN facts.record_on_rate < limits.intact_recording THEN true
                              WHEN facts.recording_completeness IS NULL AND facts.record_on_rate IS NULL THEN NULL
                              ELSE false END,
                 measure: CASE WHEN facts.recording_completeness < recording.alert OR facts.record_on_rate IS NULL
                               THEN 'recording_completeness' ELSE 'record_on_rate' END,
                 value: CASE WHEN facts.recording_completeness < recording.alert OR facts.record_on_rate IS NULL
                             THEN facts.recording_completeness ELSE facts.record_on_rate END,
                 limit_value: CASE WHEN facts.recording_completeness < recording.alert OR facts.record_on_rate IS NULL
                                   THEN recording.alert ELSE limits.intact_recording END::DOUBLE,
                 detail: facts.recording_source},
                {kind: 'clock_skew', faulty: abs(facts.clock_skew_s) > limits.clock_skew_s, measure: 'clock_skew_s',
                 value: facts.clock_skew_s, limit_value: limits.clock_skew_s::DOUBLE, detail: NULL},
                {kind: 'annotation', faulty: NOT facts.annotation_ok, measure: NULL, value: NULL, limit_value: NULL,
                 detail: facts.annotation_fault},
                {kind: 'retention_short', faulty: NOT facts.retention_ok, measure: 'retained_days',
                 value: facts.retained_days, limit_value: facts.required_days, detail: NULL},
                {kind: 'removed', faulty: false, measure: NULL, value: NULL, limit_value: NULL, detail: NULL}
            ] AS signals
        FROM facts, context.limits AS limits,
             (SELECT alert FROM context.indicators WHERE indicator = 'recording_completeness') AS recording
    )
),

image_kinds AS (  -- every video-quality fault a camera has ever shown, judged on each day it was diagnosed
    SELECT DISTINCT channel_id, 'image_' || unnest(image_faults) AS kind FROM facts
),

image AS (
    SELECT
        facts.date, facts.code, facts.channel_id, facts.point_class, facts.maintenance_unit,
        image_kinds.kind,
        list_contains(facts.image_faults, image_kinds.kind[7:]) AS faulty,
        NULL AS measure, NULL AS value, NULL AS limit_value, image_kinds.kind[7:] AS detail
    FROM facts
    JOIN image_kinds USING (channel_id)
    WHERE facts.image_faults IS NOT NULL
),

judged AS (
    SELECT * FROM fixed_kinds WHERE faulty IS NOT NULL
    UNION ALL BY NAME
    SELECT * FROM image
),

faulty_kinds AS (  -- only a camera's kinds that were ever faulty need their days: most cameras never are
    SELECT DISTINCT channel_id, kind FROM judged WHERE faulty
    UNION
    SELECT DISTINCT channel_id, 'removed' FROM absent
),

observed AS (  -- on a day the camera is gone: removed is open, every other kind it had ends
    SELECT *, NULL::VARCHAR AS gone FROM judged SEMI JOIN faulty_kinds USING (channel_id, kind)
    UNION ALL BY NAME
    SELECT absent.date, absent.code, absent.channel_id, faulty_kinds.kind, faulty_kinds.kind = 'removed' AS faulty,
           'removed' AS gone
    FROM absent
    JOIN faulty_kinds USING (channel_id)
),

islands AS (
    SELECT
        *,
        sum((faulty AND NOT coalesce(previous_faulty, false))::INTEGER) OVER (
            PARTITION BY channel_id, kind ORDER BY date ROWS UNBOUNDED PRECEDING) AS episode
    FROM (
        SELECT
            *,
            lag(faulty) OVER by_day AS previous_faulty,
            lead(date) OVER by_day AS next_date,
            lead(gone) OVER by_day AS next_gone
        FROM observed
        WINDOW by_day AS (PARTITION BY channel_id, kind ORDER BY date)
    )
),

episodes AS (
    SELECT
        channel_id,
        kind,
        any_value(code) AS code,
        min(date) AS opened_on,
        max(date) AS last_faulty_on,
        last(next_date ORDER BY date) AS closed_on,
        CASE WHEN last(next_date ORDER BY date) IS NULL THEN NULL
             WHEN last(next_gone ORDER BY date) = 'removed' AND kind <> 'removed' THEN 'removed'
             ELSE 'repaired' END AS resolution,
        last(maintenance_unit ORDER BY date) FILTER (WHERE gone IS NULL) AS maintenance_unit,
        last(point_class ORDER BY date) FILTER (WHERE gone IS NULL) AS point_class,
        first(measure ORDER BY date) AS measure,
        first(value ORDER BY date) AS value,
        first(limit_value ORDER BY date) AS limit_value,
        first(detail ORDER BY date) AS detail
    FROM islands
    WHERE faulty
    GROUP BY channel_id, kind, episode
),

latest AS (
    SELECT code, max(date) AS as_of FROM harvested GROUP BY code
),

units AS (  -- the camera's unit when last registered, for a fault (removed) opened after it left
    SELECT channel_id, last(maintenance_unit ORDER BY date) AS maintenance_unit,
           last(point_class ORDER BY date) AS point_class
    FROM facts GROUP BY channel_id
)

SELECT
    left(md5(episodes.channel_id || '|' || episodes.kind || '|' || episodes.opened_on), 16)
        AS fault_id,  -- The episode's ID: a hash of channel_id, kind and opened_on, the same on every re-run.
    episodes.channel_id,  -- The camera channel's 20-digit GB/T 28181 ID.
    episodes.code,  -- Banner: the 6-digit administrative code of the reporting unit.
    coalesce(episodes.maintenance_unit, units.maintenance_unit)
        AS maintenance_unit,  -- Who maintains it: the registry's ManagementUnit, else its Owner, else (none), as last registered while faulty.
    episodes.kind,  -- offline, not_recording, image_<fault> (signal_loss, frozen, blur…), clock_skew, annotation, retention_short or removed.
    episodes.detail,  -- More on the kind: the annotation fault, the image fault, where recording was measured (file or index).
    episodes.opened_on,  -- The first day the camera showed the fault.
    episodes.closed_on,  -- The first day measured it no longer did, or it left the registry (null: still open).
    episodes.resolution,  -- repaired, removed (the camera left the registry while faulty) or null (open).
    episodes.last_faulty_on,  -- The last day it showed the fault.
    (coalesce(episodes.closed_on, latest.as_of + 1) - episodes.opened_on)::INTEGER
        AS days_open,  -- Days from opened_on to closed_on, or to its banner's latest day harvested (inclusive) while open.
    coalesce(episodes.point_class, units.point_class) = 1 AS key_site,  -- A key site: a class-one monitoring point.
    CASE coalesce(episodes.point_class, units.point_class) WHEN 1 THEN 1 WHEN 2 THEN 2 ELSE 3 END
        AS severity,  -- 1 = key site (class-one point), 2 = class-two point, 3 = the rest: the order of the worklist.
    CASE WHEN coalesce(episodes.point_class, units.point_class) = 1 THEN limits.repair_hours_key_site
         ELSE limits.repair_hours END::INTEGER AS limit_h,  -- Hours it is to be repaired within (thresholds.yaml limits).
    episodes.opened_on + CASE WHEN coalesce(episodes.point_class, units.point_class) = 1 THEN limits.repair_hours_key_site
                              ELSE limits.repair_hours END::INTEGER // 24
        AS overdue_from,  -- The first day on which, still open, it is overdue: open more than limit_h (days × 24) by then.
    CASE WHEN episodes.resolution = 'repaired' THEN (episodes.closed_on - episodes.opened_on) * 24 END::INTEGER
        AS repair_h,  -- Time to repair in hours, whole days × 24 (null: open, or closed by removal).
    episodes.measure,  -- The figure that opened it (online_rate, recording_completeness, record_on_rate, clock_skew_s, retained_days; null: none).
    episodes.value,  -- Its value on the opening day.
    episodes.limit_value,  -- The limit it broke.
    latest.as_of  -- The latest day harvested of its banner: open episodes are as of this day.
FROM episodes
JOIN latest USING (code)
LEFT JOIN units USING (channel_id)
CROSS JOIN context.limits AS limits
ORDER BY episodes.code, episodes.channel_id, episodes.kind, episodes.opened_on
