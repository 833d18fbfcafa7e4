"""What the HTTP service needs to know: where it is published and who may write."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of `redline serve` (from redline.toml [serve] and REDLINE_* variables)."""

    public_url: str = "http://127.0.0.1:8000"  # absolute links in feeds and pages start here
    tag_authority: str = "redline.invalid"  # tag: URIs of feed entries are minted on this
    api_token: str | None = None  # bearer token for writes; None: writes are refused
    page_size: int = 50  # entries per feed page / items per API page (bounded)
    failing_after: int = 3  # [daemon] failing_after: errors in a row before "failing"

    @classmethod
    def from_env(cls, **overrides: object) -> ServiceSettings:
        values: dict[str, object] = {
            "public_url": os.environ.get("REDLINE_PUBLIC_URL", cls.public_url),
            "tag_authority": os.environ.get("REDLINE_TAG_AUTHORITY", cls.tag_authority),
            "api_token": os.environ.get("REDLINE_API_TOKEN") or None,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]
