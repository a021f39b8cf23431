#!/usr/bin/env bash
# Installs jco, the Bytecode Alliance's JavaScript host of WebAssembly components (a WASI
# 0.2 host nobody here wrote, run by node), for the tests of the portable build
# (host/tests/portable_hosts.rs), and prints the path of its `jco` command.
#
# npm installs @bytecodealliance/jco 1.35.0 and @bytecodealliance/preview2-shim 0.26.1 (the
# WASI implementation `jco run` uses) under target/tools/ (or $SANDLOOP_TOOLS_DIR); it needs
# node 20 or later and npm. Nothing is installed system-wide. Running it again prints the
# path of the copy it made; two runs at once each install into a folder of their own and
# the first to finish wins.
set -euo pipefail

jco=1.35.0
shim=0.26.1
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="${SANDLOOP_TOOLS_DIR:-$root/target/tools}"
dest="$tools/jco-$jco"
bin="$dest/node_modules/.bin/jco"

if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi

mkdir -p "$tools"
work="$(mktemp -d "$tools/.jco-$jco.XXXXXX")"
trap 'rm -rf "$work"' EXIT
npm install --prefix "$work" --no-audit --no-fund --loglevel=error \
    "@bytecodealliance/jco@$jco" "@bytecodealliance/preview2-shim@$shim" >&2
# Another run may have finished first: its copy is as good as this one.
mv -T "$work" "$dest" 2>/dev/null || true
test -x "$bin"
echo "$bin"
