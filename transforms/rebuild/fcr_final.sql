-- A day's FCR is final once every repeat window of the day has closed in the data: the end of the
-- local day (its next midnight, whatever the day's length) + $fcr_window_h <= $latest.
update marts.kpi_service_daily
set fcr_final = coalesce(staging.day_start(day + 1) + to_hours(cast($fcr_window_h as bigint)) <= $latest, false)
where fcr_final is distinct from
    coalesce(staging.day_start(day + 1) + to_hours(cast($fcr_window_h as bigint)) <= $latest, false);
