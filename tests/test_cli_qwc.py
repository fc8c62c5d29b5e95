"""`paysync qwc`: the file the IT person loads into the QuickBooks Web Connector."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from console.cli import main

EXPECTED_ORDER = [
    "AppName",
    "AppID",
    "AppURL",
    "AppDescription",
    "AppSupport",
    "UserName",
    "OwnerID",
    "FileID",
    "QBType",
    "PersonalDataPref",
    "UnattendedModePref",
    "Scheduler",
    "IsReadOnly",
]
GUID = re.compile(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}")


def _qwc(capsys: pytest.CaptureFixture[str], env_file: Path, *extra: str) -> ET.Element:
    assert main(["--env-file", str(env_file), "qwc", *extra]) == 0
    return ET.fromstring(capsys.readouterr().out)


def test_the_qwc_file_has_the_web_connector_elements_in_order(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = clean_env(QBWC_USERNAME="qb-sync", QBWC_PUBLIC_URL="https://pay.example.com/qbwc")

    root = _qwc(capsys, env_file)

    assert root.tag == "QBWCXML"
    assert [child.tag for child in root] == EXPECTED_ORDER
    assert root.findtext("AppName") == "PaySync"
    assert root.findtext("AppID") == ""
    assert root.findtext("AppURL") == "https://pay.example.com/qbwc"
    assert root.findtext("AppSupport") == "https://pay.example.com/qbwc?wsdl"
    assert root.findtext("UserName") == "qb-sync"
    assert GUID.fullmatch(root.findtext("OwnerID") or "")
    assert GUID.fullmatch(root.findtext("FileID") or "")
    assert root.findtext("QBType") == "QBFS"
    assert root.findtext("IsReadOnly") == "true"
    assert root.findtext("Scheduler/RunEveryNMinutes") == "15"  # hourly: poll every 15 minutes
    assert "QBWC_PASSWORD" not in ET.tostring(root, encoding="unicode")


def test_the_identifiers_are_stable_and_differ_per_company_file(
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'paysync.db'}")
    first = _qwc(capsys, env_file)
    again = _qwc(capsys, env_file)
    assert main(["--env-file", str(env_file), "qwc", "--company", "second"]) == 2
    assert "No company file 'second'" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("second-file-secret\n"))
    added = ["company", "add", "second", "--name", "Second LLC", "--procore-project-ids", "7"]
    assert main(["--env-file", str(env_file), *added]) == 0
    capsys.readouterr()
    other = _qwc(capsys, env_file, "--company", "second")

    assert first.findtext("FileID") == again.findtext("FileID")
    assert first.findtext("OwnerID") == again.findtext("OwnerID") == other.findtext("OwnerID")
    assert first.findtext("FileID") != other.findtext("FileID")
    # The Web Connector refuses two applications of one name, and each file logs in as its own user.
    assert (first.findtext("AppName"), other.findtext("AppName")) == ("PaySync", "PaySync (second)")
    assert other.findtext("UserName") == "paysync-second" != first.findtext("UserName")
    # Without a public URL or TLS the endpoint is plain HTTP on localhost, which QBWC accepts.
    assert first.findtext("AppURL") == "http://localhost:8085/qbwc"


@pytest.mark.parametrize(("schedule", "minutes"), [("*/5 * * * *", "5"), ("daily", "15"), ("never", "15")])
def test_the_poll_interval_follows_the_schedule(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], schedule: str, minutes: str
) -> None:
    root = _qwc(capsys, clean_env(PAYSYNC_SCHEDULE=schedule))
    assert root.findtext("Scheduler/RunEveryNMinutes") == minutes


def test_output_to_a_file_and_an_escaped_user_name(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env_file = clean_env(QBWC_USERNAME="R&D <sync>")
    target = tmp_path / "paysync.qwc"

    assert main(["--env-file", str(env_file), "qwc", "--output", str(target)]) == 0

    assert "Add an application" in capsys.readouterr().err
    root = ET.fromstring(target.read_text(encoding="utf-8"))
    assert root.findtext("UserName") == "R&D <sync>"


def test_an_http_url_on_another_machine_is_warned_about(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = clean_env(QBWC_PUBLIC_URL="http://accounting-pc:8085/qbwc")
    assert main(["--env-file", str(env_file), "qwc"]) == 0
    assert "accepts http:// only for localhost" in capsys.readouterr().err


def test_an_invalid_schedule_is_refused(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = clean_env(PAYSYNC_SCHEDULE="twice a day")
    assert main(["--env-file", str(env_file), "qwc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paysync: PAYSYNC_SCHEDULE='twice a day' is not a schedule PaySync understands")
    assert "Traceback" not in err
