"""The error a pcap filter expression raises when libpcap would refuse it.

Every refusal names its category — libpcap's own: ``syntax error``,
``unknown host``, ``unknown port``, ``unknown protocol``, ``unknown
network``, ``expression rejects all packets``, ``illegal byte-slice size``,
``illegal qualifier``, ``illegal value``, ``arithmetic error``,
``unsupported`` — the token it is about and where that token starts.
"""

from __future__ import annotations

from ..errors import BPFError

SYNTAX = "syntax error"
UNKNOWN_HOST = "unknown host"
UNKNOWN_PORT = "unknown port"
UNKNOWN_PROTOCOL = "unknown protocol"
UNKNOWN_NETWORK = "unknown network"
REJECTS_ALL = "expression rejects all packets"
SLICE_SIZE = "illegal byte-slice size"
QUALIFIER = "illegal qualifier"
VALUE = "illegal value"
ARITHMETIC = "arithmetic error"
UNSUPPORTED = "unsupported"

CATEGORIES = (SYNTAX, UNKNOWN_HOST, UNKNOWN_PORT, UNKNOWN_PROTOCOL, UNKNOWN_NETWORK,
              REJECTS_ALL, SLICE_SIZE, QUALIFIER, VALUE, ARITHMETIC, UNSUPPORTED)
"""The categories a :class:`FilterExpressionError` may have."""


TOKEN_SHOWN = 40
"""Characters of a token an error message quotes (a hostile token may be megabytes)."""


class SnapshotLengthError(BPFError):
    """A snapshot length (bytes kept of each packet) tcpdump would refuse."""


class FilterExpressionError(BPFError):
    """A filter expression that cannot be compiled.

    ``category`` is one of :data:`CATEGORIES`; ``reason`` says what is
    wrong (libpcap's wording where it has one); ``token`` is the text of
    the token concerned and ``position`` its 0-based offset in
    ``expression`` (both None when the whole expression is meant).
    """

    def __init__(self, category: str, reason: str, *, token: str | None = None,
                 position: int | None = None, expression: str | None = None):
        self.category = category
        self.reason = reason
        self.token = token
        self.position = position
        self.expression = expression
        where = ""
        if token is not None:
            shown = token if len(token) <= TOKEN_SHOWN else token[:TOKEN_SHOWN] + "..."
            where = f" at {shown!r}" if token else " at the end of the expression"
            if position is not None:
                where += f" (column {position + 1})"
        text = reason if reason.startswith(category) else f"{category}: {reason}"
        super().__init__(f"{text}{where}")

    def located(self, token: str | None, position: int | None) -> FilterExpressionError:
        """This error, naming ``token`` at ``position`` unless it names one already."""
        if self.token is not None or token is None:
            return self
        return FilterExpressionError(self.category, self.reason, token=token,
                                     position=position, expression=self.expression)
