-- Bulk extensions granted by staff (the dashboard's post-outage tool): who
-- gave which students a new deadline, and how many already-processed
-- submissions had their late flag judged again in the same transaction.
CREATE TABLE extension_grants (
    grant_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text        NOT NULL,
    assignment_id text        NOT NULL,
    students      text[]      NOT NULL,
    due_at        timestamptz NOT NULL,
    granted_by    text        NOT NULL,
    granted_at    timestamptz NOT NULL DEFAULT now(),
    rejudged      integer     NOT NULL,
    FOREIGN KEY (tenant_id, assignment_id) REFERENCES assignments ON DELETE CASCADE
);
CREATE INDEX extension_grants_by_assignment ON extension_grants (tenant_id, assignment_id, granted_at);
-- Who redrove, per tenant, for redrives started from the dashboard.
ALTER TABLE redrives ADD COLUMN tenant_id text;
