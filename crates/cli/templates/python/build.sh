#!/usr/bin/env bash
# Builds app.py into {name}.wasm with the pinned componentize-py (installed into .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The toolchain's virtualenv: VENV to share one between projects.
venv="${VENV:-.venv}"
if [[ "$("$venv"/bin/componentize-py --version 2>/dev/null)" != "componentize-py 0.25.1" ]]; then
    python3 -m venv "$venv"
    "$venv"/bin/pip install --quiet componentize-py==0.25.1
fi
# componentize-py wants the WitWorld class in the top module.
printf 'import app\nfrom wasm_agent import WitWorld\n' > main.py
"$venv"/bin/componentize-py -d wit -w handler componentize -p . main -o {name}.wasm
echo "built {name}.wasm"
