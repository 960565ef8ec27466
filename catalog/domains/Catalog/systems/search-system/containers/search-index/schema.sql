-- Search Index: derived product search documents (owner: search-platform). Rebuildable at any time.
-- Portable SQL: runs unchanged on SQLite 3.40+ and PostgreSQL 15+.
-- The full-text structure is NOT created here because it cannot be written portably: the search
-- implementation creates it at start-up (SQLite: an FTS5 virtual table over searchable_text;
-- PostgreSQL: a GIN index on to_tsvector(searchable_text)).

CREATE TABLE IF NOT EXISTS search_documents (
    document_id TEXT PRIMARY KEY,
    product_id UUID NOT NULL UNIQUE,
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    category TEXT,
    status TEXT NOT NULL CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
    price_cents INTEGER CHECK (price_cents >= 0),
    currency CHAR(3),
    -- JSON list of the product's variants ({variantId, sku, attributes}); their SKUs and values are searchable.
    variants TEXT NOT NULL DEFAULT '[]',
    searchable_text TEXT NOT NULL,
    source_event_at TIMESTAMPTZ NOT NULL,
    -- JSON object: field name -> occurredAt of the event that last set it. A field is only overwritten by
    -- a newer event, so events applied in any order converge on the product's latest state.
    field_event_times TEXT NOT NULL DEFAULT '{}',
    indexed_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS search_documents_by_category ON search_documents (category);
CREATE INDEX IF NOT EXISTS search_documents_by_status ON search_documents (status);

-- Tombstones of deleted products: a late create or update of a deleted product is ignored.
CREATE TABLE IF NOT EXISTS deleted_products (
    product_id UUID PRIMARY KEY,
    deleted_at TIMESTAMPTZ NOT NULL
);

-- Ratings arrive from the Reviews domain independently of product events.
CREATE TABLE IF NOT EXISTS product_ratings (
    product_id UUID PRIMARY KEY,
    average_rating NUMERIC(3, 2) NOT NULL CHECK (average_rating >= 0 AND average_rating <= 5),
    review_count INTEGER NOT NULL CHECK (review_count >= 0),
    updated_at TIMESTAMPTZ NOT NULL
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
