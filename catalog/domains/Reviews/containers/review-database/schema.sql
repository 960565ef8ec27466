-- Review Database: reviews, flags, votes, moderation decisions (owner: reviews-platform).
-- Portable SQL: runs unchanged on SQLite 3.40+ and PostgreSQL 15+. Ids and timestamps come from the app.

CREATE TABLE IF NOT EXISTS reviews (
    review_id UUID PRIMARY KEY,
    product_id UUID NOT NULL,
    customer_id UUID NOT NULL,
    rating INTEGER NOT NULL CHECK (rating >= 1 AND rating <= 5),
    title TEXT CHECK (title IS NULL OR length(title) <= 120),
    body TEXT NOT NULL CHECK (length(body) <= 5000),
    status TEXT NOT NULL DEFAULT 'submitted' CHECK (status IN ('submitted', 'published', 'rejected')),
    helpful_count INTEGER NOT NULL DEFAULT 0 CHECK (helpful_count >= 0),
    flag_count INTEGER NOT NULL DEFAULT 0 CHECK (flag_count >= 0),
    submitted_at TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ,
    rejected_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (product_id, customer_id)
);
-- The product page lists published reviews of one product.
CREATE INDEX IF NOT EXISTS reviews_by_product ON reviews (product_id, status, published_at);

CREATE TABLE IF NOT EXISTS review_flags (
    flag_id UUID PRIMARY KEY,
    review_id UUID NOT NULL REFERENCES reviews (review_id) ON DELETE CASCADE,
    flagged_by TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('spam', 'abuse', 'off_topic', 'inappropriate', 'other')),
    notes TEXT CHECK (notes IS NULL OR length(notes) <= 1000),
    flagged_at TIMESTAMPTZ NOT NULL,
    UNIQUE (review_id, flagged_by)
);

CREATE TABLE IF NOT EXISTS review_votes (
    vote_id UUID PRIMARY KEY,
    review_id UUID NOT NULL REFERENCES reviews (review_id) ON DELETE CASCADE,
    customer_id UUID NOT NULL,
    voted_at TIMESTAMPTZ NOT NULL,
    UNIQUE (review_id, customer_id)
);

CREATE TABLE IF NOT EXISTS moderation_decisions (
    moderation_decision_id UUID PRIMARY KEY,
    review_id UUID NOT NULL REFERENCES reviews (review_id) ON DELETE CASCADE,
    outcome TEXT NOT NULL CHECK (outcome IN ('published', 'rejected')),
    reason TEXT CHECK (reason IS NULL OR reason IN ('spam', 'abuse', 'off_topic', 'policy_violation')),
    decided_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS moderation_decisions_by_review ON moderation_decisions (review_id);

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
