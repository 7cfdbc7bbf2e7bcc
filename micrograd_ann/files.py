"""Atomic file writing: a reader sees the old file or the new one, never a torn one.

Every file the package writes goes through here, so they all behave the same way:

    write_atomic("loss.svg", svg_text)                # str (as UTF-8) or bytes
    with atomic_writer("plot.png", binary=True) as f:  # for code that wants a file object
        figure.savefig(f, format="png")

The data goes to a temporary file next to the target, is flushed and fsync'ed, and
os.replace() swaps it in; if anything fails (or the with-block raises) the target is left as
it was and the temporary file is removed. What the user had is kept: an existing file's
permission bits (and owner, where allowed), and a symlink, which still points to the file,
now holding the new data. Errors are OSErrors naming the path asked for, never the
temporary file. A temporary file left by a killed process is removed by the next write of
the same file. read_limited() is the other direction: a file is read only if it is a
regular file no larger than the reader allows, decided before anything is read. This module
imports nothing of the package: every layer may use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from typing import IO, Iterator

try:
    import fcntl
except ImportError:  # Windows: a file open in another process cannot be deleted there
    fcntl = None

PathLike = str | os.PathLike

# A temporary file is ".<target name>.<8 hex digits>.tmp", the target name cut short when
# needed so the whole name is at most max(len(target name), _SHORT_NAME) bytes: a target
# name that is legal (<= 255 bytes) always leaves room for its temporary file.
_SHORT_NAME = 64
_TEMP_EXTRA = len("." + ".12345678.tmp")
_TEMP_TAIL = re.compile(r"[0-9a-f]{8}\.tmp")
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class RefusedFileError(ValueError):
    """A file read_limited() would not read: `reason` says why ("it is a FIFO, not a
    regular file"; "it is larger than 1,024 bytes", then `too_large` is set)."""

    def __init__(self, reason: str, too_large: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def read_limited(path: PathLike, max_bytes: int) -> bytes:
    """The bytes of `path` if it is a regular file of at most `max_bytes` bytes, else
    RefusedFileError -- a FIFO, a device or a directory at once (no waiting for a writer),
    a larger file before reading it. A missing or unreadable file is the usual OSError."""
    where = os.fsdecode(path)
    # NONBLOCK: opening a FIFO must not wait for a writer.
    fd = os.open(where, os.O_RDONLY | _O_NONBLOCK | _O_BINARY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFileError(f"it is {_kind(info.st_mode)}, not a regular file")
        chunks, size = [], 0
        # In chunks, never past max_bytes + 1: the size may change after fstat, or lie (/proc).
        while info.st_size <= max_bytes and size <= max_bytes:
            chunk = os.read(fd, min(2**20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if info.st_size > max_bytes or size > max_bytes:
        raise RefusedFileError(f"it is larger than {max_bytes:,} bytes", too_large=True)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket")]
    return next((kind for test, kind in kinds if test(mode)), "a special file")


def write_atomic(path: PathLike, data: str | bytes, *, encoding: str = "utf-8") -> str:
    """Write `data` (str, encoded with `encoding`, or bytes) to `path` atomically; returns
    the path as a str.

    A str that cannot be encoded (a lone surrogate in UTF-8) is a ValueError naming the
    file, raised before anything on disk changes.
    """
    if isinstance(data, str):
        try:
            data = data.encode(encoding)
        except UnicodeEncodeError as exc:
            raise ValueError(f"cannot write {os.fsdecode(path)!r}: the text has "
                             f"{exc.object[exc.start:exc.end]!r} at position {exc.start}, "
                             f"which {encoding} cannot encode") from None
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"write_atomic writes str or bytes, got {type(data).__name__}")
    with atomic_writer(path, binary=True) as file:
        file.write(data)
    return os.fsdecode(path)


@contextlib.contextmanager
def atomic_writer(path: PathLike, *, binary: bool = False,
                  encoding: str = "utf-8") -> Iterator[IO]:
    """A new file object whose content replaces `path` when the with-block ends normally.

    Text mode writes "\\n" as is on every platform. If the block raises, `path` is left as
    it was. Writing over a file needs permission to write it (as open() would).
    """
    where = os.fsdecode(path)
    try:
        target, existing = _target(where)
        directory, name = os.path.split(target)
        prefix = _temp_prefix(name)
        _remove_abandoned(directory, prefix)
        fd, temp = _create_temp(directory, prefix)
    except OSError as exc:
        raise _naming(exc, where) from None
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else encoding,
                       newline=None if binary else "") as file:
            if existing is not None:
                _copy_owner_and_mode(file.fileno(), existing)
            yield file
            file.flush()
            os.fsync(file.fileno())
            if fcntl is not None:  # still holding the lock: no cleanup can take the file
                os.replace(temp, target)
        if fcntl is None:  # Windows cannot rename an open file
            os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(temp)
        if isinstance(exc, OSError) and exc.filename in (None, temp, target):
            raise _naming(exc, where) from None
        raise
    _fsync_directory(directory)


def _target(where: str) -> tuple[str, os.stat_result | None]:
    """The file to replace (through symlinks) and its stat, None if it does not exist yet."""
    if not where:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), where)
    if where.endswith(("/", os.sep)):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), where)
    target = os.path.realpath(where)
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        return target, None
    if stat.S_ISDIR(existing.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), where)
    if not stat.S_ISREG(existing.st_mode):  # never swap a device or FIFO for a plain file
        raise OSError(errno.EINVAL, "not a regular file, so it is not replaced", where)
    if not os.access(target, os.W_OK):  # a read-only file stays protected, as with open()
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), where)
    return target, existing


