#!/usr/bin/env bash
# Installs, from Debian's packages, the programs the tests and benchmarks run beside
# wasm-agent: nginx (the scale-out test), podman and runc (the image test), wrk (load). Each is installed only if missing, so a
# machine that has them needs neither root nor the network.
#
#   tests/tools/install.sh            # those the tests need
#   tests/tools/install.sh wrk        # some
set -euo pipefail

# program: packages. runc, not crun: crun refuses to start containers under hybrid cgroups;
# iptables publishes a container's port.
declare -A PACKAGE=([nginx]=nginx [podman]="podman iptables" [runc]=runc [wrk]=wrk)
programs=("$@")
[[ ${#programs[@]} -gt 0 ]] || programs=(nginx podman runc)

missing=()
for program in "${programs[@]}"; do
    [[ -n ${PACKAGE[$program]:-} ]] || { echo "no package known for $program" >&2; exit 2; }
    PATH="$PATH:/usr/sbin:/sbin" command -v "$program" >/dev/null || missing+=(${PACKAGE[$program]})
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing: ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
# Debian starts the packaged nginx on port 80; the tests run their own.
if [[ " ${missing[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
fi
