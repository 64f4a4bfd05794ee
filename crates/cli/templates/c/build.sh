#!/usr/bin/env bash
# Builds agent.c into {name}.wasm: zig (clang + wasi-libc, from PyPI, into .venv) compiles a core
# module for WASI preview1, and `wasm-agent componentize` ($WASM_AGENT, default: wasm-agent on
# PATH) makes it a component.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The toolchain's virtualenv: VENV to share one between projects.
venv="${VENV:-.venv}"
if [[ "$("$venv"/bin/python -m ziglang version 2>/dev/null)" != "0.17.1" ]]; then
    python3 -m venv "$venv"
    "$venv"/bin/pip install --quiet ziglang==0.17.1
fi
# A reactor: no `main`, the host calls the exports.
"$venv"/bin/python -m ziglang cc --target=wasm32-wasi -Os -mexec-model=reactor -Wall -Wextra \
    -o core.wasm agent.c json.c http.c http_error.c \
    bindings/outbound_handler.c bindings/outbound_handler_component_type.o
"${WASM_AGENT:-wasm-agent}" componentize core.wasm -o {name}.wasm
echo "built {name}.wasm"
