-- Platform tables, one text for SQLite and PostgreSQL.
-- Conventions: ids are TEXT (UUID); instants are BIGINT microseconds since the Unix epoch,
-- UTC; calendar dates are TEXT 'YYYY-MM-DD' in the organisation's time zone; JSON is TEXT.

CREATE TABLE organisations (
    id TEXT PRIMARY KEY,
    siren TEXT NOT NULL UNIQUE,
    siret TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_id TEXT REFERENCES organisations (id),
    insee TEXT,
    departement TEXT,
    population BIGINT,
    population_year INTEGER,
    time_zone TEXT NOT NULL,
    contact_email TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX organisations_parent ON organisations (parent_id);
CREATE INDEX organisations_kind_name ON organisations (kind, name);
CREATE INDEX organisations_name ON organisations (name, id);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    service TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT,
    max_users INTEGER,
    created_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_org ON subscriptions (org_id, service);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    password_changed_at BIGINT,
    last_login_at BIGINT
);
CREATE INDEX users_name ON users (display_name, id);

CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users (id),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    roles TEXT NOT NULL,
    title TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX memberships_org ON memberships (org_id);

CREATE TABLE referent_follows (
    user_id TEXT NOT NULL REFERENCES users (id),
    epci_id TEXT NOT NULL REFERENCES organisations (id),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX referent_follows_org ON referent_follows (org_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures INTEGER NOT NULL
);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    org_id TEXT,
    actor_id TEXT,
    actor_label TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX audit_events_org_at ON audit_events (org_id, at);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE audit_heads (
    chain TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    org_id TEXT,
    status TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    last_error TEXT,
    locked_by TEXT,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_claim ON jobs (status, run_at);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    org_id TEXT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_topic ON events (topic, created_at);

CREATE TABLE blobs (
    owner TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner, sha256)
);

CREATE TABLE usage_events (
    org_id TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX usage_events_org_at ON usage_events (org_id, at);

CREATE TABLE usage_monthly (
    org_id TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    month TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (org_id, service, kind, month)
);
CREATE INDEX usage_monthly_month ON usage_monthly (month);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
