"""ASGI entry point for uvicorn: ``uvicorn outreach.asgi:app``."""

from outreach.app import create_app

app = create_app()
