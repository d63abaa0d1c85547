-- Full-text search, SQLite: a contentless FTS5 table over normalised text (lower-case ASCII
-- words), keyed by the rowid of search_docs. See store::search.
CREATE TABLE search_docs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    org_id TEXT,
    UNIQUE (kind, object_id)
);
CREATE INDEX search_docs_org ON search_docs (org_id, kind);
CREATE VIRTUAL TABLE search_fts USING fts5 (
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
