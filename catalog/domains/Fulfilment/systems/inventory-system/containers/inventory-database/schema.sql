-- Inventory Database: stock and reservations (owner: fulfilment-platform).
-- Portable SQL: runs unchanged on SQLite 3.40+ and PostgreSQL 15+. Ids and timestamps come from the app.

-- Every unit ever put into stock is in exactly one of available, reserved or sold, so
-- available + reserved + sold = restocked holds on every row (the CHECK enforces it).
CREATE TABLE IF NOT EXISTS stock (
    product_id UUID PRIMARY KEY,
    available INTEGER NOT NULL DEFAULT 0 CHECK (available >= 0),
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    -- Units consumed by confirmed orders (given back when such an order is cancelled).
    sold INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0),
    -- Net units staff put into stock with set-stock-level, the first count included.
    restocked INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CHECK (available + reserved + sold = restocked)
);

CREATE TABLE IF NOT EXISTS reservations (
    reservation_id UUID PRIMARY KEY,
    order_id UUID,
    cart_id UUID,
    checkout_id UUID UNIQUE,
    status TEXT NOT NULL DEFAULT 'HELD' CHECK (status IN ('HELD', 'RELEASED', 'CONSUMED')),
    release_reason TEXT CHECK (release_reason IS NULL OR release_reason IN ('CHECKOUT_FAILED', 'ORDER_CANCELLED', 'EXPIRED')),
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS reservations_by_order ON reservations (order_id);
-- The expiry sweep looks for holds past their deadline.
CREATE INDEX IF NOT EXISTS reservations_by_expiry ON reservations (status, expires_at);

CREATE TABLE IF NOT EXISTS reservation_items (
    reservation_id UUID NOT NULL REFERENCES reservations (reservation_id) ON DELETE CASCADE,
    product_id UUID NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);

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
