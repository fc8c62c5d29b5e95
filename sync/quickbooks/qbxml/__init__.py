"""qbXML for QuickBooks Desktop (U.S.) bill payments: build requests, parse responses safely."""

from .build import (
    QBXML_VERSION,
    IteratorMode,
    build_bill_payment_query,
    build_bill_query,
    build_currency_query,
    build_deleted_query,
    build_host_query,
    build_vendor_query,
)
from .errors import (
    MalformedXMLError,
    QbXMLContentError,
    QbXMLError,
    QbXMLStatusError,
    UnsafeXMLError,
)
from .parse import parse_hcp_response, parse_response, raise_for_status
from .records import (
    AppliedBill,
    BillPaymentRecord,
    BillRecord,
    CompanyInfo,
    DeletedTxnRecord,
    HostInfo,
    PaymentKind,
    QueryResponse,
)
from .safe import parse_xml
from .times import format_qb_datetime, parse_qb_aware, parse_qb_local

__all__ = [
    "QBXML_VERSION",
    "AppliedBill",
    "BillPaymentRecord",
    "BillRecord",
    "CompanyInfo",
    "DeletedTxnRecord",
    "HostInfo",
    "IteratorMode",
    "MalformedXMLError",
    "PaymentKind",
    "QbXMLContentError",
    "QbXMLError",
    "QbXMLStatusError",
    "QueryResponse",
    "UnsafeXMLError",
    "build_bill_payment_query",
    "build_bill_query",
    "build_currency_query",
    "build_deleted_query",
    "build_host_query",
    "build_vendor_query",
    "format_qb_datetime",
    "parse_hcp_response",
    "parse_qb_aware",
    "parse_qb_local",
    "parse_response",
    "parse_xml",
    "raise_for_status",
]
