"""Who may call what, from where: operator credential, CORS allow-list, allowed hosts, security headers,
and files that cannot be read from outside the data directory."""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db
API = "/api/v1/triple/"
# Path prefixes (under API) that only an operator may call; see DESIGN.md "Operator endpoints".
OPERATOR_PREFIXES = ("documents", "index", "tasks", "audit")


def schema() -> dict[str, Any]:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return dict(json.loads(response.content))


# Placeholder values that exist nowhere: auth must be refused before any lookup.
PLACEHOLDERS = {"integer": "999999", "uuid": "00000000-0000-0000-0000-000000000000", "string": "no-such-thing"}


def _concrete(path: str, parameters: list[dict[str, Any]]) -> str:
    for param in parameters:
        if param.get("in") == "path":
            spec = param.get("schema", {})
            value = PLACEHOLDERS.get(spec.get("format", ""), PLACEHOLDERS.get(spec.get("type", ""), "x"))
            path = path.replace("{" + param["name"] + "}", value)
    return path


def operator_operations() -> list[tuple[str, str]]:
    ops = []
    for path, item in schema()["paths"].items():
        if not path.startswith(API) or path[len(API):].split("/")[0] not in OPERATOR_PREFIXES:
            continue
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                ops.append((method.upper(), _concrete(path, operation.get("parameters", []))))
    return ops


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = json.loads(response.content)
    assert set(body) >= {"error", "message"} and isinstance(body["error"], str), body
    if code:
        assert body["error"] == code, body
    return dict(body)


def test_there_are_operator_endpoints_to_check() -> None:
    assert any(path.endswith("/index/") for _, path in operator_operations())


@pytest.mark.parametrize("method,path", operator_operations())
def test_operator_endpoints_refuse_a_missing_token_with_401(method: str, path: str) -> None:
    response = Client().generic(method, path, "{}", content_type="application/json")
    assert_error(response, 401)


@pytest.mark.parametrize("method,path", operator_operations())
@pytest.mark.parametrize("header", ["Bearer wrong-token", "Bearer ", "Basic dGVzdC1vcGVyYXRvci10b2tlbg==",
                                    "Bearer test-operator-token-but-longer", "Bearer TEST-OPERATOR-TOKEN"])
def test_operator_endpoints_refuse_a_wrong_token(method: str, path: str, header: str) -> None:
    response = Client().generic(method, path, "{}", content_type="application/json", HTTP_AUTHORIZATION=header)
    body = assert_error(response, response.status_code)
    assert response.status_code in (401, 403), body


def test_the_operator_token_opens_the_index_status(operator_api: Any, built_index: Any) -> None:
    response = operator_api.get(f"{API}index/")
    assert response.status_code == 200
    assert response.json()["active"]["id"] == built_index.id


def test_an_empty_operator_token_setting_opens_nothing(settings: Any) -> None:
    settings.OPERATOR_TOKEN = ""
    for method, path in operator_operations():
        response = Client().generic(method, path, "{}", content_type="application/json",
                                    HTTP_AUTHORIZATION="Bearer ")
        assert response.status_code in (401, 403), (method, path)


# --- CORS, hosts, headers ---------------------------------------------------------------------------------


def test_cors_allows_only_the_configured_origins() -> None:
    allowed = settings.CORS_ALLOWED_ORIGINS[0]
    ok = Client().get(f"{API}health/", HTTP_ORIGIN=allowed)
    assert ok["Access-Control-Allow-Origin"] == allowed
    for origin in ("http://evil.example", "null", allowed + ".evil.example", allowed.replace("http:", "https:")):
        response = Client().get(f"{API}health/", HTTP_ORIGIN=origin)
        assert "Access-Control-Allow-Origin" not in response, origin


def test_cors_preflight_for_an_unknown_origin_gets_no_allow_header() -> None:
    kwargs = {"HTTP_ORIGIN": "http://evil.example", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}
    response = Client().options(f"{API}chat/", **kwargs)
    assert "Access-Control-Allow-Origin" not in response
    kwargs["HTTP_ORIGIN"] = settings.CORS_ALLOWED_ORIGINS[0]
    response = Client().options(f"{API}chat/", **kwargs)
    assert response["Access-Control-Allow-Origin"] == settings.CORS_ALLOWED_ORIGINS[0]


def test_cors_allow_list_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    env = {"CORS_ALLOWED_ORIGINS": "https://react.example.com, https://admin.example.com",
           "ALLOWED_HOSTS": "api.example.com", "TRIPLE_ENV": "development", "PATH": "/usr/bin:/bin"}
    code = ("import config.settings as s; print(s.CORS_ALLOWED_ORIGINS); print(s.ALLOWED_HOSTS)")
    out = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["['https://react.example.com', 'https://admin.example.com']",
                                       "['api.example.com']"]


def test_a_host_outside_allowed_hosts_is_refused() -> None:
    response = Client().get(f"{API}health/", HTTP_HOST="evil.example")
    assert_error(response, 400, "bad_request")
    assert b"Traceback" not in response.content and b"ALLOWED_HOSTS" not in response.content


@pytest.mark.parametrize("path", [f"{API}health/", f"{API}nope/", "/api/schema/", f"{API}chat/"])
def test_security_headers_are_on_every_answer(path: str) -> None:
    response = Client().get(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"]


# --- files under the data directory ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/files/../backend/config/settings.py",
    "/files/%2e%2e/backend/config/settings.py",
    "/files/..%2fbackend%2fconfig%2fsettings.py",
    "/files/catalog/../../.env",
    "/files//etc/passwd",
    "/files/%2Fetc%2Fpasswd",
    "/files/catalog/images/../../../README.md",
    "/files/catalog/products.csv",  # inside, but not an image: not served either
    "/files/catalog/images/p003.png%00.csv",
])
def test_files_cannot_escape_the_data_directory(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 404
    assert json.loads(response.content)["error"] == "not_found"


def test_a_symlink_out_of_the_data_directory_is_not_followed(tmp_path: Any, settings: Any) -> None:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    (root / "images" / "link.png").symlink_to(secret)
    settings.DATA_DIR = root
    assert Client().get("/files/images/link.png").status_code == 404


def test_an_image_inside_the_data_directory_is_served() -> None:
    response = Client().get("/files/catalog/images/p003.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    response.close()
