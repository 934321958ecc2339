-- A deleted credential set stays behind as a tombstone that keeps its version, so the
-- next set stored for the connection continues the count. A swap that read a version of
-- the deleted set can then never match the new set's: a refresh racing a disconnect and
-- a reconnection cannot write the old grant's tokens over the new grant's.
-- 1 for a tombstone, 0 for a live set (an integer: sqlx's Any driver reads no SQLite BOOLEAN).
ALTER TABLE credential_sets ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
