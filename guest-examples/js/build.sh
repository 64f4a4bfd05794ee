#!/usr/bin/env bash
# Builds the example JavaScript agent into a wasm-agent handler component.
#
#   guest-examples/js/build.sh [OUT.wasm] [ENTRY.js]
#
# OUT defaults to <repo>/guest-examples/dist/js-agent.wasm, ENTRY to agent.js beside this script.
# Installs the pinned toolchain (npm ci) when node_modules is missing or older than the lockfile,
# bundles ENTRY and its npm dependencies into one ES module with esbuild, then builds the
# component with componentize-js (SpiderMonkey) against the `handler` world of <repo>/wit.
# Works from any directory; needs node (20 is what it is tested with) and npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/guest-examples/dist/js-agent.wasm}"
entry="${2:-$here/agent.js}"
wit="$repo/wit"
world="handler"
# StarlingMonkey's optional WASI features. `http` (fetch) and `fetch-event` import wasi:http,
# which the host does not link. stdio (console.* to the host's log), clocks (Date.now,
# setTimeout) and random (Math.random, crypto.getRandomValues) use only wasi:cli/io/clocks/random.
disable=(http fetch-event)

die() { echo "build.sh: $*" >&2; exit 1; }
command -v node >/dev/null || die "node is not installed (node 20 is needed)"
command -v npm >/dev/null || die "npm is not installed"
[[ -f "$entry" ]] || die "no such entry module: $entry"
[[ -d "$wit" ]] || die "no WIT folder at $wit"

start=$EPOCHREALTIME

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

# One ES module: componentize-js resolves relative imports but not npm packages. Host
# interfaces (`wasm-agent:handler/...`, `wasi:...`) are left to componentize-js.
"$here/node_modules/.bin/esbuild" "$entry" \
  --bundle --format=esm --platform=browser --target=es2022 \
  '--external:wasm-agent:*' '--external:wasi:*' \
  --log-level=warning --outfile="$work/$(basename "$entry")"

# Run from the bundle's folder so that stack traces name the file without a build path.
(cd "$work" && "$here/node_modules/.bin/componentize-js" "$(basename "$entry")" \
  --wit "$wit" --world-name "$world" --disable "${disable[@]}" --out "$work/component.wasm")
[[ -s "$work/component.wasm" ]] || die "componentize-js wrote no component"
mv "$work/component.wasm" "$out"

elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
echo "built $out ($(stat -c %s "$out") bytes) in ${elapsed}s"
