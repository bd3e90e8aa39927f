"""Properties of the SMS codec: encode/decode round trips, and no input crashes the decoder.

Whatever bytes a modem or a phone hands over, decode_pdu answers with a PDU or raises its
own CodecError: never IndexError, struct or unicode errors from the depths.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modem.codec import (
    GSM7_MULTI,
    GSM7_SINGLE,
    UCS2_MULTI,
    UCS2_SINGLE,
    CodecError,
    Deliver,
    StatusReport,
    Submit,
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_status_report,
    encode_submit,
    is_gsm7,
    split_text,
)

NUMBERS = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
# Texts that fit the 255-part limit; any code point but lone surrogates (no str holds them
# after a UTF-8 or JSON decode that relayd accepts).
TEXTS = st.text(st.characters(exclude_categories=("Cs",)), max_size=600)
GSM7_TEXTS = st.text(st.sampled_from("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f"), max_size=500)
TIMES = st.datetimes(
    min_value=dt.datetime(1969, 1, 2), max_value=dt.datetime(2068, 12, 30),
    timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2)),
                               dt.timezone(dt.timedelta(hours=-5, minutes=-45))]),
).map(lambda t: t.replace(microsecond=0))


@given(TEXTS, st.sampled_from(["auto", "ucs2"]))
def test_split_text_parts_join_back_to_the_text_within_the_part_limits(
    text: str, encoding: str
) -> None:
    split = split_text(text, encoding)  # type: ignore[arg-type]
    assert "".join(split.segments) == text
    assert split.encoding == ("gsm7" if encoding == "auto" and is_gsm7(text) else "ucs2")
    if split.encoding == "ucs2":
        limit = UCS2_SINGLE if split.parts == 1 else UCS2_MULTI
        assert all(len(s.encode("utf-16-be")) // 2 <= limit for s in split.segments)


@given(GSM7_TEXTS)
def test_gsm7_texts_stay_gsm7_and_parts_fit_the_septet_limits(text: str) -> None:
    split = split_text(text, "gsm7")
    assert split.encoding == "gsm7" and "".join(split.segments) == text
    limit = GSM7_SINGLE if split.parts == 1 else GSM7_MULTI
    for segment in split.segments:
        septets = sum(2 if c in "^{}\\[~]|€\f" else 1 for c in segment)
        assert septets <= limit


@given(NUMBERS, TEXTS, st.integers(0, 255), st.booleans(), st.booleans())
def test_submit_round_trips_through_the_decoder(
    to: str, text: str, reference: int, report: bool, with_smsc: bool
) -> None:
    pdus = encode_submit(
        to, text, reference=reference, status_report=report,
        smsc="+15550000000" if with_smsc else None,
    )
    decoded = [decode_submit(p.hex) for p in pdus]
    assert "".join(d.text for d in decoded) == text
    assert {d.to for d in decoded} == {to}
    assert all(d.reference == reference and d.status_report_requested == report for d in decoded)
    if len(pdus) > 1:
        assert [(d.concat.seq, d.concat.total) for d in decoded if d.concat] == [
            (i, len(pdus)) for i in range(1, len(pdus) + 1)
        ]
    for pdu in pdus:  # <n> of AT+CMGS: the TPDU without the SMSC octets
        assert pdu.tpdu_length * 2 <= len(pdu.hex)


@given(st.one_of(NUMBERS, st.from_regex(r"[A-Za-z][A-Za-z0-9 ]{0,10}", fullmatch=True)), TEXTS, TIMES)
def test_deliver_round_trips_sender_text_and_timestamp(
    sender: str, text: str, scts: dt.datetime
) -> None:
    parts = [decode_pdu(p) for p in encode_deliver(sender, text, scts=scts)]
    assert all(isinstance(p, Deliver) for p in parts)
    delivers = [p for p in parts if isinstance(p, Deliver)]
    assert "".join(p.text for p in delivers) == text
    assert {p.sender for p in delivers} == {sender.strip() if not sender.startswith("+") else sender}
    assert {p.scts for p in delivers} == {scts}


@given(st.integers(0, 255), NUMBERS, st.integers(0, 255), TIMES, TIMES)
def test_status_report_round_trips(
    reference: int, recipient: str, status: int, scts: dt.datetime, discharge: dt.datetime
) -> None:
    report = decode_pdu(
        encode_status_report(reference, recipient, status=status, scts=scts, discharge=discharge)
    )
    assert not isinstance(report, Deliver | Submit)
    assert (report.reference, report.recipient, report.status) == (reference, recipient, status)
    assert (report.scts, report.discharge) == (scts, discharge)


def decodes_or_says_why(hex_pdu: str, has_smsc: bool) -> None:
    """A PDU comes out, or CodecError with a reason; any other exception fails the test."""
    decoded: object
    try:
        decoded = decode_pdu(hex_pdu, has_smsc=has_smsc)
    except CodecError as exc:
        decoded = exc
    assert isinstance(decoded, Deliver | StatusReport | Submit) or str(decoded), decoded


@given(
    st.one_of(
        st.datetimes(min_value=dt.datetime(2069, 1, 1), max_value=dt.datetime(2999, 12, 31)),
        st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(1968, 12, 31)),
    ).map(lambda t: t.replace(tzinfo=dt.UTC))
)
def test_a_timestamp_that_would_read_back_as_another_century_is_refused(scts: dt.datetime) -> None:
    with pytest.raises(CodecError, match="1969-2068"):
        encode_deliver("+15551230001", "x", scts=scts)


@given(st.binary(max_size=200), st.booleans())
def test_any_bytes_decode_or_raise_codec_error(raw: bytes, has_smsc: bool) -> None:
    decodes_or_says_why(raw.hex().upper(), has_smsc)


@given(st.text(max_size=80), st.booleans())
def test_any_text_decodes_or_raises_codec_error(raw: str, has_smsc: bool) -> None:
    decodes_or_says_why(raw, has_smsc)


@given(NUMBERS, TEXTS, TIMES, st.data())
def test_a_truncated_or_corrupted_real_pdu_decodes_or_raises_codec_error(
    sender: str, text: str, scts: dt.datetime, data: st.DataObject
) -> None:
    pdu = bytearray.fromhex(encode_deliver(sender, text, scts=scts)[0])
    cut = data.draw(st.integers(0, len(pdu)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(pdu) - 1), st.integers(0, 255)),
                               max_size=4))
    for index, value in flips:
        pdu[index] = value
    decodes_or_says_why(bytes(pdu[:cut]).hex(), True)
