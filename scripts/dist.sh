#!/usr/bin/env bash
# Copies the release build into dist/, the deployable folder: the server binary and its
# site/. Run after `cargo leptos build --release` (make dist does both). Start it there with
# `LEPTOS_SITE_ROOT=site ./server`; the server refuses a site/ of another build.
set -euo pipefail
cd "$(dirname "$0")/.."

for built in target/release/server target/site/pkg/livenames.wasm; do
    [ -e "$built" ] || { echo "no $built: run make build first" >&2; exit 1; }
done
rm -rf dist.tmp
mkdir dist.tmp
cp target/release/server dist.tmp/server
cp -r target/site dist.tmp/site
rm -rf dist
mv dist.tmp dist
echo "dist/: server and site/ ($(du -sh dist | cut -f1))"
