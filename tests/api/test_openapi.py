"""The OpenAPI document declares what the API really answers (issue #10, item 7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/openapi.json")).json()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def test_every_error_status_is_declared_with_the_error_shape(spec: dict[str, Any]) -> None:
    for path, method, op in _operations(spec):
        responses = op["responses"]
        where = f"{method.upper()} {path}"
        assert "503" in responses, where  # the database down or full
        if op.get("security"):
            assert {"401", "403"} <= set(responses), where
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            assert "404" in responses, where
        if op.get("parameters") or "requestBody" in op:
            assert "422" in responses, where
        if "application/json" in op.get("requestBody", {}).get("content", {}):
            assert {"400", "413", "415"} <= set(responses), where
        for status, response in responses.items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (where, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message"}


def test_route_specific_statuses(spec: dict[str, Any]) -> None:
    assert "409" in spec["paths"]["/api/v1/appointments/{appointment_id}/attendance"]["post"]["responses"]
    for hook in ("/webhooks/twilio/sms", "/webhooks/twilio/status", "/webhooks/telegram"):
        assert {"400", "403", "413", "415", "503"} <= set(spec["paths"][hook]["post"]["responses"]), hook


def test_webhooks_declare_their_request_bodies(spec: dict[str, Any]) -> None:
    sms = spec["paths"]["/webhooks/twilio/sms"]["post"]["requestBody"]["content"]
    form = sms["application/x-www-form-urlencoded"]["schema"]
    assert {"MessageSid", "From"} <= set(form["required"]) and "Body" in form["properties"]
    status = spec["paths"]["/webhooks/twilio/status"]["post"]["requestBody"]["content"]
    assert "MessageStatus" in status["application/x-www-form-urlencoded"]["schema"]["required"]
    update = spec["paths"]["/webhooks/telegram"]["post"]["requestBody"]["content"]["application/json"]
    assert update["schema"]["required"] == ["update_id"]


def test_every_text_field_of_a_request_has_a_length_limit(spec: dict[str, Any]) -> None:
    """Strings in parameters and request bodies: maxLength, an enum or a format."""
    schemas = spec["components"]["schemas"]
    unbounded: list[str] = []

    def walk(schema: dict[str, Any], where: str) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            walk(schemas[name], f"{where}<{name}>")
            return
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for i, sub in enumerate(schema.get(key, [])):
                walk(sub, f"{where}.{key}[{i}]")
        if schema.get("type") == "string" and not (
            "maxLength" in schema or "enum" in schema or "const" in schema or "format" in schema
        ):
            unbounded.append(where)
        for name, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{name}")
        for key in ("items", "additionalProperties", "propertyNames"):
            if isinstance(schema.get(key), dict):
                walk(schema[key], f"{where}.{key}")

    for path, method, op in _operations(spec):
        for param in op.get("parameters", []):
            walk(param["schema"], f"{method} {path} {param['name']}")
        for kind, body in op.get("requestBody", {}).get("content", {}).items():
            walk(body["schema"], f"{method} {path} body")
    assert unbounded == []


def test_the_knowledge_rate_says_which_attempt_is_which(spec: dict[str, Any]) -> None:
    """Issue #11, item 9: `first` and `latest` are required and described."""
    ok = spec["paths"]["/api/v1/stats/knowledge"]["get"]["responses"]["200"]
    ref = ok["content"]["application/json"]["schema"]["$ref"]
    report = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"first", "latest", "retake_days", "target", "pass_mark", "group_by"} <= set(report["required"])
    assert "first completed attempt" in report["properties"]["first"]["description"]
    assert "latest counted attempt" in report["properties"]["latest"]["description"]
    assert "days" in report["properties"]["retake_days"]["description"]
    rate = spec["components"]["schemas"]["Rate"]
    assert set(rate["required"]) == {"overall", "groups"}
    cell = spec["components"]["schemas"]["Cell"]
    assert "complementary suppression" in cell["description"]
    assert "null" in cell["properties"]["n"]["description"]
