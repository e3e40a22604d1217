-- Vigie connector directory, schema 1: people from HR, their cards, published apps and their
-- grants, stable virtual addresses, sessions, and a record of HR syncs. Dates are ISO 8601
-- text (`YYYY-MM-DD`), times RFC 3339 UTC.

CREATE TABLE people (
    id_nat      TEXT PRIMARY KEY NOT NULL,
    surname     TEXT NOT NULL,
    given_name  TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'departed')),
    start_date  TEXT,
    end_date    TEXT,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE person_professions (
    id_nat      TEXT NOT NULL REFERENCES people (id_nat) ON DELETE CASCADE,
    profession  TEXT NOT NULL,
    PRIMARY KEY (id_nat, profession)
) STRICT;

CREATE TABLE person_groups (
    id_nat      TEXT NOT NULL REFERENCES people (id_nat) ON DELETE CASCADE,
    group_name  TEXT NOT NULL,
    PRIMARY KEY (id_nat, group_name)
) STRICT;

CREATE TABLE cards (
    serial        TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    id_nat        TEXT NOT NULL REFERENCES people (id_nat),
    status        TEXT NOT NULL CHECK (status IN ('enrolled', 'revoked')),
    enrolled_at   TEXT NOT NULL,
    enrolled_by   TEXT NOT NULL,
    enrolled_how  TEXT NOT NULL CHECK (enrolled_how IN ('desk', 'first-use')),
    revoked_at    TEXT,
    revoked_by    TEXT,
    revoke_reason TEXT,
    PRIMARY KEY (serial, issuer)
) STRICT;
CREATE INDEX cards_by_person ON cards (id_nat);

-- Never deleted: an app published again under the same name gets its address back.
CREATE TABLE app_addresses (
    name     TEXT PRIMARY KEY NOT NULL,
    address  TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE apps (
    name        TEXT PRIMARY KEY NOT NULL REFERENCES app_addresses (name),
    dns_name    TEXT NOT NULL UNIQUE COLLATE NOCASE,
    ports       TEXT NOT NULL,
    backend     TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('config', 'admin')),
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE grants (
    app_name  TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('group', 'profession')),
    target    TEXT NOT NULL,
    source    TEXT NOT NULL CHECK (source IN ('config', 'admin')),
    PRIMARY KEY (app_name, kind, target)
) STRICT;

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    id_nat       TEXT NOT NULL REFERENCES people (id_nat),
    card_serial  TEXT NOT NULL,
    card_issuer  TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    ended_at     TEXT,
    end_reason   TEXT
) STRICT;
CREATE INDEX live_sessions_by_person ON sessions (id_nat) WHERE ended_at IS NULL;

CREATE TABLE hr_syncs (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    source    TEXT NOT NULL,
    added     INTEGER NOT NULL,
    changed   INTEGER NOT NULL,
    removed   INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL,
    problems  INTEGER NOT NULL
) STRICT;
