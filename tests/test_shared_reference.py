"""Tests that need files from ../shared skip, with the reason, when the files are absent; fail
instead under PAYSYNC_REQUIRE_SHARED=1 (as in CI); and get the path when the files are there.

Outcomes are caught as either kind and their type asserted, so a lookup that skipped where it
should fail makes these tests fail rather than skip.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import shared_reference
from tests.conftest import _end_as_missing_shared_file
from tests.shared_reference import (
    REQUIRE_SHARED_ENV,
    WSDL_ENV,
    XSD_DIR_ENV,
    intuit_wsdl_path,
    qbxml_xsd_path,
)

pytestmark = pytest.mark.shared_reference_selftest

Skipped = pytest.skip.Exception
Failed = pytest.fail.Exception


def outcome(action: Callable[[], object]) -> BaseException:
    """The skip or failure `action` raised (a test failure if it raised neither)."""
    try:
        action()
    except (Skipped, Failed) as raised:
        return raised
    raise AssertionError("expected a skip or a failure, got none")


def skip_reason(action: Callable[[], object]) -> str:
    raised = outcome(action)
    assert isinstance(raised, Skipped), f"expected a skip, got {raised!r}"
    return str(raised.msg)


def failure_reason(action: Callable[[], object]) -> str:
    raised = outcome(action)
    assert isinstance(raised, Failed), f"expected a failure, got {raised!r}"
    assert raised.pytrace is False
    return str(raised.msg)


@pytest.fixture
def optional(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_SHARED_ENV, raising=False)


@pytest.fixture
def required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_SHARED_ENV, "1")


@pytest.fixture
def fake_tree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clone at tmp_path/clone with (so far) nothing beside it; returns tmp_path."""
    monkeypatch.delenv(XSD_DIR_ENV, raising=False)
    monkeypatch.delenv(WSDL_ENV, raising=False)
    shared = tmp_path / "shared"
    monkeypatch.setattr(shared_reference, "REPO_ROOT", tmp_path / "clone")
    monkeypatch.setattr(shared_reference, "SHARED_DIR", shared)
    monkeypatch.setattr(shared_reference, "DEFAULT_XSD_DIR", shared / "reference/qbxml/xsd/13.0")
    monkeypatch.setattr(shared_reference, "DEFAULT_WSDL", shared / "reference/qbxml/wsdl/intuit.wsdl")
    return tmp_path


XSD_ABSENT = (
    "needs the official qbXML 13.0 schema from ../shared/reference/qbxml/xsd/13.0/qbxmlops130.xsd "
    "(absent: this clone has no shared/ beside it)"
)
LOOKUPS: list[tuple[str, Callable[[], Path], str]] = [
    (XSD_DIR_ENV, qbxml_xsd_path, "the official qbXML 13.0 schema"),
    (WSDL_ENV, intuit_wsdl_path, "Intuit's Web Connector WSDL"),
]


@pytest.mark.parametrize(("env", "lookup", "what"), LOOKUPS, ids=["xsd", "wsdl"])
def test_an_override_pointing_at_nothing_skips_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    optional: None,
    env: str,
    lookup: Callable[[], Path],
    what: str,
) -> None:
    monkeypatch.setenv(env, str(tmp_path / "nowhere"))
    reason = skip_reason(lookup)
    assert reason.startswith(f"needs {what} from {tmp_path / 'nowhere'}")
    assert reason.endswith(f"(absent: {env} points there and no such file exists)")


@pytest.mark.parametrize(("env", "lookup", "what"), LOOKUPS, ids=["xsd", "wsdl"])
def test_an_override_pointing_at_nothing_fails_when_shared_files_are_required(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    required: None,
    env: str,
    lookup: Callable[[], Path],
    what: str,
) -> None:
    monkeypatch.setenv(env, str(tmp_path / "nowhere"))
    reason = failure_reason(lookup)
    assert reason.startswith(f"needs {what} from {tmp_path / 'nowhere'}")
    assert reason.endswith(f"no such file exists); {REQUIRE_SHARED_ENV}=1 forbids skipping it")


def test_a_folder_is_not_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, optional: None) -> None:
    monkeypatch.setenv(WSDL_ENV, str(tmp_path))
    (tmp_path / "qbxmlops130.xsd").mkdir()
    monkeypatch.setenv(XSD_DIR_ENV, str(tmp_path))
    assert skip_reason(intuit_wsdl_path).startswith("needs Intuit's Web Connector WSDL")
    assert skip_reason(qbxml_xsd_path).startswith("needs the official qbXML 13.0 schema")


