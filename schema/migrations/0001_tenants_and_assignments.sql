-- Tenants, their API keys, and the assignments the API judges submissions against.

CREATE TABLE tenants (
    tenant_id  text PRIMARY KEY CHECK (tenant_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Keys are stored as SHA-256 digests: a key is 256 random bits, so a slow
-- password hash adds nothing, and the digest is what the API's snapshot maps.
CREATE TABLE api_keys (
    key_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    key_sha256 bytea NOT NULL UNIQUE CHECK (length(key_sha256) = 32),
    prefix     text NOT NULL, -- the key's first characters, to tell keys apart in listings
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE assignments (
    tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    assignment_id text NOT NULL,
    course_id     text NOT NULL,
    due_at        timestamptz NOT NULL,
    cutoff_at     timestamptz CHECK (cutoff_at IS NULL OR cutoff_at >= due_at),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, assignment_id)
);
-- The API's snapshot refresh reads only what changed since its last look.
CREATE INDEX assignments_updated ON assignments (updated_at);

CREATE TABLE assignment_extensions (
    tenant_id     text NOT NULL,
    assignment_id text NOT NULL,
    student_id    text NOT NULL,
    due_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, assignment_id, student_id),
    FOREIGN KEY (tenant_id, assignment_id) REFERENCES assignments ON DELETE CASCADE
);
