#!/usr/bin/env bash
# Builds app.py into {name}.wasm with the pinned componentize-py (installed into .venv),
# against the outbound-handler world in wit/: the handler world plus wasi:http.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
for file in wit/handler.wit wit/outbound.wit wit/deps; do
    [[ -e "$file" ]] || { echo "build.sh: no $file (wasm-agent new writes it)" >&2; exit 1; }
done
# The toolchain's virtualenv: VENV to share one between projects.
venv="${VENV:-.venv}"
if [[ "$("$venv"/bin/componentize-py --version 2>/dev/null)" != "componentize-py 0.25.1" ]]; then
    python3 -m venv "$venv"
    "$venv"/bin/pip install --quiet componentize-py==0.25.1
fi
# componentize-py wants the WitWorld class in the top module. `-p .` is where it finds app.py
# and the helper it imports (wasm_agent.py, wasm_agent_http.py).
printf 'import app\nfrom wasm_agent import WitWorld\n' > main.py
"$venv"/bin/componentize-py -d wit -w outbound-handler componentize -p . main -o {name}.wasm
echo "built {name}.wasm"
