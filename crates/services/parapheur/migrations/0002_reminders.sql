-- Reminders and the daily digest of the parapheur (owner "parapheur"). One text for SQLite
-- and PostgreSQL.

-- The last local day (`YYYY-MM-DD`, in the step organisation's time zone) a reminder was
-- sent for a step of a dossier: the daily job sends at most one a day, and one every N days
-- for the same step. The row is claimed in the transaction that queues the e-mails.
CREATE TABLE parapheur_reminders (
    dossier_id TEXT NOT NULL REFERENCES parapheur_dossiers (id),
    position BIGINT NOT NULL,
    last_sent_on TEXT NOT NULL,
    PRIMARY KEY (dossier_id, position)
);

-- Who wants, in an organisation, one daily e-mail listing every dossier waiting for them.
-- `last_sent_on` (local day of the organisation) keeps the job to one e-mail a day.
CREATE TABLE parapheur_digest (
    user_id TEXT NOT NULL REFERENCES users (id),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    enabled BOOLEAN NOT NULL,
    last_sent_on TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX parapheur_digest_enabled ON parapheur_digest (enabled, org_id);
