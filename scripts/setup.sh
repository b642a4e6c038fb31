#!/usr/bin/env bash
# Creates .venv at the repository root and installs the pinned dependencies (requirements.lock).
# Idempotent: when the lock and the interpreter have not changed it returns in about a second.
# torch is installed first from the local CPU build (2.13.0), so nothing pulls the CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0
VENV=.venv
STAMP=$VENV/.setup-stamp

pick_python() {
  for candidate in python3.11 "$HOME/.pyenv/versions/3.11.7/bin/python" python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
  command -v python3
}

if [[ "${1:-}" == "--relock" ]]; then
  "$VENV/bin/pip" install -q -r requirements.in
  "$VENV/bin/pip" freeze --exclude torch | grep -v '^-e' > requirements.lock
  echo "requirements.lock rewritten ($(wc -l < requirements.lock) packages)"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  PYTHON=$(pick_python)
  echo "==> creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi

want="$(sha256sum requirements.lock | cut -d' ' -f1) torch=$TORCH_VERSION $($VENV/bin/python --version)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi

echo "==> installing torch $TORCH_VERSION (CPU build)"
# This machine's pip config names local index folders that do not all exist; pip warns once per package.
quiet() { "$@" 2>&1 | { grep -v "is neither a file nor a directory" || true; }; }

if ! quiet "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"; then
  echo "Could not install torch $TORCH_VERSION. Put its CPU wheel where pip's find-links looks" >&2
  echo "(PIP_FIND_LINKS) or install a CPU build into $VENV by hand, then run make setup again." >&2
  exit 1
fi
echo "==> installing requirements.lock"
quiet "$VENV/bin/pip" install -q -r requirements.lock
echo "$want" > "$STAMP"
echo "==> setup done"