def _temp_prefix(name: str) -> str:
    """'.<name>.' with `name` cut (by whole characters) to fit the temporary name's budget."""
    budget = max(len(os.fsencode(name)), _SHORT_NAME) - _TEMP_EXTRA
    while len(os.fsencode(name)) > budget:
        name = name[:-1]
    return f".{name}."


def _create_temp(directory: str, prefix: str) -> tuple[int, str]:
    """A new, empty temporary file (fd, path), locked so no other writer removes it."""
    for _ in range(100):
        temp = os.path.join(directory, f"{prefix}{secrets.token_hex(4)}.tmp")
        try:  # O_EXCL: never open a file (or a symlink) someone else made
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except FileExistsError:
            continue
        if _try_lock(fd) is not False and _same_file(fd, temp):
            return fd, temp
        os.close(fd)  # another write's cleanup took it between open and lock: a new name
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file", temp)


def _remove_abandoned(directory: str, prefix: str) -> None:
    """Delete the temporary files of earlier writes to this target whose writer is gone.

    A writer holds a lock on its temporary file until it is renamed, and the kernel drops
    the lock when the process dies; on Windows an open file cannot be deleted at all.
    """
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            tail = entry.name[len(prefix):]
            if (entry.name.startswith(prefix) and _TEMP_TAIL.fullmatch(tail)
                    and entry.is_file(follow_symlinks=False)):
                _remove_if_unlocked(entry.path)


def _remove_if_unlocked(temp: str) -> None:
    if fcntl is None:  # Windows: this fails while the writer still has the file open
        with contextlib.suppress(OSError):
            os.remove(temp)
        return
    try:  # NOFOLLOW, NONBLOCK: a symlink or FIFO put in its place is left alone
        fd = os.open(temp, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK)
    except OSError:
        return
    try:
        if (stat.S_ISREG(os.fstat(fd).st_mode) and _try_lock(fd) is True
                and _same_file(fd, temp)):
            os.remove(temp)  # holding the lock, so no writer can be starting on it
    except OSError:
        pass
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool | None:
    """Lock fd exclusively without waiting: True if locked, False if another process holds
    a lock, None where locks are not available (then writes go ahead, cleanups do not)."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _same_file(fd: int, path: str) -> bool:
    """Whether `path` still names the file open as `fd` (not removed or replaced since)."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


def _copy_owner_and_mode(fd: int, existing: os.stat_result) -> None:
    """Give the new file the old one's permission bits, and its owner and group if allowed."""
    if hasattr(os, "fchown"):
        mine = os.fstat(fd)
        if (mine.st_uid, mine.st_gid) != (existing.st_uid, existing.st_gid):
            with contextlib.suppress(OSError):  # only root may give a file away
                os.fchown(fd, existing.st_uid, existing.st_gid)
    if hasattr(os, "fchmod"):  # after chown, which may clear set-id bits
        os.fchmod(fd, stat.S_IMODE(existing.st_mode))


def _fsync_directory(directory: str) -> None:
    """Make the rename itself survive a power cut (POSIX; Windows cannot open a directory).

    The new file is in place by now; a file system that cannot sync a directory is no
    reason to report the write as failed.
    """
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _naming(exc: OSError, where: str) -> OSError:
    """`exc` about the file the caller asked for: filename `where`, no temporary name."""
    if exc.errno is None or exc.strerror is None:  # a bare OSError("message")
        exc.filename = where
        return exc
    return OSError(exc.errno, exc.strerror, where)  # the subclass for errno, e.g. ENOENT's
