-- Product Database: system of record for products (owner: product-platform).
-- Portable SQL: runs unchanged on SQLite 3.40+ and PostgreSQL 15+. Ids and timestamps come from the app.

CREATE TABLE IF NOT EXISTS products (
    product_id UUID PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    currency CHAR(3) NOT NULL,
    category TEXT,
    status TEXT NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS products_by_category ON products (category);
CREATE INDEX IF NOT EXISTS products_by_status ON products (status);

-- Variants of a product (size, colour...). A variant SKU is unique among variants; the product API
-- also keeps it apart from every product SKU. Deleting a product deletes its variants.
CREATE TABLE IF NOT EXISTS product_variants (
    variant_id UUID PRIMARY KEY,
    product_id UUID NOT NULL REFERENCES products (product_id) ON DELETE CASCADE,
    sku TEXT NOT NULL UNIQUE,
    -- JSON object of attribute name -> value, e.g. {"size": "M", "colour": "red"}.
    attributes TEXT NOT NULL,
    position INTEGER NOT NULL CHECK (position >= 0)
);
CREATE INDEX IF NOT EXISTS product_variants_by_product ON product_variants (product_id, position);

-- One row per accepted reindex-catalog command; reindex_id is chosen by the client (idempotency key).
CREATE TABLE IF NOT EXISTS reindex_runs (
    reindex_id UUID PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'ACCEPTED' CHECK (status IN ('ACCEPTED', 'RUNNING', 'COMPLETED', 'FAILED')),
    statuses TEXT,
    requested_by TEXT,
    requested_at TIMESTAMPTZ NOT NULL,
    products_published INTEGER NOT NULL DEFAULT 0 CHECK (products_published >= 0),
    completed_at TIMESTAMPTZ
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
