-- The actes service (owner "actes"). One text for SQLite and PostgreSQL. Full-text search of
-- the objet and numéro goes through the platform index (`store::search`, kind "acte").

-- Each member's ACTES settings: its préfecture, the convention signed with it, and the
-- classification (matières, natures and their typologies de pièces) the préfecture sent.
CREATE TABLE actes_settings (
    org_id TEXT PRIMARY KEY REFERENCES organisations (id),
    -- "035": the département of the préfecture, as in IDActe; arrondissement: one digit.
    departement TEXT NOT NULL,
    arrondissement TEXT NOT NULL,
    prefecture TEXT NOT NULL,
    -- IDCL/@Nature: the "code nature de la collectivité" (2 digits).
    nature_collectivite TEXT NOT NULL,
    -- Date of the convention with the préfecture (YYYY-MM-DD), required to transmit.
    convention_date TEXT,
    -- The classification in use: its date (YYYY-MM-DD), when it arrived, and its content
    -- (JSON of `bouquet_format_actes::Classification`).
    classification_date TEXT,
    classification_received_at BIGINT,
    classification TEXT,
    -- Optional parapheur circuit proposed before transmission.
    circuit_id TEXT,
    updated_at BIGINT NOT NULL
);

-- An acte and where it stands. Dates of the standard are civil dates (YYYY-MM-DD) in the
-- member's time zone; instants are microseconds since the epoch.
CREATE TABLE actes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    -- `model::Status` code.
    status TEXT NOT NULL,
    -- `Nature::abbrev()`: DE, AR, AI, CC, BF, AU.
    nature TEXT NOT NULL,
    -- NumeroInterne, unique per organisation (drafts included).
    numero TEXT NOT NULL,
    objet TEXT NOT NULL,
    -- The matière codes, dotted: "7.1.2".
    matiere TEXT NOT NULL,
    decision_date TEXT,
    document_papier BOOLEAN NOT NULL,
    -- Acte rectificatif: the IDActe it replaces (PrecedentIdentifiantActe).
    precedent_id TEXT,
    -- IDActe, computed when the acte is transmitted.
    id_acte TEXT,
    -- The classification date written in the transmitted Acte.
    classification_date TEXT,
    -- The parapheur dossier when the acte went through a circuit.
    parapheur_dossier TEXT,
    -- The envelope that carried the acte (actes_envelopes.id).
    envelope_id TEXT,
    sent_at BIGINT,
    -- ARActe/@DateReception: the date the acte became executory.
    received_date TEXT,
    ar_at BIGINT,
    -- "Publié le", written by the publication module later.
    published_date TEXT,
    -- Last error, in French, shown as is.
    error TEXT,
    -- The 48-hour "no AR" alert was sent.
    alert_sent BOOLEAN NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Grows with every change; a change names the version it saw.
    version BIGINT NOT NULL
);
CREATE UNIQUE INDEX actes_numero ON actes (org_id, numero);
CREATE INDEX actes_org_updated ON actes (org_id, updated_at);
CREATE INDEX actes_org_status ON actes (org_id, status, updated_at);
CREATE INDEX actes_org_decision ON actes (org_id, decision_date);
CREATE INDEX actes_id_acte ON actes (id_acte);
CREATE INDEX actes_waiting_ar ON actes (status, sent_at);

-- The files of an acte: position 1 is the main document, 2.. the annexes (the order of the
-- file names `_1`, `_2`…). `typologie` is the code de typologie de pièce ("99_DE").
CREATE TABLE actes_pieces (
    id TEXT PRIMARY KEY,
    acte_id TEXT NOT NULL REFERENCES actes (id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    typologie TEXT NOT NULL,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    -- The main document once signed in the parapheur (the one transmitted).
    signed BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX actes_pieces_position ON actes_pieces (acte_id, position);

-- Envelopes (EACT--{SIREN}--{AAAAMMJJ}-{serial}) sent to the préfecture: one archive each.
-- `serial` is the daily counter per organisation.
CREATE TABLE actes_envelopes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    day TEXT NOT NULL,
    serial BIGINT NOT NULL,
    name TEXT NOT NULL,
    archive_name TEXT NOT NULL,
    archive_sha256 TEXT NOT NULL,
    -- a_envoyer, envoye, refuse (400 at the door), erreur.
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    sent_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX actes_envelopes_serial ON actes_envelopes (org_id, day, serial);

-- Every message exchanged with the préfecture, in or out, kept raw (blob `xml_sha256`).
-- `acte_id` is null for a classification or a message that names no known acte.
CREATE TABLE actes_messages (
    id TEXT PRIMARY KEY,
    org_id TEXT REFERENCES organisations (id),
    acte_id TEXT REFERENCES actes (id),
    -- "in" (préfecture → collectivité) or "out".
    direction TEXT NOT NULL,
    -- "1-2", "4-1"…; "?" when unknown.
    code TEXT NOT NULL,
    -- The XML root element ("ARActe", "LettreObservations"…).
    root TEXT NOT NULL,
    -- `model::MessageState` code.
    state TEXT NOT NULL,
    file_name TEXT NOT NULL,
    xml_sha256 TEXT NOT NULL,
    -- The return archive it came in (blob), for incoming messages.
    archive_sha256 TEXT,
    -- One French line for lists and the timeline; the préfecture's text when it has one.
    summary TEXT NOT NULL,
    detail TEXT,
    -- DateCourrierPref / DateReception / Date of the message (YYYY-MM-DD).
    message_date TEXT,
    -- The message this one answers (a reply, an automatic AR).
    reply_to TEXT REFERENCES actes_messages (id),
    -- The envelope that carried an outgoing message.
    envelope_id TEXT,
    -- Outside the standard or not understood: stored, shown and flagged, never dropped.
    flagged BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX actes_messages_acte ON actes_messages (acte_id, created_at);
CREATE INDEX actes_messages_org ON actes_messages (org_id, direction, state, created_at);

-- Documents joined to a message (a lettre d'observations' PDF, the pieces of a reply).
CREATE TABLE actes_message_files (
    message_id TEXT NOT NULL REFERENCES actes_messages (id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (message_id, position)
);

-- Return archives fetched from the préfecture's mailbox, stored before they are
-- acknowledged (deleted there) and then processed: nothing received is ever lost.
CREATE TABLE actes_returns (
    id TEXT PRIMARY KEY,
    remote_id TEXT NOT NULL,
    name TEXT NOT NULL,
    archive_sha256 TEXT NOT NULL,
    -- recu, traite, erreur.
    state TEXT NOT NULL,
    error TEXT,
    org_id TEXT REFERENCES organisations (id),
    received_at BIGINT NOT NULL,
    processed_at BIGINT
);
CREATE UNIQUE INDEX actes_returns_remote ON actes_returns (remote_id, name);
CREATE INDEX actes_returns_state ON actes_returns (state, received_at);

-- The timeline of an acte: every step, who, when.
CREATE TABLE actes_events (
    id TEXT PRIMARY KEY,
    acte_id TEXT NOT NULL REFERENCES actes (id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    user_id TEXT REFERENCES users (id),
    message_id TEXT REFERENCES actes_messages (id),
    at BIGINT NOT NULL
);
CREATE UNIQUE INDEX actes_events_seq ON actes_events (acte_id, seq);
