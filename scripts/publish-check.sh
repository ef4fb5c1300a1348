#!/usr/bin/env bash
# Packages sse-hub and sse-lean and builds them as crates.io would (`cargo publish --dry-run`).
#
# Cargo verifies sse-lean against the sse-hub it just packaged, served from a temporary
# registry in target/package, and extracts it under $CARGO_HOME/registry/src/-<hash>/ like any
# registry crate: once, never again for the same version. A later run would build sse-lean
# against that first copy of sse-hub, failing (or passing) on an API that is gone; and its
# build of a registry crate is never rebuilt either. So the copies those temporary registries
# left are removed first, and the check builds in a target directory of its own, where its
# builds of the two crates are removed too; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

registry_src="${CARGO_HOME:-$HOME/.cargo}/registry/src"
rm -rf "$registry_src"/-*/sse-hub-* "$registry_src"/-*/sse-lean-*
export CARGO_TARGET_DIR=target/publish-check
rm -rf "$CARGO_TARGET_DIR"/debug/.fingerprint/sse-{hub,lean}-* \
    "$CARGO_TARGET_DIR"/debug/deps/libsse_{hub,lean}-* "$CARGO_TARGET_DIR"/package
cargo publish --dry-run --allow-dirty -p sse-hub -p sse-lean
