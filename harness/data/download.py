"""Data that arrives by itself: the files of data/sources.py's table, fetched from their official sources.

Each file has a pinned address, size and checksum (data/sources.py). A missing set is fetched into the
data folder with a progress bar: first into `<file>.part` (a cut download never looks
complete; the next attempt resumes it with an HTTP range request, or starts over where
the server ignores ranges), then checked against its checksum, and only then renamed
to its name. A file whose checksum differs is deleted and refused.
$LSTM_TWINS_MIRROR (a base URL) replaces the official hosts: `<mirror>/<file name>`.
GloVe and Mikolov's PTB text come with the project's Python packages: nothing to fetch. Which
sets a command needs, and whether they are there, data/catalogue.py decides (`ensure`).
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable

from ..errors import BadInput
from .sources import MIRROR_ENV, Remote, file_digest, mirror

ATTEMPTS = 3  # a cut transfer is resumed this many times before giving up
CHUNK = 1 << 16


class DownloadError(BadInput, RuntimeError):
    """A download that failed or was refused; the message is one line naming the file and what to do."""


class Unreachable(DownloadError):
    """The source could not be reached at all (no network): the set is simply missing."""


def fetch(remotes: Iterable[Remote], root: Path, label: str, progress: bool = True) -> list[Path]:
    """Download the remotes not yet in `root`; say what and how big first. Returns the files written."""
    todo = [r for r in remotes if not (root / r.path).exists()]
    if not todo:
        return []
    megabytes = sum(r.size for r in todo) / 1e6
    source = mirror() or todo[0].url.split("/")[2]
    print(f"{label}: downloading {len(todo)} file{'s' * (len(todo) > 1)} ({megabytes:,.1f} MB) from {source} "
          f"into {root}", flush=True)
    return [_fetch_one(remote, root / remote.path, progress) for remote in todo]


def _fetch_one(remote: Remote, target: Path, progress: bool) -> Path:
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"{remote.name}: cannot write into {target.parent} ({error.strerror}); "
                            f"set $LSTM_TWINS_DATA or --data-dir to a writable folder") from None
    for attempt in range(ATTEMPTS):
        if _transfer(remote, part, progress):
            break
    else:
        raise DownloadError(f"{remote.name}: the transfer from {remote.address()} was cut {ATTEMPTS} times; "
                            f"run again to resume it ({part} is kept)")
    algorithm, expected = remote.checksum.split(":")
    actual = file_digest(part, algorithm)
    if actual != expected:
        part.unlink()
        raise DownloadError(f"{remote.name}: checksum mismatch, expected {algorithm} {expected}, got {actual}; "
                            f"the file was deleted (check {MIRROR_ENV} or try again)")
    os.replace(part, target)
    return target


def _transfer(remote: Remote, part: Path, progress: bool) -> bool:
    """Append the rest of the file to `part` (all of it if the server ignores ranges); False if cut."""
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(remote.address(), headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the range starts at the end: nothing more to fetch
            return True
        raise DownloadError(f"{remote.name}: {remote.address()} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Unreachable(f"{remote.name}: cannot reach {remote.address()} ({reason})") from None
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0  # the whole file comes again
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=remote.name, leave=False,
            disable=None if progress else True  # None: no bar unless stderr is a terminal
        ) as bar:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException):  # a reset connection, an IncompleteRead
                    return False
                if not chunk:
                    break
                try:
                    f.write(chunk)
                except OSError as error:  # a full disk: no attempt will do better
                    raise DownloadError(f"{remote.name}: cannot write {part} ({error.strerror}); free space there "
                                        "and run again to resume it") from None
                bar.update(len(chunk))
    return total is None or part.stat().st_size == total

