"""Replace a file atomically, so that readers see the old or the new file whole."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600


def replace_file(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Write `data` to a temporary file beside `path`, fsync it and rename it.

    The temporary file, `.<name>.<random>`, gets `mode` and is removed when any
    step fails, so a failed write leaves only the previous file. The folder is
    fsynced after the rename, so the new file survives a crash. A crash in the
    middle of the write can still leave the temporary file behind.

    Raises:
        OSError: the folder is missing, or a write, the rename or the folder
            fsync failed. `path` is unchanged unless only the folder fsync
            failed.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Fsync a folder, so that a file created or renamed in it survives a crash."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
