"""Twofold: accounts, sub-users and virtual MFA."""

__version__ = "0.1.0"
