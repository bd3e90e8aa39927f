"""What a modem reports about itself: its state, identity, signal and registration."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ModemState(enum.StrEnum):
    """Where the modem's life cycle stands; values are shown to users as they are."""

    STARTING = "starting"
    READY = "ready"
    OFFLINE = "offline"
    SIM_PIN_REQUIRED = "sim_pin_required"
    SIM_PUK_REQUIRED = "sim_puk_required"
    WRONG_PIN = "wrong_pin"
    PORT_BUSY = "port_busy"
    NO_SIM = "no_sim"
    ERROR = "error"


@dataclass
class ModemInfo:
    """Identity (read at init) and radio status (refreshed by the health check)."""

    maker: str | None = None
    model: str | None = None
    revision: str | None = None
    imei: str | None = None
    imsi: str | None = None
    iccid: str | None = None
    own_number: str | None = None
    operator: str | None = None
    rssi: int | None = None  # AT+CSQ 0..31
    signal_percent: int | None = None
    signal_dbm: int | None = None
    registration: str | None = None  # home, roaming, searching, denied, ...
    registered: bool = False
    roaming: bool = False

    @property
    def vendor(self) -> str:
        """"huawei", "quectel", "simcom" or "" — the quirk family."""
        maker = (self.maker or "").lower()
        for family in ("huawei", "quectel", "simcom"):
            if family in maker:
                return family
        return ""
