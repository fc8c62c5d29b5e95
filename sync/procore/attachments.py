"""What a file must be to be attached to a Procore payment: one definition, for the engine (which
uploads it) and the console (which checks it before asking).

Attachments are allowed on a locked (synced) payment (API-NOTES: `attachments[]`, multipart). The
types and the 25 MB size are Procore's limits for an uploaded document.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
ALLOWED_ATTACHMENT_TYPES: dict[str, str] = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".txt": "text/plain",
}


def check_attachment(path: Path) -> int:
    """The file's size in bytes; ValueError, saying what is wrong and what to do, for a file that
    is missing, of a type Procore does not take, too large or empty."""
    if not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file: pick an existing file.")
    suffix = path.suffix.lower()
    if suffix not in ALLOWED_ATTACHMENT_TYPES:
        raise ValueError(
            f"{path.name}: files of type {suffix or '(none)'} cannot be attached. Allowed: "
            + ", ".join(sorted(s.lstrip(".") for s in ALLOWED_ATTACHMENT_TYPES))
            + "."
        )
    size = path.stat().st_size
    if size > MAX_ATTACHMENT_BYTES:
        raise ValueError(
            f"{path.name} is {size / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_ATTACHMENT_BYTES // 1024 // 1024} MB. Compress or split it."
        )
    if size == 0:
        raise ValueError(f"{path.name} is empty: pick the file with the content.")
    return size


def content_type(path: Path) -> str:
    """The MIME type the upload declares."""
    return (
        ALLOWED_ATTACHMENT_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )
