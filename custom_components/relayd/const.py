"""Constants of the relayd integration."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

DOMAIN: Final = "relayd"

CONF_DEFAULT_SIM: Final = "default_sim"
AUTO_SIM: Final = "auto"
"""The default SIM option that lets relayd's router choose."""
CONF_RECIPIENTS: Final = "recipients"
CONF_RELAY_ID: Final = "relay_id"
CONF_TLS: Final = "tls"
CONF_CA: Final = "ca_pem"
"""The relay's own CA (PEM), fetched from /ca.pem at setup and trusted alone after that."""

DEFAULT_PORT: Final = 8080
SCAN_INTERVAL: Final = timedelta(seconds=60)
"""Signal and counters are polled; SMS and SIM changes are pushed (and trigger a refresh)."""

EVENT_SMS_RECEIVED: Final = "relayd_sms_received"
LEGACY_EVENT_SMS_RECEIVED: Final = "sms.incoming_sms"
"""The event of Home Assistant's removed `sms` (Gammu) integration, for old automations."""

SERVICE_SEND_SMS: Final = "send_sms"
SERVICE_RING: Final = "ring"
SERVICE_USSD: Final = "ussd"
