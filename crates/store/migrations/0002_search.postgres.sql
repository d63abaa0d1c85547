-- Full-text search, PostgreSQL: the lexemes are exactly the words of the normalised text
-- (array_to_tsvector bypasses the text-search parser and dictionaries), so matching is the
-- same as on SQLite: accent- and case-insensitive prefix match, no stemming.
CREATE TABLE search_docs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    org_id TEXT,
    body TEXT NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (array_to_tsvector(string_to_array(body, ' '))) STORED,
    UNIQUE (kind, object_id)
);
CREATE INDEX search_docs_org ON search_docs (org_id, kind);
CREATE INDEX search_docs_tsv ON search_docs USING GIN (tsv);
