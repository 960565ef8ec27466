-- Promotion Database (promotion-system). Portable DDL: SQLite 3.40+ and PostgreSQL 15+.

CREATE TABLE IF NOT EXISTS promotions (
    promotion_id UUID PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    description TEXT,
    type TEXT NOT NULL CHECK (type IN ('PERCENTAGE', 'FIXED_AMOUNT')),
    value INTEGER NOT NULL CHECK (value >= 0),
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ,
    active BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE IF NOT EXISTS eligibility_rules (
    promotion_id UUID NOT NULL REFERENCES promotions (promotion_id) ON DELETE CASCADE,
    min_spend_cents INTEGER CHECK (min_spend_cents >= 0),
    customer_segment TEXT,
    PRIMARY KEY (promotion_id)
);

-- Platform tables: transactional outbox and inbox used by the Acme runtime.
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
