-- Processed submissions: one row per receipt, written by the consumers.

-- Every attempt is a row; "latest" is a view, never an overwrite. The
-- idempotency key is stored in the same row, in the same transaction, as the
-- submission: redelivery finds the row and changes nothing.
CREATE TABLE submissions (
    tenant_id           text        NOT NULL,
    receipt_id          text        NOT NULL,
    idempotency_key     text        NOT NULL,
    request_digest      text        NOT NULL,
    event_id            text        NOT NULL,
    course_id           text        NOT NULL,
    assignment_id       text        NOT NULL,
    student_id          text        NOT NULL,
    attempt             integer     NOT NULL CHECK (attempt >= 1),
    object_key          text        NOT NULL,
    size                bigint      NOT NULL,
    sha256              text        NOT NULL,
    content_type        text        NOT NULL,
    accepted_at         timestamptz NOT NULL,
    client_submitted_at timestamptz,
    late                boolean     NOT NULL,
    seconds_late        bigint      NOT NULL,
    processed_at        timestamptz NOT NULL DEFAULT now(),
    source_topic        text        NOT NULL,
    source_partition    integer     NOT NULL,
    source_offset       bigint      NOT NULL,
    PRIMARY KEY (tenant_id, receipt_id),
    UNIQUE (tenant_id, idempotency_key),
    UNIQUE (tenant_id, assignment_id, student_id, attempt)
);
-- The dashboard's list: an assignment's submissions in accept order.
CREATE INDEX submissions_by_assignment ON submissions (tenant_id, assignment_id, accepted_at, receipt_id);

CREATE VIEW latest_submissions AS
SELECT DISTINCT ON (tenant_id, assignment_id, student_id) *
FROM submissions
ORDER BY tenant_id, assignment_id, student_id, attempt DESC;

-- The same idempotency key reused with a different payload: kept whole,
-- never merged into the submission it collides with.
CREATE TABLE submission_conflicts (
    tenant_id        text        NOT NULL,
    receipt_id       text        NOT NULL,
    request_digest   text        NOT NULL,
    event_id         text        NOT NULL,
    event            jsonb       NOT NULL,
    detected_at      timestamptz NOT NULL DEFAULT now(),
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    PRIMARY KEY (tenant_id, receipt_id, request_digest)
);

-- Per-assignment counters, bumped once per batch with the batch's totals,
-- so one hot assignment does not serialize the flood on its row.
CREATE TABLE assignment_counters (
    tenant_id     text   NOT NULL,
    assignment_id text   NOT NULL,
    submissions   bigint NOT NULL DEFAULT 0,
    students      bigint NOT NULL DEFAULT 0,
    late          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, assignment_id)
);
