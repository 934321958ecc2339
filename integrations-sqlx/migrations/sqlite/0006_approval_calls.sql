-- The calls MCP clients made that wait for, or were answered by, a person's approval:
-- found by the call's key, so any process answers the client's retry. The record is
-- the JSON of the call without its result, which is kept sealed in its own columns.
CREATE TABLE approval_calls (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    approval TEXT NOT NULL,
    connection TEXT NOT NULL,
    stage TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    result_key_id TEXT,
    result_ciphertext BLOB,
    record TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE UNIQUE INDEX approval_calls_by_approval ON approval_calls (tenant, approval);
CREATE INDEX approval_calls_by_connection ON approval_calls (tenant, connection);
CREATE INDEX approval_calls_by_expiry ON approval_calls (expires_at);
