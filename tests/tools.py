"""Debian tools some tests drive (jing, html2text): found, or the test skips (fails in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def require_tool(name: str, purpose: str) -> str:
    """The Debian tool's path; skip without it, or fail when CI says it must be there."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (Debian: apt-get install {name}): {purpose} skipped"
        if os.environ.get("REDLINE_REQUIRE_SERVICES"):
            pytest.fail(f"REDLINE_REQUIRE_SERVICES is set but {reason}")
        pytest.skip(reason)
    return path


def require_html2text() -> str:
    return require_tool("html2text", "text-reader legibility check")


def text_reader(html: str) -> str:
    """HTML as a text-mode reader shows it (Debian's html2text, as newsboat and mail readers
    do: styles, <del> and <ins> dropped), whitespace collapsed. Lines are not wrapped:
    html2text breaks them after "(" too, which collapsing would turn into a space that is
    not there."""
    done = subprocess.run(
        [require_html2text(), "-utf8", "-nobs", "-width", "100000"],
        input=html.encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    return " ".join(done.stdout.decode().split())
