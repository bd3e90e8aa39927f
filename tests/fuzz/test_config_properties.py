"""Properties of config loading: any TOML document, file or RELAYD_* value gives a Config or
a clear ConfigError naming the problem, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relayd.config import Config, ConfigError, load_config

SECTIONS = {
    name: list(field.annotation.model_fields)
    for name, field in Config.model_fields.items()
    if isinstance(field.annotation, type) and hasattr(field.annotation, "model_fields")
}
ARRAY_SECTIONS = ["modem", "webhook", "org", "rule", "routing"]
SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.datetimes(min_value=dt.datetime(1, 1, 1)),
    st.dates(),
    st.sampled_from(["auto", "off", "0.0.0.0", "/dev/ttyUSB0", "default", "+15551230001"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
KEYS = st.one_of(
    st.sampled_from(sorted({k for keys in SECTIONS.values() for k in keys})), st.text(max_size=10)
)
TABLES = st.dictionaries(KEYS, VALUES, max_size=5)
DOCUMENTS = st.dictionaries(
    st.one_of(st.sampled_from(sorted(SECTIONS) + ARRAY_SECTIONS), st.text(max_size=8)),
    st.one_of(TABLES, st.lists(TABLES, max_size=2), VALUES),
    max_size=5,
)


def toml_value(value: Any) -> str:
    """`value` as a TOML value (inline tables and arrays; strings as JSON basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else "inf" if value == float("inf") else "-inf" if value == float("-inf") else repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict[str, Any]) -> str:
    lines = []
    for name, value in data.items():
        lines.append(f"{json.dumps(name)} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def loads_or_says_why(text: str | bytes, env: dict[str, str] | None = None) -> None:
    """load_config gives a Config, or a ConfigError with a message; nothing else escapes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "relayd.toml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        outcome: object
        try:
            outcome = load_config(path, env or {})
        except ConfigError as exc:
            outcome = exc
        assert isinstance(outcome, Config) or str(outcome), outcome


@given(DOCUMENTS)
def test_any_toml_document_loads_or_raises_config_error(data: dict[str, Any]) -> None:
    loads_or_says_why(toml_document(data))


@given(st.sampled_from(sorted(SECTIONS)), st.data())
def test_any_value_of_a_known_key_loads_or_raises_config_error(
    section: str, data: st.DataObject
) -> None:
    keys = SECTIONS[section]
    table = data.draw(st.dictionaries(st.sampled_from(keys), VALUES, min_size=1, max_size=3))
    array = section in ARRAY_SECTIONS or data.draw(st.booleans())
    body = "\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items())
    header = f"[[{section}]]" if array else f"[{section}]"
    loads_or_says_why(f"{header}\n{body}\n")


@given(st.binary(max_size=200))
def test_any_bytes_as_the_config_file_load_or_raise_config_error(raw: bytes) -> None:
    loads_or_says_why(raw)


@given(
    DOCUMENTS,
    st.dictionaries(
        st.sampled_from([f"RELAYD_{s.upper()}_{k.upper()}" for s, keys in SECTIONS.items() for k in keys]),
        st.text(max_size=20),
        max_size=3,
    ),
)
def test_any_relayd_environment_over_any_document_loads_or_raises_config_error(
    data: dict[str, Any], env: dict[str, str]
) -> None:
    loads_or_says_why(toml_document(data), env)


def test_a_directory_as_the_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config(tmp_path)


def test_a_file_that_is_not_utf8_is_a_config_error_naming_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "relayd.toml"
    path.write_bytes(b'[server]\nhost = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(path, {})


def test_an_env_override_of_a_section_that_is_no_table_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "relayd.toml"
    path.write_text("server = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[server\]"):
        load_config(path, {"RELAYD_SERVER_PORT": "8081"})
