"""Snapshot archives: the snapshots a git-scraped repository or a folder of saved pages
holds, oldest first, each with the time it was taken.

git is read through `git` itself: one `git log` for the commits that touched the
file, then one `git cat-file --batch` process streaming the file's content at each
commit; no checkout.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from tracker.errors import UserError


@dataclass(frozen=True)
class ArchivedSnapshot:
    ref: str  # names the snapshot for good: "git:<commit>:<path>", "dir:<path>"
    taken_at: datetime
    body: bytes
    path: str  # the file's path, for its type
    url: str | None = None  # the page's own URL, when the archive says (a manifest)

    @property
    def content_ref(self) -> str:
        """Names the snapshot by what it holds and when it was taken, not where it lies:
        the same file imported again through another path, glob or manifest is known."""
        digest = hashlib.sha256(self.body).hexdigest()[:32]
        return f"sha256:{digest}@{self.taken_at.astimezone(UTC).isoformat()}"


def git_snapshots(
    repo: Path,
    path: str,
    since: datetime | None = None,
    until: datetime | None = None,
    on_count: Callable[[int], None] | None = None,
) -> Iterator[ArchivedSnapshot]:
    """The file at every commit that touched it, oldest first, at the committer date (UTC).
    A commit that deleted the file has no snapshot. on_count(commits) is told how many
    commits there are before the first snapshot (for a progress bar's total)."""
    commits = _git_commits(repo, path, since, until)
    if not commits:
        window = " in that time window" if since or until else ""
        raise UserError(f"no commit of {repo} touches {path}{window}")
    if on_count is not None:
        on_count(len(commits))
    reader = subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert reader.stdin is not None and reader.stdout is not None
    try:
        for commit, taken_at in commits:
            reader.stdin.write(f"{commit}:{path}\n".encode())
            reader.stdin.flush()
            body = _read_object(reader.stdout)
            if body is not None:
                yield ArchivedSnapshot(f"git:{commit}:{path}", taken_at, body, path)
    finally:
        reader.stdin.close()
        reader.kill()
        reader.wait()


def _git_commits(
    repo: Path, path: str, since: datetime | None, until: datetime | None
) -> list[tuple[str, datetime]]:
    command = ["git", "-C", str(repo), "log", "--reverse", "--format=%H %ct"]
    if since:
        command.append(f"--since={since.isoformat()}")
    if until:
        command.append(f"--until={until.isoformat()}")
    done = subprocess.run([*command, "--", path], capture_output=True, text=True)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git failed"
        raise UserError(f"cannot read the git history of {repo}: {reason}")
    commits = []
    for line in done.stdout.splitlines():
        commit, seconds = line.split()
        taken_at = datetime.fromtimestamp(int(seconds), UTC)
        # git's --since/--until compare author-ish dates loosely; the committer date decides.
        if (since and taken_at < since) or (until and taken_at > until):
            continue
        commits.append((commit, taken_at))
    return commits


def _read_object(stream: IO[bytes]) -> bytes | None:
    """One answer of `git cat-file --batch`: the content, or None if missing there."""
    header = stream.readline().decode().split()
    if len(header) != 3:  # "<name> missing": the file did not exist at that commit
        return None
    size = int(header[2])
    body = stream.read(size)
    stream.read(1)  # the newline after the content
    return body


# A time in a file name: 2022-02-23T182947Z, 2022-02-23T18:29:47Z, 2022-02-23 18-29-47,
# 20220223T182947, 20220223182947.
_NAME_TIME = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})[T _-]?(\d{2})[:-]?(\d{2})[:-]?(\d{2})(?:\.\d+)?Z?"
)


def dir_snapshots(folder: Path, pattern: str) -> tuple[list[ArchivedSnapshot], str]:
    """The files matching pattern, oldest first, and where their times came from:
    "file names" when every name holds a date and time, else "modification times"."""
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise UserError(f"no file in {folder} matches {pattern!r}")
    named = {p: _time_in_name(p.name) for p in files}
    if all(named.values()):
        basis, times = "file names", named
    else:
        basis = "modification times"
        times = {p: datetime.fromtimestamp(p.stat().st_mtime, UTC) for p in files}
    snapshots = [
        ArchivedSnapshot(
            f"dir:{p.relative_to(folder).as_posix()}",
            times[p],
            p.read_bytes(),
            p.name,  # type: ignore[arg-type]
        )
        for p in files
    ]
    snapshots.sort(key=lambda s: (s.taken_at, s.ref))
    return snapshots, basis


def manifest_snapshots(folder: Path, manifest: Path) -> tuple[list[ArchivedSnapshot], str]:
    """The snapshots a manifest lists: {"snapshots": [{"file", "timestamp", "url"?}, ...]}
    (the corpus manifests' shape), in the manifest's order. A snapshot without a
    timestamp is taken one second after the one before it."""
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8"))["snapshots"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{manifest}: not a snapshot manifest ({error})") from None
    snapshots: list[ArchivedSnapshot] = []
    previous: datetime | None = None
    for number, entry in enumerate(listed, start=1):
        if not isinstance(entry, dict) or "file" not in entry:
            raise UserError(f"{manifest}: snapshot {number} names no file")
        path = folder / entry["file"]
        if not path.is_file():
            raise UserError(f"{manifest}: snapshot {number}: no file {path}")
        taken_at = _parse_time(entry.get("timestamp"), manifest, number)
        if taken_at is None:
            if previous is None:
                raise UserError(f"{manifest}: the first snapshot needs a timestamp")
            taken_at = previous + timedelta(seconds=1)
        previous = taken_at
        snapshots.append(
            ArchivedSnapshot(
                f"dir:{entry['file']}", taken_at, path.read_bytes(), path.name, entry.get("url")
            )
        )
    return snapshots, "the manifest"


def _time_in_name(name: str) -> datetime | None:
    match = _NAME_TIME.search(name)
    if not match:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()), tzinfo=UTC)  # type: ignore[misc]
    except ValueError:
        return None


def _parse_time(value: object, manifest: Path, number: int) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{manifest}: snapshot {number}: not a time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
