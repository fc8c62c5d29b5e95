"""The official qbXML 13.0 schema, loaded once per test process, and an assertion that uses it.

The XSD lives outside the repository, in `shared/reference/qbxml/xsd/13.0/` beside the clone
(CI checks the repository out next to `shared/`). Set PAYSYNC_QBXML_XSD_DIR to the folder that
holds `qbxmlops130.xsd` to use another copy.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import xmlschema

XSD_DIR_ENV = "PAYSYNC_QBXML_XSD_DIR"
XSD_ENTRY_POINT = "qbxmlops130.xsd"
DEFAULT_XSD_DIR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "qbxml" / "xsd" / "13.0"
)


def qbxml_xsd_path() -> Path:
    folder = Path(os.environ.get(XSD_DIR_ENV) or DEFAULT_XSD_DIR)
    path = folder / XSD_ENTRY_POINT
    if not path.is_file():
        raise FileNotFoundError(
            f"qbXML 13.0 schema not found at {path}. Check out `shared/` beside the repository, "
            f"or set {XSD_DIR_ENV} to the folder that holds {XSD_ENTRY_POINT}."
        )
    return path


@lru_cache(maxsize=1)
def qbxml_schema() -> xmlschema.XMLSchema:
    """The parsed schema. Loading takes a few seconds, so it is cached for the whole process."""
    return xmlschema.XMLSchema(str(qbxml_xsd_path()))


def qbxml_errors(doc: str) -> list[str]:
    """Readable schema errors for a qbXML document (empty when it is valid)."""
    return [f"{error.reason} (at {error.path})" for error in qbxml_schema().iter_errors(doc)]


def assert_valid_qbxml(doc: str) -> None:
    errors = qbxml_errors(doc)
    if errors:
        listing = "\n  - ".join(errors)
        raise AssertionError(f"document is not valid qbXML 13.0:\n  - {listing}\n--- document ---\n{doc}")
