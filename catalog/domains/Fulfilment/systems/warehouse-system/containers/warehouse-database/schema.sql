-- Warehouse Database: picking jobs (owner: fulfilment-platform).
-- Portable SQL: runs unchanged on SQLite 3.40+ and PostgreSQL 15+. Ids and timestamps come from the app.

CREATE TABLE IF NOT EXISTS picking_jobs (
    job_id UUID PRIMARY KEY,
    order_id UUID NOT NULL UNIQUE,
    customer_id UUID,
    reservation_id TEXT,
    status TEXT NOT NULL DEFAULT 'CREATED' CHECK (status IN ('CREATED', 'PICKING', 'PACKED', 'CANCELLED', 'CLOSED')),
    assigned_to TEXT,
    -- Delivery address from order-confirmed, replaced by order-delivery-address-changed.
    recipient_name TEXT,
    line1 TEXT NOT NULL,
    line2 TEXT,
    city TEXT NOT NULL,
    postcode TEXT NOT NULL,
    country CHAR(2) NOT NULL,
    address_revision INTEGER NOT NULL DEFAULT 1 CHECK (address_revision >= 1),
    parcel_count INTEGER CHECK (parcel_count IS NULL OR parcel_count >= 1),
    -- When the picking worker finishes the job (set when picking starts; the reference
    -- implementation simulates the picking time with a configurable, seedable delay).
    picking_due_at TIMESTAMPTZ,
    ready_for_shipping_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS picking_jobs_by_status ON picking_jobs (status);
CREATE INDEX IF NOT EXISTS picking_jobs_by_customer ON picking_jobs (customer_id);
-- The picking worker polls for jobs whose picking time is over.
CREATE INDEX IF NOT EXISTS picking_jobs_due ON picking_jobs (status, picking_due_at);

CREATE TABLE IF NOT EXISTS picking_job_items (
    job_id UUID NOT NULL REFERENCES picking_jobs (job_id) ON DELETE CASCADE,
    product_id UUID NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    picked BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (job_id, product_id)
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
