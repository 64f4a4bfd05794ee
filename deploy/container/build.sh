#!/usr/bin/env bash
# Builds the runtime image of one handler (Dockerfile beside this script; see README.md):
#
#   deploy/container/build.sh HANDLER.wasm [CONFIG.toml]
#
# CONFIG.toml holds serve's settings (docs/configuration.md); its `handler` is replaced by the
# image's. Environment:
#   IMAGE        the tag (default wasm-agent-handler:latest)
#   TARGET       the image's machine, a target triple (default this machine's)
#   BINARY       the static wasm-agent for TARGET (default target/TARGET/release/wasm-agent)
#   COMPILER     for another TARGET only: a wasm-agent that runs here, from the same source
#                (default target/THIS-MACHINE/release/wasm-agent)
#   OUTBOUND_CA  a PEM file of extra roots for outbound TLS (a private CA or proxy)
#   ENGINE       podman (default), docker or buildah
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

fail() { echo "build.sh: $*" >&2; exit 1; }
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 HANDLER.wasm [CONFIG.toml]" >&2; exit 64; }
handler=$1
config=${2:-}
[[ -f $handler ]] || fail "no handler at $handler"
[[ -z $config || -f $config ]] || fail "no config file at $config"

host_target=$(uname -m)-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-$repo/target}
IMAGE=${IMAGE:-wasm-agent-handler:latest}
TARGET=${TARGET:-$host_target}
BINARY=${BINARY:-$target_dir/$TARGET/release/wasm-agent}
ENGINE=${ENGINE:-podman}
OUTBOUND_CA=${OUTBOUND_CA:-}
# The binary that reads the settings and compiles the handler: the image's own when it runs
# here. A .cwasm loads only into the wasmtime version that wrote it, so a COMPILER for another
# TARGET must be built from the same source as BINARY.
if [[ $TARGET == "$host_target" ]]; then
    COMPILER=$BINARY
else
    COMPILER=${COMPILER:-$target_dir/$host_target/release/wasm-agent}
fi
case $TARGET in
    x86_64-*) platform=linux/amd64 machine=X86-64 ;;
    aarch64-*) platform=linux/arm64 machine=AArch64 ;;
    *) fail "TARGET $TARGET: the image is built for x86_64 or aarch64 Linux" ;;
esac
[[ -z $OUTBOUND_CA || -f $OUTBOUND_CA ]] || fail "OUTBOUND_CA: no file at $OUTBOUND_CA"
[[ -x $COMPILER ]] || fail "no wasm-agent at $COMPILER (build it: see README.md)"
COMPILER=$(realpath "$COMPILER")  # run below with an empty environment: no PATH

# scratch has no loader and no libraries: the binary must have no interpreter (PT_INTERP) and
# need no shared object. readelf comes with binutils, which any Rust build machine has.
[[ -f $BINARY ]] || fail "no binary at $BINARY (build it with +crt-static: see README.md)"
headers=$(readelf -hldW "$BINARY") || fail "$BINARY is not an ELF file"
grep -q "Machine:.*$machine" <<<"$headers" || fail "$BINARY is not built for $TARGET"
if grep -q 'INTERP\|(NEEDED)' <<<"$headers"; then
    fail "$BINARY is dynamically linked; build it with RUSTFLAGS='-C target-feature=+crt-static'"
fi

staging=$(mktemp -d)
smoke=
cleanup() {
    [[ -z $smoke ]] || kill "$smoke" 2>/dev/null || true
    rm -rf "$staging"
}
trap cleanup EXIT
context=$staging/context
install -d -m 0755 "$context" "$context/etc" "$context/etc/wasm-agent"
install -m 0755 "$BINARY" "$context/wasm-agent"
[[ -z $OUTBOUND_CA ]] || install -m 0644 "$OUTBOUND_CA" "$context/etc/wasm-agent/ca.pem"
staged=$context/etc/wasm-agent/wasm-agent.toml

