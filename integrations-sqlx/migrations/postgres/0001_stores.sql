-- Schema 1: every store of the integrations SDK. Forward-only; never edit an applied file.
-- Every primary key starts with the tenant. Times are Unix milliseconds. `record` is the
-- record's JSON, minus sealed secrets, which live only in `*_key_id` + `*_ciphertext`.

CREATE TABLE targets (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    definition_key TEXT COLLATE "C" NOT NULL,
    secrets_key_id TEXT COLLATE "C",
    secrets_ciphertext BYTEA,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE INDEX targets_by_definition ON targets (definition_key, tenant, id);

CREATE TABLE connections (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    definition_key TEXT COLLATE "C" NOT NULL,
    external_subject TEXT COLLATE "C",
    endpoint_key TEXT COLLATE "C",
    status TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX connections_by_subject ON connections (definition_key, external_subject);
CREATE INDEX connections_by_endpoint ON connections (definition_key, endpoint_key);

CREATE TABLE credential_sets (
    tenant TEXT COLLATE "C" NOT NULL,
    connection TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (tenant, connection)
);

CREATE TABLE credentials (
    tenant TEXT COLLATE "C" NOT NULL,
    connection TEXT COLLATE "C" NOT NULL,
    position BIGINT NOT NULL,
    credential_type TEXT COLLATE "C" NOT NULL,
    slot TEXT COLLATE "C",
    key_id TEXT COLLATE "C" NOT NULL,
    ciphertext BYTEA NOT NULL,
    expires_at BIGINT,
    issued_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, connection, position)
);

CREATE TABLE bindings (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    profile TEXT COLLATE "C" NOT NULL,
    profile_version BIGINT NOT NULL,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX bindings_by_profile ON bindings (tenant, profile, profile_version);

CREATE TABLE oauth_states (
    tenant TEXT COLLATE "C" NOT NULL,
    state_digest TEXT COLLATE "C" NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL,
    pkce_key_id TEXT COLLATE "C",
    pkce_ciphertext BYTEA,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, state_digest)
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

CREATE TABLE webhook_events (
    tenant TEXT COLLATE "C" NOT NULL,
    definition_key TEXT COLLATE "C" NOT NULL,
    external_event_id TEXT COLLATE "C" NOT NULL,
    received_at BIGINT NOT NULL,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, definition_key, external_event_id)
);
CREATE INDEX webhook_events_by_age ON webhook_events (received_at);

CREATE TABLE publications (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    connection TEXT COLLATE "C" NOT NULL,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX publications_by_connection ON publications (tenant, connection);

CREATE TABLE checkpoints (
    tenant TEXT COLLATE "C" NOT NULL,
    connection TEXT COLLATE "C" NOT NULL,
    stream TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, connection, stream)
);

CREATE TABLE approvals (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX approvals_by_expiry ON approvals (expires_at);

CREATE TABLE continuations (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    pages_key_id TEXT COLLATE "C" NOT NULL,
    pages_ciphertext BYTEA NOT NULL,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX continuations_by_expiry ON continuations (expires_at);

CREATE TABLE sync_records (
    tenant TEXT COLLATE "C" NOT NULL,
    connection TEXT COLLATE "C" NOT NULL,
    stream TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C",
    data TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, connection, stream, id)
);
