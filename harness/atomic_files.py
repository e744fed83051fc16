"""Atomic writes (a reader sees the old file or the new one, never half of either), write checks and locks.

Imports nothing of the project but its error type."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import BadInput


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    return _replace_atomically(path, "w", lambda f: f.write(text))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """`data` (a rendered image, say) written atomically."""
    return _replace_atomically(path, "wb", lambda f: f.write(data))


def write_npz_atomic(path: str | os.PathLike, arrays: dict) -> Path:
    """`arrays` as an uncompressed .npz, written atomically."""
    import numpy as np

    return _replace_atomically(path, "wb", lambda f: np.savez(f, **arrays))


def _replace_atomically(path: str | os.PathLike, mode: str, write) -> Path:
    """write(f) into a temporary file beside `path`, flushed to disk, then renamed over `path`."""
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private (0600); a result file is as any other
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):  # a full disk, a quota, a folder made read-only: one line, the old file kept
            reason = error.strerror or str(error)
            raise NotWritable(f"cannot write {path} ({reason}); {_remedy(error, path.parent)}", reason) from None
        raise
    return path


def _remedy(error: OSError, folder: Path, movable: bool = True) -> str:
    """What to do when a file cannot be written into folder."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free space where {folder} lies (what was written before is kept), then run again"
    return f"make {folder} writable" + (", or set LSTM_TWINS_RESULTS to another folder" if movable else "")


def _umask() -> int:
    """The process's umask (read by setting it and putting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | os.PathLike, data) -> Path:
    """`data` as indented JSON, written atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


class NotWritable(BadInput, RuntimeError):
    """A folder results would be written into cannot be written; reason: the system's word for why."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


def check_writable(folder: str | os.PathLike, movable: bool = True) -> None:
    """Raise NotWritable, before any work is done, if files cannot be created in `folder` (made if missing).
    movable: whether $LSTM_TWINS_RESULTS may name another folder instead (not for the README's own)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise NotWritable(f"cannot write into {folder} ({error.strerror}); {_remedy(error, folder, movable)}",
                          error.strerror) from None


class LockedError(BadInput, RuntimeError):
    """Another process holds the lock."""


@contextmanager
def exclusive_lock(path: str | os.PathLike):
    """Hold an exclusive lock on `path` (created if needed) or raise LockedError at once; yields the open file.

    The lock belongs to the open file: a child process that inherits it (pass_fds) holds it too,
    and it is released when the last holder closes it or ends.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise LockedError(f"{path.parent} is in use by {holder}; wait for it to finish") from None
        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()}")
        f.flush()
        try:
            yield f
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
