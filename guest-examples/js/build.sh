#!/usr/bin/env bash
# Builds the example JavaScript agent into a wasm-agent handler component.
#
#   guest-examples/js/build.sh [OUT.wasm] [ENTRY.js]
#
# OUT defaults to <repo>/guest-examples/dist/js-agent.wasm, ENTRY to agent.js beside this script
# (the MCP tool agent: guest-examples/dist/js-tool-agent.wasm guest-examples/js/tool-agent.js).
# Installs the pinned toolchain (npm ci) when node_modules is missing or older than the lockfile,
# bundles ENTRY and its npm dependencies into one ES module with esbuild, then builds the
# component with componentize-js (SpiderMonkey) against the `handler` world of <repo>/wit plus
# wasi:cli/environment. Works from any directory; needs node (20 is what it is tested with) and npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/guest-examples/dist/js-agent.wasm}"
entry="${2:-$here/agent.js}"
wit="$repo/wit"
# The world built against: `handler` and the environment (see write_world).
world="js-handler"
# StarlingMonkey's optional WASI features. `http` stays on: it is `fetch`, through the
# wasi:http@0.2.10 outgoing-handler the host links (as 0.2.12) and polices with its
# --allow-outbound rules. `fetch-event` is off: it would make the component a wasi:http server,
# and a handler is called through `invoke` instead.
disable=(fetch-event)

die() { echo "build.sh: $*" >&2; exit 1; }
command -v node >/dev/null || die "node is not installed (node 20 is needed)"
command -v npm >/dev/null || die "npm is not installed"
[[ -f "$entry" ]] || die "no such entry module: $entry"
[[ -d "$wit" ]] || die "no WIT folder at $wit"
[[ -f "$wit/deps/cli.wit" ]] || die "no wasi:cli package at $wit/deps/cli.wit (make wit-deps)"

start=$EPOCHREALTIME

# Builds started at once (make's jobs, tests) take turns, to the end of the script: `npm ci`
# empties node_modules first, under the feet of a build bundling from it. The lock is this file.
# flock is util-linux's: where it is missing (macOS), builds simply do not take turns.
exec 9<"${BASH_SOURCE[0]}"
if command -v flock >/dev/null; then flock 9; fi

# node_modules is current when it was installed from this exact package.json and lockfile.
stamp_file="$here/node_modules/.wasm-agent-build-stamp"
want_stamp="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp_file" || "$(cat "$stamp_file")" != "$want_stamp" ]]; then
  echo "build.sh: installing the toolchain (npm ci)" >&2
  (cd "$here" && npm ci --no-audit --no-fund)
  echo "$want_stamp" >"$stamp_file"
fi

mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# componentize-js gives JavaScript the environment (the operator's `--env` grants) only when the
# world imports wasi:cli/environment, and stubs it out otherwise; StarlingMonkey has no
# `process.env`. <repo>/wit has no such world, so one is added to a copy of it.
write_world() {
  cp -r "$wit" "$work/wit"
  cat >"$work/wit/$world.wit" <<WIT
package wasm-agent:handler@0.1.0;

world $world {
  include handler;
  import wasi:cli/environment@0.2.12;
}
WIT
}
write_world

# One ES module: componentize-js resolves relative imports but not npm packages. Host
# interfaces (`wasm-agent:handler/...`, `wasi:...`) are left to componentize-js.
# StarlingMonkey's SpiderMonkey has no Unicode property escapes (`/\p{L}/u`, no ICU), and one
# such literal anywhere is a syntax error for the whole bundle (ajv, under the MCP SDK, has
# one); esbuild then writes them as `new RegExp(...)`, which fails only if that code runs.
"$here/node_modules/.bin/esbuild" "$entry" \
  --bundle --format=esm --platform=browser --target=es2022 \
  --supported:regexp-unicode-property-escapes=false \
  '--external:wasm-agent:*' '--external:wasi:*' \
  --log-level=warning --outfile="$work/$(basename "$entry")"

# Run from the bundle's folder so that stack traces name the file without a build path.
(cd "$work" && "$here/node_modules/.bin/componentize-js" "$(basename "$entry")" \
  --wit "$work/wit" --world-name "$world" --disable "${disable[@]}" --out "$work/component.wasm")
[[ -s "$work/component.wasm" ]] || die "componentize-js wrote no component"
mv "$work/component.wasm" "$out"

elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
echo "built $out ($(stat -c %s "$out") bytes) in ${elapsed}s"
