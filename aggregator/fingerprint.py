"""Identify a log file by its content: a hash of its first complete line.

Device and inode numbers are reused after a file is deleted, and a rotated copy
or a compressed generation of a file has new ones. The first line of a file
does not change while the file grows, so its hash recognises the same content
under another name or inode. A `.gz` file is fingerprinted on its decompressed
content, so it matches the plain file it was compressed from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# A first line longer than this is cut here for the hash; such a line is
# rejected as too long anyway, and the file stays recognisable.
MAX_FINGERPRINT_BYTES = 1024 * 1024 + 4096

_PREFIX = "b2:"


def fingerprint_content(chunks: Iterable[bytes]) -> str | None:
    """Hash the content up to the newline that ends its first non-blank line.

    Leading blank lines are part of the hash, so a file that starts with them
    does not match one that starts with its first line.

    Returns:
        `b2:` and 32 hex digits (BLAKE2b, 16 bytes), or None while the file
        has no complete non-blank line: such a file is not identified yet.
    """
    hasher = hashlib.blake2b(digest_size=16)
    hashed_bytes = 0
    line_has_text = False
    for chunk in chunks:
        start = 0
        while start < len(chunk):
            newline = chunk.find(b"\n", start)
            end = len(chunk) if newline < 0 else newline + 1
            end = min(end, start + MAX_FINGERPRINT_BYTES - hashed_bytes)
            if end <= newline:
                newline = -1
            piece = chunk[start:end]
            hasher.update(piece)
            hashed_bytes += len(piece)
            line_has_text = line_has_text or bool(piece.strip())

            if newline >= 0 and line_has_text:
                return _PREFIX + hasher.hexdigest()

            if hashed_bytes >= MAX_FINGERPRINT_BYTES:
                return _PREFIX + hasher.hexdigest()

            start = end

    return None
