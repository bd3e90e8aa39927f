"""relayd: a self-hosted SMS gateway for USB GSM modems and Android phones."""

__version__ = "0.1.0"
