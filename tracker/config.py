"""Configuration: redline.toml, environment variables and durations like "15m"."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from tracker.errors import UserError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """ "90", "90s", "15m", "1.5h", "2d" as a timedelta (a bare number is seconds)."""
    match = _DURATION.match(str(text).lower())
    if not match or float(match.group(1)) <= 0:
        raise UserError(f"not a duration: {text!r} (examples: 30s, 15m, 1h, 1d)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@dataclass
class SourceConfig:
    url: str
    kind: str = "auto"
    name: str | None = None
    every: timedelta | None = None


@dataclass
class Config:
    db: str | None = None
    pool_size: int | None = None  # [database]: connections each process keeps open
    max_overflow: int | None = None  # [database]: extra connections allowed at peaks
    every: timedelta | None = None
    tag_authority: str | None = None
    serve: dict[str, object] = field(default_factory=dict)  # [serve]: host, port, public_url, token
    sources: list[SourceConfig] = field(default_factory=list)


def load_config(path: str | Path) -> Config:
    """Read a redline.toml; a missing or malformed file is a UserError naming the problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no configuration file at {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML: {error}") from None
    database = data.get("database", {})
    config = Config(
        db=data.get("db") or database.get("url"),
        pool_size=_connections(path, database, "pool_size", minimum=1),
        max_overflow=_connections(path, database, "max_overflow", minimum=0),
        every=parse_duration(data["every"]) if "every" in data else None,
        tag_authority=data.get("feed", {}).get("authority"),
        serve=dict(data.get("serve", {})),
    )
    for number, entry in enumerate(data.get("source", []), start=1):
        if not isinstance(entry, dict) or "url" not in entry:
            raise UserError(f"{path}: [[source]] number {number} has no url")
        config.sources.append(
            SourceConfig(
                url=entry["url"],
                kind=entry.get("kind", "auto"),
                name=entry.get("name"),
                every=parse_duration(entry["every"]) if "every" in entry else None,
            )
        )
    return config


def _connections(path: Path, table: dict[str, object], key: str, minimum: int) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UserError(f"{path}: [database] {key} must be a whole number >= {minimum}")
    return value
