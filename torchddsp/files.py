"""One rule for every file a command writes: checked before any work, never an input, written atomically.

A command calls :func:`check_output` for each output file as soon as it has parsed its arguments,
so a mistake (an output that is one of the inputs, a missing extension, a folder in the way, a
folder that cannot be written) is a one-line error before minutes of training or analysis, and
no input is ever overwritten. The missing parent folders of an output are created.

:func:`write_atomically` then replaces the file in one step: the content goes to a hidden
temporary file beside it and is renamed over the target, so a crash or a full disk leaves either
the old file or the new one, never a torn one, and never a temporary file behind.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(name: str, path: str | Path, *, inputs: Iterable[str | Path] = (),
                 suffixes: tuple[str, ...] = ()) -> Path:
    """Check an output file path before any work and create its missing parent folders.

    Args:
        name: the argument's name, for messages.
        path: the file to write.
        inputs: files and folders the command reads; ``path`` must not be one of them or lie
            inside one of the folders.
        suffixes: accepted extensions (lower case, with the dot); empty: any.

    Returns the path. Raises ``ValueError`` naming ``name`` with what was expected and received.
    """
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{name}: expected a file name ending in {' or '.join(suffixes)}, received {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{name}: expected a file to write, received the folder {str(path)!r}")
    for source in inputs:
        source = Path(source)
        if _same_file(path, source):
            raise ValueError(f"{name}: {str(path)!r} is also an input of this command; choose another output "
                             "so the input is not overwritten")
        if source.is_dir() and path.resolve().is_relative_to(source.resolve()):
            raise ValueError(f"{name}: {str(path)!r} lies inside the input folder {str(source)!r}; "
                             "write it somewhere else")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{name}: cannot create the folder {str(parent)!r} ({error.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{name}: the folder {str(parent)!r} is not writable")
    return path


def check_output_folder(name: str, path: str | Path) -> Path:
    """Check a folder a command writes into, before any work: it may be missing (it is created later)
    but not an existing file. Raises ``ValueError`` naming ``name``; returns the path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: expected a folder to write into, received the existing file {str(path)!r}; "
                         "choose another name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{name}: {str(parent)!r} in {str(path)!r} is a file, not a folder")
            break
    return path


def usual_mode(directory: bool = False) -> int:
    """The permissions an ordinary new file (``0666``) or folder (``0777``) gets under the process umask.

    Temporary files and folders are created private (``0600`` / ``0700``); what is renamed into place
    gets these instead.
    """
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)`` and rename the result over ``path`` in one step.

    The temporary file sits beside ``path`` (same folder, so the rename is atomic), is hidden and
    keeps ``path``'s extension (writers that infer the format from it still work). It is removed
    when ``write`` fails, whatever the error (a full disk included). The new file gets the usual
    permissions of a new file (``0666`` less the umask), not the temporary file's ``0600``.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(handle)
    temporary = Path(temporary)
    try:
        write(temporary)
        with open(temporary, "rb") as written:      # on disk before the rename makes it the file
            os.fsync(written.fileno())
        os.chmod(temporary, usual_mode())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.[^./]*)?")    # what write_atomically names its files


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that writes killed mid-way (``kill -9``, power loss) left in ``folder``.

    Only names :func:`write_atomically` makes (``.NAME.XXXXXXXX.tmp.EXT``) are removed. Call it when no
    other process writes into ``folder``. Returns what was removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.iterdir() if TEMPORARY_NAME.fullmatch(p.name) and p.is_file() and not p.is_symlink()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def reserve_space(handle: int, size: int, path: str | Path | None = None) -> None:
    """Allocate ``size`` bytes of the open file ``handle`` on disk now, so a full disk is an ``OSError``
    (``ENOSPC``, naming ``path``) here rather than a ``SIGBUS`` when a memory map of the file is written.

    A no-op where the platform has no ``posix_fallocate``.
    """
    if size > 0 and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(handle, 0, size)
        except OSError as error:
            raise OSError(error.errno, error.strerror, None if path is None else str(path)) from None


def write_text_atomically(path: str | Path, text: str) -> None:
    """Replace ``path`` by a UTF-8 text file holding ``text`` (see :func:`write_atomically`)."""
    write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
