"""Every key the integration shows has English text (a missing one shows as a raw key in the UI)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import yaml

from custom_components.relayd.sensor import REGISTRATION_STATES, SENSORS

PACKAGE = Path(__file__).resolve().parents[1] / "custom_components" / "relayd"
STRINGS = json.loads((PACKAGE / "strings.json").read_text())


def _source() -> str:
    return "\n".join(p.read_text() for p in sorted(PACKAGE.glob("*.py")))


def test_english_translation_is_the_strings_file() -> None:
    assert json.loads((PACKAGE / "translations" / "en.json").read_text()) == STRINGS


def test_every_flow_step_error_and_abort_the_code_uses_has_text() -> None:
    source = _source()
    steps = set(re.findall(r'step_id="(\w+)"', source))
    assert steps == {"user", "zeroconf_confirm", "reauth_confirm", "init"}
    config, options = STRINGS["config"], STRINGS["options"]
    assert steps - {"init"} <= set(config["step"]) and "init" in options["step"]
    errors = set(re.findall(r'"base": "(\w+)"', source)) | set(
        re.findall(r'else "(\w+)"\}', source)
    )
    assert {"invalid_auth", "cannot_connect", "missing_scope", "unknown"} <= errors
    assert errors <= set(config["error"]), errors - set(config["error"])
    aborts = set(re.findall(r'async_abort\(reason="(\w+)"\)', source))
    assert aborts | {"already_configured", "reauth_successful"} <= set(config["abort"])


def test_every_exception_and_entity_translation_key_has_text() -> None:
    tree = ast.parse(_source())
    keys = {
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword)
        and node.arg == "translation_key"
        and isinstance(node.value, ast.Constant)
    }
    keys |= {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in ("no_relay", "which_relay")
    }
    assert keys <= set(STRINGS["exceptions"]), keys - set(STRINGS["exceptions"])
    entity = STRINGS["entity"]
    assert {d.key for d in SENSORS} == set(entity["sensor"])
    assert set(entity["sensor"]["registration"]["state"]) == set(REGISTRATION_STATES)
    assert set(entity["binary_sensor"]) == {"online"}
    assert set(entity["notify"]) == {"relay", "sim_notify"}


def test_every_action_and_field_in_services_yaml_has_a_name_and_description() -> None:
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text())
    assert set(services) == set(STRINGS["services"]) == {"send_sms", "ring", "ussd"}
    for name, service in services.items():
        text = STRINGS["services"][name]
        assert text["name"] and text["description"]
        assert set(service["fields"]) == set(text["fields"]), name
        for field in text["fields"].values():
            assert field["name"] and field["description"]
