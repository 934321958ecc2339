-- The run lease of a sync stream: at most one runner per (tenant, connection, stream).
-- A runner takes it with one upsert that replaces only its own lease or an expired one.
CREATE TABLE sync_leases (
    tenant TEXT COLLATE "C" NOT NULL,
    connection TEXT COLLATE "C" NOT NULL,
    stream TEXT COLLATE "C" NOT NULL,
    holder TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, connection, stream)
);
