"""Reading request bodies whose size a caller controls."""

from __future__ import annotations

from fastapi import Request

from outreach.errors import PayloadTooLarge


async def read_capped(request: Request, cap: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``cap`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"Request body over {cap} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise PayloadTooLarge(f"Request body over {cap} bytes.")
    return bytes(body)
