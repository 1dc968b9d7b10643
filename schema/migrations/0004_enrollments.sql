-- Enrollments, touched only by the synchronous comparison baseline (the
-- essay's "naive path"): a row per student and course that every
-- synchronous submission updates, like an LMS's enrollment record.
CREATE TABLE enrollments (
    tenant_id         text        NOT NULL,
    course_id         text        NOT NULL,
    student_id        text        NOT NULL,
    submissions       bigint      NOT NULL DEFAULT 0,
    last_submitted_at timestamptz,
    PRIMARY KEY (tenant_id, course_id, student_id)
);
