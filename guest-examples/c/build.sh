#!/usr/bin/env bash
# Builds the example C agent into a wasm-agent handler component.
#
#   guest-examples/c/build.sh [OUT.wasm]
#
# OUT defaults to <repo>/guest-examples/dist/c-agent.wasm. Installs the pinned zig (clang and
# wasi-libc, from PyPI) into ${WASM_AGENT_CACHE:-~/.cache/wasm-agent}/zig-venv if it is not
# there yet, compiles agent.c, json.c, http.c and http_error.c with the committed bindings of the
# `outbound-handler` world into a core module for WASI preview1, and makes it a component with
# `wasm-agent componentize` ($WASM_AGENT, default: the repository's binary, built and run by
# cargo), as a starter from `wasm-agent new --lang c` does.
set -euo pipefail

die() { echo "build.sh: $*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/guest-examples/dist/c-agent.wasm}"
cache="${WASM_AGENT_CACHE:-$HOME/.cache/wasm-agent}"
venv="$cache/zig-venv"
pin="$(grep -E '^ziglang==' "$here/requirements.txt")" || die "requirements.txt does not pin ziglang"
version="${pin#ziglang==}"

installed="$("$venv/bin/python" -m ziglang version 2>/dev/null || true)"
if [[ "$installed" != "$version" ]]; then
    command -v python3 >/dev/null || die "python3 is not installed"
    echo "installing zig $version into $venv" >&2
    mkdir -p "$cache"
    if [[ ! -x "$venv/bin/pip" ]]; then
        rm -rf "$venv"
        python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    "$venv/bin/pip" install --disable-pip-version-check --quiet -r "$here/requirements.txt" \
        || die "pip could not install $pin"
    installed="$("$venv/bin/python" -m ziglang version)" || die "zig does not run after installing it"
    [[ "$installed" == "$version" ]] || die "expected zig $version, got '$installed'"
fi

if [[ -n "${WASM_AGENT:-}" ]]; then
    wasm_agent=("$WASM_AGENT")
else
    wasm_agent=(cargo run --quiet --locked --manifest-path "$repo/Cargo.toml" --bin wasm-agent --)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$out")"
start=$(date +%s.%N)
# A reactor: no `main`, the host calls the exports. zig's cache goes under the cache folder, not
# the source tree.
ZIG_LOCAL_CACHE_DIR="$cache/zig-cache" ZIG_GLOBAL_CACHE_DIR="$cache/zig-cache" \
"$venv/bin/python" -m ziglang cc --target=wasm32-wasi -Os -mexec-model=reactor \
    -Wall -Wextra -Werror -Wno-unused-parameter \
    -o "$work/core.wasm" \
    "$here/agent.c" "$here/json.c" "$here/http.c" "$here/http_error.c" \
    "$here/bindings/outbound_handler.c" "$here/bindings/outbound_handler_component_type.o"
"${wasm_agent[@]}" componentize "$work/core.wasm" -o "$work/component.wasm"
mv "$work/component.wasm" "$out"
end=$(date +%s.%N)
printf 'built %s (%s bytes) in %s s\n' "$out" "$(stat -c %s "$out")" \
    "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')"
