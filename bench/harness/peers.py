"""The peers redline is measured against: each in its own virtualenv under bench/.peers.

Nothing of theirs is committed (bench/.peers/ is git-ignored); the first run installs them
from the package registry at the pinned versions below, later runs reuse the install.
System tools (nginx, wrk) come from Debian's packages; `require_tool` says how to get one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parents[1] / ".peers"

# Pinned so that a rerun measures the same peer.
PEER_REQUIREMENTS = {
    "git-history": "git-history==0.8",
    "urlwatch": "urlwatch==2.29",
}


def peer_venv(name: str) -> Path:
    """The peer's virtualenv, created and installed on first use."""
    venv = PEERS_DIR / name
    marker = venv / ".installed"
    requirement = PEER_REQUIREMENTS[name]
    if marker.exists() and marker.read_text() == requirement:
        return venv
    print(f"installing {requirement} into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, requirement], check=True)
    marker.write_text(requirement)
    return venv


def peer_command(name: str, command: str | None = None) -> Path:
    """Path of the peer's console script (by default named like the peer)."""
    return peer_venv(name) / "bin" / (command or name)


def peer_version(name: str) -> str:
    """The installed version of the peer's distribution, e.g. "git-history 0.8"."""
    python = peer_venv(name) / "bin" / "python"
    code = f"import importlib.metadata as m; print(m.version({name!r}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return f"{name} {out.stdout.strip()}"


def require_tool(command: str, debian_package: str) -> str:
    """Absolute path of a system tool, or exit with the command that installs it."""
    found = shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin")
    if found is None:
        raise SystemExit(
            f"{command} is not installed; install it with: apt-get install {debian_package}"
        )
    return found
