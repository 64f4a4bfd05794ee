#!/usr/bin/env bash
# The benchmarks' Python venv with the bedrock-agentcore SDK, pinned with everything it pulls in
# (bench/ping/requirements.txt), cached across runs in ${XDG_CACHE_HOME:-~/.cache}/wasm-agent.
#
#   VPY="$(bash bench/venv.sh)"   # creates or reuses it; prints the venv's python on stdout
#
# It is recreated only when the pins or the interpreter change, so the first run of a benchmark
# pays for pip and later ones do not. PYTHON picks the interpreter (default python3).

set -euo pipefail

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REQUIREMENTS="$HERE/ping/requirements.txt"
PYTHON=${PYTHON:-python3}
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/wasm-agent/bench-venv"

STAMP="$(cat "$REQUIREMENTS"; "$PYTHON" -c 'import sys; print(sys.version)')"
STAMP="$(printf '%s' "$STAMP" | sha256sum | cut -d' ' -f1)"
fresh() { [[ -x $VENV/bin/python && "$(cat "$VENV/.bench-stamp" 2>/dev/null)" == "$STAMP" ]]; }

# Built aside and renamed into place, so a benchmark running at the same time never sees a
# half-built venv, and two builds do not write into one directory. The move keeps bin/python
# working (it finds the venv from the pyvenv.cfg beside it); pip's console scripts would still
# name the temporary path in their #! line, and nothing runs them.
if ! fresh; then
    printf '[bench-venv] creating the Python venv in %s\n' "$VENV" >&2
    mkdir -p -- "$(dirname -- "$VENV")"
    NEW="$(mktemp -d "$VENV.new.XXXXXX")"
    OLD=
    trap 'rm -rf -- "$NEW" ${OLD:+"$OLD"}' EXIT
    "$PYTHON" -m venv "$NEW"
    "$NEW/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS" >&2
    echo "$STAMP" >"$NEW/.bench-stamp"
    if ! fresh; then
        # The stale venv is renamed away before it is deleted, so the path is never a venv
        # half removed or half built; a benchmark started on the old pins keeps what it has
        # already loaded.
        if [[ -e $VENV ]]; then
            OLD="$(mktemp -u "$VENV.old.XXXXXX")"
            mv -T -- "$VENV" "$OLD" 2>/dev/null || OLD=
        fi
        # rename(2) fails if another build put its venv there first; that one is as good.
        mv -T -- "$NEW" "$VENV" 2>/dev/null || fresh || { echo "[bench-venv] could not install $VENV" >&2; exit 1; }
    fi
fi
echo "$VENV/bin/python"
