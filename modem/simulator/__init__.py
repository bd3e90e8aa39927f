"""A fake GSM modem on a pseudo-terminal, faithful enough to test an AT driver against.

It owns the master side of ``os.openpty()`` and symlinks the slave at a path of your
choice, so a client opens ``<tmp>/modem0`` exactly like ``/dev/ttyUSB0`` (pyserial,
pyserial-asyncio-fast, or plain ``os.open``). It runs in the caller's asyncio loop.

Quick use::

    from modem.simulator import ModemSimulator

    sim = ModemSimulator(tmp_path / "modem0", profile="sim800")
    await sim.start()
    ...                                  # open tmp_path / "modem0" and talk AT
    sim.inject_sms("+15551230000", "hello")   # -> +CMTI: "SM",1 (CNMI mt=1)
    sim.sent_messages()[0].text          # what the client sent, parts joined
    await sim.stop()

``ModemSimulator(link, *, profile="sim800", send_delay=0.0, report_delay=0.0, pin=None,
imei=None, own_number="+15550001111", operator="Demo Mobile", signal_csq=20,
imsi="001010123456789", iccid="89014103211118510720", urc_interval=None)``

- ``profile``: ``"sim800"``, ``"huawei"``, ``"quectel"`` or a ``Profile`` (see profiles.py;
  ``SIM800.with_options(ussd_stray_cusd2=True)`` makes a variant).
- ``pin``: when set, the SIM boots in ``SIM PIN`` state. The PUK is ``sim.puk`` ("12345678").
- ``urc_interval``: seconds between Huawei's periodic ``^RSSI``/``^BOOT`` codes
  (profile default 5 s; 0 disables them).

Life cycle (all coroutines; use ``async with ModemSimulator(...) as sim`` too):
``start()`` creates the port, silently (the modem booted long ago); ``stop()`` removes it
and cancels every timer; ``unplug()`` closes the master and removes the link (a reading
client gets EOF/EIO, pyserial-asyncio-fast calls ``connection_lost``); ``replug(boot_urcs=True)``
creates a fresh pty at the same path (same IMEI, settings reset, boot codes written);
``reboot()`` resets settings (echo back on) and writes the boot codes (SIM800: ``RDY``,
``+CFUN: 1``, ``+CPIN: READY``, ``Call Ready``, ``SMS Ready``; Quectel: ``RDY``, ``+CFUN: 1``,
``+CPIN: READY``, ``+QUSIM: 1``, ``+QIND: SMS DONE``, ``+QIND: PB DONE``; Huawei:
``^SYSSTART``, ``^SIMST:1``). ``AT+CFUN=1,1`` reboots after its OK. ``await sim.settle()``
waits until no command runs and no delayed part, status report or USSD answer is pending;
``sim.busy`` is True while a command line runs or waits.

Network side:

- ``inject_sms(sender, text, *, when=None, encoding="auto", split_parts=None, order=None,
  delay_parts=None, drop_parts=()) -> InjectedSms``. ``text`` is encoded with
  ``modem.codec.encode_deliver`` (GSM-7 or UCS-2, multipart with an 8-bit concatenation
  header and a rotating reference). ``split_parts`` forces the cut (a list of segments
  that join to ``text``, or a number of near-equal parts); ``order`` is the delivery
  order of 1-based part numbers, e.g. ``[2, 1, 3]``; ``delay_parts`` maps a part number
  to seconds of delay; ``drop_parts`` lists parts never delivered. ``when`` is the SC
  timestamp (default now, UTC). Parts the modem cannot take (unplugged, SIM locked,
  CFUN=0, storage full) wait in the network and are delivered when it can; after a
  reboot CNMI is back at its default, so messages arriving then may be stored silently:
  a driver must list storage (AT+CMGL) on init.
- Status reports: each sent part whose PDU sets TP-SRR (text mode: AT+CSMP first octet
  bit 0x20) gets one after ``faults.report_delay`` s, status ``faults.report_status``,
  routed by CNMI ``ds``: ``+CDS: <len>`` + PDU line (ds=1) or stored + ``+CDSI: "SM",<i>``
  (ds=2; SIM800 only allows ds 0-1). The TP-MR is the one answered in ``+CMGS: <mr>``.
- ``sim.ussd_answers`` (dict code -> text; ``*100#`` -> "Your balance is 12.34 EUR").
  ``AT+CUSD=1,"*100#",15`` answers OK, then ``+CUSD: 0,"<text>",15`` (Huawei: packed GSM-7
  hex both ways while ``AT^USSDMODE=1``, its default; AT+CSCS="UCS2": UCS-2 hex). Unknown
  codes answer ``+CUSD: 4``. Profile options ``ussd_stray_cusd2`` / ``ussd_answer_before_ok``.
- Calls: ``ATD<number>;`` answers OK and records a ``Call``; ``ATH``/``AT+CHUP`` end it
  (``ended_by="local"``); ``sim.callee_hangs_up()`` or ``faults.callee_hangup_after``
  end it with a ``NO CARRIER`` URC; ``faults.call_result="BUSY"`` ends it at once.

Records: ``sim.sent: list[SentSms]`` (to, text, mr, part, parts, concat_reference,
status_report, encoding, pdu, at), recorded when the PDU is complete (on air) even if the
port vanishes before ``+CMGS:``; ``sim.sent_messages() -> list[SentMessage]`` (to, text,
parts, mrs, complete, at); ``sim.calls: list[Call]`` (number, started, ended, ended_by,
duration); ``sim.injected: list[InjectedSms]``; ``sim.storage``; ``sim.settings``.

State you can set: ``sim.sim_state = "READY" | "SIM PIN" | "SIM PUK" | "NOT INSERTED"``,
``sim.signal_csq = 9``, ``sim.registration = 5`` (roaming; 2 searching, 3 denied; a
``+CREG:`` URC follows when AT+CREG=1/2).

Faults (``sim.faults``, a ``Faults`` dataclass; ``sim.faults.update({...})`` from JSON):
``send_delay``, ``report_delay``, ``answer_delay``, ``prompt_delay``, ``ussd_delay``
(seconds); ``echo_after_ate0``; ``cms_error`` (count) + ``cms_error_code``; ``cme_busy``
(count) + ``cme_busy_code`` (515; 14 is "SIM busy"); ``urc_between`` (list of URCs) +
``urc_between_on`` (e.g. "+CSQ"): written between that command's answer and its OK;
``garbage`` (count of answers preceded by random bytes); ``mute``; ``report_status``;
``drop_reports``; ``callee_hangup_after``; ``call_result``; ``reboot_unplugs`` (reboot
re-enumerates the port like a USB modem, for ``reenumerate_delay`` s).
Also ``sim.emit_urc(*lines)`` and ``sim.emit_garbage(n)`` write at once.

Control API: ``modem.simulator.control.ControlServer(sim)`` (aiohttp, 127.0.0.1, port 0
by default; ``.port``/``.url`` after ``start()``). CLI: ``python -m modem.simulator --link
PATH [--profile P] [--send-delay S] [--control-port N]`` (``modem.simulator.cli.main``).

Terminal behaviour a driver must expect:

- Echo is on after power-up (``ATE0\\r`` is itself echoed). Echo is written as bytes
  arrive; the PDU typed after ``> `` is echoed too (not the Ctrl-Z), so with echo on the
  line after the prompt reads ``> 0011...`` before ``\\r\\n+CMGS: 7``.
- Answers: ``\\r\\n<line>\\r\\n`` blocks, then ``\\r\\nOK\\r\\n`` / ``\\r\\nERROR\\r\\n`` /
  ``\\r\\n+CME ERROR: <n>\\r\\n`` (AT+CMEE=1; text with 2; plain ERROR with 0) /
  ``\\r\\n+CMS ERROR: <n>\\r\\n`` (SMS commands, whatever CMEE says) / Huawei
  ``COMMAND NOT SUPPORT`` for unknown commands. ATV0 gives numeric results (``0\\r``).
- The prompt is ``\\r\\n> `` with nothing after the space. ESC aborts with OK. Bytes
  sent before the prompt are taken as command-line input (and lost), as on hardware.
- A chained line (``AT+CMGF=0;+CNMI=2,1,0,2,0``) stops at the first failing command.
- URCs are held while a command runs and written after its final result, except on the
  Huawei profile (its ``^RSSI:``-style codes, without a space after the colon, can land
  between an echo and its answer) and the ``urc_between`` fault.
- Storage indexes start at 1 on SIM800 and at 0 on Huawei and Quectel. Reading an empty
  index answers a bare OK on SIM800 and ``+CMS ERROR: 321`` elsewhere.
- Bytes written while no client holds the port open (boot codes after ``replug()``) stay
  in the tty: pyserial's open() flushes them, a plain ``os.open`` reader sees them.
"""

from __future__ import annotations

from .faults import Faults
from .profiles import HUAWEI, PROFILES, QUECTEL, SIM800, Profile, get_profile
from .records import Call, InjectedSms, SentMessage, SentSms
from .simulator import SIM_STATES, ModemSimulator
from .storage import SmsStatus, SmsStorage, StoredSms

__all__ = [
    "HUAWEI",
    "PROFILES",
    "QUECTEL",
    "SIM800",
    "SIM_STATES",
    "Call",
    "Faults",
    "InjectedSms",
    "ModemSimulator",
    "Profile",
    "SentMessage",
    "SentSms",
    "SmsStatus",
    "SmsStorage",
    "StoredSms",
    "get_profile",
]
