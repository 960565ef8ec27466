-- Rating Cache: rating summaries (owner: reviews-platform). Non-authoritative; rebuilt from review-database.
-- Production runs Redis 7; the reference implementation keeps the cache in these portable tables
-- (SQLite 3.40+ and PostgreSQL 15+).

CREATE TABLE IF NOT EXISTS rating_summaries (
    product_id UUID PRIMARY KEY,
    average_rating NUMERIC(3, 2) NOT NULL CHECK (average_rating >= 0 AND average_rating <= 5),
    review_count INTEGER NOT NULL CHECK (review_count >= 0),
    rating_sum INTEGER NOT NULL CHECK (rating_sum >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One row per published review counted in a summary; removed when the review is rejected later.
CREATE TABLE IF NOT EXISTS rating_contributions (
    review_id UUID PRIMARY KEY,
    product_id UUID NOT NULL,
    rating INTEGER NOT NULL CHECK (rating >= 1 AND rating <= 5),
    counted_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS rating_contributions_by_product ON rating_contributions (product_id);

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
