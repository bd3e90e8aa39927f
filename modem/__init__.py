"""Asyncio AT-command modem driver, SMS PDU codec glue and a modem simulator."""
