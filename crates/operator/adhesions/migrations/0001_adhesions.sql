-- The members module (owner "adhesions"). One text for SQLite and PostgreSQL.

-- An organisation's membership of the operator: its current status (the history is below).
CREATE TABLE adhesion_members (
    org_id TEXT PRIMARY KEY REFERENCES organisations (id),
    status TEXT NOT NULL,
    status_since TEXT NOT NULL,
    college TEXT,
    merged_into TEXT REFERENCES organisations (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX adhesion_members_status ON adhesion_members (status);

-- Append-only: every status a member had, from which date, why.
CREATE TABLE adhesion_status_history (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    status TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    reason TEXT,
    deliberation_ref TEXT,
    actor_label TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX adhesion_status_history_org ON adhesion_status_history (org_id, effective_date);

-- Conventions and charters (engagements) a member signs.
CREATE TABLE engagements (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    template TEXT NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    generated_sha256 TEXT,
    signed_sha256 TEXT,
    signed_size BIGINT,
    signatory TEXT,
    signed_on TEXT,
    starts_on TEXT NOT NULL,
    ends_on TEXT,
    eu_start TEXT,
    eu_end TEXT,
    reminded_on TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX engagements_org ON engagements (org_id, template);
CREATE INDEX engagements_status ON engagements (status, ends_on);

-- Imports of the official registry (`bouquet registry import FILE`): the file itself is a
-- blob (owner "registry"), its hash the setting `adhesions.registry_sha256`; `summary` is the
-- JSON of `registry_import::Summary` (what changed, which members it concerns).
CREATE TABLE registry_imports (
    id TEXT PRIMARY KEY,
    imported_at BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    previous_sha256 TEXT NOT NULL,
    source_name TEXT NOT NULL,
    population_year BIGINT NOT NULL,
    communes BIGINT NOT NULL,
    epci BIGINT NOT NULL,
    summary TEXT NOT NULL,
    actor_label TEXT NOT NULL
);
CREATE INDEX registry_imports_at ON registry_imports (imported_at);

-- A member commune an import showed merged into a commune nouvelle, until the operator
-- moves its membership there (`traitee`) or dismisses the alert (`ignoree`); `a_traiter`
-- before. `merged_with` is the JSON list of every commune the registry shows merged into it.
-- One row per commune and commune nouvelle: importing again does not raise it twice.
CREATE TABLE registry_mergers (
    id TEXT PRIMARY KEY,
    import_id TEXT NOT NULL REFERENCES registry_imports (id),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    into_insee TEXT NOT NULL,
    into_siren TEXT NOT NULL,
    into_name TEXT NOT NULL,
    merged_with TEXT NOT NULL,
    status TEXT NOT NULL,
    new_org_id TEXT REFERENCES organisations (id),
    effective_date TEXT,
    reason TEXT,
    handled_by TEXT,
    created_at BIGINT NOT NULL,
    handled_at BIGINT
);
CREATE UNIQUE INDEX registry_mergers_org_into ON registry_mergers (org_id, into_siren);
CREATE INDEX registry_mergers_status ON registry_mergers (status, created_at);
