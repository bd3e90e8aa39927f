"""Backends that carry SMS: GSM modems and phones, behind one SimBackend protocol."""
