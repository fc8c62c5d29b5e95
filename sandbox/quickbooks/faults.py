"""Faults a test injects into a company file, kept until they are served: statuses answered in
place of the next payment queries, iterator counts that lie, records whose Ret carries raw text a
person typed badly (``corrupt_field``), and QuickBooks refusing the connection. Dropping iterators
is the request processor's (``answers.py``); SandboxCompanyFile is where tests ask for all of them.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

# Default messages for injected statuses. QuickBooks' exact wording for these is not captured
# anywhere (NOTES §8 lists the codes only), so the texts are (inferred).
DEFAULT_STATUS_MESSAGES: Final = {
    500: "The query request has not been fully completed. There was a required element that could not be found in QuickBooks.",
    1000: "There was an internal error in QuickBooks while processing the request.",
    3120: "Object specified in the request cannot be found.  QuickBooks error message: Invalid argument.  The specified record does not exist in the list.",
    3170: "There was an error when modifying the object. It is in use by another user.",
    3175: "There was an error when processing the request. The data is locked by another QuickBooks user or process; try again later.",
    3176: "There was an error when processing the request. QuickBooks could not acquire the lock on the data; try again later.",
    3180: "There was an error when saving the data. QuickBooks error message: the record could not be saved.",
    3250: "This feature is not enabled or not available in this version of QuickBooks.",
    3260: "Insufficient permission level to perform this action.",
}


class Faults:
    """The faults waiting in one company file."""

    def __init__(self) -> None:
        self.statuses: list[tuple[int, str]] = []
        self.iterator_counts: list[str] = []
        self.corruptions: dict[str, dict[str, str | None]] = {}  # record id -> element path -> raw text
        self.refusal: tuple[str, str] | None = None  # (HRESULT, message) while connections are refused

    def inject_status(self, code: int, times: int, message: str | None) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        text = message or DEFAULT_STATUS_MESSAGES.get(code, f"Sandbox-injected status {code}.")
        self.statuses.extend([(code, text)] * times)

    def take_status(self) -> tuple[int, str] | None:
        """The next injected (code, message), used up; None when none waits."""
        return self.statuses.pop(0) if self.statuses else None

    def inject_iterator_count(self, text: str, times: int) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        self.iterator_counts.extend([text] * times)

    def iterator_count(self, true_count: int) -> int | str:
        """What an iterator page prints as iteratorRemainingCount: an injected lie, or the truth."""
        return self.iterator_counts.pop(0) if self.iterator_counts else true_count

    def corrupt(self, record_id: str, element: str, raw_text: str | None) -> None:
        self.corruptions.setdefault(record_id, {})[element] = raw_text

    def corrupted(self, record_id: str, ret_lines: list[str]) -> list[str]:
        """One record's Ret, with the raw values corrupt_field put in (or elements taken out)."""
        corruptions = self.corruptions.get(record_id)
        if not corruptions:
            return ret_lines
        ret = etree.fromstring("\n".join(ret_lines).encode("utf-8"))
        for path, raw_text in corruptions.items():
            for target in ret.findall(path):
                parent = target.getparent()
                if parent is None:
                    continue
                if raw_text is None:
                    parent.remove(target)
                else:
                    for child in list(target):
                        target.remove(child)
                    target.text = raw_text
        return [etree.tostring(ret, encoding="unicode")]


def check_element_path(element: str) -> None:
    if not element or element.startswith("/") or element.endswith("/"):
        raise ValueError(f"not an element path: {element!r}")
