"""Errors of the modem driver: one root, subclasses that carry what the caller needs."""

from __future__ import annotations

# 3GPP TS 27.007 §9.2 (+CME ERROR), the codes modems actually send.
CME_MEANINGS: dict[int, str] = {
    0: "phone failure",
    1: "no connection to phone",
    2: "phone-adaptor link reserved",
    3: "operation not allowed",
    4: "operation not supported",
    5: "PH-SIM PIN required",
    6: "PH-FSIM PIN required",
    7: "PH-FSIM PUK required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    23: "memory failure",
    24: "text string too long",
    25: "invalid characters in text string",
    26: "dial string too long",
    27: "invalid characters in dial string",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    40: "network personalisation PIN required",
    41: "network personalisation PUK required",
    100: "unknown",
    103: "illegal MS",
    106: "illegal ME",
    107: "GPRS services not allowed",
    111: "PLMN not allowed",
    112: "location area not allowed",
    113: "roaming not allowed in this location area",
    515: "please wait, init or command processing in progress",
}

# 3GPP TS 27.005 §3.2.5 (+CMS ERROR) and the RP/TP causes of TS 24.011 / 23.040.
CMS_MEANINGS: dict[int, str] = {
    1: "unassigned (unallocated) number",
    8: "operator determined barring",
    10: "call barred",
    21: "short message transfer rejected",
    27: "destination out of service",
    28: "unidentified subscriber",
    29: "facility rejected",
    30: "unknown subscriber",
    38: "network out of order",
    41: "temporary failure",
    42: "congestion",
    47: "resources unavailable, unspecified",
    50: "requested facility not subscribed",
    69: "requested facility not implemented",
    81: "invalid short message transfer reference value",
    95: "invalid message, unspecified",
    96: "invalid mandatory information",
    97: "message type non-existent or not implemented",
    98: "message not compatible with short message protocol state",
    99: "information element non-existent or not implemented",
    111: "protocol error, unspecified",
    127: "interworking, unspecified",
    128: "telematic interworking not supported",
    129: "short message type 0 not supported",
    130: "cannot replace short message",
    143: "unspecified TP-PID error",
    144: "data coding scheme (alphabet) not supported",
    145: "message class not supported",
    159: "unspecified TP-DCS error",
    160: "command cannot be actioned",
    161: "command unsupported",
    175: "unspecified TP-Command error",
    176: "TPDU not supported",
    192: "SC busy",
    193: "no SC subscription",
    194: "SC system failure",
    195: "invalid SME address",
    196: "destination SME barred",
    197: "SM rejected - duplicate SM",
    198: "TP-VPF not supported",
    199: "TP-VP not supported",
    208: "SIM SMS storage full",
    209: "no SMS storage capability in SIM",
    210: "error in MS",
    211: "memory capacity exceeded",
    212: "SIM application toolkit busy",
    213: "SIM data download error",
    255: "unspecified error cause",
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    312: "PH-SIM PIN required",
    313: "SIM failure",
    314: "SIM busy",
    315: "SIM wrong",
    316: "SIM PUK required",
    317: "SIM PIN2 required",
    318: "SIM PUK2 required",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
    515: "please wait, init or command processing in progress",
}

PORT_BUSY_FIX = (
    "another process (usually ModemManager) holds the port: add a udev rule with "
    'ENV{ID_MM_DEVICE_IGNORE}="1" for this modem, or run `systemctl stop ModemManager`'
)


class ModemError(Exception):
    """Root of every error the modem driver raises."""


class ATTimeoutError(ModemError, TimeoutError):
    """The modem did not finish a command within its timeout."""

    def __init__(self, command: str, timeout: float) -> None:
        super().__init__(f"no answer to {command} within {timeout:g} s")
        self.command = command
        self.timeout = timeout


class CommandError(ModemError):
    """The modem answered a command with a final error result."""

    def __init__(self, command: str, code: int | None = None, result: str = "ERROR") -> None:
        self.command = command
        self.code = code
        self.result = result
        self.after_pdu = False  # AT+CMGS: the modem refused after the PDU was written
        super().__init__(f"{command} failed: {self.describe()}")

    def describe(self) -> str:
        """Human-readable reason."""
        return self.result


