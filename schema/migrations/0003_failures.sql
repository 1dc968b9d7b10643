-- The dead-letter index: every record written to a retry tier or the
-- dead-letter topic, indexed by the dlq indexer, so status can say
-- "retrying" or "dead_lettered", staff can list and redrive, and the audit
-- can account for every receipt.

CREATE TABLE failures (
    topic            text        NOT NULL, -- where the failure record is
    partition        integer     NOT NULL,
    "offset"         bigint      NOT NULL,
    tenant_id        text,                 -- NULL when the value did not decode
    receipt_id       text,
    assignment_id    text,
    student_id       text,
    state            text        NOT NULL CHECK (state IN ('retrying', 'dead_lettered')),
    error_class      text        NOT NULL,
    error_message    text        NOT NULL,
    attempt          integer     NOT NULL,
    first_failure_at timestamptz,
    last_failure_at  timestamptz NOT NULL,
    next_attempt_at  timestamptz,          -- retrying only
    origin_topic     text,
    origin_partition integer,
    origin_offset    bigint,
    origin_group     text,
    record_key       bytea,
    record_value     bytea       NOT NULL, -- the original value, byte for byte
    record_headers   jsonb       NOT NULL, -- the original headers: [{"key": …, "value": base64}]
    redrive_id       bigint,               -- set once redriven
    indexed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX failures_by_receipt ON failures (tenant_id, receipt_id, last_failure_at DESC);
CREATE INDEX failures_dead ON failures (last_failure_at) WHERE state = 'dead_lettered';

-- Who redrove what, when, and how it went.
CREATE TABLE redrives (
    redrive_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    requested_by text        NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    filter       jsonb       NOT NULL,
    target       text        NOT NULL,
    matched      integer     NOT NULL,
    moved        integer     NOT NULL DEFAULT 0,
    finished_at  timestamptz
);
-- The audit accounts for undecodable records by where they came from.
CREATE INDEX failures_by_origin ON failures (origin_topic, origin_partition, origin_offset);
-- The assignment list counts retrying and dead-lettered submissions.
CREATE INDEX failures_by_assignment ON failures (tenant_id, assignment_id, receipt_id, last_failure_at DESC);
