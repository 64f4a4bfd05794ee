#!/usr/bin/env bash
# Builds the example Python agent (app.py) into a wasm-agent handler component.
#
#   guest-examples/python/build.sh [OUT.wasm] [MODULE]
#
# OUT defaults to guest-examples/dist/python-agent.wasm, MODULE (a module name next to this
# script, or a path to a .py file) to app. Installs the pinned componentize-py into
# ${WASM_AGENT_CACHE:-~/.cache/wasm-agent}/python-venv if it is not there yet. Pure-Python
# dependencies installed with `pip install --target deps ...` next to the module are included.
# The component is built against the `outbound-handler` world (wit/outbound.wit): the handler
# world plus wasi:http, which wasm_agent.request uses.
set -euo pipefail

die() { echo "build.sh: $*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
wit="$repo/wit"
out="${1:-$repo/guest-examples/dist/python-agent.wasm}"
module="${2:-app}"

pin="$(grep -E '^componentize-py==' "$here/requirements.txt")" \
    || die "requirements.txt does not pin componentize-py"
version="${pin#componentize-py==}"
cache="${WASM_AGENT_CACHE:-$HOME/.cache/wasm-agent}"
venv="$cache/python-venv"
cpy="$venv/bin/componentize-py"

world=outbound-handler
for file in handler.wit outbound.wit deps; do
    [[ -e "$wit/$file" ]] || die "no $wit/$file (the $world world needs it)"
done

# The module to build: a name next to this script, or a path to a .py file.
case "$module" in
    *.py | */*) src="$(cd "$(dirname "$module")" && pwd)"; module="$(basename "$module" .py)" ;;
    *) src="$here" ;;
esac
[[ -f "$src/$module.py" ]] || die "no module $src/$module.py"
[[ "$module" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "'$module' is not a Python module name"

# The toolchain, reused when the pinned version is already installed.
installed="$("$cpy" --version 2>/dev/null || true)"
if [[ "$installed" != "componentize-py $version" ]]; then
    command -v python3 >/dev/null || die "python3 is not installed (Debian: apt-get install python3 python3-venv)"
    echo "installing componentize-py $version into $venv" >&2
    mkdir -p "$cache"
    if [[ ! -x "$venv/bin/pip" ]]; then
        rm -rf "$venv"
        python3 -m venv "$venv" \
            || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    "$venv/bin/pip" install --disable-pip-version-check --quiet -r "$here/requirements.txt" \
        || die "pip could not install $pin"
    installed="$("$cpy" --version)" || die "componentize-py does not run after installing it"
    [[ "$installed" == "componentize-py $version" ]] \
        || die "expected componentize-py $version, got '$installed'"
fi

# componentize-py wants `WitWorld` in the top-level module; the author's module only
# imports wasm_agent, so generate a main module that imports both.
work="$(mktemp -d)"
trap 'rm -rf "$work" "$out.tmp"' EXIT
cat >"$work/wasm_agent_main.py" <<EOF
import wasm_agent
import $module  # registers the @entrypoint handler
from wasm_agent import WitWorld

if wasm_agent.handler() is None:
    raise SystemExit("$module.py defines no handler: decorate a function with @entrypoint")
EOF

paths=(-p "$work" -p "$src")
if [[ "$src" != "$here" ]]; then paths+=(-p "$here"); fi       # wasm_agent.py, wasm_agent_http.py
if [[ -d "$src/deps" ]]; then paths+=(-p "$src/deps"); fi       # pip install --target deps ...

mkdir -p "$(dirname "$out")"
start=$(date +%s.%N)
"$cpy" -d "$wit" -w "$world" componentize "${paths[@]}" wasm_agent_main -o "$out.tmp"
mv "$out.tmp" "$out"
end=$(date +%s.%N)
printf 'built %s (%s bytes) from %s.py in %s s\n' \
    "$out" "$(stat -c %s "$out")" "$module" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')"
