-- The calls MCP clients made that wait for, or were answered by, a person's approval:
-- found by the call's key, so any process answers the client's retry. The record is
-- the JSON of the call without its result, which is kept sealed in its own columns.
CREATE TABLE approval_calls (
    tenant TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    approval TEXT COLLATE "C" NOT NULL,
    connection TEXT COLLATE "C" NOT NULL,
    stage TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    result_key_id TEXT COLLATE "C",
    result_ciphertext BYTEA,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE UNIQUE INDEX approval_calls_by_approval ON approval_calls (tenant, approval);
CREATE INDEX approval_calls_by_connection ON approval_calls (tenant, connection);
CREATE INDEX approval_calls_by_expiry ON approval_calls (expires_at);
