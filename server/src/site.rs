//! The site folder (`--site-root`) the page's WASM, JS and CSS are served from. It must be of
//! the server's own build: a page of another build (a debug one from `cargo leptos watch`, or
//! older sources) cannot hydrate this server's HTML; it panics halfway and never connects.
//! So start-up checks the WASM for the server's [`app::BUILD_ID`] and refuses another.

use std::io;
use std::path::Path;

/// How every build id starts: `livenames-build:<debug|release>-<16 hex digits>`.
const MARKER: &str = "livenames-build:";
const HASH_DIGITS: usize = 16;

/// Checks `<site_root>/pkg/<output_name>.wasm`: fine if it is of this build, or missing (the
/// page then works without JavaScript, which is logged); an error naming the problem and
/// the fix otherwise.
pub fn check(site_root: &Path, output_name: &str) -> io::Result<()> {
    let wasm = site_root.join("pkg").join(format!("{output_name}.wasm"));
    let bytes = match std::fs::read(&wasm) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            tracing::warn!(
                "no {} (--site-root / LEPTOS_SITE_ROOT): pages will not hydrate",
                wasm.display()
            );
            return Ok(());
        }
        Err(err) => return Err(io::Error::other(format!("cannot read {}: {err}", wasm.display()))),
    };
    match build_id_in(&bytes) {
        Some(found) if found == app::BUILD_ID => Ok(()),
        found => Err(io::Error::other(mismatch(&wasm, found))),
    }
}

/// The build id in a WASM file, if it holds one.
fn build_id_in(wasm: &[u8]) -> Option<&str> {
    let start = wasm.windows(MARKER.len()).position(|window| window == MARKER.as_bytes())?;
    let rest = &wasm[start + MARKER.len()..];
    // Other strings follow in the data without a separator: take exactly the id's length.
    let profile = ["debug-", "release-"].into_iter().find(|p| rest.starts_with(p.as_bytes()))?;
    let hash = rest.get(profile.len()..profile.len() + HASH_DIGITS)?;
    if !hash.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    std::str::from_utf8(&wasm[start..start + MARKER.len() + profile.len() + HASH_DIGITS]).ok()
}

/// What is wrong with the site, and how to put it right.
fn mismatch(wasm: &Path, found: Option<&str>) -> String {
    let why = match found {
        None => "It carries no build id: it is older than this server.".to_string(),
        Some(found) if found.contains(":debug-") && !app::BUILD_ID.contains(":debug-") => {
            format!("It is a debug build ({found}), as `cargo leptos watch` writes.")
        }
        Some(found) => format!("It is another build ({found}): the page changed in between."),
    };
    format!(
        "{} is not of this server's build ({}), and would fail to hydrate its pages. {why} \
         Serve the site built with this server: `make build` builds both into target/, \
         `make dist` copies both into dist/; --site-root / LEPTOS_SITE_ROOT names the folder.",
        wasm.display(),
        app::BUILD_ID,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site folder of its own under the system's temporary folder, removed when dropped.
    struct TempSite(std::path::PathBuf);

    impl TempSite {
        fn with_wasm(name: &str, wasm: &[u8]) -> Self {
            let dir =
                std::env::temp_dir().join(format!("livenames-site-{}-{name}", std::process::id()));
            std::fs::create_dir_all(dir.join("pkg")).unwrap();
            std::fs::write(dir.join("pkg").join("app.wasm"), wasm).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempSite {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn wasm_around(id: &str) -> Vec<u8> {
        // Strings around it in the data, with nothing in between, as a linker packs them.
        [&b"\0asm\x01\0\0\0meta[name="[..], id.as_bytes(), b"abc0123456789"].concat()
    }

    #[test]
    fn the_build_id_is_read_out_of_the_data_around_it() {
        let id = "livenames-build:release-0123456789abcdef";
        assert_eq!(build_id_in(&wasm_around(id)), Some(id));
        let debug = "livenames-build:debug-fedcba9876543210";
        assert_eq!(build_id_in(&wasm_around(debug)), Some(debug));
        assert_eq!(build_id_in(b"livenames-build:release-0123"), None, "cut short");
        assert_eq!(build_id_in(b"livenames-build:release-0123456789abcdeg"), None);
        assert_eq!(build_id_in(b"\0asm no id here"), None);
    }

    #[test]
    fn a_site_of_this_build_or_none_at_all_is_fine() {
        let site = TempSite::with_wasm("same", &wasm_around(app::BUILD_ID));
        assert!(check(&site.0, "app").is_ok());
        assert!(check(&site.0.join("nothing here"), "app").is_ok(), "served without hydration");
    }

    #[test]
    fn a_site_of_another_build_is_refused_naming_the_fix() {
        // The same sources, built with the other profile.
        let (own_profile, own_hash) = app::BUILD_ID[MARKER.len()..].split_once('-').unwrap();
        let other_profile = if own_profile == "debug" { "release" } else { "debug" };
        let other_profile = format!("{MARKER}{other_profile}-{own_hash}");
        for (name, wasm) in [
            ("other", wasm_around(&format!("{MARKER}release-0000000000000000"))),
            ("profile", wasm_around(&other_profile)),
            ("old", b"\0asm\x01\0\0\0 no id".to_vec()),
        ] {
            let site = TempSite::with_wasm(name, &wasm);
            let message = check(&site.0, "app").unwrap_err().to_string();
            assert!(message.contains("app.wasm is not of this server's build"), "{message}");
            assert!(message.contains("make dist") && message.contains("--site-root"), "{message}");
        }
    }
}
