-- Order Database (order-management-system). Portable DDL: SQLite 3.40+ and PostgreSQL 15+.

CREATE TABLE IF NOT EXISTS orders (
    order_id UUID PRIMARY KEY,
    checkout_id UUID UNIQUE,
    cart_id UUID,
    customer_id UUID NOT NULL,
    status TEXT NOT NULL DEFAULT 'CREATED' CHECK (status IN ('CREATED', 'CONFIRMED', 'AWAITING_FULFILMENT', 'FULFILLING', 'ON_HOLD', 'COMPLETED', 'CANCELLED', 'ARCHIVED')),
    confirmation_number TEXT UNIQUE,
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    currency CHAR(3) NOT NULL DEFAULT 'USD',
    payment_authorization_id TEXT,
    inventory_reservation_id TEXT,
    delivery_address JSONB,
    address_revision INTEGER NOT NULL DEFAULT 1 CHECK (address_revision >= 1),
    revision INTEGER NOT NULL DEFAULT 1 CHECK (revision >= 1),
    status_sequence INTEGER NOT NULL DEFAULT 0 CHECK (status_sequence >= 0),
    hold_id UUID,
    hold_reason TEXT CHECK (hold_reason IS NULL OR hold_reason IN ('PAYMENT_REVIEW', 'FRAUD_REVIEW', 'ADDRESS_VERIFICATION', 'INVENTORY_RECHECK')),
    cancellation_reason TEXT CHECK (cancellation_reason IS NULL OR cancellation_reason IN ('CUSTOMER_REQUESTED', 'PAYMENT_FAILED', 'OUT_OF_STOCK', 'FRAUD')),
    terminal_at TIMESTAMPTZ,
    archived_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id, created_at);
CREATE INDEX IF NOT EXISTS orders_terminal ON orders (status, terminal_at);

CREATE TABLE IF NOT EXISTS order_items (
    order_id UUID NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    product_id UUID NOT NULL,
    sku TEXT,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);

-- Status rows carry a sequence (1, 2, ...); refund rows have no sequence.
CREATE TABLE IF NOT EXISTS order_status_history (
    history_id UUID PRIMARY KEY,
    order_id UUID NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    entry_type TEXT NOT NULL DEFAULT 'STATUS' CHECK (entry_type IN ('STATUS', 'REFUND')),
    sequence INTEGER CHECK (sequence >= 1),
    previous_status TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    correlation_id UUID,
    refund_id UUID,
    amount_cents INTEGER CHECK (amount_cents >= 0),
    changed_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (order_id, sequence)
);

CREATE TABLE IF NOT EXISTS order_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL DEFAULT 0 CHECK (value >= 0)
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
