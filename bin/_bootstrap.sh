# Sourced by bin/test and bin/conformance: make .venv with archconform and its dependencies.
# Re-installs only when pyproject.toml changed. Honors ARCHCONFORM_PYTHON (default python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${ARCHCONFORM_PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "archconform: needs Python >= 3.11 ($PY is $("$PY" --version 2>&1 || echo missing)); set ARCHCONFORM_PYTHON" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "archconform: creating .venv" >&2
  "$PY" -m venv .venv
fi
STAMP=".venv/.archconform-$(sha256sum pyproject.toml | cut -c1-16)-${1:-run}"
if [ ! -f "$STAMP" ]; then
  echo "archconform: installing dependencies into .venv (first run takes a few minutes)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  if [ "${1:-run}" = "test" ]; then
    .venv/bin/python -m pip install --quiet -e ".[test]"
  else
    .venv/bin/python -m pip install --quiet -e .
  fi
  touch "$STAMP"
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "archconform: kubectl not found on PATH (systems are rendered with 'kubectl kustomize'): https://kubernetes.io/docs/tasks/tools/" >&2
  exit 2
fi
export PATH="$ROOT/.venv/bin:$PATH"