def test_the_reason_says_whether_shared_is_missing_or_incomplete(fake_tree: Path, optional: None) -> None:
    assert skip_reason(qbxml_xsd_path) == XSD_ABSENT
    (fake_tree / "shared").mkdir()
    assert skip_reason(intuit_wsdl_path) == (
        "needs Intuit's Web Connector WSDL from ../shared/reference/qbxml/wsdl/intuit.wsdl "
        "(absent: ../shared exists but lacks this file)"
    )


def test_required_mode_fails_with_the_same_message(fake_tree: Path, required: None) -> None:
    assert failure_reason(qbxml_xsd_path) == f"{XSD_ABSENT}; {REQUIRE_SHARED_ENV}=1 forbids skipping it"


@pytest.mark.parametrize("mode", ["optional", "required"])
def test_present_files_are_returned_in_either_mode(
    fake_tree: Path, request: pytest.FixtureRequest, mode: str
) -> None:
    request.getfixturevalue(mode)
    xsd = fake_tree / "shared/reference/qbxml/xsd/13.0/qbxmlops130.xsd"
    wsdl = fake_tree / "shared/reference/qbxml/wsdl/intuit.wsdl"
    for path in (xsd, wsdl):
        path.parent.mkdir(parents=True)
        path.write_text("<x/>")
    assert qbxml_xsd_path() == xsd
    assert intuit_wsdl_path() == wsdl


def test_the_real_files_are_found_where_the_suite_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Skips (or, under .ci/run with ../shared present, fails) like every other test without them.
    monkeypatch.delenv(XSD_DIR_ENV, raising=False)
    monkeypatch.delenv(WSDL_ENV, raising=False)
    assert qbxml_xsd_path() == shared_reference.DEFAULT_XSD_DIR / "qbxmlops130.xsd"
    assert intuit_wsdl_path() == shared_reference.DEFAULT_WSDL
    assert qbxml_xsd_path().is_file() and intuit_wsdl_path().is_file()


# ---- a failure after a lookup in another thread (conftest.py) ------------------------------------


def _fail_after_a_lookup_in_a_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What a test does when a server thread's lookup turned into a 500: it fails on something else."""
    phase = _end_as_missing_shared_file()
    next(phase)

    def server() -> None:
        try:
            intuit_wsdl_path()
        except BaseException:  # a server turns the skip into a 500
            pass

    monkeypatch.setenv(WSDL_ENV, str(tmp_path / "nowhere.wsdl"))
    thread = threading.Thread(target=server)
    thread.start()
    thread.join()
    phase.throw(AssertionError("assert 'soap_fault' == 'done'"))


def test_a_failure_after_a_lookup_in_another_thread_becomes_the_skip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, optional: None
) -> None:
    reason = skip_reason(lambda: _fail_after_a_lookup_in_a_thread(monkeypatch, tmp_path))
    assert reason.startswith("needs Intuit's Web Connector WSDL")


def test_a_failure_after_a_lookup_in_another_thread_becomes_the_failure_when_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, required: None
) -> None:
    reason = failure_reason(lambda: _fail_after_a_lookup_in_a_thread(monkeypatch, tmp_path))
    assert reason.startswith("needs Intuit's Web Connector WSDL")
    assert reason.endswith(f"{REQUIRE_SHARED_ENV}=1 forbids skipping it")


def test_other_failures_are_left_alone(optional: None) -> None:
    phase = _end_as_missing_shared_file()
    next(phase)
    with pytest.raises(AssertionError, match="unrelated"):
        phase.throw(AssertionError("unrelated"))


def test_the_lookups_own_failure_passes_through_unchanged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, required: None
) -> None:
    monkeypatch.setenv(XSD_DIR_ENV, str(tmp_path))
    phase = _end_as_missing_shared_file()
    next(phase)
    original = outcome(qbxml_xsd_path)
    assert outcome(lambda: phase.throw(original)) is original


def test_clean_env_keeps_the_harness_settings(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv(REQUIRE_SHARED_ENV, "1")
    monkeypatch.setenv(XSD_DIR_ENV, "/somewhere")
    monkeypatch.setenv("PAYSYNC_SOMETHING_ELSE", "x")
    request.getfixturevalue("clean_env")
    assert os.environ[REQUIRE_SHARED_ENV] == "1"
    assert os.environ[XSD_DIR_ENV] == "/somewhere"
    assert "PAYSYNC_SOMETHING_ELSE" not in os.environ
