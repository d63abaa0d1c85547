-- Authoring (helper AUTHORING). One text for SQLite and PostgreSQL.

-- A draft may have no numéro yet (a duplicate, a rectificatif being written, a batch row left
-- blank): the numéro is unique per organisation among the actes that have one.
DROP INDEX actes_numero;
CREATE UNIQUE INDEX actes_numero ON actes (org_id, numero) WHERE numero <> '';

-- Lists are sorted by the latest change and paged by (updated_at, id): the index carries the
-- whole key, so a page is read in order without sorting the organisation's actes.
DROP INDEX actes_org_updated;
CREATE INDEX actes_org_recent ON actes (org_id, updated_at, id);
DROP INDEX actes_org_status;
CREATE INDEX actes_org_status ON actes (org_id, status, updated_at, id);

-- The main document before its signature in the parapheur: the signed PDF replaces it (it is
-- the one transmitted), the original stays downloadable.
ALTER TABLE actes_pieces ADD COLUMN original_sha256 TEXT;
ALTER TABLE actes_pieces ADD COLUMN original_size BIGINT;
