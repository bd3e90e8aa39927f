"""Vendor profiles: what differs between a SIM800, a Huawei stick and a Quectel module.

A profile is plain data; the command handlers read it to decide identification strings,
allowed ``AT+CNMI`` ranges, the first storage index, boot and periodic unsolicited
codes, the way USSD answers are encoded, and the final result of an unknown command.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["HUAWEI", "PROFILES", "QUECTEL", "SIM800", "Profile", "get_profile"]


@dataclass(frozen=True)
class Profile:
    """Behaviour of one modem family."""

    name: str
    manufacturer: str
    model: str
    revision: str
    ati: tuple[str, ...]
    # Allowed values of <mode>,<mt>,<bm>,<ds>,<bfr> for AT+CNMI, and the text of AT+CNMI=?.
    cnmi_ranges: tuple[frozenset[int], ...]
    cnmi_test: str
    cpms_test: str
    cscs_test: str
    default_cscs: str = "IRA"
    default_cmee: int = 0
    default_cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    first_index: int = 1
    capacity: int = 30
    # Lines emitted, in order, when the modem finishes booting with a ready SIM.
    boot_urcs: tuple[str, ...] = ("RDY",)
    # Lines emitted after the SIM becomes ready (boot with no PIN, or a correct PIN).
    sim_ready_urcs: tuple[str, ...] = ("+CPIN: READY",)
    unknown_command: str = "ERROR"
    # Reading an empty storage index: SIM800 answers a bare OK, others +CMS ERROR: 321.
    cmgr_empty_ok: bool = True
    ccid_prefix: str = ""
    cops_act: int | None = None
    # <ber> of +CSQ: SIM800 reports 0, the others 99 (unknown).
    csq_ber: int = 99
    # Huawei prints "^RSSI:17" (no space) every few seconds unless AT^CURC=0.
    periodic_urcs: tuple[str, ...] = ()
    periodic_interval: float = 0.0
    # Huawei lets its own unsolicited codes out even while a command runs.
    urc_during_command: bool = False
    # Huawei's default USSD mode is "transparent": requests and answers are packed GSM-7 hex.
    ussd_packed: bool = False
    # Some networks/firmwares send "+CUSD: 2" before the real answer, or answer before OK.
    ussd_stray_cusd2: bool = False
    ussd_answer_before_ok: bool = False
    has_cereg: bool = False
    call_urcs: bool = False

    def with_options(self, **changes: object) -> Profile:
        """Return a copy of this profile with some fields replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _r(*values: int) -> frozenset[int]:
    return frozenset(values)


SIM800 = Profile(
    name="sim800",
    manufacturer="SIMCOM_Ltd",
    model="SIMCOM_SIM800L",
    revision="Revision:1418B05SIM800L24",
    ati=("SIM800 R14.18",),
    cnmi_ranges=(_r(0, 1, 2, 3), _r(0, 1, 2, 3), _r(0, 2), _r(0, 1), _r(0, 1)),
    cnmi_test="+CNMI: (0-3),(0-3),(0,2),(0,1),(0,1)",
    cpms_test=(
        '+CPMS: ("SM","ME","SM_P","ME_P","MT"),("SM","ME","SM_P","ME_P","MT"),'
        '("SM","ME","SM_P","ME_P","MT")'
    ),
    cscs_test='+CSCS: ("IRA","GSM","UCS2","HEX","PCCP","PCDN","8859-1")',
    default_cscs="IRA",
    default_cmee=0,
    first_index=1,
    boot_urcs=("RDY", "+CFUN: 1"),
    sim_ready_urcs=("+CPIN: READY", "Call Ready", "SMS Ready"),
    unknown_command="ERROR",
    cmgr_empty_ok=True,
    csq_ber=0,
)

HUAWEI = Profile(
    name="huawei",
    manufacturer="huawei",
    model="E3531",
    revision="22.521.23.00.00",
    ati=(
        "Manufacturer: huawei",
        "Model: E3531",
        "Revision: 22.521.23.00.00",
        "IMEI: {imei}",
        "+GCAP: +CGSM,+DS,+ES",
    ),
    cnmi_ranges=(_r(0, 1, 2), _r(0, 1, 2, 3), _r(0, 2), _r(0, 1, 2), _r(0, 1)),
    cnmi_test="+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)",
    cpms_test='+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM","SR"),("ME","MT","SM","SR")',
    cscs_test='+CSCS: ("IRA","UCS2","GSM")',
    default_cscs="IRA",
    default_cmee=0,
    first_index=0,
    boot_urcs=("^SYSSTART",),
    sim_ready_urcs=("^SIMST:1",),
    unknown_command="COMMAND NOT SUPPORT",
    cmgr_empty_ok=False,
    default_cnmi=(0, 0, 0, 0, 0),
    periodic_urcs=("^RSSI:{csq}", "^BOOT:20952548,0,0,0,6"),
    periodic_interval=5.0,
    urc_during_command=True,
    ussd_packed=True,
    call_urcs=True,
)

QUECTEL = Profile(
    name="quectel",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A06M4G",
    ati=("Quectel", "EC25", "Revision: EC25EFAR06A06M4G"),
    cnmi_ranges=(_r(0, 1, 2), _r(0, 1, 2, 3), _r(0, 2), _r(0, 1, 2), _r(0, 1)),
    cnmi_test="+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)",
    cpms_test='+CPMS: ("SM","ME","MT"),("SM","ME","MT"),("SM","ME","MT")',
    cscs_test='+CSCS: ("GSM","IRA","UCS2")',
    default_cscs="GSM",
    default_cmee=1,
    first_index=0,
    capacity=50,
    boot_urcs=("RDY", "+CFUN: 1"),
    sim_ready_urcs=("+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
    unknown_command="ERROR",
    cmgr_empty_ok=False,
    ccid_prefix="+CCID: ",
    cops_act=7,
    has_cereg=True,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (SIM800, HUAWEI, QUECTEL)}


def get_profile(profile: str | Profile) -> Profile:
    """Resolve a profile name (``sim800``, ``huawei``, ``quectel``) or pass a Profile through."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile.lower()]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown modem profile {profile!r} (known: {known})") from None
