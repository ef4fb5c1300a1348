#!/usr/bin/env bash
# Where the release WASM's bytes go, by crate and by function (figures in BENCHMARKS.md).
# Run after `cargo leptos build --release`; needs twiggy (`cargo install twiggy`), which
# nothing else needs, so it is not installed by scripts/install-tools.sh.
#
# The site's WASM has no names (wasm-opt drops them), so this redoes cargo-leptos' last two
# steps on the same input with names kept: wasm-bindgen, then wasm-opt with the flags
# cargo-leptos 0.3.11 passes (src/compile/front.rs) plus --debuginfo. The code is the same;
# only the "names" section is added, and twiggy reports it apart.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# The linker's output, before wasm-bindgen; INPUT= names another (say, a copy from an older
# commit's build) to compare.
INPUT=${INPUT:-target/front/wasm32-unknown-unknown/wasm-release/frontend.wasm}
ROWS=${ROWS:-25}

command -v twiggy >/dev/null || { echo "twiggy is missing: cargo install twiggy" >&2; exit 1; }
[ -f "$INPUT" ] || { echo "no $INPUT: run cargo leptos build --release first" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wasm-bindgen --target=web --out-dir "$work" --out-name livenames "$INPUT"
flags=(-Oz --enable-bulk-memory --enable-nontrapping-float-to-int)
wasm-opt "${flags[@]}" "$work/livenames_bg.wasm" -o "$work/site.wasm"
wasm-opt "${flags[@]}" --debuginfo "$work/livenames_bg.wasm" -o "$work/named.wasm"

printf 'WASM as the site serves it: %d bytes raw, %d gzip -9; with names: %d bytes\n\n' \
    "$(stat -c %s "$work/site.wasm")" "$(gzip -9 -c "$work/site.wasm" | wc -c)" \
    "$(stat -c %s "$work/named.wasm")"

echo "By crate (shallow bytes; generic code counts for the crate that defines it):"
twiggy top -n 1000000 --format csv "$work/named.wasm" | tail -n +2 | awk '
    {
        # The size is the 4th field from the end; names may hold quoted commas.
        n = split($0, f, ",")
        size = f[n - 3]
        name = $0
        sub(/,[^,]*,[^,]*,[^,]*,[^,]*$/, "", name)
        if (name ~ /^"/) { name = substr(name, 2, length(name) - 2); gsub(/""/, "\"", name) }
        gsub(/\[[0-9a-f]+\]/, "", name)
        if (name ~ /subsection/) next
        sub(/^core::ptr::drop_in_place</, "", name)
        crate = "(other: bindgen shims, merged functions, imports, tables)"
        if (name ~ /^data segment/) crate = "(data segments: strings, tables)"
        else if (match(name, /^<&?(mut )?(dyn )?[a-z_][a-z0-9_]*::/)) {
            crate = substr(name, RSTART, RLENGTH); gsub(/^<&?(mut )?(dyn )?|::$/, "", crate)
        } else if (match(name, / as [a-z_][a-z0-9_]*::/)) {
            crate = substr(name, RSTART + 4, RLENGTH - 6)
        } else if (match(name, /^[a-z_][a-z0-9_]*::/)) {
            crate = substr(name, RSTART, RLENGTH - 2)
        }
        bytes[crate] += size; total += size
    }
    END {
        for (c in bytes) printf "%9d %5.1f%%  %s\n", bytes[c], 100 * bytes[c] / total, c
    }' | sort -rn | head -n "$ROWS"

echo
echo "Largest functions and data:"
twiggy top -n "$ROWS" "$work/named.wasm" | grep -v 'subsection'
