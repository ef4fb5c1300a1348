//! The build id that the server and the WASM page share (`app::BUILD_ID`): whether debug
//! assertions are on (a debug page does not hydrate a release server's HTML) and a hash of
//! what shapes the page: the sources of `app` and `frontend`, and `Cargo.lock`. Both builds
//! of one `cargo leptos build` get the same id; the server refuses a site whose WASM carries
//! another one.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest.parent().expect("app/ is a workspace member");
    let inputs = ["app/src", "frontend/src", "Cargo.lock"];
    let mut hash = Fnv1a::default();
    for input in inputs {
        let path = workspace.join(input);
        println!("cargo:rerun-if-changed={}", path.display());
        for file in files_under(&path) {
            // Relative names, so that every checkout of the same sources agrees.
            let name = file.strip_prefix(workspace).unwrap_or(&file);
            hash.write(name.to_string_lossy().as_bytes());
            hash.write(&std::fs::read(&file).expect("a source file is readable"));
        }
    }
    let profile = match std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS") {
        Some(_) => "debug",
        None => "release",
    };
    println!("cargo:rustc-env=LIVENAMES_BUILD_ID={profile}-{:016x}", hash.0);
}

/// `path` if it is a file, else every file under it, in a fixed order.
fn files_under(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path).map(|entries| entries.flatten().collect::<Vec<_>>());
    for entry in entries.unwrap_or_default() {
        files.extend(files_under(&entry.path()));
    }
    files.sort();
    files
}

/// 64-bit FNV-1a: stable across Rust versions and machines, unlike std's hasher.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so that a name and a file's contents cannot run into each other.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
}