# The image's settings: the user's, with the image's handler and CA. The CA is named relative
# to the file (relative paths are), so the same file reads here and in the image. Printed on
# stdout: the variables outbound-auth names, which the checks below get placeholders for.
auth_vars=$(python3 - "$config" "$staged" "$([[ -n $OUTBOUND_CA ]] && echo ca.pem)" <<'PY'
import json, sys, tomllib

source, staged, ca = sys.argv[1:]
settings = {}
if source:
    with open(source, "rb") as file:
        settings = tomllib.load(file)
if "outbound-ca" in settings:
    sys.exit(f"build.sh: {source}: outbound-ca names files outside the image; "
             "give the CA as OUTBOUND_CA=file.pem")
if "handler" in settings:
    print(f"build.sh: {source}: its handler is replaced by the one given", file=sys.stderr)
settings.pop("cache-dir", None)  # the image serves with --no-cache
settings["handler"] = "/handler.cwasm"
if ca:
    settings["outbound-ca"] = [ca]

def toml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False)  # JSON's string escapes are TOML's
    if isinstance(value, list):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    sys.exit(f"build.sh: {source}: a value of {type(value).__name__} is no setting")

with open(staged, "w") as file:
    file.write("# The image's settings (deploy/container/build.sh); the entrypoint's flags "
               "win over them.\n")
    for key, value in sorted(settings.items(), key=lambda item: item[0] != "handler"):
        file.write(f"{key} = {toml(value)}\n")

for rule in settings.get("outbound-auth", []):
    scheme = rule.split("=", 1)[-1].split(":")
    if scheme[0] in ("bearer-env", "header-env"):
        print(scheme[-1])
    elif scheme[0] == "sigv4" and len(scheme) < 3:
        print("AWS_REGION")
PY
)
chmod 0644 "$staged"

# The checks run with the environment the image starts with (none of this shell's
# WASM_AGENT_* settings), plus placeholders for the credentials the runtime will provide.
check_env=(env -i)
for variable in $auth_vars; do check_env+=("$variable=placeholder-at-build"); done

# --print-config checks every setting as serve will, without the handler: the user's file
# first, so an error names its own lines, then the image's, whose fuel setting decides the code
# (metering or not).
if [[ -n $config ]]; then
    "${check_env[@]}" "$COMPILER" serve --config "$config" --print-config >/dev/null \
        || fail "$config: the settings do not check out (above)"
fi
effective=$("${check_env[@]}" "$COMPILER" serve --config "$staged" --no-cache --print-config) \
    || fail "the image's settings do not check out (above)"
# A grant whose name says it is a secret would be written into an image layer, readable by
# anyone who pulls the image: --print-config masks those (the server's one rule), so a masked
# value here is refused. Secrets are given at run time (`env-inherit` and `-e NAME`).
secrets=$(python3 -c 'import sys, tomllib
print(" ".join(g.split("=", 1)[0] for g in tomllib.loads(sys.stdin.read()).get("env", [])
               if g.endswith("=***")))' <<<"$effective")
[[ -z $secrets ]] || fail "env grants $secrets, which look like secrets: they would be baked into the image; pass them at run time (env-inherit = [\"NAME\"], and -e NAME)"
fuel=$(python3 -c 'import sys, tomllib; print(tomllib.loads(sys.stdin.read()).get("fuel", ""))' \
    <<<"$effective")
"$COMPILER" compile "$handler" -o "$context/handler.cwasm" --target "$TARGET" \
    ${fuel:+--fuel "$fuel"}
chmod 0644 "$context/handler.cwasm"

# Served briefly under the image's settings, when it can run here: a handler that does not
# load (wrong fuel setting, a pool too large) fails the build rather than the deployment. The
# positional handler wins over the file's, which names the path inside the image; both
# listeners stay on loopback; the log is set so that the lines looked for are there.
if [[ $TARGET == "$host_target" ]]; then
    log=$staging/smoke.log
    "${check_env[@]}" "$COMPILER" serve --config "$staged" --no-cache --host 127.0.0.1 --port 0 \
        --metrics-addr 127.0.0.1:0 --log info --log-format text "$context/handler.cwasm" \
        2>"$log" &
    smoke=$!
    for _ in $(seq 300); do
        grep -q 'listening on' "$log" && break
        kill -0 "$smoke" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q 'listening on' "$log"; then
        cat "$log" >&2
        fail "the handler did not start under the image's settings (log above)"
    fi
    if ! grep -q 'code="precompiled"' "$log"; then
        cat "$log" >&2
        fail "the handler was not loaded as precompiled code (log above)"
    fi
    kill "$smoke" && wait "$smoke" || fail "the trial server did not stop cleanly"
    smoke=
fi

version=$("$COMPILER" --version | cut -d' ' -f2)
"$ENGINE" build --platform "$platform" --build-arg "VERSION=$version" \
    -f "$here/Dockerfile" -t "$IMAGE" "$context"
echo "built $IMAGE ($platform): $("$ENGINE" images --format '{{.Size}}' "$IMAGE" | head -1)"
