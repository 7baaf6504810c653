-- What an experience costs beside what it yields, per month and journey (roll-up 'all'): the cost to
-- serve (handling time x $hourly_cost_eur + compensation), contacts per customer, and the outcomes
-- (NPS, complaint rate, customers entering the termination journey). Events without a journey count
-- under 'unassigned'. Contacts, journey steps and surveys count in the month they happen; a case
-- (its handling, compensation and complaint) in the month it was opened, as in complaints_pareto.
-- Only the months of temp table rebuild_economics_months are built.
with bounds as (
    select min(month) as first_day, cast(max(month) + interval 1 month as date) as end_day
    from rebuild_economics_months
),

-- the customers' touches of the months: live contacts (with their handling time), case openings and journey
-- steps
events as (
    select 'contact' as kind, day, journey, customer_key, handle_s
    from staging.stg_contacts
    where occurred_at >= staging.day_start((select first_day from bounds))
        and occurred_at < staging.day_start((select end_day from bounds))
    union all
    select 'case_opened', day, journey, customer_key, null
    from staging.stg_case_events
    where occurred_at >= staging.day_start((select first_day from bounds))
        and occurred_at < staging.day_start((select end_day from bounds))
        and event_type = 'case_opened'
    union all
    select 'journey_step', day, journey, customer_key, null
    from staging.stg_journey_steps
    where occurred_at >= staging.day_start((select first_day from bounds))
        and occurred_at < staging.day_start((select end_day from bounds))
),

customer_touches as (
    select
        kind,
        cast(date_trunc('month', day) as date) as month,
        coalesce(journey, 'unassigned') as journey,
        customer_key,
        handle_s
    from events
),

cases as (
    select
        cast(date_trunc('month', day) as date) as month,
        coalesce(journey, 'unassigned') as journey,
        is_complaint,
        handle_s,
        compensation_eur
    from staging.stg_cases
    where opened_at >= staging.day_start((select first_day from bounds))
        and opened_at < staging.day_start((select end_day from bounds))
),

-- the customers of each month who entered the termination journey (a step of journey 'termination')
terminating as (
    select distinct month, customer_key from customer_touches where kind = 'journey_step' and journey = 'termination'
),

-- distinct customers per month and journey, and per month over every journey ('all'): each customer of a
-- month counted once from its distinct (month, journey, customer) rows, with no count(distinct) per
-- grouping set (which hashed the ~10M touches four times)
customer_journeys as (
    select month, journey, customer_key from customer_touches group by month, journey, customer_key
),

customer_months as (
    select month, customer_key from customer_journeys group by month, customer_key
),

customers as (
    select c.month, c.journey, count(*) as customers, count(x.customer_key) as termination_customers
    from customer_journeys as c
    left join terminating as x on x.month = c.month and x.customer_key = c.customer_key
    group by c.month, c.journey
    union all
    select c.month, 'all', count(*), count(x.customer_key)
    from customer_months as c
    left join terminating as x on x.month = c.month and x.customer_key = c.customer_key
    group by c.month
),

contact_costs as (
    select
        month,
        case when grouping(journey) = 1 then 'all' else journey end as journey,
        count(*) as live_contacts,
        coalesce(sum(handle_s), 0) as handle_s
    from customer_touches
    where kind = 'contact'
    group by grouping sets ((month, journey), (month))
),

case_costs as (
    select
        month,
        case when grouping(journey) = 1 then 'all' else journey end as journey,
        count(*) as cases,
        count(*) filter (where is_complaint) as complaints,
        sum(handle_s) as handle_s,
        sum(compensation_eur) as compensation_eur
    from cases
    group by grouping sets ((month, journey), (month))
),

answers as (
    select
        cast(date_trunc('month', day) as date) as month,
        case when grouping(coalesce(journey, 'unassigned')) = 1 then 'all' else coalesce(journey, 'unassigned') end
            as journey,
        count(nps) as nps_n,
        count(*) filter (where is_promoter) as promoters,
        count(*) filter (where is_detractor) as detractors
    from staging.stg_survey_responses
    where occurred_at >= staging.day_start((select first_day from bounds))
        and occurred_at < staging.day_start((select end_day from bounds))
    group by grouping sets ((cast(date_trunc('month', day) as date), coalesce(journey, 'unassigned')),
        (cast(date_trunc('month', day) as date)))
),

joined as (
    select
        month,
        journey,
        coalesce(c.customers, 0) as customers,
        coalesce(k.live_contacts, 0) as live_contacts,
        coalesce(s.cases, 0) as cases,
        coalesce(k.handle_s, 0) + coalesce(s.handle_s, 0) as handle_s,
        coalesce(s.compensation_eur, 0) as compensation_eur,
        coalesce(s.complaints, 0) as complaints,
        coalesce(c.termination_customers, 0) as termination_customers,
        coalesce(a.nps_n, 0) as nps_n,
        a.promoters,
        a.detractors
    from customers as c
    full outer join contact_costs as k using (month, journey)
    full outer join case_costs as s using (month, journey)
    full outer join answers as a using (month, journey)
),

final as (
    select
        month,
        journey,
        customers,
        live_contacts,
        cases,
        live_contacts + cases as contacts,
        (live_contacts + cases) / nullif(customers, 0) as contacts_per_customer,
        handle_s / 3600 as handling_h,
        handle_s / 3600 * $hourly_cost_eur as handling_cost_eur,
        compensation_eur,
        handle_s / 3600 * $hourly_cost_eur + compensation_eur as cost_to_serve_eur,
        (handle_s / 3600 * $hourly_cost_eur + compensation_eur) / nullif(customers, 0) as cost_per_customer_eur,
        nps_n,
        100.0 * (promoters - detractors) / nullif(nps_n, 0) as nps,
        complaints,
        complaints / nullif(customers, 0) as complaint_rate,
        termination_customers,
        termination_customers / nullif(customers, 0) as termination_rate
    from joined
    where month in (select month from rebuild_economics_months)
)

select * from final
