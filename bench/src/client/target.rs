//! The URL under load, checked at the edge: plain `http` to an IPv4 loopback address only,
//! so the tool can never be pointed at another machine.

use crate::Error;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

/// Stands for a hub's number in `--url` (see [`Target::for_hub`]).
const HUB: &str = "{hub}";

/// A checked `http://127.x.x.x:PORT/path` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The server's address, always on the loopback network.
    pub addr: SocketAddrV4,
    /// The path and query to `GET`.
    pub path: String,
}

impl Target {
    /// Parses `--url`; anything but `http` to `localhost` or `127.0.0.0/8` is refused.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Flag { flag: "--url", why: format!("{why}, not {url:?}") };
        let uri: http::Uri = url.parse().map_err(|_| bad("must be a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("must start with http:// (no TLS on loopback)"));
        }
        let host = uri.host().ok_or_else(|| bad("must name a host"))?;
        let ip = match host {
            "localhost" => Ipv4Addr::LOCALHOST,
            _ => host.parse::<Ipv4Addr>().map_err(|_| bad("must be an IPv4 loopback address"))?,
        };
        if !ip.is_loopback() {
            return Err(bad(
                "must be on loopback (127.0.0.0/8): this tool loads only this machine",
            ));
        }
        let port = uri.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        Ok(Self { addr: SocketAddrV4::new(ip, port), path })
    }

    /// This target with `{hub}` in its path replaced by `hub` (itself if there is none).
    pub fn for_hub(self: &Arc<Self>, hub: u64) -> Arc<Self> {
        match self.path.contains(HUB) {
            true => Arc::new(Self { path: self.path.replace(HUB, &hub.to_string()), ..**self }),
            false => self.clone(),
        }
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        self.addr.to_string()
    }
}

/// The `index`-th of `count` loopback source addresses: 127.0.0.1, 127.0.0.2, … Each gives
/// its own ~28k ephemeral ports, so more subscribers than one address allows can connect.
pub fn source_addr(index: usize, count: usize) -> Ipv4Addr {
    let offset = (index % count.clamp(1, 254)) as u8;
    Ipv4Addr::new(127, 0, 0, 1 + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_accepted_with_their_path() {
        let target = Target::parse("http://127.0.0.1:3000/sse?limit=5").unwrap();
        assert_eq!(target.addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(target.path, "/sse?limit=5");
        assert_eq!(Target::parse("http://localhost/").unwrap().addr.port(), 80);
        assert!(Target::parse("http://127.9.8.7:1/sse").is_ok());
    }

    #[test]
    fn a_hub_placeholder_becomes_the_hubs_number() {
        let target = Arc::new(Target::parse("http://127.0.0.1:3000/hubs/{hub}?x=1").unwrap());
        assert_eq!(target.for_hub(42).path, "/hubs/42?x=1");
        assert_eq!(target.for_hub(42).addr, target.addr);
        let plain = Arc::new(Target::parse("http://127.0.0.1:3000/sse").unwrap());
        assert!(Arc::ptr_eq(&plain.for_hub(3), &plain));
    }

    #[test]
    fn anything_off_loopback_is_refused_naming_the_flag() {
        for url in [
            "http://10.0.0.1:3000/sse",
            "http://example.com/sse",
            "https://127.0.0.1/sse",
            "http://[::1]:3000/sse",
            "http://0.0.0.0:3000/sse",
            "not a url",
        ] {
            let err = Target::parse(url).unwrap_err().to_string();
            assert!(err.contains("--url"), "{url}: {err}");
        }
    }

    #[test]
    fn source_addresses_rotate_over_the_count() {
        assert_eq!(source_addr(0, 4), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(source_addr(5, 4), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_addr(7, 1), Ipv4Addr::LOCALHOST);
        assert_eq!(source_addr(300, 1000), Ipv4Addr::new(127, 0, 0, 47));
    }
}
