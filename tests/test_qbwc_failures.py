"""End to end: what goes wrong between QuickBooks, the Web Connector and PaySync, and that each
failure is explained and loses nothing.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from console.cli import main
from sandbox.procore import create_procore_app
from sandbox.quickbooks import SandboxCompanyFile
from storage.models import (
    BillPayment,
    CompanyFile,
    ErrorEvent,
    LoginAttempt,
    QuickBooksWork,
    Watermark,
    WebConnectorSession,
)
from sync.quickbooks.webconnector.sessions import UNKNOWN_TICKET_MESSAGE
from tests.conftest import RunningFactory
from tests.support.procore_world import CLIENT_ID, CLIENT_SECRET, new_world
from tests.support.quickbooks_world import PASSWORD, USERNAME, add_vendor_with_bills, qbwc_world


def _pay(company: SandboxCompanyFile, count: int, vendor: str = "Acme Concrete") -> list[str]:
    company.add_vendor(vendor)
    paid = []
    for number in range(count):
        bill = company.add_bill(vendor, f"B-{number}", Decimal("100.00"))
        paid.append(company.pay_bills(vendor, [(bill, Decimal("100.00"))], check_number=str(number)))
    return paid


# ---------------------------------------------------------------------------------------------
# Edition and login


def test_a_canada_company_file_is_refused_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with qbwc_world(tmp_path, company=SandboxCompanyFile(country="CA")) as world:
        add_vendor_with_bills(world.company, "Maple Framing", "100.00")
        report = world.sync()

        assert report.outcome == "empty_request"
        assert report.requests == []  # nothing was asked of the Canadian file
        message = report.last_errors[0]
        assert "QuickBooks Desktop Canada edition (country CA)" in message
        assert "supports only the U.S. edition" in message
        company = CompanyFile.get(CompanyFile.file_key == "main")
        assert company.country == "CA"
        assert company.last_error == message
        assert ErrorEvent.select().where(ErrorEvent.message == message).count() == 1
        assert WebConnectorSession.get().state == "failed"
        assert BillPayment.select().count() == 0

        monkeypatch.setenv("PAYSYNC_DATABASE_URL", world.settings.database_url or "")
        monkeypatch.setenv("QBWC_PASSWORD", PASSWORD)
        assert main(["--env-file", os.devnull, "status", "--json"]) == 1  # Procore is not configured
        status = json.loads(capsys.readouterr().out)
        assert status["web_connector"]["company_files"][0]["country"] == "CA"
        assert status["web_connector"]["company_files"][0]["last_error"] == message
        assert status["errors"][0]["message"] == message


def test_a_wrong_password_gets_nvu_and_nothing_is_stored(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        _pay(world.company, 2)
        world.queue()

        report = world.session(password="wrong password")

        assert report.authenticate_result == ["", "nvu"]
        assert report.outcome == "not_valid_user"
        assert BillPayment.select().count() == 0
        assert WebConnectorSession.select().count() == 0
        assert QuickBooksWork.select().where(QuickBooksWork.status == "queued").count() == 4
        error = ErrorEvent.get()
        assert error.where == "qbwc"
        assert "the password typed into the Web Connector does not match QBWC_PASSWORD" in error.message
        assert [a.succeeded for a in LoginAttempt.select()] == [False]
        # A wrong user name is refused the same way.
        assert world.session(username="admin").authenticate_result == ["", "nvu"]


def test_repeated_wrong_passwords_pause_logins_from_that_address(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        _pay(world.company, 1)
        world.queue()
        for _ in range(5):
            assert world.session(password="guess").authenticate_result == ["", "nvu"]

        # Even the right password is not checked now.
        paused = world.session()
        assert paused.authenticate_result == ["", "nvu"]
        assert BillPayment.select().count() == 0
        pause = ErrorEvent.select().order_by(ErrorEvent.id.desc()).first()
        assert pause.message.startswith("Web Connector logins from 127.0.0.1 are paused until ")
        assert "Logins from other addresses go on as usual." in pause.message
        assert "retype" not in pause.message and "type the QBWC_PASSWORD" not in pause.message
        # Said once per window, however many more attempts come.
        for _ in range(3):
            world.session(password="guess")
        assert (
            ErrorEvent.select().where(ErrorEvent.message.startswith("Web Connector logins from")).count() == 1
        )

        world.clock.advance(minutes=11)
        assert world.session().outcome == "done"
        assert BillPayment.select().count() == 1


def test_the_stored_password_is_a_salted_hash_refreshed_when_the_setting_changes(tmp_path: Path) -> None:
    from storage.models import WebConnectorCredential
    from sync.quickbooks.webconnector.app import create_qbwc_app
    from sync.quickbooks.webconnector.passwords import verify_password

    with qbwc_world(tmp_path) as world:
        stored = WebConnectorCredential.get(WebConnectorCredential.username == USERNAME).password_hash
        assert PASSWORD not in stored
        assert stored.startswith("pbkdf2_sha256$")
        # Same password: left alone. New password: re-hashed with a new salt.
        create_qbwc_app(world.settings, password_iterations=1_000)
        assert WebConnectorCredential.get().password_hash == stored
        changed = world.settings.with_overrides(qbwc_password="a brand new password")
        create_qbwc_app(changed, password_iterations=1_000)
        rehashed = WebConnectorCredential.get().password_hash
        assert rehashed != stored
        assert verify_password("a brand new password", rehashed)
        assert not verify_password(PASSWORD, rehashed)


# ---------------------------------------------------------------------------------------------
# Tickets and sessions


def test_an_unknown_ticket_is_refused_and_explained(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        emulator = world.emulator()
        request = emulator.call(
            "sendRequestXML",
            ticket="not-a-ticket",
            strHCPResponse="",
            strCompanyFileName="",
            qbXMLCountry="US",
            qbXMLMajorVers=13,
            qbXMLMinorVers=0,
        )
        assert request.status_code == 200
        assert "<sendRequestXMLResult></sendRequestXMLResult>" in request.text
        received = emulator.call(
            "receiveResponseXML", ticket="not-a-ticket", response="", hresult="", message=""
        )
        assert "<receiveResponseXMLResult>-1</receiveResponseXMLResult>" in received.text
        last_error = emulator.call("getLastError", ticket="not-a-ticket")
        assert (
            "unknown or expired ticket — the Web Connector will start a new session at its next run"
            in last_error.text
        )


def test_an_idle_ticket_expires_after_thirty_minutes_and_its_work_is_requeued(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        _pay(world.company, 1)
        world.queue()
        emulator = world.emulator()
        ticket = emulator.call("authenticate", strUserName=USERNAME, strPassword=PASSWORD).text
        ticket = ticket.split("<string>")[1].split("</string>")[0]
        first = emulator.call(
            "sendRequestXML",
            ticket=ticket,
            strHCPResponse=world.company.hcp_response(),
            strCompanyFileName=world.company.company_file_path,
            qbXMLCountry="US",
            qbXMLMajorVers=13,
            qbXMLMinorVers=0,
        )
        assert "HostQueryRq" in first.text
        assert QuickBooksWork.get(QuickBooksWork.kind == "host").status == "in_progress"

        world.clock.advance(minutes=31)
        late = emulator.call("receiveResponseXML", ticket=ticket, response="", hresult="", message="")
        assert "<receiveResponseXMLResult>-1</receiveResponseXMLResult>" in late.text
        assert UNKNOWN_TICKET_MESSAGE in emulator.call("getLastError", ticket=ticket).text
        assert WebConnectorSession.get(WebConnectorSession.ticket == ticket).state == "expired"
        assert QuickBooksWork.get(QuickBooksWork.kind == "host").status == "queued"
        assert world.session().outcome == "done"


def test_nothing_queued_answers_none_then_paysync_sync_queues_work(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    running: RunningFactory,
) -> None:
    procore_world = new_world("Tower", company="Summit Builders")
    procore, project = procore_world.state, procore_world.project_id
    with qbwc_world(tmp_path) as world, running(create_procore_app(procore)) as procore_server:
        paid = _pay(world.company, 2)

        idle = world.session()
        assert idle.outcome == "no_work"
        assert idle.authenticate_result[0] != ""
        assert idle.authenticate_result[1] == "none"
        assert WebConnectorSession.get().state == "no_work"

        env = {
            "PAYSYNC_DATABASE_URL": world.settings.database_url or "",
            "QBWC_PASSWORD": PASSWORD,
            "PROCORE_API_BASE": procore_server.url,
            "PROCORE_LOGIN_BASE": procore_server.url,
            "PROCORE_CLIENT_ID": CLIENT_ID,
            "PROCORE_CLIENT_SECRET": CLIENT_SECRET,
            "PROCORE_COMPANY_ID": str(procore.company_id),
            "PROCORE_PROJECT_IDS": str(project),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert main(["--env-file", os.devnull, "sync"]) == 0
        printed = capsys.readouterr().out
        assert (
            "Queued for the Web Connector's next poll: host, payments_check, payments_credit_card, deleted"
            in printed
        )
        assert "The Web Connector last polled at 2026-11-02T14:00:00Z" in printed

        # Asking again does not queue duplicates.
        assert main(["--env-file", os.devnull, "sync"]) == 0
        assert "Already waiting: company-file check (queued)" in capsys.readouterr().out
        assert QuickBooksWork.select().count() == 4

        polled = world.session()
        assert polled.outcome == "done"
        assert {p.txn_id for p in BillPayment.select()} == set(paid)


def test_a_second_web_connector_is_told_busy_while_a_session_is_open(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        _pay(world.company, 1)
        world.queue()
        emulator = world.emulator()
        first = emulator.call("authenticate", strUserName=USERNAME, strPassword=PASSWORD)
        assert "<string></string>" in first.text.split("</string>", 1)[1]  # [1] == "": work to do

        second = world.session()
        assert second.authenticate_result == ["", "busy"]
        assert BillPayment.select().count() == 0

        world.clock.advance(minutes=31)  # the first Web Connector vanished; its session expires
        assert world.session().outcome == "done"


# ---------------------------------------------------------------------------------------------
# QuickBooks answers with an error


def test_a_locked_record_status_is_retried_and_recovers(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        paid = _pay(world.company, 3)
        world.company.inject_status(3175, times=2)

        report = world.sync()

        assert report.outcome == "done"
        check_queries = [r for r in report.requests if "<BillPaymentCheckQueryRq" in r]
        assert len(check_queries) == 3  # two refused, the third answered
        assert {p.txn_id for p in BillPayment.select()} == set(paid)
        assert QuickBooksWork.get(QuickBooksWork.kind == "payments_check").attempts == 2


def test_a_status_that_keeps_failing_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        _pay(world.company, 1)
        world.company.inject_status(3175, times=10)

        report = world.sync()

        assert report.outcome == "error"
        assert report.percents[-1] == -1
        assert "Gave up after 5 tries" in report.last_errors[0]
        assert "3175" in report.last_errors[0]
        assert QuickBooksWork.get(QuickBooksWork.kind == "payments_check").status == "failed"
        assert "3175" in (CompanyFile.get().last_error or "")
        assert "Stopped early" in (report.close_message or "")


def test_a_lost_iterator_restarts_the_query_and_loses_nothing(tmp_path: Path) -> None:
    class LosesIteratorsOnce(SandboxCompanyFile):
        payment_pages = 0

        def handle_qbxml(self, request_xml: str) -> str:
            if "<BillPaymentCheckQueryRq" in request_xml:
                self.payment_pages += 1
                if self.payment_pages == 3:
                    self.drop_iterators()  # QuickBooks restarted between page 2 and page 3
            return super().handle_qbxml(request_xml)

    company = LosesIteratorsOnce()
    paid = _pay(company, 25)
    with qbwc_world(tmp_path, company=company, max_returned=10) as world:
        report = world.sync()

        assert report.outcome == "done", report.last_errors
        check_queries = [r for r in report.requests if "<BillPaymentCheckQueryRq" in r]
        assert sum('iterator="Start"' in q for q in check_queries) == 2
        assert {p.txn_id for p in BillPayment.select()} == set(paid)
        assert report.close_message == "PaySync: 45 payments received (25 new, 0 changed), 0 deletions"


def test_a_status_error_fails_the_item_and_is_shown(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        _pay(world.company, 1)
        world.company.inject_status(3260, message="Insufficient permission level to perform this action.")

        report = world.sync()

        assert report.outcome == "error"
        assert "3260" in report.last_errors[0]
        assert "Insufficient permission level" in report.last_errors[0]
        assert CompanyFile.get().last_error == report.last_errors[0]
        assert QuickBooksWork.get(QuickBooksWork.kind == "payments_check").status == "failed"
        # The work the session did not reach waits for the next session.
        assert QuickBooksWork.get(QuickBooksWork.kind == "payments_credit_card").status == "queued"


def test_an_hresult_from_quickbooks_requeues_then_fails_after_three_attempts(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        world.queue()
        emulator = world.emulator()
        for attempt in (1, 2, 3):
            text = emulator.call("authenticate", strUserName=USERNAME, strPassword=PASSWORD).text
            ticket = text.split("<string>")[1].split("</string>")[0]
            request = emulator.call(
                "sendRequestXML",
                ticket=ticket,
                strHCPResponse=world.company.hcp_response() if attempt == 1 else "",
                strCompanyFileName="",
                qbXMLCountry="US",
                qbXMLMajorVers=13,
                qbXMLMinorVers=0,
            )
            assert "HostQueryRq" in request.text
            answer = emulator.call(
                "receiveResponseXML",
                ticket=ticket,
                response="",
                hresult="0x80040400",
                message="QuickBooks found an error when parsing the provided XML text stream.",
            )
            assert "<receiveResponseXMLResult>-1</receiveResponseXMLResult>" in answer.text
            last_error = emulator.call("getLastError", ticket=ticket).text
            assert "QuickBooks could not parse the request" in last_error
            emulator.call("closeConnection", ticket=ticket)
        host = QuickBooksWork.get(QuickBooksWork.kind == "host")
        assert (host.status, host.attempts) == ("failed", 3)
        assert ErrorEvent.select().where(ErrorEvent.message.contains("0x80040400")).count() == 3


def test_quickbooks_not_running_is_reported_through_connection_error(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        _pay(world.company, 1)
        world.company.refuse_connections()

        report = world.sync()

        assert report.outcome == "connection_error"
        assert report.connection_error_results == ["done"]
        error = CompanyFile.get().last_error or ""
        assert "0x80040401" in error and "Start QuickBooks" in error
        # Nothing was lost: the next run, with QuickBooks open, does the work.
        world.company.accept_connections()
        world.clock.advance(minutes=1)
        assert world.session().outcome == "done"
        assert BillPayment.select().count() == 1


def test_a_session_that_dies_midway_leaves_the_watermark_and_the_next_one_rereads(tmp_path: Path) -> None:
    company = SandboxCompanyFile()
    first_batch = _pay(company, 2)
    with qbwc_world(tmp_path, company=company, max_returned=50) as world:
        assert world.sync().outcome == "done"
        mark = Watermark.get(Watermark.kind == "payments_check").value

        company.advance(hours=1)
        second_batch = _pay(company, 250, vendor="Bolt Steel")
        # The Web Connector stops after the host query and three pages (QuickBooks crashed).
        broken = world.sync(max_requests=4)
        assert broken.outcome == "max_requests"
        # The first page re-read the two older payments through the ten-minute overlap.
        assert BillPayment.select().count() == 150
        assert Watermark.get(Watermark.kind == "payments_check").value == mark

        # Too soon: the dead session still holds the file.
        assert world.session().authenticate_result == ["", "busy"]
        world.clock.advance(minutes=31)
        resumed = world.session()

        assert resumed.outcome == "done"
        resumed_query = next(r for r in resumed.requests if "<BillPaymentCheckQueryRq" in r)
        assert 'iterator="Start"' in resumed_query
        assert {p.txn_id for p in BillPayment.select()} == set(first_batch + second_batch)
        assert resumed.close_message == "PaySync: 252 payments received (102 new, 0 changed), 0 deletions"
        assert Watermark.get(Watermark.kind == "payments_check").value > mark


def test_a_failed_bill_lookup_is_reported_but_does_not_fail_the_session(tmp_path: Path) -> None:
    class RefusesBillQueries(SandboxCompanyFile):
        def handle_qbxml(self, request_xml: str) -> str:
            if "<BillQueryRq" in request_xml:
                request_id = request_xml.split('requestID="')[1].split('"')[0]
                return (
                    '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>'
                    f'<BillQueryRs requestID="{request_id}" statusCode="3250" statusSeverity="Error" '
                    'statusMessage="This feature is not enabled or not available in this version of QuickBooks." />'
                    "</QBXMLMsgsRs></QBXML>"
                )
            return super().handle_qbxml(request_xml)

    with qbwc_world(tmp_path, company=RefusesBillQueries(), fetch_unknown_bills=True) as world:
        paid = _pay(world.company, 2)

        report = world.sync()

        assert report.outcome == "done"
        assert report.close_message == "PaySync: 2 payments received (2 new, 0 changed), 0 deletions"
        assert {p.txn_id for p in BillPayment.select()} == set(paid)
        assert QuickBooksWork.get(QuickBooksWork.kind == "bills").status == "failed"
        assert ErrorEvent.select().where(ErrorEvent.message.contains("Reading bills")).count() == 1
        assert CompanyFile.get().last_error is None
