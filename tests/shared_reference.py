"""Reference files the tests read from `shared/` beside the clone, which is not part of the repository.

CI checks the repository out next to `shared/`; a user's clone usually has nothing beside it. A
test that needs one of these files asks `require_shared_file` (directly, or through
`qbxml_xsd_path` / `intuit_wsdl_path`), which returns the path when the file is there and
otherwise skips the test with a reason naming the file and why it is absent. With
PAYSYNC_REQUIRE_SHARED=1 (set by .ci/run whenever `../shared` exists) it fails the test with the
same message instead, so CI can never silently skip them.

A missing file is also recorded, so a test that fails after a lookup in another thread (a server
under test that answered with a 500, say) still ends as that skip or failure: see conftest.py.

Overrides, for another copy or to simulate absence:
- PAYSYNC_QBXML_XSD_DIR: the folder that holds `qbxmlops130.xsd`;
- PAYSYNC_QBWC_WSDL: the WSDL file itself.

`python -m tests.shared_reference` prints the `shared/` folder these defaults use (.ci/run asks it,
so its decision and the tests' lookups agree).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"

REQUIRE_SHARED_ENV = "PAYSYNC_REQUIRE_SHARED"
XSD_DIR_ENV = "PAYSYNC_QBXML_XSD_DIR"
WSDL_ENV = "PAYSYNC_QBWC_WSDL"
# PAYSYNC_KEY_FILE: conftest points the secret key of every test at a temporary file (never the
# user's own configuration folder); clean_env keeps it.
HARNESS_ENV = (REQUIRE_SHARED_ENV, XSD_DIR_ENV, WSDL_ENV, "PAYSYNC_KEY_FILE")

XSD_ENTRY_POINT = "qbxmlops130.xsd"
DEFAULT_XSD_DIR = SHARED_DIR / "reference" / "qbxml" / "xsd" / "13.0"
DEFAULT_WSDL = (
    SHARED_DIR / "reference" / "qbxml" / "wsdl" / "intuit-TroubleshootWebServiceFS-QBWebConnectorSvc.wsdl"
)

_missing: list[str] = []
_missing_lock = threading.Lock()


def shared_required() -> bool:
    return os.environ.get(REQUIRE_SHARED_ENV) == "1"


def missing_since(mark: int) -> list[str]:
    """The distinct messages recorded after the first `mark` (an earlier `missing_count()`)."""
    with _missing_lock:
        return list(dict.fromkeys(_missing[mark:]))


def missing_count() -> int:
    with _missing_lock:
        return len(_missing)


def _shown(path: Path) -> str:
    """`../shared/...` for a file in the default place, the path itself otherwise."""
    try:
        return f"../{path.relative_to(REPO_ROOT.parent).as_posix()}"
    except ValueError:
        return str(path)


def missing_message(path: Path, what: str, set_by: str | None = None) -> str:
    if set_by is not None:
        why = f"{set_by} points there and no such file exists"
    elif not SHARED_DIR.is_dir():
        why = "this clone has no shared/ beside it"
    else:
        why = f"{_shown(SHARED_DIR)} exists but lacks this file"
    return f"needs {what} from {_shown(path)} (absent: {why})"


def require_shared_file(path: Path, what: str, *, set_by: str | None = None) -> Path:
    """`path` if it is a file; otherwise skip the test (fail it when PAYSYNC_REQUIRE_SHARED=1).

    `what` names the file for people ("the official qbXML 13.0 schema"); `set_by` is the
    environment variable `path` came from, if any.
    """
    if path.is_file():
        return path
    message = missing_message(path, what, set_by)
    with _missing_lock:
        _missing.append(message)
    skip_or_fail(message)


def failure_message(message: str) -> str:
    return f"{message}; {REQUIRE_SHARED_ENV}=1 forbids skipping it"


def skip_or_fail(message: str) -> NoReturn:
    """pytest.skip(message), or pytest.fail when PAYSYNC_REQUIRE_SHARED=1."""
    if shared_required():
        pytest.fail(failure_message(message), pytrace=False)
    pytest.skip(message)


def _overridable(env: str, default: Path) -> tuple[Path, str | None]:
    value = os.environ.get(env)
    return (Path(value), env) if value else (default, None)


def qbxml_xsd_path() -> Path:
    """The official qbXML 13.0 schema's entry point (`qbxmlops130.xsd`)."""
    folder, set_by = _overridable(XSD_DIR_ENV, DEFAULT_XSD_DIR)
    return require_shared_file(folder / XSD_ENTRY_POINT, "the official qbXML 13.0 schema", set_by=set_by)


def intuit_wsdl_path() -> Path:
    """Intuit's Web Connector WSDL (TroubleshootWebServiceFS)."""
    path, set_by = _overridable(WSDL_ENV, DEFAULT_WSDL)
    return require_shared_file(path, "Intuit's Web Connector WSDL", set_by=set_by)


if __name__ == "__main__":
    print(SHARED_DIR)
