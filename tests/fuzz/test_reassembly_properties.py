"""Properties of inbound multipart reassembly (relayd/store/inbound.py) on a real SQLite file.

Parts arrive in any order, some twice, some with a sequence number no real part has: one
message comes out, exactly when its last part is in, with every part's text in order.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from relayd.api.presenters import EVENT_PAYLOADS
from relayd.store import Store
from relayd.store.records import MessageRow
from tests.support.postgres import another_storage_url

PART_TEXTS = st.lists(st.text(max_size=20), min_size=2, max_size=6)


async def _deliver(parts: list[tuple[int, int, str]], reference: int) -> list[MessageRow | None]:
    """Store each (seq, total, text) as a part from one sender; return what came out, in order."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "relayd.db"), url=another_storage_url(), payloads=EVENT_PAYLOADS)
        await store.open()
        try:
            out: list[MessageRow | None] = []
            for seq, total, text in parts:
                message = await store.inbound.store(
                    "default", "modem:a", "+15551230001", text, encoding="gsm7",
                    received_at=None, external_id=None, concat=(reference, total, seq),
                )
                out.append(message)
            return out
        finally:
            await store.close()


@settings(max_examples=max(10, settings.default.max_examples // 6))
@given(PART_TEXTS, st.integers(0, 65535), st.data())
def test_parts_in_any_order_and_repeated_make_one_whole_message(
    texts: list[str], reference: int, data: st.DataObject
) -> None:
    total = len(texts)
    parts = [(seq, total, text) for seq, text in enumerate(texts, start=1)]
    arrival = data.draw(st.permutations(parts))
    repeats = data.draw(st.lists(st.sampled_from(parts), max_size=3))
    stream = list(arrival)
    for part in repeats:
        stream.insert(data.draw(st.integers(0, len(stream))), part)
    out = asyncio.run(_deliver(stream, reference))
    made = [m for m in out if m is not None]
    assert len(made) == 1
    assert made[0].text == "".join(texts) and made[0].parts == total
    assert not made[0].partial
    last_new = max(stream.index(p) for p in parts)  # the first arrival of the last new part
    assert out[last_new] is made[0]


@settings(max_examples=max(10, settings.default.max_examples // 6))
@given(PART_TEXTS, st.integers(0, 65535), st.data())
def test_a_part_numbered_outside_one_to_total_is_its_own_message_never_a_piece(
    texts: list[str], reference: int, data: st.DataObject
) -> None:
    total = len(texts)
    real = [(seq, total, text) for seq, text in enumerate(texts, start=1)]
    missing = data.draw(st.sampled_from(real))
    bogus = data.draw(st.lists(st.tuples(
        st.one_of(st.just(0), st.integers(total + 1, 255)), st.just(total), st.text(max_size=5),
    ), min_size=1, max_size=3))
    stream = [p for p in real if p is not missing] + bogus
    out = asyncio.run(_deliver(data.draw(st.permutations(stream)), reference))
    made = [m for m in out if m is not None]
    assert sorted(m.text for m in made) == sorted(text for _, _, text in bogus)
    assert all(m.parts == 1 for m in made)  # the real message still waits for `missing`
