"""Providers: one package or module per vendor, all behind the protocols in base.py."""
