-- Raw and ops tables of the live warehouse. Idempotent: run at every connection that writes.
-- Column names of raw.* follow the event contracts (streams/contracts.py, docs/design.md); `payload`
-- keeps the original JSON so unknown extra fields survive (schema evolution) without a migration.

create schema if not exists raw;
create schema if not exists staging;
create schema if not exists marts;
create schema if not exists ops;

create table if not exists raw.touchpoints (
    event_id          varchar not null,
    event_type        varchar not null,
    occurred_at       timestamptz not null,
    customer_id       varchar not null,
    channel           varchar not null,
    journey           varchar,
    touchpoint        varchar not null,
    segment           varchar,
    contact_id        varchar,
    outcome           varchar,
    wait_s            double,
    talk_s            double,
    hold_s            double,
    acw_s             double,
    reason            varchar,
    agent_id          varchar,
    case_id           varchar,
    is_complaint      boolean,
    category          varchar,
    handle_s          double,
    compensation_eur  double,
    step_status       varchar,
    duration_s        double,
    payload           varchar not null,
    kafka_topic       varchar not null,
    kafka_partition   integer not null,
    kafka_offset      bigint not null,
    loaded_at         timestamptz not null,
    customer_key      bigint
);

create table if not exists raw.surveys (
    response_id       varchar not null,
    occurred_at       timestamptz not null,
    customer_id       varchar not null,
    channel           varchar not null,
    journey           varchar,
    touchpoint        varchar not null,
    segment           varchar,
    survey            varchar not null,
    contact_id        varchar,
    case_id           varchar,
    nps               smallint,
    csat              smallint,
    ces               smallint,
    expected          smallint,
    emotion           varchar,
    verbatim          varchar,
    language          varchar,
    payload           varchar not null,
    kafka_topic       varchar not null,
    kafka_partition   integer not null,
    kafka_offset      bigint not null,
    loaded_at         timestamptz not null,
    customer_key      bigint
);

-- The integer key of each customer_id (warehouse/customer_keys.py): the loader writes it beside the id
-- into raw.* so that the marts group, sort and join customers on 8 bytes instead of their ids. Keys come
-- from a sequence, so that an erased customer's key (its row deleted here) is never given to another.
create sequence if not exists ops.customer_key_sequence start 1;
create table if not exists ops.customers (
    customer_id       varchar not null,
    customer_key      bigint not null
);
-- Warehouses created before customer keys existed: the next build keys their rows.
alter table raw.touchpoints add column if not exists customer_key bigint;
alter table raw.surveys add column if not exists customer_key bigint;

create table if not exists ops.deadletters (
    topic             varchar not null,
    "partition"       integer not null,
    "offset"          bigint not null,
    error             varchar not null,
    received_at       timestamptz not null,
    original          blob,
    loaded_at         timestamptz not null
);

-- One row per landing or quarantine file loaded; the ledger is written in the same transaction as
-- the rows, so a crash leaves either both or neither.
create table if not exists ops.loaded_files (
    path              varchar primary key,
    kind              varchar not null,      -- landing | quarantine
    topic             varchar not null,
    "partition"       integer not null,
    first_offset      bigint not null,
    last_offset       bigint not null,
    rows_in_file      bigint not null,
    rows_loaded       bigint not null,
    duplicates_dropped bigint not null,
    loaded_at         timestamptz not null,
    -- offsets of the file's range that held no message (transaction markers, aborted records)
    skipped_offsets   bigint default 0
);
-- Warehouses created before skipped_offsets existed.
alter table ops.loaded_files add column if not exists skipped_offsets bigint default 0;

create table if not exists ops.runs (
    run_id            varchar primary key,
    step              varchar not null,
    started_at        timestamptz not null,
    finished_at       timestamptz,
    status            varchar not null,
    detail            varchar
);
-- Written by every batch step (warehouse/runs.py); columns added after the first release.
alter table ops.runs add column if not exists rows bigint;
alter table ops.runs add column if not exists duration_s double;
alter table ops.runs add column if not exists dag_id varchar;
alter table ops.runs add column if not exists dag_run_id varchar;

-- Days (UTC dates, whatever the reporting time zone) touched by rows loaded since the last transform:
-- the loader adds them in the same transaction as the rows, the transform rebuilds from them (the
-- local days they overlap) and clears them in its own.
create table if not exists ops.dirty_days (
    day               date primary key
);

-- Settings the marts were built with (name 'reporting_timezone': the zone of their days, weeks and
-- months). A build with another value rebuilds every mart (transforms/calendar.py).
create table if not exists ops.mart_settings (
    name              varchar primary key,
    value             varchar not null,
    updated_at        timestamptz not null
);

-- GDPR erasures (cxpulse forget): counts per topic and partition under a salted hash of the customer
-- id, never the id, so that produced = loaded + duplicates + dead letters + erased still holds.
create table if not exists ops.erasures (
    subject_hash      varchar not null,
    topic             varchar not null,
    "partition"       integer not null,
    kind              varchar not null,      -- raw | deadletter
    rows_erased       bigint not null,
    erased_at         timestamptz not null
);