class CmeError(CommandError):
    """+CME ERROR: equipment or SIM error (3GPP TS 27.007 §9.2)."""

    @property
    def meaning(self) -> str:
        """The standard meaning of the code."""
        if self.code is None:
            return self.result
        return CME_MEANINGS.get(self.code, f"CME error {self.code}")

    def describe(self) -> str:
        """Code and meaning."""
        return f"+CME ERROR: {self.code} ({self.meaning})"


class CmsError(CommandError):
    """+CMS ERROR: message service error (3GPP TS 27.005 §3.2.5)."""

    @property
    def meaning(self) -> str:
        """The standard meaning of the code."""
        if self.code is None:
            return self.result
        if self.code >= 512:
            return f"manufacturer-specific error {self.code}"
        return CMS_MEANINGS.get(self.code, f"CMS error {self.code}")

    def describe(self) -> str:
        """Code and meaning."""
        return f"+CMS ERROR: {self.code} ({self.meaning})"


class CommandNotSupported(CommandError):
    """The modem does not know the command (Huawei: COMMAND NOT SUPPORT)."""


class CallEnded(CommandError):
    """A call command ended with NO CARRIER, BUSY, NO ANSWER or NO DIALTONE."""


class PortBusyError(ModemError):
    """The serial port is held by another process."""

    def __init__(self, port: str, detail: str = "") -> None:
        self.port = port
        self.detail = detail
        super().__init__(f"port {port} is busy ({detail or 'in use'}): {PORT_BUSY_FIX}")


class PortOpenError(ModemError):
    """The serial port exists but could not be opened (permissions, bad URL, ...)."""


class ModemGone(ModemError):
    """The port vanished or the connection to the modem was lost."""


class ModemRestarted(ModemGone):
    """The modem rebooted (RDY, ^SYSSTART): whatever was in flight is lost."""


class ModemNotReady(ModemError):
    """The modem is not initialised (offline, SIM locked, ...); nothing was sent."""


class SimPinError(ModemError):
    """The SIM needs a human: PIN missing, PIN rejected, or PUK required."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason  # "sim_pin_required" | "wrong_pin" | "sim_puk_required"
        super().__init__(message)


class NoSimError(ModemError):
    """No SIM card is inserted, or the SIM failed."""


class SendInterrupted(ModemError):
    """A send stopped half way.

    ``not_sent`` is True only when it is certain no part went on air;
    ``references`` are the TP-MRs of the parts the modem confirmed.
    """

    def __init__(
        self,
        message: str,
        *,
        not_sent: bool,
        references: list[int] | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.not_sent = not_sent
        self.references = list(references or [])
        self.cause = cause


class UssdError(ModemError):
    """The network refused or did not answer a USSD request."""


_CALL_RESULTS = frozenset({"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"})


def error_for_final(command: str, final: str) -> CommandError | None:
    """The error a final result code stands for; None for OK."""
    if final == "OK":
        return None
    if final.startswith(("+CME ERROR:", "+CMS ERROR:")):
        text = final[11:].strip()
        cms = final.startswith("+CMS")
        code = int(text) if text.isdigit() else _code_from_text(text, cms=cms)
        return (CmsError if cms else CmeError)(command, code, final)
    if final in ("COMMAND NOT SUPPORT", "TOO MANY PARAMETERS"):
        return CommandNotSupported(command, None, final)
    if final in _CALL_RESULTS:
        return CallEnded(command, None, final)
    return CommandError(command, None, final)


def _code_from_text(text: str, *, cms: bool) -> int | None:
    """Verbose errors (AT+CMEE=2) mapped back to their codes."""
    table = CMS_MEANINGS if cms else CME_MEANINGS
    lowered = text.lower()
    for code, meaning in table.items():
        if meaning.lower() == lowered:
            return code
    return None
