"""SIM care: balance checks over USSD, expiry warnings and keepalive sends, on timers."""
