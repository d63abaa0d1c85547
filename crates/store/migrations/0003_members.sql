-- What the members module needs from the platform's own tables.
ALTER TABLE organisations ADD COLUMN population_municipale BIGINT;

-- The name as lists sort it: normalised (no accents, lower case), so that "Étrelles" comes
-- before "Fougères" on both engines whatever their collation. Rows created before this
-- column get a plain lower-case approximation; `orgs::create` writes the real key.
ALTER TABLE organisations ADD COLUMN sort_name TEXT;
UPDATE organisations SET sort_name = lower(name);
CREATE INDEX organisations_sort_name ON organisations (sort_name, id);

-- A référent may follow every commune of his EPCI, present and future, instead of a list.
CREATE TABLE referent_scopes (
    user_id TEXT NOT NULL REFERENCES users (id),
    epci_id TEXT NOT NULL REFERENCES organisations (id),
    all_communes BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, epci_id)
);

-- Invitations sent by a member administrator (link valid 7 days, single use). Only the
-- hash of the link's secret is kept, and the secret is made by the job that sends the
-- e-mail: `token_hash` is NULL until then, and `mail_job_id` names the one job allowed to
-- make it (a resend enqueues a new job; an older one still retrying then sends nothing).
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    token_hash TEXT UNIQUE,
    mail_job_id TEXT,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    roles TEXT NOT NULL,
    title TEXT,
    invited_by TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    cancelled_at BIGINT,
    user_id TEXT REFERENCES users (id)
);
CREATE INDEX invitations_org ON invitations (org_id, created_at);

-- Companies that registered themselves, waiting for the e-mail confirmation (the account
-- and the organisation are created when the link is followed). As for invitations, the
-- link's secret is made by the job that sends it (`token_hash` NULL until then); only the
-- argon2id hash of the password is kept, and unconfirmed rows are purged once expired.
CREATE TABLE company_signups (
    id TEXT PRIMARY KEY,
    token_hash TEXT UNIQUE,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    siret TEXT NOT NULL,
    company_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    confirmed_at BIGINT
);
