"""Hardened XML parsing for everything that comes from QuickBooks or the Web Connector.

qbXML never needs a DTD, so the parser refuses any DOCTYPE outright. expat reports the start of
a DOCTYPE before it reads the internal subset, so entity declarations (billion laughs) and external
entities (`SYSTEM "file:///etc/passwd"`) are rejected before anything is declared, expanded or
fetched. External entity references and parameter entities are refused as a second line of defence.

Two readers share these rules. `parse_xml` (xmltodict on a hardened expat) reads small documents
whole: SOAP envelopes, the HCP response. `pull_elements` streams a qbXML response through lxml
(libxml2), handing over only the elements the caller names as each one closes, so a page of tens of
MB is read at C speed, element by element. It is hardened in three layers: the prologue is read
before the parser sees a byte, and a DOCTYPE there is refused; the parser itself never resolves an
entity, never loads a DTD and never touches the network (and its resolver refuses any URL anyway);
and should a DOCTYPE reach it all the same, the first event refuses the document before any element
content is handed over.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Any, NoReturn
from xml.parsers import expat

import xmltodict
from lxml import etree

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


# ---------------------------------------------------------------------------------------------
# Streaming: lxml, hardened


class _RefuseEveryResolver(etree.Resolver):  # type: ignore[misc]  # lxml has no type stubs here
    """Whatever libxml2 might want to load (a DTD, an external entity), the answer is no."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> Any:
        raise UnsafeXMLError(
            f"Refused XML that references an external resource ({system_url or public_id or 'unknown'}): "
            "the parser never reads files or URLs named inside a document. Send the plain qbXML document."
        )


_DOCTYPE_NAME = re.compile(r"<!DOCTYPE\s+([^\s\[>]+)")


# The prologue before a DOCTYPE or the root element: a byte order mark, then white space, processing
# instructions (the XML declaration) and comments. Alternatives start with distinct characters, so
# matching is linear.
_PROLOGUE_TEXT = re.compile(r"\A\ufeff?(?:[ \t\r\n]+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_PROLOGUE_BYTES = re.compile(rb"\A(?:\xef\xbb\xbf)?(?:[ \t\r\n]+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)


def _refuse_doctype_in_prologue(text: str | bytes) -> None:
    """Read the prologue up to the root element; a DOCTYPE there is refused before the parser sees
    the document. `text` is a str or ASCII-compatible bytes, read in place, never copied."""
    if isinstance(text, str):
        found = _PROLOGUE_TEXT.match(text)
        end = found.end() if found else 0
        head = text[end : end + 200]
    else:
        found_bytes = _PROLOGUE_BYTES.match(text)
        end = found_bytes.end() if found_bytes else 0
        head = text[end : end + 200].decode("latin-1")
    if head.startswith("<!DOCTYPE"):
        named = _DOCTYPE_NAME.match(head)
        _refuse_doctype(named.group(1) if named else None)


def _ascii_compatible(text: str | bytes) -> str | bytes:
    """`text`, with bytes in an encoding that is not ASCII-compatible (UTF-16, UTF-32: never what the
    Web Connector sends) decoded first, so the prologue can be read."""
    if isinstance(text, str):
        return text
    if text[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in text[:4]:
        for codec in ("utf-32", "utf-16"):
            try:
                return text.decode(codec)
            except UnicodeDecodeError:
                continue
    return text


def _refuse_parsed_doctype(element: Any) -> None:
    """Second line: a DOCTYPE that reached libxml2 after all is refused at the first event."""
    info = element.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        _refuse_doctype(info.root_name)


def _malformed(exc: BaseException) -> MalformedXMLError:
    return MalformedXMLError(
        f"The response is not well-formed XML ({exc}). It may be truncated or not qbXML at all; "
        "check the Web Connector log (QWCLog.txt) for what QuickBooks returned."
    )


def _chunks(text: str | bytes) -> Iterator[bytes]:
    if isinstance(text, str):
        yield from _utf8_slices(text)
        return
    view = memoryview(text)
    for start in range(0, len(view), 4 * _FEED_CHARS):
        yield bytes(view[start : start + 4 * _FEED_CHARS])


def pull_elements(text: str | bytes, tags: Collection[str]) -> Iterator[Any]:
    """Stream `text` and yield each element named in `tags` as its end tag is read (an lxml element,
    complete with its children). The caller may remove it from its parent once read, which keeps
    memory flat; elements not named are built by libxml2 but never cross into Python.

    After the last element, yields the root element (finished; it has no parent) so the caller can
    check it. Raises
    UnsafeXMLError for a DOCTYPE, an entity declaration or an external reference, MalformedXMLError for
    text that is not well-formed XML.
    """
    if not isinstance(text, str | bytes | bytearray):
        raise TypeError(f"pull_elements expects str or bytes, not {type(text).__name__}")
    if not text:
        raise MalformedXMLError(
            "Got an empty document where qbXML was expected; QuickBooks sent no response text."
        )
    source = _ascii_compatible(bytes(text) if isinstance(text, bytearray) else text)
    _refuse_doctype_in_prologue(source)
    parser = etree.XMLPullParser(
        events=("end",),
        tag=list(tags),
        # A str is already decoded: it is fed as UTF-8 whatever the XML declaration says.
        encoding="utf-8" if isinstance(source, str) else None,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        dtd_validation=False,
        huge_tree=False,  # libxml2's limits on one text node, depth and names stay on
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    parser.resolvers.add(_RefuseEveryResolver())
    checked = False
    try:
        for chunk in _chunks(source):
            parser.feed(chunk)
            for _event, element in parser.read_events():
                if not checked:
                    _refuse_parsed_doctype(element)
                    checked = True
                yield element
        root = parser.close()
    except (etree.XMLSyntaxError, UnicodeError) as exc:
        raise _malformed(exc) from exc
    for _event, element in parser.read_events():
        if not checked:
            _refuse_parsed_doctype(element)
            checked = True
        yield element
    _refuse_parsed_doctype(root)
    yield root
