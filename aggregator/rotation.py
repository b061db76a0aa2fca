"""Find a source file again after rotation moved it away from its source pattern.

A file renamed by logrotate keeps its device and inode, and a copy or a
compressed generation keeps its first line. So the renamed file is looked up
in the folder where it was last seen: first by device and inode, then among
the files whose names start with its base name (`bot.jsonl.1`,
`bot.jsonl.1.gz`, `bot.jsonl-20261201`), by fingerprint.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from aggregator.checkpoints import Checkpoint
from aggregator.source_files import OpenedSource

# logrotate's suffixes: a generation number, a date, and compression.
_ROTATION_SUFFIX_RE = re.compile(r"(?:[.-]\d+)*(?:\.gz)?$")


def rotation_base_name(name: str) -> str:
    """Return `name` without logrotate suffixes: `bot.jsonl.2.gz` gives `bot.jsonl`."""
    return _ROTATION_SUFFIX_RE.sub("", name) or name


def find_rotated(checkpoint: Checkpoint) -> OpenedSource | None:
    """Find and open the file of `checkpoint` in the folder where it was last seen.

    Returns None when no file in that folder has the checkpoint's
    fingerprint, for example after it was deleted or moved to another folder.
    """
    if checkpoint.path is None:
        return None

    last_path = Path(checkpoint.path)
    try:
        entries = sorted(os.scandir(last_path.parent), key=lambda entry: entry.name)
    except OSError:
        return None

    same_inode = [entry for entry in entries if _has_inode(entry, checkpoint)]
    base_name = rotation_base_name(last_path.name)
    generations = [
        entry
        for entry in entries
        if entry.name.startswith(base_name) and entry not in same_inode
    ]
    for entry in (*same_inode, *generations):
        source = _open_if_same_content(Path(entry.path), checkpoint.fingerprint)
        if source is not None:
            return source

    return None


def _has_inode(entry: os.DirEntry[str], checkpoint: Checkpoint) -> bool:
    try:
        status = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    return (status.st_dev, status.st_ino) == (checkpoint.device, checkpoint.inode)


def _open_if_same_content(path: Path, fingerprint: str) -> OpenedSource | None:
    if not path.is_file():
        return None

    try:
        source = OpenedSource.open(path)
    except OSError:
        return None

    if source.fingerprint() == fingerprint:
        return source

    source.close()
    return None
