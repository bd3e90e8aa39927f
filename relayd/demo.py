"""`relayd run --demo`: a simulated modem on a pty, driven by the real modem driver."""

from __future__ import annotations

from modem.simulator import ModemSimulator
from modem.simulator.control import ControlServer
from relayd.bridges.base import SimBackend
from relayd.config import Config, ModemConfig

DEMO_NAME = "demo"


class DemoModem:
    """The simulator (with its control API) plus a ModemBackend on its pty."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.link = config.state_dir / "demo-modem"
        self.simulator = ModemSimulator(
            self.link,
            send_delay=config.demo.send_delay,
            report_delay=config.demo.report_delay,
        )
        self.simulator.ussd_answers.update(config.demo.ussd_answers)
        self.control = ControlServer(self.simulator, port=config.demo.control_port)
        self.backends: list[SimBackend] = []

    async def start(self) -> None:
        """Create the pty and the control API, then the backend that drives the pty."""
        from relayd.bridges.modem import ModemBackend

        self.link.parent.mkdir(parents=True, exist_ok=True)
        await self.simulator.start()
        await self.control.start()
        modem_config = ModemConfig(
            name=DEMO_NAME,
            port=str(self.link),
            org="default",
            delivery_reports=self.config.sms.delivery_reports,
            rate_per_minute=self.config.demo.rate_per_minute,
        )
        backend = ModemBackend.from_config(modem_config)
        backend.info.extra["control_url"] = self.control.url
        backend.info.extra["simulated"] = True
        self.backends = [backend]

    def describe(self) -> list[str]:
        """Banner lines."""
        return [
            f"demo modem: simulated on {self.link}; control API {self.control.url}",
            f"  inject an SMS: curl -s -X POST {self.control.url}/inbound "
            """-d '{"from": "+15557654321", "text": "hello relay"}'""",
        ]

    async def stop(self) -> None:
        """Stop the control API and remove the pty."""
        await self.control.stop()
        await self.simulator.stop()
