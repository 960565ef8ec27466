-- User Directory: credentials and sessions (owner: customer-platform). Regulated data.
-- Portable SQL: runs unchanged on SQLite 3.40+ and PostgreSQL 15+. Ids and timestamps come from the app.

CREATE TABLE IF NOT EXISTS credentials (
    account_id UUID PRIMARY KEY,
    -- Subject of the issued tokens: the customer id (staff accounts get an id with no customer profile).
    customer_id UUID NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    provider TEXT NOT NULL DEFAULT 'PASSWORD' CHECK (provider IN ('PASSWORD', 'SSO')),
    -- Space-separated role names, for example 'customer' or 'admin'.
    roles TEXT NOT NULL DEFAULT 'customer',
    status TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
    failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until TIMESTAMPTZ,
    -- occurredAt of the customer-updated events last applied to email and to status: an older event
    -- redelivered late never rolls a newer change back.
    email_event_at TIMESTAMPTZ,
    status_event_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS sessions (
    session_id UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES credentials (account_id) ON DELETE CASCADE,
    method TEXT NOT NULL DEFAULT 'PASSWORD' CHECK (method IN ('PASSWORD', 'SSO', 'MFA')),
    ip_address TEXT,
    authenticated_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions (account_id);

-- Platform tables: transactional outbox and idempotent inbox (same in every store).
CREATE TABLE IF NOT EXISTS message_outbox (
    message_id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    message_type TEXT NOT NULL,
    headers TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    published_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS message_outbox_unpublished ON message_outbox (published_at, created_at);
CREATE TABLE IF NOT EXISTS message_inbox (
    consumer TEXT NOT NULL,
    message_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (consumer, message_id)
);
