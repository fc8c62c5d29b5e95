"""QuickBooks' request processor: answers one qbXML request document from the company file's books.

Every request is checked before any is answered (a parse error answers nothing); then each is
answered in turn, and with stopOnError (or rollbackOnError, for a read-only batch) the requests
after a failed one get no response (NOTES §1). A query kind listed in ``queries.py`` is answered by
the one path below: injected status, multicurrency gate, iterator Continue / Stop, date-range
checks, matching (``matching.py``), then the answer: status 1 for no match, 500 for ids or names
not found, ``retCount`` only for metaData="MetaDataOnly", an iterator's first page for
iterator="Start", MaxReturned, and each record's Ret (corrupted if a test asked).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from sandbox.quickbooks.books import Books
from sandbox.quickbooks.currencies import MULTICURRENCY_OFF_MESSAGE
from sandbox.quickbooks.errors import InvalidDate, QuickBooksParseError, StatusAnswer, check_range
from sandbox.quickbooks.faults import Faults
from sandbox.quickbooks.host import FileFacts, preferences_ret
from sandbox.quickbooks.matching import find_matches
from sandbox.quickbooks.queries import FILE_QUERIES, QUERY_KINDS, QueryKind
from sandbox.quickbooks.rendering import (
    NO_MATCH_MESSAGE,
    STATUS_OK_MESSAGE,
    RetContext,
    empty_rs,
    status_attributes,
    wanted_elements,
)
from sandbox.quickbooks.requests import Query, QueryShape, check_children, children, read_query


@dataclass
class OpenIterator:
    request_type: str
    matches: list[str]  # TxnIDs (ListIDs) in answer order, fixed when the iterator started (inferred)
    position: int
    page_size: int


class RequestProcessor:
    """Answers documents for one company file; holds the session's open iterators."""

    def __init__(self, books: Books, faults: Faults, facts: FileFacts) -> None:
        self.books = books
        self.faults = faults
        self.facts = facts
        self.iterators: dict[str, OpenIterator] = {}

    def hcp_response(self) -> str:
        """strHCPResponse: QuickBooks' answer to a Host, Company and Preferences query in one
        message (NOTES §9)."""
        lines = ['<?xml version="1.0" ?>', "<QBXML>", "<QBXMLMsgsRs>"]
        lines.extend(FILE_QUERIES["HostQueryRq"].answer(self.facts, "0"))
        lines.extend(FILE_QUERIES["CompanyQueryRq"].answer(self.facts, "1"))
        lines.append(f"<PreferencesQueryRs{status_attributes('2', 0, STATUS_OK_MESSAGE)}>")
        lines.extend(preferences_ret(self.books))
        lines.append("</PreferencesQueryRs>")
        lines.extend(["</QBXMLMsgsRs>", "</QBXML>", ""])
        return "\n".join(lines)

    def answer_document(self, root: etree._Element) -> str:
        """The response document to a request document whose version was accepted."""
        root_children = children(root)
        if len(root_children) != 1 or root_children[0].tag != "QBXMLMsgsRq":
            if any(child.tag in ("SignonMsgsRq", "QBXMLSubscriptionMsgsRq") for child in root_children):
                raise NotImplementedError("the QuickBooks sandbox only answers QBXMLMsgsRq")
            raise QuickBooksParseError("QBXML must hold exactly one QBXMLMsgsRq")
        messages = root_children[0]
        on_error = messages.get("onError")
        if on_error not in ("stopOnError", "continueOnError", "rollbackOnError"):
            raise QuickBooksParseError(f"QBXMLMsgsRq onError={on_error!r} is required and must be valid")
        requests = children(messages)
        for rq in requests:
            _check_request(rq)
        lines = ['<?xml version="1.0" ?>', "<QBXML>", "<QBXMLMsgsRs>"]
        for rq in requests:
            answer, failed = self._answer(rq)
            lines.extend(answer)
            # NOTES §1: with stopOnError (and rollbackOnError, for a read-only batch) the
            # requests after a failed one are not processed and get no response.
            if failed and on_error != "continueOnError":
                break
        lines.extend(["</QBXMLMsgsRs>", "</QBXML>", ""])
        return "\n".join(lines)

    # ---- one request -------------------------------------------------------------------------

    def _answer(self, rq: etree._Element) -> tuple[list[str], bool]:
        """One request's response lines, and whether it failed (status 1000 or more, or 3020)."""
        tag = str(rq.tag)
        rs_tag = tag[:-2] + "Rs"
        request_id = rq.get("requestID")
        try:
            kind = QUERY_KINDS.get(tag)
            if kind is None:
                return FILE_QUERIES[tag].answer(self.facts, request_id), False
            return self._answer_query(kind, read_query(rq, kind.shape), rs_tag), False
        except InvalidDate as invalid:
            return empty_rs(rs_tag, request_id, 3020, invalid.message), True
        except StatusAnswer as answer:
            return empty_rs(rs_tag, request_id, answer.code, answer.message), answer.code >= 1000

    def _answer_query(self, kind: QueryKind, query: Query, rs_tag: str) -> list[str]:
        if kind.takes_injected_status:
            injected = self.faults.take_status()
            if injected is not None:
                raise StatusAnswer(*injected)
        uses_currencies = kind.needs_multicurrency or (
            query.currency_list_ids is not None or query.currency_names is not None
        )
        if uses_currencies and not self.books.multicurrency:
            # Without multicurrency QuickBooks has no Currency list to read or filter by
            # (status 3250 "feature not enabled", NOTES §8; that it answers so is (sandbox choice)).
            raise StatusAnswer(3250, MULTICURRENCY_OFF_MESSAGE)
        if query.iterator in ("Continue", "Stop"):
            return self._continue_iterator(kind, query, rs_tag)
        check_range(query.time_from, query.time_to)
        check_range(query.txn_date_from, query.txn_date_to)
        matches, missing = find_matches(kind, self.books, query)
        return self._answer_matches(kind, query, rs_tag, matches, missing)

    def _answer_matches(
        self, kind: QueryKind, query: Query, rs_tag: str, matches: list[str], missing: list[str]
    ) -> list[str]:
        warning = None
        if missing:
            # Seen in a real capture for a list query with an unknown name (NOTES §1 qbwc-gem data).
            warning = (
                "The query request has not been fully completed. There was a required element "
                f'("{missing[0]}") that could not be found in QuickBooks.'
            )
        if not matches:
            if warning:
                return empty_rs(rs_tag, query.request_id, 500, warning)
            return empty_rs(rs_tag, query.request_id, 1, NO_MATCH_MESSAGE)
        if query.meta_data == "MetaDataOnly":
            return empty_rs(rs_tag, query.request_id, 0, STATUS_OK_MESSAGE, ret_count=len(matches))
        if query.iterator == "Start":
            iterator_id = "{" + str(uuid.uuid4()).upper() + "}"
            iterator = OpenIterator(
                request_type=query.request_type,
                matches=matches,
                position=0,
                page_size=query.max_returned or len(matches),
            )
            self.iterators[iterator_id] = iterator
            return self._iterator_page(kind, query, rs_tag, iterator_id, iterator)
        if query.max_returned is not None:
            matches = matches[: query.max_returned]
        code, message = (500, warning) if warning else (0, STATUS_OK_MESSAGE)
        return self._rs_with_rets(kind, query, rs_tag, matches, code, message)

    # ---- iterators -----------------------------------------------------------------------------

    def _continue_iterator(self, kind: QueryKind, query: Query, rs_tag: str) -> list[str]:
        iterator_id = query.iterator_id or ""
        iterator = self.iterators.get(iterator_id)
        if iterator is None or iterator.request_type != query.request_type:
            raise StatusAnswer(3391, f'The iteratorID "{iterator_id}" is not valid.')
        if query.iterator == "Stop":
            del self.iterators[iterator_id]
            return empty_rs(
                rs_tag,
                query.request_id,
                0,
                STATUS_OK_MESSAGE,
                ret_count=0,
                iterator_remaining=0,
                iterator_id=iterator_id,
            )
        return self._iterator_page(kind, query, rs_tag, iterator_id, iterator)

    def _iterator_page(
        self, kind: QueryKind, query: Query, rs_tag: str, iterator_id: str, iterator: OpenIterator
    ) -> list[str]:
        page_size = query.max_returned or iterator.page_size
        existing = kind.records(self.books)
        page: list[str] = []
        while len(page) < page_size and iterator.position < len(iterator.matches):
            record_id = iterator.matches[iterator.position]
            iterator.position += 1
            if record_id in existing:  # deleted since the iterator started: skipped
                page.append(record_id)
        remaining = len(iterator.matches) - iterator.position
        if remaining == 0:
            # A finished iterator is gone; continuing it again gets 3391 like an unknown one (inferred).
            del self.iterators[iterator_id]
        # inject_iterator_remaining: the printed count lies; the iterator's own position does not.
        shown = self.faults.iterator_count(remaining)
        if not page:
            return empty_rs(
                rs_tag,
                query.request_id,
                1,
                NO_MATCH_MESSAGE,
                iterator_remaining=shown,
                iterator_id=iterator_id,
            )
        return self._rs_with_rets(
            kind,
            query,
            rs_tag,
            page,
            0,
            STATUS_OK_MESSAGE,
            iterator_remaining=shown,
            iterator_id=iterator_id,
        )

    # ---- writing -------------------------------------------------------------------------------

    def _rs_with_rets(
        self,
        kind: QueryKind,
        query: Query,
        rs_tag: str,
        record_ids: list[str],
        code: int,
        message: str,
        *,
        iterator_remaining: int | str | None = None,
        iterator_id: str | None = None,
    ) -> list[str]:
        attributes = status_attributes(
            query.request_id,
            code,
            message,
            ret_count=len(record_ids),
            iterator_remaining=iterator_remaining,
            iterator_id=iterator_id,
        )
        lines = [f"<{rs_tag}{attributes}>"]
        context = RetContext(
            self.books,
            wanted_elements(query.include_ret_elements),
            include_line_items=query.include_line_items,
            include_linked_txns=query.include_linked_txns,
        )
        records = kind.records(self.books)
        for record_id in record_ids:
            corrupted = kind.corruptible and record_id in self.faults.corruptions
            ret_lines: list[str] = [] if corrupted else lines
            ret_lines.append(f"<{kind.ret}>")
            kind.write(ret_lines, records[record_id], context)
            ret_lines.append(f"</{kind.ret}>")
            if corrupted:
                lines.extend(self.faults.corrupted(record_id, ret_lines))
        lines.append(f"</{rs_tag}>")
        return lines


def _check_request(rq: etree._Element) -> None:
    """Raises the parse error for a request QuickBooks would refuse to parse, NotImplementedError
    for a request type (or filter) the sandbox does not answer; a bad date is left for its answer."""
    tag = str(rq.tag)
    shape: QueryShape | None = None
    if tag in QUERY_KINDS:
        shape = QUERY_KINDS[tag].shape
    elif tag in FILE_QUERIES:
        shape = FILE_QUERIES[tag].shape
    if shape is None:
        if tag.endswith("Rq"):
            raise NotImplementedError(f"the QuickBooks sandbox does not answer {tag}")
        raise QuickBooksParseError(f"{tag} is not a request element")
    unexpected = set(rq.attrib) - shape.attributes
    if unexpected:
        raise QuickBooksParseError(f"{tag} does not allow the attribute(s) {sorted(unexpected)}")
    if tag in QUERY_KINDS:
        # Reading it raises any parse error now, before anything is answered. A bad date is
        # not a parse error but a status (3020) on that one request, given when it is answered.
        try:
            read_query(rq, shape)
        except InvalidDate:
            pass
    else:
        check_children(rq, shape.children)
