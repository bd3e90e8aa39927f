"""Tests of modem.codec: splitting, PDU round trips, public reference PDUs, gsmmodem defects."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from gsmmodem import pdu as gsmmodem_pdu

from modem import codec
from modem.codec import (
    CodecError,
    Concat,
    Deliver,
    StatusReport,
    Submit,
    decode_pdu,
    decode_submit,
    decode_ussd,
    encode_deliver,
    encode_status_report,
    encode_submit,
    encode_ussd_packed,
    is_gsm7,
    normalize_address,
    split_text,
    status_meaning,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pdus" / "reference.json"
REFERENCE_PDUS: list[dict[str, Any]] = json.loads(FIXTURES.read_text(encoding="utf-8"))["pdus"]
SCTS = datetime(2024, 5, 1, 12, 0, 5, tzinfo=timezone(timedelta(hours=2)))
DISCHARGE = datetime(2024, 5, 1, 12, 0, 9, tzinfo=timezone(timedelta(hours=2)))
EXTENSION_CHARS = "^{}\\[~]|€"


def _deliver_with_dcs(dcs: int, user_data_hex: str, udl: int, first: int = 0x04) -> str:
    """A hand-built SMS-DELIVER from +15551234567 with the given DCS and raw user data."""
    return f"00{first:02X}0B915155214365F700{dcs:02X}42501021000000{udl:02X}{user_data_hex}"


def _deliver_parts(text: str, **kwargs: Any) -> list[Deliver]:
    kwargs.setdefault("scts", SCTS)
    parts = [decode_pdu(hex_pdu) for hex_pdu in encode_deliver("+15551234567", text, **kwargs)]
    assert all(isinstance(part, Deliver) for part in parts)
    return parts  # type: ignore[return-value]


# --- public reference PDUs ---------------------------------------------------------------------


@pytest.mark.parametrize("case", REFERENCE_PDUS, ids=[case["name"] for case in REFERENCE_PDUS])
def test_public_reference_pdu_decodes_to_known_fields(case: dict[str, Any]) -> None:
    decoded = decode_pdu(case["pdu"])
    assert type(decoded).__name__ == case["type"]
    for field, expected in case["expect"].items():
        actual = getattr(decoded, field)
        if field in ("scts", "discharge"):
            assert actual == datetime.fromisoformat(expected)
            assert actual.utcoffset() == datetime.fromisoformat(expected).utcoffset()
        elif field == "concat" and expected is not None:
            assert actual == Concat(**expected)
        else:
            assert actual == expected, field


def test_classic_hellohello_submit_is_reproduced_byte_for_byte() -> None:
    # dreamfabric's PDU asks for 4 days validity (0xAA) with first octet 0x11 and TP-MR 0.
    (part,) = encode_submit(
        "+46708251358", "hellohello", reference=0, status_report=False, validity_minutes=4 * 24 * 60
    )
    assert part.hex == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
    assert part.tpdu_length == 23
    assert part.segment == "hellohello"


def test_gsmmodem_reference_submit_hello_world_matches() -> None:
    (part,) = encode_submit("+27820001111", "Hello World!", reference=0, status_report=False)
    assert part.hex == "0001000B917228001011F100000CC8329BFD065DDF72363904"


def test_star_100_hash_ussd_packs_to_the_well_known_hex() -> None:
    assert encode_ussd_packed("*100#") == "AA180C3602"
    assert decode_ussd("AA180C3602", 15) == "*100#"


# --- GSM-7 alphabet and splitting --------------------------------------------------------------


def test_is_gsm7_accepts_basic_and_extension_tables() -> None:
    assert is_gsm7("Hello @£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà")
    assert is_gsm7(EXTENSION_CHARS)
    assert is_gsm7("")


def test_is_gsm7_rejects_other_characters() -> None:
    for char in ("😀", "ç", "\t", "`", "\x1b", "ÿ", "Ж", "ć"):
        assert not is_gsm7(char), char


def test_gsmmodem_table_defect_section_sign_is_gsm7_and_backtick_is_not() -> None:
    # gsmmodem.pdu.GSM7_BASIC has "`" at 0x5F; 3GPP TS 23.038 has "§" there.
    assert gsmmodem_pdu.GSM7_BASIC[0x5F] == "`"
    (hex_pdu,) = encode_deliver("+15551234567", "§", scts=SCTS)
    assert hex_pdu.endswith("015F")
    assert decode_pdu(hex_pdu).text == "§"  # type: ignore[union-attr]
    assert split_text("`").encoding == "ucs2"


def test_gsmmodem_form_feed_defect_extension_page_break_round_trips() -> None:
    # gsmmodem keys the 0x1B 0x0A page break as "ÿ" (int value): its encoder raises TypeError.
    assert split_text("a\fb").encoding == "gsm7"
    assert split_text("ÿ").encoding == "ucs2"
    (part,) = _deliver_parts("a\fb")
    assert part.text == "a\fb"


@pytest.mark.parametrize("char", list(EXTENSION_CHARS))
def test_extension_characters_count_as_two_septets(char: str) -> None:
    assert split_text(char * 80).parts == 1
    assert split_text(char * 80 + "a").parts == 2


def test_gsm7_single_part_holds_160_septets() -> None:
    assert split_text("a" * 160) == codec.SplitText("gsm7", ["a" * 160])
    assert split_text("a" * 161).segments == ["a" * 153, "a" * 8]


def test_gsm7_multipart_never_splits_an_escape_pair() -> None:
    text = "a" * 152 + "€" + "b" * 10
    split = split_text(text)
    assert split.segments == ["a" * 152, "€" + "b" * 10]
    assert "".join(split.segments) == text


def test_gsm7_multipart_parts_hold_153_septets_each() -> None:
    text = "x" * (153 * 3)
    assert split_text(text).segments == ["x" * 153] * 3
    assert split_text(text + "y").parts == 4


def test_empty_text_is_one_empty_gsm7_part() -> None:
    assert split_text("") == codec.SplitText("gsm7", [""])
    (part,) = encode_submit("+15551234567", "", reference=1, status_report=False)
    assert decode_submit(part.hex).text == ""


def test_forced_gsm7_with_other_character_raises_naming_it() -> None:
    with pytest.raises(CodecError, match=r"'😀' \(U\+1F600\) at position 3"):
        split_text("hi 😀", "gsm7")
    with pytest.raises(CodecError, match="'ç'"):
        encode_submit("+15551234567", "façade", reference=1, status_report=False, encoding="gsm7")


def test_unknown_encoding_name_is_rejected() -> None:
    with pytest.raises(CodecError, match="unknown encoding"):
        split_text("hi", "latin1")  # type: ignore[arg-type]


def test_forced_ucs2_encodes_plain_ascii_as_ucs2() -> None:
    (part,) = encode_submit("+15551234567", "hi", reference=1, status_report=False, encoding="ucs2")
    decoded = decode_submit(part.hex)
    assert (decoded.text, decoded.encoding) == ("hi", "ucs2")


def test_more_than_255_parts_is_rejected() -> None:
    assert split_text("a" * 153 * 255).parts == 255
    with pytest.raises(CodecError, match="256 SMS parts"):
        split_text("a" * (153 * 255 + 1))


# --- UCS-2 / UTF-16 ----------------------------------------------------------------------------


def test_ucs2_single_part_holds_70_units_and_parts_67() -> None:
    assert split_text("Ж" * 70).parts == 1
    assert split_text("Ж" * 71).segments == ["Ж" * 67, "Ж" * 4]


def test_emoji_text_is_ucs2_and_never_splits_surrogate_pair() -> None:
    # 35 emoji = 70 UTF-16 units fit one part; 36 need two, cut at 33 (66 units), never at 33.5.
    assert split_text("😀" * 35) == codec.SplitText("ucs2", ["😀" * 35])
    split = split_text("😀" * 36)
    assert split.segments == ["😀" * 33, "😀" * 3]
    for segment in split.segments:
        segment.encode("utf-8")  # would raise on a lone surrogate


def test_emoji_straddling_the_67_unit_boundary_moves_to_next_part() -> None:
    text = "Ж" * 66 + "😀" + "Ж" * 10
    assert split_text(text).segments == ["Ж" * 66, "😀" + "Ж" * 10]


def test_gsmmodem_ucs2_encoder_defect_emoji_encode_as_utf16_be() -> None:
    # gsmmodem.pdu.encodeUcs2 appends ord(char) >> 8 as a byte: ValueError for U+1F600.
    (part,) = encode_submit("+15551234567", "ok 😀", reference=1, status_report=False)
    assert part.hex.endswith("0A006F006B0020D83DDE00")
    decoded = decode_submit(part.hex)
    assert (decoded.text, decoded.encoding) == ("ok 😀", "ucs2")


def test_gsmmodem_surrogate_decode_defect_received_pair_is_joined() -> None:
    hex_pdu = _deliver_with_dcs(0x08, "D83DDE00D83CDF89", 8)
    decoded = decode_pdu(hex_pdu)
    assert decoded.text == "😀🎉"  # type: ignore[union-attr]
    # gsmmodem returns the halves as separate characters, which cannot even be stored as UTF-8.
    assert len(gsmmodem_pdu.decodeSmsPdu(hex_pdu)["text"]) == 4


def test_lone_surrogate_in_received_ucs2_becomes_replacement_character() -> None:
    decoded = decode_pdu(_deliver_with_dcs(0x08, "0041D83D0042", 6))
    assert decoded.text == "A\ufffdB"  # type: ignore[union-attr]


def test_odd_ucs2_user_data_length_drops_the_dangling_octet() -> None:
    decoded = decode_pdu(_deliver_with_dcs(0x08, "004100", 3))
    assert decoded.text == "A"  # type: ignore[union-attr]


# --- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 555-123 4567", "+15551234567"),
        ("+1 (555) 123.4567", "+15551234567"),
        ("  0176 1234567 ", "01761234567"),
        ("Google", "Google"),
        ("My Bank", "My Bank"),
        ("DHL-Express", "DHL-Express"),
        ("+", "+"),
    ],
)
def test_normalize_address(raw: str, expected: str) -> None:
    assert normalize_address(raw) == expected


def test_gsmmodem_spaces_defect_number_with_spaces_is_encoded_international() -> None:
    # gsmmodem's _encodeAddressField turns "+1 555 123 4567" into an alphanumeric (0xD0) address.
    (part,) = encode_submit("+1 555-123 4567", "hi", reference=1, status_report=False)
    assert part.hex.startswith("0001010B915155214365F7")
    assert decode_submit(part.hex).to == "+15551234567"


def test_number_without_plus_is_encoded_with_unknown_type_of_number() -> None:
    (part,) = encode_submit("0176 123 4567", "hi", reference=1, status_report=False)
    assert part.hex.startswith("0001010B81")
    assert decode_submit(part.hex).to == "01761234567"


def test_alphanumeric_destination_is_rejected() -> None:
    with pytest.raises(CodecError, match="not a phone number"):
        encode_submit("Google", "hi", reference=1, status_report=False)
    with pytest.raises(CodecError, match="not a phone number"):
        encode_submit("", "hi", reference=1, status_report=False)


def test_too_long_number_is_rejected() -> None:
    with pytest.raises(CodecError, match="more than 20 digits"):
        encode_submit("+" + "1" * 21, "hi", reference=1, status_report=False)


def test_alphanumeric_sender_round_trips_through_deliver() -> None:
    (hex_pdu,) = encode_deliver("Google", "Your code is 123456", scts=SCTS)
    assert decode_pdu(hex_pdu).sender == "Google"  # type: ignore[union-attr]
    (hex_pdu,) = encode_deliver("abc", "x", scts=SCTS, smsc=None)
    assert hex_pdu.startswith("000406D061F118")  # gsmmodem's own address-field vector for "abc"


def test_alphanumeric_sender_longer_than_11_characters_is_rejected() -> None:
    with pytest.raises(CodecError, match="longer than 11"):
        encode_deliver("TwelveLetter", "x", scts=SCTS)


def test_semi_octet_star_and_hash_digits_decode_as_symbols() -> None:
    hex_pdu = "000404A12AB10000425010210000000100"
    assert decode_pdu(hex_pdu).sender == "*21#"  # type: ignore[union-attr]


# --- SMS-SUBMIT --------------------------------------------------------------------------------


def test_split_text_and_encode_submit_agree_on_segments() -> None:
    texts = [
        "short",
        "a" * 160,
        "a" * 161,
        "a" * 152 + "€" * 30,
        "Ж" * 200,
        "😀" * 100,
        "mixed € and [brackets] " * 20,
        "a" * 152 + "😀",
    ]
    for text in texts:
        split = split_text(text)
        pdus = encode_submit("+15551234567", text, reference=9, status_report=True)
        assert [p.segment for p in pdus] == split.segments
        decoded = [decode_submit(p.hex) for p in pdus]
        assert [d.text for d in decoded] == split.segments
        assert {d.encoding for d in decoded} == {split.encoding}


def test_encode_submit_round_trips_multipart_gsm7_with_udh_and_fill_bits() -> None:
    text = "The quick brown fox {jumps} over the lazy dog. " * 8
    pdus = encode_submit("+15551234567", text, reference=200, status_report=True)
    decoded = [decode_submit(p.hex) for p in pdus]
    assert "".join(d.text for d in decoded) == text
    assert [d.concat for d in decoded] == [
        Concat(200, len(pdus), n) for n in range(1, len(pdus) + 1)
    ]
    assert all(d.status_report_requested and d.reference == 200 for d in decoded)
    # first octet: SMS-SUBMIT | SRR | UDHI; header 05 00 03 <ref> <total> <seq>
    assert pdus[0].hex[2:4] == "61"
    assert f"050003C8{len(pdus):02X}01" in pdus[0].hex


def test_multipart_gsm7_part_is_exactly_140_octets_of_user_data() -> None:
    pdus = encode_submit("+15551234567", "a" * 306, reference=1, status_report=False)
    for part in pdus:
        # TPDU: first, MR, DA(2+6), PID, DCS, UDL = 13 octets before 140 octets of UD.
        assert part.tpdu_length == 13 + 140
        assert part.tpdu_length == len(part.hex) // 2 - 1


def test_tpdu_length_excludes_smsc_octets() -> None:
    (without,) = encode_submit("+15551234567", "hi", reference=1, status_report=False)
    (with_smsc,) = encode_submit(
        "+15551234567", "hi", reference=1, status_report=False, smsc="+447785016005"
    )
    assert without.tpdu_length == with_smsc.tpdu_length
    assert with_smsc.hex.startswith("0791447758100650")
    assert len(with_smsc.hex) // 2 - 8 == with_smsc.tpdu_length
    assert decode_submit(with_smsc.hex).text == "hi"


def test_status_report_flag_sets_tp_srr() -> None:
    (on,) = encode_submit("+15551234567", "hi", reference=1, status_report=True)
    (off,) = encode_submit("+15551234567", "hi", reference=1, status_report=False)
    assert (on.hex[2:4], off.hex[2:4]) == ("21", "01")
    assert decode_submit(on.hex).status_report_requested
    assert not decode_submit(off.hex).status_report_requested


@pytest.mark.parametrize(
    ("minutes", "tp_vp"),
    [
        (1, 0),
        (5, 0),
        (6, 1),
        (30, 5),
        (720, 143),
        (750, 144),
        (16 * 60, 151),
        (1440, 167),
        (1441, 168),
        (3 * 1440, 169),
        (30 * 1440, 196),
        (31 * 1440, 197),
        (5 * 7 * 1440, 197),
        (10**7, 255),
    ],
)
def test_validity_minutes_rounds_up_to_relative_tp_vp(minutes: int, tp_vp: int) -> None:
    (part,) = encode_submit(
        "+15551234567", "hi", reference=1, status_report=False, validity_minutes=minutes
    )
    assert part.hex[2:4] == "11"  # TP-VPF relative
    assert int(part.hex[26:28], 16) == tp_vp
    assert decode_submit(part.hex).text == "hi"


def test_gsmmodem_validity_defect_under_five_minutes_does_not_crash() -> None:
    # gsmmodem's _encodeRelativeValidityPeriod gives -1 for 1 minute, which bytearray rejects.
    assert gsmmodem_pdu._encodeRelativeValidityPeriod(timedelta(minutes=1)) == -1
    (part,) = encode_submit(
        "+15551234567", "hi", reference=1, status_report=False, validity_minutes=1
    )
    assert part.hex[26:28] == "00"


def test_non_positive_validity_is_rejected() -> None:
    with pytest.raises(CodecError, match="validity_minutes"):
        encode_submit("+15551234567", "hi", reference=1, status_report=False, validity_minutes=0)


@pytest.mark.parametrize("reference", [-1, 256, 65535])
def test_gsmmodem_reference_defect_references_outside_8_bits_are_rejected(reference: int) -> None:
    # gsmmodem switches to a 16-bit concat IE and then crashes appending the TP-MR octet.
    with pytest.raises(CodecError, match="0-255"):
        encode_submit("+15551234567", "a" * 300, reference=reference, status_report=False)
    with pytest.raises(CodecError, match="0-255"):
        encode_deliver("+15551234567", "a" * 300, scts=SCTS, concat_reference=reference)


@pytest.mark.parametrize("reference", [0, 255])
def test_reference_bounds_are_accepted(reference: int) -> None:
    pdus = encode_submit("+15551234567", "a" * 300, reference=reference, status_report=False)
    assert decode_submit(pdus[1].hex).concat == Concat(reference, 2, 2)


def test_decode_submit_rejects_other_pdu_types() -> None:
    (hex_pdu,) = encode_deliver("+15551234567", "hi", scts=SCTS)
    with pytest.raises(CodecError, match="expected an SMS-SUBMIT, got Deliver"):
        decode_submit(hex_pdu)


def test_decode_submit_without_smsc_octets() -> None:
    (part,) = encode_submit("+15551234567", "hi", reference=3, status_report=False)
    tpdu = part.hex[2:]
    assert decode_submit(tpdu, has_smsc=False).to == "+15551234567"


# --- SMS-DELIVER -------------------------------------------------------------------------------


def test_encode_deliver_round_trips_single_part() -> None:
    (hex_pdu,) = encode_deliver("+1 555 123 4567", "Hello [world] €5", scts=SCTS)
    decoded = decode_pdu(hex_pdu)
    assert decoded == Deliver(
        "+15551234567", "Hello [world] €5", SCTS, "gsm7", None, "+15550000000"
    )
    assert hex_pdu.startswith("07915155000000F0040B91")


def test_encode_deliver_multipart_gsm7_reassembles_with_shared_reference() -> None:
    text = "".join(f"line {n}: ~pipes| and {{braces}}\n" for n in range(20))
    parts = _deliver_parts(text, concat_reference=42)
    assert len(parts) > 2
    assert [p.concat for p in parts] == [
        Concat(42, len(parts), n) for n in range(1, len(parts) + 1)
    ]
    assert "".join(p.text for p in parts) == text


def test_encode_deliver_multipart_ucs2_with_emoji_round_trips() -> None:
    text = "Привет 👋 " * 30
    parts = _deliver_parts(text, concat_reference=7)
    assert {p.encoding for p in parts} == {"ucs2"}
    assert "".join(p.text for p in parts) == text


def test_encode_deliver_without_reference_picks_one_per_message() -> None:
    first = _deliver_parts("a" * 200)
    second = _deliver_parts("b" * 200)
    assert first[0].concat is not None
    assert second[0].concat is not None
    assert first[0].concat.reference == first[1].concat.reference  # type: ignore[union-attr]
    assert first[0].concat.reference != second[0].concat.reference
    assert 0 <= first[0].concat.reference <= 255


def test_encode_deliver_without_smsc_writes_zero_length_smsc() -> None:
    (hex_pdu,) = encode_deliver("+15551234567", "hi", scts=SCTS, smsc=None)
    assert hex_pdu.startswith("0004")
    assert decode_pdu(hex_pdu).smsc is None  # type: ignore[union-attr]
    assert decode_pdu(hex_pdu[2:], has_smsc=False).text == "hi"  # type: ignore[union-attr]


def test_deliver_timestamp_keeps_negative_and_quarter_hour_offsets() -> None:
    for offset in (timedelta(hours=-5), timedelta(hours=5, minutes=45), timedelta(0)):
        scts = datetime(2023, 12, 31, 23, 59, 59, tzinfo=timezone(offset))
        (part,) = _deliver_parts("t", scts=scts)
        assert part.scts == scts
        assert part.scts.utcoffset() == offset


def test_naive_timestamp_is_rejected() -> None:
    with pytest.raises(CodecError, match="timezone-aware"):
        encode_deliver("+15551234567", "hi", scts=datetime(2024, 1, 1))


def test_deliver_with_16_bit_concat_reference_is_decoded() -> None:
    # UDH 06 08 04 1234 03 02: 7 octets = 8 septets exactly, no fill bits; "hi" follows.
    septets = bytes(8) + b"hi"
    packed = gsmmodem_pdu.packSeptets(bytearray(septets))
    user_data = "06080412340302" + bytes(packed[7:]).hex().upper()
    decoded = decode_pdu(_deliver_with_dcs(0x00, user_data, 10, first=0x44))
    assert decoded.concat == Concat(0x1234, 3, 2)  # type: ignore[union-attr]
    assert decoded.text == "hi"  # type: ignore[union-attr]


def test_deliver_udh_with_port_and_concat_elements() -> None:
    # UDH: port addressing (05 04 0B84 23F0) then 8-bit concat; 8-bit payload.
    user_data = "0B" + "05040B8423F0" + "00032A0201" + "DEADBEEF"
    decoded = decode_pdu(_deliver_with_dcs(0x04, user_data, 16, first=0x44))
    assert decoded.concat == Concat(0x2A, 2, 1)  # type: ignore[union-attr]
    assert decoded.text == "DEADBEEF"  # type: ignore[union-attr]
    assert decoded.encoding == "8bit"  # type: ignore[union-attr]


def test_concat_element_with_zero_total_is_ignored() -> None:
    decoded = decode_pdu(_deliver_with_dcs(0x08, "050003070000" + "0041", 8, first=0x44))
    assert decoded.concat is None  # type: ignore[union-attr]
    assert decoded.text == "A"  # type: ignore[union-attr]


def test_trailing_at_sign_on_octet_boundary_is_kept() -> None:
    # 8 septets fill 7 octets exactly; gsmmodem's unpackSeptets drops a final "@" (0x00).
    text = "abcdefg@"
    (hex_pdu,) = encode_deliver("+15551234567", text, scts=SCTS)
    assert decode_pdu(hex_pdu).text == text  # type: ignore[union-attr]
    assert gsmmodem_pdu.decodeSmsPdu(hex_pdu)["text"] == "abcdefg"


def test_unknown_escape_code_shows_basic_character() -> None:
    septets = bytes([0x1B, 0x41, 0x42])  # ESC 'A' is unassigned in the extension table
    user_data = bytes(gsmmodem_pdu.packSeptets(bytearray(septets))).hex()
    assert decode_pdu(_deliver_with_dcs(0x00, user_data, 3)).text == "AB"  # type: ignore[union-attr]


def test_double_escape_shows_a_space_and_trailing_escape_is_dropped() -> None:
    septets = bytes([0x41, 0x1B, 0x1B, 0x42, 0x1B])
    user_data = bytes(gsmmodem_pdu.packSeptets(bytearray(septets))).hex()
    assert decode_pdu(_deliver_with_dcs(0x00, user_data, 5)).text == "A B"  # type: ignore[union-attr]


def test_type_0_and_flash_messages_expose_pid_and_class() -> None:
    hex_pdu = "00040B915155214365F740F042501021000000" + "02" + "E834"
    decoded = decode_pdu(hex_pdu)
    assert isinstance(decoded, Deliver)
    assert (decoded.protocol_id, decoded.message_class, decoded.text) == (0x40, 0, "hi")
    assert decode_pdu(_deliver_with_dcs(0x00, "E834", 2)).message_class is None  # type: ignore[union-attr]


# --- data coding groups ------------------------------------------------------------------------


UCS2_HI = "00680069"  # "hi"
GSM7_HI = "E834"  # "hi" packed


@pytest.mark.parametrize(
    ("dcs", "user_data", "udl", "text", "encoding"),
    [
        (0x00, GSM7_HI, 2, "hi", "gsm7"),
        (0x08, UCS2_HI, 4, "hi", "ucs2"),
        (0x18, UCS2_HI, 4, "hi", "ucs2"),  # UCS-2, class 0 (flash)
        (0x10, GSM7_HI, 2, "hi", "gsm7"),  # GSM-7, class 0
        (0x0C, GSM7_HI, 2, "hi", "gsm7"),  # reserved alphabet: default alphabet
        (0x48, UCS2_HI, 4, "hi", "ucs2"),  # automatic deletion group, UCS-2
        (0x40, GSM7_HI, 2, "hi", "gsm7"),  # automatic deletion group, GSM-7
        (0xC0, GSM7_HI, 2, "hi", "gsm7"),  # message waiting, discard
        (0xD8, GSM7_HI, 2, "hi", "gsm7"),  # message waiting, store, voicemail active
        (0xE0, UCS2_HI, 4, "hi", "ucs2"),  # message waiting, store, UCS-2
        (0xF0, GSM7_HI, 2, "hi", "gsm7"),  # data coding / message class: GSM-7 class 0
        (0xF1, GSM7_HI, 2, "hi", "gsm7"),
        (0xF4, "6869", 2, "hi", "8bit"),  # 8-bit class 0
        (0xF6, "0001FF", 3, "0001FF", "8bit"),  # binary 8-bit: hex
        (0x04, "6869", 2, "hi", "8bit"),
        (0x24, "6869", 2, "hi", "8bit"),  # compressed: shown raw, never as GSM-7
        (0x80, GSM7_HI, 2, "hi", "gsm7"),  # reserved group: default alphabet
    ],
)
def test_every_data_coding_group_decodes_to_its_alphabet(
    dcs: int, user_data: str, udl: int, text: str, encoding: str
) -> None:
    decoded = decode_pdu(_deliver_with_dcs(dcs, user_data, udl))
    assert isinstance(decoded, Deliver)
    assert (decoded.text, decoded.encoding) == (text, encoding)


def test_gsmmodem_dcs_defect_ucs2_in_message_waiting_group_is_not_gsm7_garbage() -> None:
    hex_pdu = _deliver_with_dcs(0xE0, "041F04400438043204350442", 12)
    assert gsmmodem_pdu.decodeSmsPdu(hex_pdu)["text"] != "Привет"
    assert decode_pdu(hex_pdu).text == "Привет"  # type: ignore[union-attr]


def test_8bit_binary_data_falls_back_to_hex_and_latin1_text_stays_readable() -> None:
    assert decode_pdu(_deliver_with_dcs(0x04, "436166E9", 4)).text == "Café"  # type: ignore[union-attr]
    assert decode_pdu(_deliver_with_dcs(0x04, "00FF10", 3)).text == "00FF10"  # type: ignore[union-attr]


# --- SMS-STATUS-REPORT -------------------------------------------------------------------------


def test_encode_status_report_round_trips() -> None:
    hex_pdu = encode_status_report(77, "+1 555 123 4567", scts=SCTS, discharge=DISCHARGE)
    decoded = decode_pdu(hex_pdu)
    assert decoded == StatusReport(
        77, "+15551234567", 0, "received by the recipient", True, True, SCTS, DISCHARGE
    )
    assert hex_pdu.startswith("07915155000000F0064D0B91")


def test_status_report_failure_round_trips() -> None:
    hex_pdu = encode_status_report(
        5, "+15551234567", status=0x46, scts=SCTS, discharge=DISCHARGE, smsc=None
    )
    decoded = decode_pdu(hex_pdu)
    assert isinstance(decoded, StatusReport)
    assert (decoded.status, decoded.delivered, decoded.final) == (0x46, False, True)
    assert decoded.meaning == "validity period expired"


def test_status_report_with_broken_timestamp_keeps_the_status() -> None:
    hex_pdu = "0006050B915155214365F7" + "FFFFFFFFFFFFFF" * 2 + "00"
    decoded = decode_pdu(hex_pdu)
    assert isinstance(decoded, StatusReport)
    assert (decoded.scts, decoded.discharge, decoded.delivered) == (None, None, True)


def test_status_report_with_optional_parameters_after_status() -> None:
    base = encode_status_report(9, "+15551234567", status=0x21, scts=SCTS, discharge=DISCHARGE)
    decoded = decode_pdu(base + "00")  # TP-PI with nothing present
    assert isinstance(decoded, StatusReport)
    assert (decoded.reference, decoded.final) == (9, False)


@pytest.mark.parametrize(
    ("status", "delivered", "final"),
    [
        (0x00, True, True),
        (0x01, True, True),
        (0x02, True, True),
        (0x1F, True, True),  # SC-specific, transaction completed
        (0x20, False, False),
        (0x25, False, False),
        (0x3A, False, False),  # SC-specific, still trying
        (0x40, False, True),
        (0x46, False, True),
        (0x5F, False, True),
        (0x60, False, True),
        (0x65, False, True),
        (0x7F, False, True),
        (0x03, False, True),  # reserved: treated as service rejected
        (0x26, False, True),
        (0x80, False, True),
        (0xFF, False, True),
    ],
)
def test_status_meaning_follows_23040(status: int, delivered: bool, final: bool) -> None:
    meaning, got_delivered, got_final = status_meaning(status)
    assert (got_delivered, got_final) == (delivered, final)
    assert meaning


def test_status_meaning_text() -> None:
    assert status_meaning(0x21)[0] == "recipient busy, still trying"
    assert "reserved" in status_meaning(0x80)[0]
    with pytest.raises(CodecError):
        status_meaning(256)


# --- malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "0", "zz", "0011000B9164", "07917283010010F504", "00030000"])
def test_malformed_pdus_raise_codec_error_not_index_error(bad: str) -> None:
    with pytest.raises(CodecError):
        decode_pdu(bad)


def test_pdu_hex_is_accepted_in_lower_case_with_whitespace() -> None:
    decoded = decode_pdu(" 0011000b916407281553f80000aa0ae8329bfd4697d9ec37\r\n")
    assert isinstance(decoded, Submit)
    assert decoded.text == "hellohello"


def test_deliver_with_invalid_timestamp_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="bad timestamp"):
        decode_pdu("00040B915155214365F70000" + "99999999999999" + "00")


def test_codec_error_is_a_value_error() -> None:
    assert issubclass(CodecError, ValueError)


# --- USSD --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Your balance is 5.00 EUR", "1234567", "12345678", "ends with CR\r", "x", "{€}", ""],
)
def test_ussd_packed_round_trip(text: str) -> None:
    assert decode_ussd(encode_ussd_packed(text), 15) == text


def test_ussd_cr_ending_on_octet_boundary_gets_a_second_cr() -> None:
    # 23.038 §6.1.2.3.1: otherwise the receiver would strip the wanted CR as padding.
    assert decode_ussd(encode_ussd_packed("1234567\r"), 15) == "1234567\r\r"


def test_ussd_seven_spare_bits_are_padded_with_cr_and_stripped() -> None:
    packed = encode_ussd_packed("1234567")  # 7 septets: 7 spare bits filled with CR
    assert len(packed) == 14
    assert decode_ussd(packed, 15) == "1234567"


def test_ussd_ucs2_hex_is_decoded() -> None:
    assert decode_ussd("00420061006C0061006E00630065003A0020D83DDCB0", 72) == "Balance: 💰"


def test_ussd_plain_text_from_modem_in_gsm_charset_is_returned_as_is() -> None:
    assert decode_ussd("Your balance is 5.00", 15) == "Your balance is 5.00"
    assert decode_ussd("  ok  ", 15) == "ok"


def test_ussd_gsm7_dcs_with_ucs2_charset_hex_is_decoded() -> None:
    # A modem set to AT+CSCS="UCS2" re-encodes 7-bit answers as UCS-2 hex but keeps dcs 15.
    assert decode_ussd("00480069", 15) == "Hi"


def test_ussd_8bit_dcs_is_latin1() -> None:
    assert decode_ussd("4869", 0x44) == "Hi"


def test_ussd_encode_rejects_non_gsm7() -> None:
    with pytest.raises(CodecError, match="'😀'"):
        encode_ussd_packed("😀")
