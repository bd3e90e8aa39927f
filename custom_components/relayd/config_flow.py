"""Set up relayd: found by zeroconf (then only the key is asked) or typed in; re-auth; options."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PORT
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .api import (
    RelaydApiError,
    RelaydAuthError,
    RelaydConnectionError,
    async_fetch_ca,
    async_make_client,
)
from .const import (
    AUTO_SIM,
    CONF_CA,
    CONF_DEFAULT_SIM,
    CONF_RECIPIENTS,
    CONF_RELAY_ID,
    CONF_TLS,
    DEFAULT_PORT,
    DOMAIN,
)

_LOGGER = logging.getLogger(__name__)
KEY_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


class RelaydConfigFlow(ConfigFlow, domain=DOMAIN):
    """The config flow of relayd."""

    VERSION = 1

    def __init__(self) -> None:
        self._host: str | None = None
        self._port: int = DEFAULT_PORT
        self._tls = False
        self._ca: str | None = None
        self._name: str | None = None
        self._relay_id: str | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> RelaydOptionsFlow:
        """The options: default SIM and notify recipients."""
        return RelaydOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Host, port and key typed by the user."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host, port = user_input[CONF_HOST].strip(), int(user_input[CONF_PORT])
            self._async_abort_entries_match({CONF_HOST: host, CONF_PORT: port})
            self._tls, self._ca = bool(user_input.get(CONF_TLS)), None
            errors = await self._check(host, port, user_input[CONF_API_KEY])
            if not errors:
                await self.async_set_unique_id(f"{host}:{port}")
                self._abort_if_unique_id_configured()
                return self._create(host, port, user_input[CONF_API_KEY], None)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(
                    {
                        vol.Required(CONF_HOST): str,
                        vol.Required(CONF_PORT, default=DEFAULT_PORT): vol.All(
                            vol.Coerce(int), vol.Range(min=1, max=65535)
                        ),
                        vol.Required(CONF_API_KEY): KEY_SELECTOR,
                        vol.Optional(CONF_TLS, default=False): bool,
                    }
                ),
                user_input,
            ),
            errors=errors,
        )

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """relayd announced itself: `_smsrelay._tcp` with its instance id in TXT."""
        props = discovery_info.properties
        relay_id = props.get("id")
        if not relay_id:
            return self.async_abort(reason="not_relayd")
        host = discovery_info.host
        port = discovery_info.port or DEFAULT_PORT
        self._async_abort_entries_match({CONF_HOST: host, CONF_PORT: port})
        await self.async_set_unique_id(relay_id)
        self._abort_if_unique_id_configured(updates={CONF_HOST: host, CONF_PORT: port})
        self._host, self._port, self._relay_id = host, port, relay_id
        self._tls = props.get("tls") == "1"
        self._name = discovery_info.name.removesuffix("." + discovery_info.type)
        self.context["title_placeholders"] = {"name": self._name}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the relay that was found and ask for an API key."""
        assert self._host is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            key = user_input[CONF_API_KEY]
            errors = await self._check(self._host, self._port, key)
            if not errors:
                return self._create(self._host, self._port, key, self._relay_id)
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=vol.Schema({vol.Required(CONF_API_KEY): KEY_SELECTOR}),
            description_placeholders={
                "name": self._name or self._host,
                "url": f"{'https' if self._tls else 'http'}://{self._host}:{self._port}",
            },
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """relayd answered 401: the key was revoked or replaced."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new key for the same relay."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            self._tls, self._ca = bool(entry.data.get(CONF_TLS)), entry.data.get(CONF_CA)
            errors = await self._check(
                entry.data[CONF_HOST], entry.data[CONF_PORT], user_input[CONF_API_KEY]
            )
            if not errors:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_API_KEY: user_input[CONF_API_KEY]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_API_KEY): KEY_SELECTOR}),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    # --- helpers --------------------------------------------------------------------

    async def _check(self, host: str, port: int, key: str) -> dict[str, str]:
        """Try the key on GET /api/v1/sims; the form's errors (empty when it works).

        Over HTTPS the relay's own CA is fetched first (once) and then trusted alone.
        """
        try:
            if self._tls and self._ca is None:
                self._ca = await async_fetch_ca(self.hass, host, port)
            client = await async_make_client(self.hass, host, port, key, ca_pem=self._ca)
            await client.sims()
        except RelaydAuthError:
            return {"base": "invalid_auth"}
        except RelaydConnectionError:
            return {"base": "cannot_connect"}
        except RelaydApiError as exc:
            return {"base": "missing_scope" if exc.status == 403 else "unknown"}
        return {}

    def _create(self, host: str, port: int, key: str, relay_id: str | None) -> ConfigFlowResult:
        return self.async_create_entry(
            title=self._name or f"relayd {host}",
            data={
                CONF_HOST: host,
                CONF_PORT: port,
                CONF_API_KEY: key,
                CONF_TLS: self._tls,
                CONF_CA: self._ca,
                CONF_RELAY_ID: relay_id,
            },
        )


class RelaydOptionsFlow(OptionsFlow):
    """Which SIM sends by default, and who the notify entities text."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form."""
        if user_input is not None:
            recipients = [
                n.strip() for n in str(user_input.get(CONF_RECIPIENTS, "")).split(",") if n.strip()
            ]
            return self.async_create_entry(
                data={CONF_DEFAULT_SIM: user_input[CONF_DEFAULT_SIM], CONF_RECIPIENTS: recipients}
            )
        sims = self.config_entry.runtime_data.coordinator.data.sims
        options = [SelectOptionDict(value=AUTO_SIM, label="Let relayd choose")] + [
            SelectOptionDict(value=sim_id, label=f"{sim.get('name') or sim_id} ({sim_id})")
            for sim_id, sim in sims.items()
        ]
        current = self.config_entry.options
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_DEFAULT_SIM, default=current.get(CONF_DEFAULT_SIM, AUTO_SIM)
                    ): SelectSelector(
                        SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
                    ),
                    vol.Optional(
                        CONF_RECIPIENTS, default=", ".join(current.get(CONF_RECIPIENTS, []))
                    ): str,
                }
            ),
        )
