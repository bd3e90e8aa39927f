"""Properties of the AT line layer: the classifier is total and consistent, URC parsing never
raises, and the framing gives the same lines however the bytes are chunked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modem.protocol import MAX_LINE, ATLineProtocol
from modem.urc import (
    CALL_RESULTS,
    FINAL_ERROR_EXACT,
    URC_EXACT,
    URC_PREFIXES,
    LineKind,
    classify,
    is_final,
    parse_stored_index,
    parse_urc,
)

KNOWN = sorted({"OK", *FINAL_ERROR_EXACT, *URC_EXACT, *URC_PREFIXES, "+CME ERROR:", "+CMS ERROR:",
                "AT+CMGS=", "at", "+CSQ:", "+CREG:", "+CUSD:", ">"})
LINES = st.one_of(
    st.text(max_size=40),
    st.builds(lambda head, tail: head + tail, st.sampled_from(KNOWN), st.text(max_size=20)),
)
PREFIXES = st.one_of(st.none(), st.sampled_from(["+CSQ:", "+CREG:", "+CUSD:", "+CPIN:", "+CMGS:"]))


@given(LINES, PREFIXES, st.booleans(), st.booleans())
def test_every_line_gets_exactly_one_consistent_kind(
    line: str, prefix: str | None, pending: bool, dialing: bool
) -> None:
    kind = classify(line, pending_prefix=prefix, pending=pending, dialing=dialing)
    assert isinstance(kind, LineKind)
    if line.upper().startswith("AT"):
        assert kind is LineKind.ECHO
    elif is_final(line):
        # a call result answers only a pending dial; otherwise it is the end of a call
        call_end = line in CALL_RESULTS and not (pending and dialing)
        expected = LineKind.URC if call_end else LineKind.FINAL
        assert kind is expected
    elif prefix and line.startswith(prefix):
        assert kind is LineKind.ANSWER
    elif not pending:
        assert kind is LineKind.URC  # with nothing asked, nothing is an answer
    elif line in URC_EXACT or line.startswith(URC_PREFIXES):
        assert kind is LineKind.URC


@given(LINES, st.one_of(st.none(), st.text(max_size=20)))
def test_parse_urc_keeps_the_line_and_never_raises(line: str, pdu: str | None) -> None:
    urc = parse_urc(line, pdu)
    assert urc.line == line and urc.pdu == pdu
    assert urc.name == line.strip() or line.startswith(urc.name) or urc.name in line


@given(st.text(max_size=30))
def test_parse_stored_index_is_a_pair_or_none(value: str) -> None:
    parsed = parse_stored_index(value)
    assert parsed is None or (isinstance(parsed[0], str) and isinstance(parsed[1], int))


def _lines_of(chunks: list[bytes]) -> list[str]:
    lines: list[str] = []
    prompts: list[None] = []
    protocol = ATLineProtocol(lines.append, lambda: prompts.append(None), lambda exc: None)
    for chunk in chunks:
        protocol.data_received(chunk)
    assert prompts == []
    return lines


@given(
    st.lists(st.binary(max_size=60).filter(lambda b: b">" not in b), max_size=8).filter(
        lambda ls: sum(len(x) + 2 for x in ls) < MAX_LINE
    ),
    st.sampled_from([b"\r\n", b"\r", b"\n"]),
    st.data(),
)
def test_framing_gives_the_same_lines_whatever_the_chunking(
    lines: list[bytes], newline: bytes, data: st.DataObject
) -> None:
    stream = b"".join(line + newline for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    whole = _lines_of([stream])
    assert _lines_of(chunks) == whole
    assert all(line and line == line.strip() for line in whole)
