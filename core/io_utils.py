"""Atomic file writes, output-path checks and output-folder locks.

Writes go to a temporary file in the target folder, then ``os.replace``: a crash mid-write
leaves either the old file or nothing, never a truncated file. Temporary files are created
0600 by :func:`tempfile.mkstemp`; they are given the user's umask (0644 under the usual 022)
before the rename, like files any other tool writes.

:func:`check_output_dir` / :func:`check_output_file` validate an output path before any
expensive work; :func:`output_lock` serialises concurrent writers to one output folder;
:class:`OutputSet` replaces the files of one run in an output folder as a unit.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import glob
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from core.errors import OutputError

#: Name of the lock file :func:`output_lock` keeps in an output folder while a run writes it.
LOCK_NAME = ".genex.lock"


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where possible: setting it is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | Path) -> None:
    """Give ``path`` the mode a plain ``open(path, "w")`` would have (0o666 minus the umask)."""
    os.chmod(path, 0o666 & ~current_umask())


def make_temp(folder: str | Path, name: str) -> Path:
    """An empty temporary file ``.<name>.*.tmp`` in ``folder``, with the user's umask applied.

    The caller renames it over ``folder / name`` (``os.replace``) or deletes it.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        apply_umask(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent folders.

    Returns
    -------
    Path
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp(path.parent, path.name)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (NaN is written as ``NaN``, as museval does)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


# --------------------------------------------------------------------------- path checks


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_writable_parent(path: Path, what: str) -> None:
    base = _nearest_existing(path.parent if not path.is_dir() else path)
    if not base.is_dir():
        raise OutputError(f"{what} {str(path)!r} cannot be created: {str(base)!r} is a file")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {str(path)!r} cannot be written: {str(base)!r} is read-only")


def check_output_dir(path: str | Path, *, what: str = "--out") -> Path:
    """Check that ``path`` can be used as an output folder, without creating anything.

    Parameters
    ----------
    path
        The folder: existing, or creatable under a writable ancestor.
    what
        How the message names the option (e.g. ``"--out"``).

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        ``path`` is an existing file, or neither it nor its nearest existing ancestor is a
        writable folder.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {str(path)!r} is an existing file, not a folder")
    _check_writable_parent(path, what)
    return path


def check_output_file(path: str | Path, *, what: str = "--out") -> Path:
    """Check that ``path`` can be written as a file (replaced atomically), creating nothing.

    Raises
    ------
    OutputError
        ``path`` is an existing folder, or its folder is not writable (or is a file).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{what} {str(path)!r} is an existing folder, not a file name")
    if not path.name:
        raise OutputError(f"{what} {str(path)!r} does not name a file")
    _check_writable_parent(path, what)
    return path


# --------------------------------------------------------------------------- locking


@contextlib.contextmanager
def output_lock(folder: str | Path, *, what: str = "--out") -> Iterator[Path]:
    """Hold an exclusive lock on the output folder ``folder`` (created if missing).

    The lock is ``folder/.genex.lock``, held with ``flock``: the kernel releases it when the
    process dies, so a killed run never leaves a stale lock. On exit the lock file is removed,
    and so is ``folder`` if this call created it and it is empty.

    Yields
    ------
    Path
        The folder.

    Raises
    ------
    OutputError
        Another process holds the lock (a concurrent run writing to the same folder), or the
        folder cannot be created.
    """
    folder = check_output_dir(folder, what=what)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{what} {str(folder)!r} cannot be created: {exc.strerror}") from exc
    lock = folder / LOCK_NAME
    fd = -1
    try:
        while True:  # the file may be replaced between open and flock: lock the one in place
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
                os.close(fd)
                fd = -1
                raise OutputError(
                    f"{what} {str(folder)!r} is being written by another genex run"
                    + (f" (pid {holder})" if holder.isdigit() else "")
                    + "; wait for it to finish or choose another folder"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
            fd = -1
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield folder
    finally:
        if fd >= 0:
            lock.unlink(missing_ok=True)  # while still holding it (see the loop above)
            os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: never remove anyone's files


# --------------------------------------------------------------------------- output sets

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.cache
def _renameat2() -> Any:
    """The C library's ``renameat2`` (Linux, glibc 2.28+), or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step; ``False`` where that is unsupported."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


class OutputSet:
    """The output files of one run, staged apart and moved into the output folder as a unit.

    Files are written to :meth:`path` inside a temporary sibling folder ``.<name>.tmp-XXXX`` of
    ``out_dir`` (inside ``out_dir`` when the parent is not writable or on another filesystem).
    :meth:`commit` installs them together:

    - when ``out_dir`` holds nothing but files this set replaces (its names, ``stale``, the lock
      file), the two folders are swapped in one ``renameat2(RENAME_EXCHANGE)``: a reader, a
      crash or a kill sees either the old complete set or the new one. The swap keeps the
      folder's mode and the :func:`output_lock` file (hard-linked into the new folder first);
      a shell whose working directory is ``out_dir`` is left in the old, deleted folder.
    - otherwise (foreign files, which stay untouched; a symlinked folder; no ``renameat2``) each
      file is renamed into place, then the ``stale`` ones are deleted: all files are complete
      before the first rename, so only a crash within those few renames leaves a mix.

    A failure before :meth:`commit` (or :meth:`discard`) leaves ``out_dir`` as it was. As a
    context manager it commits on a clean exit and discards on an exception. Use it while
    holding :func:`output_lock` on ``out_dir``: it removes staging folders that killed runs left.

    Parameters
    ----------
    out_dir
        The output folder (created if missing).
    stale
        Names of earlier outputs that this run replaces without writing (e.g. a mask not saved
        this time): deleted at commit, so the folder never mixes two runs.
    """

    def __init__(self, out_dir: str | Path, *, stale: Iterable[str] = ()) -> None:
        self.out_dir = Path(os.path.abspath(Path(out_dir).expanduser()))
        self.stale = frozenset(stale)
        self.created_dir = not self.out_dir.exists()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.names: list[str] = []
        self.staging, self.sibling = self._make_staging()

    def _make_staging(self) -> tuple[Path, bool]:
        out = self.out_dir
        if out.name not in ("", ".", "..") and not out.is_symlink():
            prefix = f".{out.name}.tmp-"
            for old in glob.glob(glob.escape(str(out.parent / prefix)) + "*"):
                if os.path.isdir(old) and not os.path.islink(old):
                    shutil.rmtree(old, ignore_errors=True)  # left by a killed run
            try:
                tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
            except OSError:
                tmp = None
            if tmp is not None:
                if tmp.stat().st_dev == out.stat().st_dev:
                    return tmp, True
                shutil.rmtree(tmp, ignore_errors=True)  # out_dir is a mount point
        return Path(tempfile.mkdtemp(prefix=".genex.tmp-", dir=out)), False

    def path(self, name: str) -> Path:
        """Where to write the output ``name`` (a plain file name) of this set."""
        if not name or name != Path(name).name or name in (".", "..", LOCK_NAME):
            raise ValueError(f"an output name must be a plain file name, got {name!r}")
        if name not in self.names:
            self.names.append(name)
        return self.staging / name

    def commit(self) -> None:
        """Install the staged files in ``out_dir`` (see the class docstring) and clean up."""
        present = {e for e in os.listdir(self.out_dir) if e != LOCK_NAME}
        if not (self.sibling and present <= set(self.names) | self.stale and self._swap()):
            for name in self.names:
                os.replace(self.staging / name, self.out_dir / name)
            for name in self.stale - set(self.names):
                old = self.out_dir / name
                if old.is_file() or old.is_symlink():
                    old.unlink(missing_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)  # after a swap: the old set
        self.names = []

    def _swap(self) -> bool:
        lock, keep = self.out_dir / LOCK_NAME, self.staging / LOCK_NAME
        try:
            if lock.exists():
                os.link(lock, keep)  # the lock file stays in place, held, through the swap
            os.chmod(self.staging, stat.S_IMODE(os.stat(self.out_dir).st_mode))
        except OSError:
            keep.unlink(missing_ok=True)
            return False
        if _exchange(self.staging, self.out_dir):
            return True
        keep.unlink(missing_ok=True)
        return False

    def discard(self) -> None:
        """Delete the staged files; ``out_dir`` keeps its old contents (removed if made empty)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self.names = []
        if self.created_dir:
            with contextlib.suppress(OSError):
                self.out_dir.rmdir()  # only if empty: never remove anyone's files

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
