-- The parapheur (owner "parapheur"). One text for SQLite and PostgreSQL.

-- Circuits an organisation defines: an ordered list of steps, kept as JSON (see
-- `model::StepDef`), because a dossier copies its circuit when it is sent: changing a
-- circuit never changes a dossier already on its way.
CREATE TABLE parapheur_circuits (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    name TEXT NOT NULL,
    steps TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX parapheur_circuits_org ON parapheur_circuits (org_id, active, name);

-- A dossier: a main document on its way through a circuit. `version` grows with every
-- action: an action names the version it saw, so two people acting at once cannot both win.
CREATE TABLE parapheur_dossiers (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    title TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    subtype TEXT,
    status TEXT NOT NULL,
    circuit_name TEXT NOT NULL,
    current_step BIGINT NOT NULL,
    version BIGINT NOT NULL,
    document_kind TEXT NOT NULL,
    document_name TEXT NOT NULL,
    original_sha256 TEXT NOT NULL,
    current_sha256 TEXT NOT NULL,
    current_size BIGINT NOT NULL,
    bordereau_sha256 TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    source TEXT,
    source_ref TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX parapheur_dossiers_org ON parapheur_dossiers (org_id, status, updated_at);
CREATE INDEX parapheur_dossiers_creator ON parapheur_dossiers (created_by, updated_at);

-- Annexes, detached signatures (.p7s) and scans of paper signatures.
CREATE TABLE parapheur_files (
    id TEXT PRIMARY KEY,
    dossier_id TEXT NOT NULL REFERENCES parapheur_dossiers (id),
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX parapheur_files_dossier ON parapheur_files (dossier_id, role);

-- The dossier's own copy of its circuit. `org_id` is the organisation whose people act at
-- this step (a convention: the member, then the operator).
CREATE TABLE parapheur_steps (
    dossier_id TEXT NOT NULL REFERENCES parapheur_dossiers (id),
    position BIGINT NOT NULL,
    kind TEXT NOT NULL,
    mode TEXT NOT NULL,
    reading_required BOOLEAN NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    actors TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (dossier_id, position)
);
CREATE INDEX parapheur_steps_active ON parapheur_steps (org_id, state);

-- Everything done on a dossier, in order: the bordereau is made from these rows.
CREATE TABLE parapheur_actions (
    id TEXT PRIMARY KEY,
    dossier_id TEXT NOT NULL REFERENCES parapheur_dossiers (id),
    position BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor_key TEXT,
    user_id TEXT REFERENCES users (id),
    user_label TEXT NOT NULL,
    quality TEXT,
    on_behalf_id TEXT,
    on_behalf_label TEXT,
    comment TEXT,
    public BOOLEAN NOT NULL,
    certificate TEXT,
    before_sha256 TEXT,
    before_size BIGINT,
    after_sha256 TEXT,
    undone BOOLEAN NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX parapheur_actions_dossier ON parapheur_actions (dossier_id, seq);

-- Absences: `to_user` acts for `from_user` "en l'absence de", between two dates (local days,
-- inclusive), for every dossier or those of one type.
CREATE TABLE parapheur_delegations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    from_user TEXT NOT NULL REFERENCES users (id),
    to_user TEXT NOT NULL REFERENCES users (id),
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    doc_type TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX parapheur_delegations_org ON parapheur_delegations (org_id, to_user);

-- Signing certificates: a person's (user_id) or the organisation's seal (user_id NULL). The
-- private key is sealed (AES-256-GCM) with a key derived from the platform's key and the
-- row's id: it is never stored, logged or shown in clear.
CREATE TABLE parapheur_credentials (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    user_id TEXT REFERENCES users (id),
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    not_after BIGINT NOT NULL,
    certificate TEXT NOT NULL,
    chain TEXT NOT NULL,
    sealed_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX parapheur_credentials_owner ON parapheur_credentials (org_id, user_id);

-- The built-in demo PKI and time-stamping authority (root key sealed like the others).
CREATE TABLE parapheur_pki (
    id TEXT PRIMARY KEY,
    root_certificate TEXT NOT NULL,
    sealed_root_key TEXT NOT NULL,
    tsa_certificate TEXT NOT NULL,
    sealed_tsa_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
