"""ModemBackend: a GSM modem (modem.Modem) as one SimBackend of the relay."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from modem.codec import CodecError, Deliver, StatusReport
from modem.errors import (
    ATTimeoutError,
    CmsError,
    CommandError,
    ModemError,
    ModemGone,
    ModemNotReady,
    SendInterrupted,
    UssdError,
)
from modem.info import ModemState
from modem.modem import Modem
from relayd.bridges.base import (
    BackendEvents,
    Capability,
    DeliveryReport,
    InboundSms,
    OutboundSms,
    SendFailed,
    SendReceipt,
    SimBackend,
    SimInfo,
)

if TYPE_CHECKING:
    from relayd.config import Config, ModemConfig

_LOGGER = logging.getLogger(__name__)

# +CMS ERROR codes after which the same text to the same number will fail on any SIM.
# Everything else (network trouble, SIM or SMSC problems of this line) may work elsewhere.
PERMANENT_CMS = frozenset(
    {1, 8, 10, 21, 27, 28, 29, 30, 50, 69, 96, 97, 98, 99, 111, 127, 304, 305}
)


def cms_is_transient(code: int | None) -> bool:
    """Whether another attempt (here or on another SIM) might succeed after this error."""
    if code is None:
        return True
    if code in PERMANENT_CMS:
        return False
    # TP-level causes (128-255: TP-PID/DCS/command/SC errors) concern the message itself,
    # except "SC busy" and "SIM toolkit busy".
    return not (128 <= code <= 255) or code in (192, 212)


class ModemBackend:
    """Adapts modem.Modem to the SimBackend protocol."""

    max_in_flight = 1  # one AT command in flight: a second send would only wait in the engine
    redelivers_by_id = False  # a modem cannot tell whether a torn send went on air

    def __init__(
        self,
        modem: Modem,
        *,
        org: str = "default",
        priority: int = 0,
        rate_per_minute: float = 0.0,
    ) -> None:
        self.modem = modem
        self.priority = priority
        self.rate_per_minute = rate_per_minute
        self._events: BackendEvents | None = None
        self._calling = False  # one voice call at a time: a second ATD is refused by the modem
        self._info = SimInfo(
            id=f"modem:{modem.name}", kind="modem", name=modem.name, org=org, state="starting"
        )
        self._refresh_info()

    @classmethod
    def from_config(cls, config: ModemConfig, *, multipart_wait: float = 600.0) -> ModemBackend:
        """A backend for one `[[modem]]` section."""
        modem = Modem(
            config.port,
            name=config.name,
            baudrate=config.baudrate,
            pin=config.pin or None,
            delivery_reports=config.delivery_reports,
            health_interval=config.health_interval,
            multipart_wait=multipart_wait,
        )
        return cls(
            modem,
            org=config.org,
            priority=config.priority,
            rate_per_minute=config.rate_per_minute,
        )

    # -- SimBackend ---------------------------------------------------------------------

    @property
    def info(self) -> SimInfo:
        """Live description; the same object throughout (the registry annotates it)."""
        return self._info

    @property
    def capabilities(self) -> frozenset[Capability]:
        """SMS, USSD, calls; delivery reports when configured."""
        base: set[Capability] = {"sms", "ussd", "call"}
        if self.modem.delivery_reports:
            base.add("delivery_reports")
        return frozenset(base)

    async def start(self, events: BackendEvents) -> None:
        """Wire the callbacks and start the modem (returns after its first init attempt)."""
        self._events = events
        self.modem.on_inbound = self._on_inbound
        self.modem.on_status_report = self._on_status_report
        self.modem.on_state_changed = self._on_state_changed
        await self.modem.start()
        self._refresh_info()

    async def stop(self) -> None:
        """Stop the modem and close its port."""
        await self.modem.stop()
        self._refresh_info()

    async def send(self, sms: OutboundSms) -> SendReceipt:
        """Send one message; SendFailed says whether it may have gone out."""
        try:
            references = await self.modem.send_sms(
                sms.to,
                sms.text,
                encoding=sms.encoding,
                status_report=sms.delivery_report and self.modem.delivery_reports,
            )
        except ModemNotReady as err:
            raise SendFailed("offline", str(err), transient=True, not_sent=True) from err
        except SendInterrupted as err:
            if not err.not_sent:
                # SPEC §5: it may have gone on air; never resent blindly.
                raise SendFailed("interrupted", str(err), transient=False, not_sent=False) from err
            code = "timeout" if isinstance(err.cause, ATTimeoutError) else "port_lost"
            raise SendFailed(code, str(err), transient=True, not_sent=True) from err
        except CmsError as err:
            raise SendFailed(
                f"cms_{err.code}" if err.code is not None else "cms_error",
                err.describe(),
                transient=cms_is_transient(err.code),
                not_sent=True,
            ) from err
        except CommandError as err:
            raise SendFailed("modem_error", err.describe(), transient=True, not_sent=True) from err
        except CodecError as err:
            raise SendFailed("encoding", str(err), transient=False, not_sent=True) from err
        except ModemGone as err:
            raise SendFailed("port_lost", str(err), transient=True, not_sent=True) from err
        return SendReceipt(references=references)

    # -- extras: USSD and ring calls ------------------------------------------------------

    async def ussd(self, code: str) -> str:
        """The network's answer to a USSD code; SendFailed with a code when it fails."""
        try:
            return await self.modem.ussd(code)
        except ValueError as err:
            raise SendFailed("invalid", str(err), transient=False, not_sent=True) from err
        except ModemNotReady as err:
            raise SendFailed("offline", str(err), transient=True, not_sent=True) from err
        except UssdError as err:
            raise SendFailed("ussd_failed", str(err), transient=False, not_sent=False) from err
        except ATTimeoutError as err:
            raise SendFailed("timeout", str(err), transient=True, not_sent=False) from err
        except ModemError as err:
            raise SendFailed("modem_error", str(err), transient=True, not_sent=False) from err

    async def call(self, to: str, ring_seconds: float) -> str:
        """Ring ``to`` for ``ring_seconds`` and hang up; returns how the call ended."""
        if self._calling:
            raise SendFailed(
                "sim_busy",
                "this SIM is on another call; try again when it has ended",
                transient=True,
                not_sent=True,
            )
        self._calling = True
        try:
            return await self.modem.ring(to, ring_seconds)
        except ValueError as err:
            raise SendFailed("invalid", str(err), transient=False, not_sent=True) from err
        except ModemNotReady as err:
            raise SendFailed("offline", str(err), transient=True, not_sent=True) from err
        except ModemError as err:
            raise SendFailed("call_failed", str(err), transient=True, not_sent=False) from err
        finally:
            self._calling = False

    # -- modem callbacks ------------------------------------------------------------------

    async def _on_inbound(self, part: Deliver) -> None:
        if self._events is None:
            raise RuntimeError("backend not started")  # keeps the SMS on the SIM
        concat = part.concat
        sms = InboundSms(
            sender=part.sender,
            text=part.text,
            received_at=part.scts,
            concat_ref=concat.reference if concat else None,
            concat_total=concat.total if concat else 1,
            concat_seq=concat.seq if concat else 1,
            external_id=self._external_id(part),
            encoding=part.encoding,
        )
        await self._events.on_inbound(self._info.id, sms)

    async def _on_status_report(self, report: StatusReport) -> None:
        if self._events is None:
            raise RuntimeError("backend not started")
        await self._events.on_delivery_report(
            self._info.id,
            DeliveryReport(
                reference=report.reference,
                recipient=report.recipient,
                delivered=report.delivered,
                final=report.final,
                status_code=report.status,
                detail=report.meaning,
                at=report.discharge,
            ),
        )

    def _on_state_changed(self, modem: Modem) -> None:
        self._refresh_info()
        if self._events is not None:
            self._events.on_sim_changed(self._info.id)

    def _external_id(self, part: Deliver) -> str:
        """Stable across re-reads of the same SMS (crash between store and delete)."""
        line = self.modem.info.imsi or self._info.id
        concat = part.concat
        ref = f"{concat.reference}:{concat.seq}" if concat else "0:1"
        digest = hashlib.sha256(part.text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return f"{line}:{part.sender}:{part.scts.isoformat()}:{ref}:{digest}"

    def _refresh_info(self) -> None:
        modem, info = self.modem, self._info
        details = modem.info
        info.state = modem.state.value
        info.state_detail = modem.state_detail
        info.online = modem.state is ModemState.READY
        info.number = details.own_number
        info.operator = details.operator
        info.signal = details.signal_percent
        info.signal_dbm = details.signal_dbm
        info.registered = details.registered
        info.roaming = details.roaming
        for key, value in (
            ("maker", details.maker),
            ("model", details.model),
            ("revision", details.revision),
            ("imei", details.imei),
            ("iccid", details.iccid),
            ("port", modem.port),
        ):
            if value is not None:
                info.extra[key] = value


def backends_from_config(config: Config) -> list[SimBackend]:
    """One backend per `[[modem]]` section; [sms] delivery_reports = false turns them off."""
    backends: list[SimBackend] = []
    for section in config.modem:
        if not config.sms.delivery_reports and section.delivery_reports:
            section = section.model_copy(update={"delivery_reports": False})
        backends.append(
            ModemBackend.from_config(section, multipart_wait=config.sms.multipart_wait)
        )
    return backends
