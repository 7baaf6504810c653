-- The scope of a row of `group by grouping sets (..., (... channel), (... segment))`: 'channel:<c>',
-- 'segment:<s>', or 'all' for the set grouped by neither: the `scope` column of marts.drivers and
-- marts.experience_dimensions, defined once. DuckDB binds grouping() where the macro is expanded,
-- inside the caller's grouping sets.
create or replace macro staging.scope_of(channel, segment) as
    case
        when grouping(channel) = 0 then 'channel:' || channel
        when grouping(segment) = 0 then 'segment:' || segment
        else 'all'
    end;
