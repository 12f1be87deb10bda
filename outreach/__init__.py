"""Outreach: chat and SMS outreach for migrants (the service package)."""

__version__ = "0.1.0"
