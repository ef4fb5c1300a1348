#!/usr/bin/env bash
# Installs what building (and, with `test`, testing) livenames needs, skipping whatever is
# already there. Only package registries are used (crates.io, rustup, Debian, npm): nothing
# may download its own binaries from elsewhere, so cargo-leptos is built with `no_downloads`
# and finds wasm-bindgen and wasm-opt on PATH.
#
# Usage: scripts/install-tools.sh build|test|unit|screenshot|page|fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.11
# Debian's binaryen (108) emits WASM that fails to hydrate in Chromium; 116 works.
WASM_OPT_VERSION=0.116.1

say() { printf '==> %s\n' "$*"; }

# Prints the version of a package in Cargo.lock.
locked_version() {
    awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

ensure_wasm_target() {
    rustup target list --installed | grep -qx wasm32-unknown-unknown && return
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
}

# `make fuzz-head`: libFuzzer through cargo-fuzz, which needs the nightly toolchain.
ensure_cargo_fuzz() {
    rustup toolchain list | grep -q '^nightly' || {
        say "installing the nightly toolchain (for cargo-fuzz)"
        rustup toolchain install nightly --profile minimal
    }
    cargo fuzz --version >/dev/null 2>&1 && return
    say "installing cargo-fuzz (about 8 minutes)"
    cargo install cargo-fuzz --locked
}

ensure_cargo_leptos() {
    cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION\$" && return
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 11 minutes)"
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked \
        --ignore-rust-version --features no_downloads
}

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly. Its own lockfile names a
# crate version the registry lacks, so it is installed without --locked; the resolver then
# picks dependencies that build with this toolchain rather than the newest ones.
ensure_wasm_bindgen() {
    local version
    version=$(locked_version wasm-bindgen)
    wasm-bindgen --version 2>/dev/null | grep -q " $version\$" && return
    say "installing wasm-bindgen-cli $version"
    CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback \
        cargo install wasm-bindgen-cli --version "$version" --force
}

ensure_wasm_opt() {
    # The crate 0.116.1 builds binaryen 116, which reports "wasm-opt version 116 (…)".
    local binaryen=${WASM_OPT_VERSION#0.}
    "$HOME/.cargo/bin/wasm-opt" --version 2>/dev/null | grep -q "version ${binaryen%%.*} " && return
    say "installing wasm-opt $WASM_OPT_VERSION (about 8 minutes)"
    cargo install wasm-opt --version "$WASM_OPT_VERSION" --locked --force
}

# Installs Debian's package $1; $2 says what for.
apt_install() {
    say "installing Debian's $1 $2"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1"
}

ensure_chromium() {
    [ -x /usr/bin/chromium ] && return
    apt_install chromium "for the end-to-end tests"
}

# The multi-instance tests start their own redis-server on a free port in a temp folder;
# they never use the system service the package may start (port 6379).
ensure_redis_server() {
    command -v redis-server >/dev/null && return
    apt_install redis-server "for the multi-instance tests"
}

# The proxy tests run Debian's nginx with the README's configuration, as a process of their
# own (own prefix, port and pid file); the system service the package may start is not used.
ensure_nginx() {
    [ -x /usr/sbin/nginx ] && return
    apt_install nginx "for the tests through a reverse proxy"
}

# The HTTPS/HTTP/2 proxy test runs Debian's Caddy with the README's configuration, as a process
# of its own (own config, data folder and ports); the system service the package may start is
# not used.
ensure_caddy() {
    [ -x /usr/bin/caddy ] && return
    apt_install caddy "for the test through an HTTPS/HTTP/2 proxy"
}

# The cross-engine suite drives Debian's Firefox ESR through geckodriver (crates.io: Debian has
# no package of it) and Debian's WebKitGTK MiniBrowser through WebKitWebDriver, under an Xvfb of
# its own; the harness starts each itself, so nothing downloads a driver or a browser.
GECKODRIVER_VERSION=0.37.1

ensure_engines() {
    [ -x /usr/bin/firefox-esr ] || apt_install firefox-esr "for the cross-engine tests"
    # webkit2gtk-driver brings libwebkit2gtk-4.1-0, whose MiniBrowser the driver starts.
    [ -x /usr/bin/WebKitWebDriver ] || apt_install webkit2gtk-driver "for the cross-engine tests"
    [ -x /usr/bin/Xvfb ] || apt_install xvfb "for the cross-engine tests (WebKit needs a display)"
    # Read whole first: grep -q would stop reading early and break the pipe under pipefail.
    local installed
    installed=$(geckodriver --version 2>/dev/null || true)
    [ "${installed%%$'\n'*}" = "geckodriver $GECKODRIVER_VERSION" ] && return
    say "installing geckodriver $GECKODRIVER_VERSION"
    cargo install geckodriver --version "$GECKODRIVER_VERSION" --locked
}

# Names are Chinese: without a CJK font the screenshot shows empty boxes.
ensure_cjk_font() {
    fc-list :lang=zh 2>/dev/null | grep -q . && return
    apt_install fonts-wqy-zenhei "for the screenshot"
}

ensure_npm_packages() {
    # npm ci leaves this copy of the lockfile behind; equal contents mean nothing to do.
    cmp -s end2end/package-lock.json end2end/node_modules/.package-lock.json 2>/dev/null && return
    say "installing the end-to-end test packages (npm ci)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
}

case "${1:-}" in
    build)
        ensure_wasm_target; ensure_cargo_leptos; ensure_wasm_bindgen; ensure_wasm_opt ;;
    test)
        ensure_wasm_target; ensure_cargo_leptos; ensure_wasm_bindgen; ensure_wasm_opt
        ensure_chromium; ensure_npm_packages; ensure_redis_server; ensure_nginx; ensure_caddy
        ensure_engines ;;
    unit)
        ensure_redis_server ;;
    screenshot)
        ensure_chromium; ensure_cjk_font; ensure_npm_packages ;;
    page)
        ensure_chromium; ensure_npm_packages ;;
    fuzz)
        ensure_cargo_fuzz ;;
    *)
        echo "usage: $0 build|test|unit|screenshot|page|fuzz" >&2; exit 2 ;;
esac
