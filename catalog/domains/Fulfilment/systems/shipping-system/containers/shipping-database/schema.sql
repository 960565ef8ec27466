-- Shipping Database: shipments (owner: fulfilment-platform). New store; upstream had none.
-- Portable SQL: runs unchanged on SQLite 3.40+ and PostgreSQL 15+. Ids and timestamps come from the app.

CREATE TABLE IF NOT EXISTS shipments (
    shipment_id UUID PRIMARY KEY,
    order_id UUID NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'REQUESTED' CHECK (status IN ('REQUESTED', 'CREATED', 'DELIVERED', 'FAILED')),
    parcel_count INTEGER NOT NULL CHECK (parcel_count >= 1),
    service TEXT NOT NULL DEFAULT 'STANDARD' CHECK (service IN ('STANDARD', 'EXPRESS', 'NEXT_DAY')),
    recipient_name TEXT,
    line1 TEXT NOT NULL,
    line2 TEXT,
    city TEXT NOT NULL,
    postcode TEXT NOT NULL,
    country CHAR(2) NOT NULL,
    carrier TEXT,
    tracking_number TEXT,
    -- ISO date (YYYY-MM-DD) as sent by the carrier
    estimated_delivery TEXT,
    failure_reason TEXT CHECK (failure_reason IS NULL OR failure_reason IN ('FAILED_DELIVERY', 'LOST', 'DAMAGED', 'RETURNED_TO_SENDER')),
    signed_by TEXT,
    requested_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS shipments_by_status ON shipments (status);

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
