"""Reviews: the Reviews domain's three services, hosted together as `reviews`.

The domain has no system, so the runtime hosts its services under the domain id (`reviews`,
see `acme.runtime.registry.load_host`). Implements the catalog pages of domain Reviews:

- review-api (HTTP): submit a review (one per customer and product, 202, moderated before it
  is shown), flag a published review (once per person), vote it helpful or withdraw the vote
  (never on one's own review), read a product's published reviews with paging, four sort
  orders and the rating summary. Writes review-database; sends review-submitted,
  review-flagged, review-helpful-voted.
- review-moderation-worker: applies the moderation policy (domain.moderate: URL or mostly
  capitals -> spam, blocklisted word -> abuse, under 10 characters -> off_topic, else
  published; blocklist from ACME_REVIEWS_BLOCKLIST) and takes down a published review at 3
  flags (policy_violation). Sends review-published / review-rejected.
- rating-aggregator: counts each published review once in rating-cache, takes rejected ones
  out, rebuilds an empty cache from review-database, sends rating-updated.
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.reviews.config import ReviewsSettings
from acme.systems.reviews.handlers import RatingAggregator, ReviewModerationWorker
from acme.systems.reviews.http import ReviewApiHttp

__all__ = ["create"]


def create(app: SystemApp) -> None:
    settings = ReviewsSettings()
    app.serve("review-api", ReviewApiHttp(app))
    app.handle("review-moderation-worker", ReviewModerationWorker(settings.words))
    app.handle("rating-aggregator", RatingAggregator(app))
