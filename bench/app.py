"""The benchmark's server: the real app plus a bare endpoint on the same process.

The bare endpoint parses the same JSON and returns a reply of the same shape without
touching the bot or the database: the ceiling this server and client can reach.
"""

from __future__ import annotations

import json

from fastapi import Request, Response

from outreach.app import create_app
from outreach.providers.simulator.endpoints import SimulatorMessage, SimulatorReplies

app = create_app()


@app.post("/bench/bare", response_model=SimulatorReplies, include_in_schema=False)
async def bare(message: SimulatorMessage) -> Response:
    body = {"replies": [{"text": f"echo {len(message.text)}", "choices": [{"id": "menu", "label": "Main menu"}]}]}
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


@app.post("/bench/bare-sms", include_in_schema=False)
async def bare_sms(request: Request) -> Response:
    """Parses Twilio's form like the webhook does, then acknowledges with empty TwiML."""
    form = await request.form()
    return Response(f"<Response><!-- {len(form)} --></Response>", media_type="application/xml")
