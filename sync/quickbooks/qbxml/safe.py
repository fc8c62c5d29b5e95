"""Hardened XML parsing for everything that comes from QuickBooks or the Web Connector.

qbXML never needs a DTD, so the parser refuses any DOCTYPE outright. expat reports the start of
a DOCTYPE before it reads the internal subset, so entity declarations (billion laughs) and external
entities (`SYSTEM "file:///etc/passwd"`) are rejected before anything is declared, expanded or
fetched. External entity references and parameter entities are refused as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn
from xml.parsers import expat

import xmltodict

from .errors import MalformedXMLError, UnsafeXMLError

# Large str inputs are encoded and fed to expat in slices of this many characters, so parsing never
# holds a full UTF-8 copy of a tens-of-megabytes response next to the str itself.
_FEED_CHARS = 1 << 20


def _refuse_doctype(name: str | None, *_args: object) -> NoReturn:
    raise UnsafeXMLError(
        f"Refused XML with a DOCTYPE declaration ({name or 'unnamed'}): qbXML never uses a DTD, and a DTD "
        "can declare entities that expand to gigabytes or read local files. "
        "Send the plain qbXML document without any <!DOCTYPE ...> or <!ENTITY ...> lines."
    )


def _refuse_entity_declaration(name: str | None, *_args: object) -> NoReturn:
    raise UnsafeXMLError(
        f"Refused XML that declares the entity {name!r}: entities are not allowed in qbXML. "
        "Send the plain qbXML document without <!ENTITY ...> declarations."
    )


def _refuse_external_entity(
    _context: str | None, _base: str | None, system_id: str | None, *_args: object
) -> NoReturn:
    raise UnsafeXMLError(
        f"Refused XML that references an external entity ({system_id or 'unknown'}): the parser never "
        "reads files or URLs named inside a document. Send the plain qbXML document."
    )


class _HardenedExpat:
    """Stands in for the `expat` module that xmltodict.parse calls `ParserCreate` on."""

    @staticmethod
    def ParserCreate(encoding: str | None = None, namespace_separator: str | None = None) -> Any:  # noqa: N802 - expat's name
        parser = expat.ParserCreate(encoding, namespace_separator)
        parser.StartDoctypeDeclHandler = _refuse_doctype
        # xmltodict replaces EntityDeclHandler with its own refusal; the DOCTYPE check fires first anyway.
        parser.EntityDeclHandler = _refuse_entity_declaration
        parser.UnparsedEntityDeclHandler = _refuse_entity_declaration
        parser.ExternalEntityRefHandler = _refuse_external_entity
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        return parser


_HARDENED_EXPAT = _HardenedExpat()


def _utf8_slices(text: str) -> Iterator[bytes]:
    for start in range(0, len(text), _FEED_CHARS):
        yield text[start : start + _FEED_CHARS].encode("utf-8")


def parse_xml(text: str | bytes, **xmltodict_kwargs: Any) -> Any:
    """`xmltodict.parse` with a parser that refuses DOCTYPE, ENTITY and external references.

    Accepts every xmltodict keyword (item_depth, item_callback, postprocessor, force_list...), except
    the ones that would weaken it (`expat`, `disable_entities`). Raises UnsafeXMLError for a refused
    document and MalformedXMLError for text that is not well-formed XML.
    """
    for forbidden in ("expat", "disable_entities"):
        if forbidden in xmltodict_kwargs:
            raise TypeError(f"parse_xml always uses the hardened parser; do not pass {forbidden}=")
    if isinstance(text, str):
        # A str is already decoded: tell expat it is UTF-8 whatever the XML declaration says.
        xml_input: bytes | Iterator[bytes] = _utf8_slices(text)
        encoding: str | None = "utf-8"
    elif isinstance(text, bytes | bytearray):
        xml_input = bytes(text)
        encoding = None  # expat honours the document's own declaration (UTF-8 by default)
    else:
        raise TypeError(f"parse_xml expects str or bytes, not {type(text).__name__}")
    if not text:
        raise MalformedXMLError(
            "Got an empty document where qbXML was expected; QuickBooks sent no response text."
        )
    try:
        return xmltodict.parse(
            xml_input,
            encoding=encoding,
            expat=_HARDENED_EXPAT,
            disable_entities=True,
            **xmltodict_kwargs,
        )
    except expat.ExpatError as exc:
        raise MalformedXMLError(
            f"The response is not well-formed XML ({exc}). It may be truncated or not qbXML at all; "
            "check the Web Connector log (QWCLog.txt) for what QuickBooks returned."
        ) from exc
