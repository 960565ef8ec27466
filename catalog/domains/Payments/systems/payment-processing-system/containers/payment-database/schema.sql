-- Payment Database (payment-processing-system). Portable DDL: SQLite 3.40+ and PostgreSQL 15+.
-- Amounts are integer minor units; no card data is ever stored.

CREATE TABLE IF NOT EXISTS payments (
    payment_id UUID PRIMARY KEY,
    order_id UUID NOT NULL UNIQUE,
    checkout_id UUID,
    customer_id UUID,
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency CHAR(3) NOT NULL DEFAULT 'USD',
    payment_method TEXT NOT NULL DEFAULT 'pm_card_visa',
    status TEXT NOT NULL DEFAULT 'REQUESTED' CHECK (status IN ('REQUESTED', 'CHARGING', 'SUCCEEDED', 'FAILED', 'REFUNDED')),
    processor_reference TEXT UNIQUE,
    failure_reason TEXT CHECK (failure_reason IS NULL OR failure_reason IN ('CARD_DECLINED', 'INSUFFICIENT_FUNDS', 'EXPIRED_CARD', 'PROCESSING_ERROR', 'FRAUD_SUSPECTED')),
    checkout_failed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS payments_checkout ON payments (checkout_id);

CREATE TABLE IF NOT EXISTS payment_authorizations (
    authorization_id UUID PRIMARY KEY,
    payment_id UUID NOT NULL UNIQUE REFERENCES payments (payment_id),
    provider_reference TEXT NOT NULL,
    authorized_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS fraud_checks (
    fraud_check_id UUID PRIMARY KEY,
    payment_id UUID NOT NULL UNIQUE REFERENCES payments (payment_id),
    result TEXT NOT NULL CHECK (result IN ('passed', 'failed', 'review')),
    score NUMERIC CHECK (score >= 0 AND score <= 1),
    reason TEXT CHECK (reason IS NULL OR reason IN ('HIGH_RISK_SCORE', 'BLOCKLISTED', 'VELOCITY', 'MISMATCH')),
    checked_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS refunds (
    refund_id UUID PRIMARY KEY,
    payment_id UUID NOT NULL REFERENCES payments (payment_id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency CHAR(3) NOT NULL,
    reason TEXT,
    status TEXT NOT NULL DEFAULT 'REQUESTED' CHECK (status IN ('REQUESTED', 'PROCESSED', 'FAILED')),
    processor_reference TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    processed_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS refunds_payment ON refunds (payment_id);

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
