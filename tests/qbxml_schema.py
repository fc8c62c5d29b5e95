"""The official qbXML 13.0 schema, loaded once per test process, and an assertion that uses it.

The XSD lives outside the repository, in `shared/reference/qbxml/xsd/13.0/` beside the clone
(CI checks the repository out next to `shared/`). Set PAYSYNC_QBXML_XSD_DIR to the folder that
holds `qbxmlops130.xsd` to use another copy. Without it, every test that needs the schema skips
with the reason (fails, under PAYSYNC_REQUIRE_SHARED=1): see tests/shared_reference.py.
"""

from __future__ import annotations

from functools import lru_cache

import xmlschema

from tests.shared_reference import DEFAULT_XSD_DIR, XSD_DIR_ENV, XSD_ENTRY_POINT, qbxml_xsd_path

__all__ = [
    "DEFAULT_XSD_DIR",
    "XSD_DIR_ENV",
    "XSD_ENTRY_POINT",
    "assert_valid_qbxml",
    "qbxml_errors",
    "qbxml_schema",
    "qbxml_xsd_path",
]


@lru_cache(maxsize=1)
def qbxml_schema() -> xmlschema.XMLSchema:
    """The parsed schema. Loading takes a few seconds, so it is cached for the whole process (a
    missing schema raises the skip or failure, which is not cached)."""
    return xmlschema.XMLSchema(str(qbxml_xsd_path()))


def qbxml_errors(doc: str) -> list[str]:
    """Readable schema errors for a qbXML document (empty when it is valid)."""
    return [f"{error.reason} (at {error.path})" for error in qbxml_schema().iter_errors(doc)]


def assert_valid_qbxml(doc: str) -> None:
    errors = qbxml_errors(doc)
    if errors:
        listing = "\n  - ".join(errors)
        raise AssertionError(f"document is not valid qbXML 13.0:\n  - {listing}\n--- document ---\n{doc}")
