"""Tokens: issued and verified with the shared secret; the dev secret is created once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from acme.runtime.auth import AuthError, issue_token, jwt_secret, verify_token
from acme.runtime.settings import Settings


def test_token_round_trip(settings: Settings) -> None:
    now = datetime.now(UTC)
    token = issue_token("c-1", ["shopper", "shopper", "admin"], 60, settings=settings, now=now)
    claims = verify_token(token, secret=jwt_secret(settings), issuer="acme-identity")
    assert claims.subject == "c-1"
    assert claims.roles == {"shopper", "admin"}
    assert claims.expires_at == datetime.fromtimestamp(
        int((now + timedelta(seconds=60)).timestamp()), UTC
    )


def test_other_issuer_is_rejected(settings: Settings) -> None:
    token = issue_token("c-1", settings=settings.model_copy(update={"jwt_issuer": "evil"}))
    with pytest.raises(AuthError, match="not valid") as info:
        verify_token(token, secret=jwt_secret(settings), issuer="acme-identity")
    assert info.value.status == 401


def test_dev_secret_is_generated_once_and_shared(tmp_path) -> None:  # type: ignore[no-untyped-def]
    dev = Settings(_env_file=None, data_dir=tmp_path, jwt_secret=None)  # type: ignore[call-arg]
    first = jwt_secret(dev)
    assert len(first) >= 32
    assert jwt_secret(dev) == first
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0, "readable by the owner only"
    token = issue_token("s-1", ["admin"], settings=dev)
    assert verify_token(token, secret=first, issuer=dev.jwt_issuer).subject == "s-1"


def test_short_configured_secret_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    weak = Settings(_env_file=None, data_dir=tmp_path, jwt_secret="short")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="at least 32"):
        issue_token("x", settings=weak)


def test_bad_token_arguments(settings: Settings) -> None:
    with pytest.raises(ValueError, match="subject"):
        issue_token("", settings=settings)
    with pytest.raises(ValueError, match="positive"):
        issue_token("x", ttl=0, settings=settings)
