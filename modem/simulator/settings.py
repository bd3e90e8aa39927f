"""The modem's AT settings: what AT&F, ATZ and a reboot put back to power-on defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from .profiles import Profile

__all__ = ["Settings"]


@dataclass
class Settings:
    """Everything AT&F / a reboot resets."""

    echo: bool = True
    verbose: bool = True
    cmee: int = 0
    cmgf: int = 0
    cscs: str = "IRA"
    cnmi: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    creg: int = 0
    cgreg: int = 0
    cereg: int = 0
    cpms: list[str] = field(default_factory=lambda: ["SM", "SM", "SM"])
    csmp: list[int] = field(default_factory=lambda: [17, 167, 0, 0])
    csca: str = "+15550000000"
    csms: int = 0
    csdh: int = 0
    cops_format: int = 0
    clip: int = 0
    cusd: int = 0
    curc: int = 1
    ussdmode: int = 1
    cfun: int = 1
    sregs: dict[int, int] = field(default_factory=lambda: {0: 0, 3: 13, 4: 10, 5: 8})

    @classmethod
    def for_profile(cls, profile: Profile) -> Settings:
        """Power-on defaults of this modem family."""
        return cls(
            cmee=profile.default_cmee,
            cscs=profile.default_cscs,
            cnmi=list(profile.default_cnmi),
            ussdmode=1 if profile.ussd_packed else 0,
        )
