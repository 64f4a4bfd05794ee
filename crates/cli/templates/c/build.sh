#!/usr/bin/env bash
# Builds agent.c into {name}.wasm: zig (clang + wasi-libc, from PyPI, into .venv) compiles a core
# module, and `wasm-agent-guest-tools componentize` (from the wasm-agent repository:
# `cargo install --path crates/guest-tools`) makes it a component.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The toolchain's virtualenv: VENV to share one between projects.
venv="${VENV:-.venv}"
if [[ "$("$venv"/bin/python -m ziglang version 2>/dev/null)" != "0.17.1" ]]; then
    python3 -m venv "$venv"
    "$venv"/bin/pip install --quiet ziglang==0.17.1
fi
"$venv"/bin/python -m ziglang cc --target=wasm32-wasi -Os -mexec-model=reactor -o core.wasm \
    agent.c json.c bindings/handler.c bindings/handler_component_type.o
"${GUEST_TOOLS:-wasm-agent-guest-tools}" componentize core.wasm -o {name}.wasm
echo "built {name}.wasm"
