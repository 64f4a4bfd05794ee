#!/usr/bin/env bash
# The Python venv with botocore that the integration tests use to check the host's SigV4
# signatures (tests/sigv4/verify.py, called from tests/botocore.rs), pinned in
# tests/sigv4/requirements.txt and cached in ${WASM_AGENT_CACHE:-~/.cache/wasm-agent}/sigv4-venv.
#
#   bash tests/sigv4/venv.sh    # creates or reuses it (`make sigv4-venv`); prints one line
#
# It is recreated only when the pins or the interpreter change. PYTHON picks the interpreter
# (default python3).

set -euo pipefail

die() { echo "[sigv4-venv] $*" >&2; exit 1; }

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REQUIREMENTS="$HERE/requirements.txt"
PYTHON=${PYTHON:-python3}
VENV="${WASM_AGENT_CACHE:-$HOME/.cache/wasm-agent}/sigv4-venv"

command -v "$PYTHON" >/dev/null || die "$PYTHON is not installed (Debian: apt-get install python3 python3-venv)"
STAMP="$(cat "$REQUIREMENTS"; "$PYTHON" -c 'import sys; print(sys.version)')"
STAMP="$(printf '%s' "$STAMP" | sha256sum | cut -d' ' -f1)"
fresh() { [[ -x $VENV/bin/python && "$(cat "$VENV/.sigv4-stamp" 2>/dev/null)" == "$STAMP" ]]; }

if fresh; then
    echo "sigv4 venv up to date: $VENV"
    exit 0
fi

# Built aside and renamed into place, so a test running at the same time never sees a half-built
# venv, and an interrupted build leaves only a temporary directory that the trap removes. The
# move keeps bin/python working (it finds the venv from the pyvenv.cfg beside it); pip's console
# scripts would still name the temporary path in their #! line, and nothing runs them.
mkdir -p -- "$(dirname -- "$VENV")"
NEW="$(mktemp -d "$VENV.new.XXXXXX")"
OLD=
trap 'rm -rf -- "$NEW" ${OLD:+"$OLD"}' EXIT
"$PYTHON" -m venv "$NEW" || die "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"
"$NEW/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS" >&2 \
    || die "pip could not install $REQUIREMENTS"
echo "$STAMP" >"$NEW/.sigv4-stamp"
if ! fresh; then
    # The stale venv is renamed away before it is deleted, so the path is never a venv half
    # removed or half built.
    if [[ -e $VENV ]]; then
        OLD="$(mktemp -u "$VENV.old.XXXXXX")"
        mv -T -- "$VENV" "$OLD" 2>/dev/null || OLD=
    fi
    # rename(2) fails if another build put its venv there first; that one is as good.
    mv -T -- "$NEW" "$VENV" 2>/dev/null || fresh || die "could not install $VENV"
fi
echo "sigv4 venv ready: $VENV"
