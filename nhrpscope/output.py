"""The one way nhrpscope writes a file (issue 13, "nothing lost").

Every command that writes (``decrypt -o``, ``analyze``/``timeline
--write-merged``, ``generate -o``) goes through ``OutputFile``:

- an existing path (a dangling symlink included) is refused without
  ``force``; an input of the same run is refused always, compared by
  device and inode, not by name (a hard link or another spelling of the
  input is still the input);
- a regular file is written to a fresh temporary file in the same folder,
  created exclusively and never through a link (``O_CREAT|O_EXCL|
  O_NOFOLLOW``), fsynced, then renamed over the target: the target is
  the old file or the whole new one, never a part; with ``force`` a
  symlink is itself replaced, never written through;
- with ``force`` onto a device or a FIFO the data goes to it directly:
  ``-o /dev/null`` stays a device;
- ``-`` is standard output;
- any failure removes the temporary file, leaves the old output as it was,
  and is an ``OutputError``: one line naming the path.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
from collections.abc import Iterable
from types import TracebackType
from typing import BinaryIO

from nhrpscope.errors import UserError

STDOUT = "-"
# The temporary file's name keeps this much of the target's: a target name
# near the 255-byte limit must not make its temporary name too long.
_TMP_STEM = 64


class OutputError(UserError):
    """An output that cannot or must not be written; names the path."""


def _name(path: str) -> str:
    return "standard output" if path == STDOUT else path


def failure(path: str, e: OSError) -> OutputError:
    """One line for an OSError while creating or writing ``path``."""
    why = {
        errno.ENOENT: "no such folder",
        errno.EISDIR: "is a folder",
        errno.ENAMETOOLONG: "name too long",
        errno.ENOSPC: "no space left on the device",
        errno.EFBIG: "file too large for the device or the size limit",
        errno.EDQUOT: "disk quota exceeded",
        errno.EBADF: "closed",
    }.get(e.errno or 0, e.strerror or str(e))
    return OutputError(f"{_name(path)}: cannot write: {why}")


def input_ids(inputs: Iterable[str]) -> set[tuple[int, int]]:
    """(device, inode) of every input that exists; ``-`` is standard input
    (a file redirected into it is an input too)."""
    ids: set[tuple[int, int]] = set()
    for p in inputs:
        try:
            st = os.fstat(0) if p == "-" else os.stat(p)
        except (OSError, ValueError):
            continue
        ids.add((st.st_dev, st.st_ino))
    return ids


def check(path: str, *, force: bool = False, inputs: Iterable[str] = ()) -> os.stat_result | None:
    """Why ``path`` must not be written, as an ``OutputError``; else its
    lstat (None when nothing is there). Nothing is created."""
    if path == STDOUT:
        return None
    if not path or os.path.basename(path) in ("", ".", ".."):
        raise OutputError(f"{path or repr(path)}: give a file name, not a folder")
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise failure(path, e) from None
    ids = input_ids(inputs)
    try:
        target = os.stat(path)  # through a link: the file it names
    except OSError:
        target = lst  # dangling
    if (lst.st_dev, lst.st_ino) in ids or (target.st_dev, target.st_ino) in ids:
        raise OutputError(f"{path}: is an input of this command; choose another output")
    if stat.S_ISDIR(target.st_mode):
        raise OutputError(f"{path}: is a folder; give a file name")
    if not force:
        what = "a dangling symlink" if stat.S_ISLNK(lst.st_mode) and target is lst else "exists"
        raise OutputError(f"{path}: {what}; use --force to overwrite it")
    return lst


class _File(io.FileIO):
    """A file whose write errors name the output path."""

    def __init__(self, fd: int, label: str) -> None:
        super().__init__(fd, "wb", closefd=True)
        self.label = label

    def write(self, b: object) -> int:
        try:
            return super().write(b)  # type: ignore[arg-type]
        except BrokenPipeError:
            raise
        except OSError as e:
            raise failure(self.label, e) from None


class OutputFile:
    """``with OutputFile(path, force=..., inputs=...) as fh:`` write to fh;
    the output appears when the block ends without an exception (or at
    ``commit()``), and not at all otherwise (``abort()``)."""

    def __init__(self, path: str, *, force: bool = False, inputs: Iterable[str] = ()) -> None:
        self.path = path
        self.force = force
        self.inputs = tuple(inputs)
        self.tmp: str | None = None  # the temporary file, until renamed
        self.fh: BinaryIO | None = None
        self._direct = False  # a device or FIFO written in place, or stdout

    def open(self) -> BinaryIO:
        lst = check(self.path, force=self.force, inputs=self.inputs)
        if self.path == STDOUT:
            if sys.stdout is None:
                raise OutputError("standard output: cannot write: closed")
            if sys.stdout.isatty():  # a capture's bytes would drive the terminal
                raise OutputError("standard output is a terminal; redirect it to a file or a pipe")
            sys.stdout.flush()
            self._direct = True
            self.fh = io.BufferedWriter(_File(os.dup(sys.stdout.fileno()), STDOUT), 1 << 16)
            return self.fh
        if lst is not None and not stat.S_ISREG(lst.st_mode) and not stat.S_ISLNK(lst.st_mode):
            # A device or a FIFO (force was given): write to it, never replace it.
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
            except OSError as e:
                raise failure(self.path, e) from None
            self._direct = True
            self.fh = io.BufferedWriter(_File(fd, self.path), 1 << 16)
            return self.fh
        folder, base = os.path.split(self.path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        for _ in range(8):
            tmp = os.path.join(folder, f".{base[:_TMP_STEM]}.{os.urandom(4).hex()}.tmp")
            try:
                fd = os.open(tmp, flags, 0o666)
            except FileExistsError:
                continue  # someone else's file: never touched
            except OSError as e:
                raise failure(self.path, e) from None
            self.tmp = tmp
            if lst is not None and stat.S_ISREG(lst.st_mode):
                # a replaced file keeps its permissions: a 0600 capture must
                # not come back readable by all (a decrypted one least of all)
                os.fchmod(fd, stat.S_IMODE(lst.st_mode))
            self.fh = io.BufferedWriter(_File(fd, self.path), 1 << 16)
            return self.fh
        raise OutputError(f"{self.path}: cannot write: no free temporary name in its folder")

    def commit(self) -> None:
        """Flush, fsync and rename the temporary file onto the path."""
        fh = self.fh
        if fh is None:
            return
        try:
            fh.flush()
            if self.tmp is not None:
                os.fsync(fh.fileno())
            fh.close()
            self.fh = None
            if self.tmp is not None:
                self._rename()
                self.tmp = None
        except OutputError:
            self.abort()
            raise
        except BrokenPipeError:
            self.abort()
            raise
        except OSError as e:
            self.abort()
            raise failure(self.path, e) from None

    def _rename(self) -> None:
        """The temporary file becomes the path. Without ``force`` it is
        linked there, which fails if a file appeared since the check (a
        rename would replace it); with ``force``, renamed over it. The
        folder is then fsynced so the new name survives a crash."""
        assert self.tmp is not None
        if self.force:
            os.replace(self.tmp, self.path)
        else:
            try:
                os.link(self.tmp, self.path, follow_symlinks=False)
            except FileExistsError:
                raise OutputError(f"{self.path}: exists; use --force to overwrite it") from None
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                if os.path.lexists(self.path):  # a file system without hard links
                    raise OutputError(f"{self.path}: exists; use --force to overwrite it") from None
                os.replace(self.tmp, self.path)
            else:
                os.unlink(self.tmp)
        try:
            dfd = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass  # some file systems cannot fsync a folder; the data itself is synced
        finally:
            os.close(dfd)

    def abort(self) -> None:
        """Close and remove the temporary file; the old output stays."""
        if self.fh is not None:
            try:
                self.fh.close()
            except (OSError, OutputError):
                pass  # flushing its buffer is what failed; the file is closed all the same
            self.fh = None
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = None

    def __enter__(self) -> BinaryIO:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


class OutputSet:
    """Several files of one result (``generate``'s capture, keys, truth,
    narrative): all are checked before any is written, each is written to
    its own temporary file, and they are renamed into place together once
    every one is complete; a failure leaves none of them."""

    def __init__(self, paths: Iterable[str], *, force: bool = False, inputs: Iterable[str] = ()) -> None:
        self.files = [OutputFile(p, force=force, inputs=inputs) for p in paths]
        for f in self.files:
            if f.path == STDOUT:
                raise OutputError("-: these outputs are several files; give a name")
            check(f.path, force=force, inputs=f.inputs)

    def open(self, i: int) -> BinaryIO:
        return self.files[i].open()

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None:
            for f in self.files:
                f.abort()
            return
        for f in self.files:  # every file complete and on disk before any is renamed
            if f.fh is None:
                continue
            try:
                f.fh.flush()
                os.fsync(f.fh.fileno())
            except (OutputError, OSError) as e:
                for g in self.files:
                    g.abort()
                if isinstance(e, OutputError):
                    raise
                raise failure(f.path, e) from None
        for f in self.files:
            f.commit()
