-- Checkout Database (checkout-system). Portable DDL: SQLite 3.40+ and PostgreSQL 15+.
-- checkout_id equals the eventId of the cart-checked-out event that opened the session.

CREATE TABLE IF NOT EXISTS checkouts (
    checkout_id UUID PRIMARY KEY,
    order_id UUID NOT NULL UNIQUE,
    cart_id UUID NOT NULL,
    customer_id UUID NOT NULL,
    status TEXT NOT NULL DEFAULT 'STARTED' CHECK (status IN ('STARTED', 'RESERVING_INVENTORY', 'AUTHORIZING_PAYMENT', 'CREATING_ORDER', 'COMPLETED', 'FAILED')),
    subtotal_cents INTEGER CHECK (subtotal_cents >= 0),
    discount_cents INTEGER CHECK (discount_cents >= 0),
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    currency CHAR(3) NOT NULL,
    payment_method TEXT NOT NULL DEFAULT 'pm_card_visa',
    delivery_address JSONB,
    reservation_id UUID,
    payment_id UUID,
    processor_reference TEXT,
    failure_reason TEXT CHECK (failure_reason IS NULL OR failure_reason IN ('OUT_OF_STOCK', 'PAYMENT_DECLINED', 'FRAUD_SUSPECTED', 'TIMEOUT', 'ORDER_REJECTED')),
    failure_detail TEXT,
    deadline_at TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS checkouts_deadline ON checkouts (status, deadline_at);
CREATE INDEX IF NOT EXISTS checkouts_cart ON checkouts (cart_id);

CREATE TABLE IF NOT EXISTS checkout_items (
    checkout_id UUID NOT NULL REFERENCES checkouts (checkout_id) ON DELETE CASCADE,
    product_id UUID NOT NULL,
    sku TEXT,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (checkout_id, product_id)
);

CREATE TABLE IF NOT EXISTS saga_steps (
    checkout_id UUID NOT NULL REFERENCES checkouts (checkout_id) ON DELETE CASCADE,
    step TEXT NOT NULL CHECK (step IN ('RESERVE_INVENTORY', 'AUTHORIZE_PAYMENT', 'CREATE_ORDER', 'RELEASE_INVENTORY', 'CANCEL_ORDER')),
    status TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT')),
    command_message_id TEXT,
    attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    started_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deadline_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    detail TEXT,
    PRIMARY KEY (checkout_id, step)
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
