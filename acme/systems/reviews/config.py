"""Settings of the Reviews services (environment variables prefixed `ACME_REVIEWS_`)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Words that make a review abusive (rule 3 of the moderation policy). Deployments replace the
# list with ACME_REVIEWS_BLOCKLIST; this default keeps the rule testable out of the box.
DEFAULT_BLOCKLIST = ("idiot", "idiots", "moron", "morons", "scumbag", "scumbags", "imbecile")


class ReviewsSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ACME_REVIEWS_", env_file=".env", extra="ignore", validate_default=True
    )

    blocklist: str = Field(
        default=",".join(DEFAULT_BLOCKLIST),
        description="Comma-separated words that get a review rejected as abuse (whole words, "
        "case-insensitive).",
    )

    @field_validator("blocklist")
    @classmethod
    def _words(cls, value: str) -> str:
        words = [w.strip().lower() for w in value.split(",") if w.strip()]
        bad = [w for w in words if not w.replace("'", "").replace("-", "").isalnum()]
        if bad:
            raise ValueError(
                f"ACME_REVIEWS_BLOCKLIST entries must be single words, got {', '.join(bad)}"
            )
        return ",".join(words)

    @property
    def words(self) -> frozenset[str]:
        return frozenset(w for w in self.blocklist.split(",") if w)
