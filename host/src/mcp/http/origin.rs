//! Which browser origins and which `Host` names `maas serve` answers.
//!
//! Origins: a request without `Origin` (every non-browser client) passes; one with a
//! loopback origin (`http(s)://localhost`, `127.0.0.1`, `[::1]`, any port) passes; any
//! other origin must be on the `--allowed-origin` list or be an `--allowed-host`'s own
//! (`http(s)://NAME`, any port, or the port given with it: a page served under a name
//! that reaches this server shares its origin), else the request is refused with
//! 403. A browser page at an allowed origin is answered with the CORS headers it needs
//! (`cross_origin`): its preflight (`OPTIONS` with `Access-Control-Request-Method`) gets
//! 204 without a token, and every answer to it names the origin and exposes the MCP
//! session headers. Hosts: the loopback names always, the listen address's own IP when it is a
//! specific one, and every `--allowed-host`; rmcp answers any other `Host` with 403.

use std::net::{IpAddr, SocketAddr};

/// One origin: scheme, lower-case host (IPv6 in brackets), and port (`None`: any).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// What the `Origin` header of a request says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginCheck {
    /// No `Origin` header: not a browser's cross-origin request.
    Absent,
    /// A loopback origin.
    Loopback,
    /// An origin on the allow-list.
    Allowed,
    /// Any other origin, or one that cannot be read.
    Refused,
}

impl OriginCheck {
    /// Whether the request may go on.
    pub fn allowed(self) -> bool {
        self != OriginCheck::Refused
    }

    /// Whether the request may act without a token under `--insecure-loopback`: only
    /// without an origin (not a browser's). A page, even one served from a loopback
    /// origin (any local dev server, any page a local process serves), would otherwise
    /// act as the operator through CORS.
    pub fn local(self) -> bool {
        self == OriginCheck::Absent
    }
}

/// The origins allowed besides loopback ones.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    extra: Vec<Origin>,
    allow_null: bool,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Parses `scheme://host[:port]` (a trailing `/` is tolerated). `wildcard` allows the
/// port `*`, which gives `port: None`.
fn parse(text: &str, wildcard: bool) -> Option<Origin> {
    let text = text.trim();
    let (scheme, rest) = text.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if scheme.is_empty() || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (authority, any_port) = match rest.strip_suffix(":*") {
        Some(a) if wildcard => (a, true),
        Some(_) => return None,
        None => (rest, false),
    };
    let parsed = http::uri::Authority::try_from(authority).ok()?;
    let host = parsed.host().to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let port = if any_port {
        None
    } else {
        Some(parsed.port_u16().or_else(|| default_port(&scheme))?)
    };
    Some(Origin { scheme, host, port })
}

/// Whether `host` (lower case, brackets around IPv6 allowed) names this machine:
/// `localhost` or a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Origins {
    /// The loopback origins plus `extra` (`scheme://host[:port]`, port `*` for any,
    /// no port for the scheme's default, or `null`). Errors name the bad entry.
    pub fn new(extra: &[String]) -> Result<Self, String> {
        let mut origins = Origins::default();
        for entry in extra {
            if entry.trim() == "null" {
                origins.allow_null = true;
                continue;
            }
            let origin = parse(entry, true).ok_or_else(|| {
                format!(
                    "--allowed-origin '{entry}' is not an origin like https://app.example.com or http://host:8080 (port * for any)"
                )
            })?;
            origins.extra.push(origin);
        }
        Ok(origins)
    }

    /// These origins plus the ones of each allowed host's name: `http://NAME` and
    /// `https://NAME` on any port, or on its port when one is given (`NAME:PORT`).
    /// `hosts` are [`allowed_hosts`]' entries (already checked).
    #[must_use]
    pub fn with_hosts(mut self, hosts: &[String]) -> Self {
        for (host, port) in &Hosts::new(hosts).0 {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            for scheme in ["http", "https"] {
                self.extra.push(Origin {
                    scheme: scheme.to_string(),
                    host: host.clone(),
                    port: *port,
                });
            }
        }
        self
    }

    /// Classifies a request's `Origin` header; more than one is refused.
    pub fn check(&self, headers: &http::HeaderMap) -> OriginCheck {
        let mut values = headers.get_all(http::header::ORIGIN).iter();
        let Some(header) = values.next() else {
            return OriginCheck::Absent;
        };
        if values.next().is_some() {
            return OriginCheck::Refused;
        }
        let Ok(text) = header.to_str() else {
            return OriginCheck::Refused;
        };
        if text.trim() == "null" {
            return if self.allow_null {
                OriginCheck::Allowed
            } else {
                OriginCheck::Refused
            };
        }
        let Some(origin) = parse(text, false) else {
            return OriginCheck::Refused;
        };
        if matches!(origin.scheme.as_str(), "http" | "https") && is_loopback_host(&origin.host) {
            return OriginCheck::Loopback;
        }
        let listed = self.extra.iter().any(|allowed| {
            allowed.scheme == origin.scheme
                && allowed.host == origin.host
                && allowed.port.is_none_or(|p| Some(p) == origin.port)
        });
        if listed {
            OriginCheck::Allowed
        } else {
            OriginCheck::Refused
        }
    }
}

/// The `Host` headers every route accepts (rmcp checks `/mcp` the same way): a host
/// listed without a port matches any port, one with a port only that port.
#[derive(Debug, Clone, Default)]
pub struct Hosts(Vec<(String, Option<u16>)>);

impl Hosts {
    /// The allow-list of [`allowed_hosts`]' entries (already validated).
    pub fn new(entries: &[String]) -> Hosts {
        // A bare IPv6 address (`::1`) is no authority: it names the host alone.
        let entry = |e: &str| authority(e).unwrap_or_else(|| (host_name(e), None));
        Hosts(entries.iter().map(|e| entry(e.trim())).collect())
    }

    /// Each entry's host name (lower case, IPv6 without brackets) and port, if one.
    pub fn entries(&self) -> &[(String, Option<u16>)] {
        &self.0
    }

    /// Whether a request's `Host` header and its URI's authority (HTTP/2 sends one, an
    /// absolute-form request target another) name an allowed host. A request with
    /// neither, with more than one `Host` header, or with a malformed one is refused.
    pub fn allows(&self, headers: &http::HeaderMap, uri: &http::Uri) -> bool {
        let mut values = headers.get_all(http::header::HOST).iter();
        let header = values.next();
        if values.next().is_some() {
            return false;
        }
        let named = |host: Option<(String, Option<u16>)>| {
            host.is_some_and(|(name, port)| {
                self.0
                    .iter()
                    .any(|(h, p)| *h == name && p.is_none_or(|p| Some(p) == port))
            })
        };
        let from_header = header.map(|h| h.to_str().ok().and_then(authority));
        let from_uri = uri
            .authority()
            .map(|a| Some((host_name(a.host()), a.port_u16())));
        (from_header.is_some() || from_uri.is_some())
            && from_header.is_none_or(named)
            && from_uri.is_none_or(named)
    }
}

/// `host` in lower case, without the brackets of an IPv6 address.
pub(super) fn host_name(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// The host name (see [`host_name`]) and port of an authority (`name:port`).
pub(super) fn authority(text: &str) -> Option<(String, Option<u16>)> {
    let a = http::uri::Authority::try_from(text).ok()?;
    Some((host_name(a.host()), a.port_u16()))
}

/// The `Host` values rmcp accepts: the loopback names, the listen IP when it is a
/// specific address, and `extra`. Refuses a non-loopback listen address without
/// `extra`, and malformed entries.
pub fn allowed_hosts(listen: SocketAddr, extra: &[String]) -> Result<Vec<String>, String> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let ip = listen.ip();
    if !ip.is_loopback() {
        if extra.is_empty() {
            return Err(format!(
                "listening on {listen}, which is not a loopback address, needs --allowed-host NAME \
                 for each host name clients use to reach this server (for example \
                 --allowed-host maas.internal); other Host headers are refused to stop DNS rebinding"
            ));
        }
        if !ip.is_unspecified() {
            hosts.push(ip.to_string());
        }
    }
    for entry in extra {
        let entry = entry.trim();
        // A host name or IP address, with a port or without; an IPv6 address with a port
        // in brackets (`[2001:db8::1]:7420`), without one bare or in brackets.
        let valid = entry.parse::<std::net::Ipv6Addr>().is_ok()
            || (!entry.is_empty()
                && !entry.contains(['/', '@', ' '])
                && http::uri::Authority::try_from(entry).is_ok());
        if !valid {
            return Err(format!(
                "--allowed-host '{entry}' is not a host name or host:port"
            ));
        }
        hosts.push(entry.to_string());
    }
    Ok(hosts)
}

/// The headers a browser page may send (`Access-Control-Allow-Headers`).
const CORS_REQUEST_HEADERS: &str =
    "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id";

/// The answer headers a page may read besides the safe ones (`Access-Control-Expose-Headers`).
const CORS_EXPOSED: &str = "mcp-session-id, mcp-protocol-version, retry-after";

/// The `Origin` of a request a browser sent from an allowed origin (loopback or
/// listed): the answer to it carries CORS headers naming it. `None` for a request
/// without one, or from an origin refused.
/// `Origin: null` (sandboxed frames, `data:` and `file:` pages anywhere) gets none even
/// when allowed: whatever sends it could read the answers.
pub fn cross_origin(check: OriginCheck, headers: &http::HeaderMap) -> Option<http::HeaderValue> {
    matches!(check, OriginCheck::Loopback | OriginCheck::Allowed)
        .then(|| headers.get(http::header::ORIGIN).cloned())
        .flatten()
        .filter(|o| o.as_bytes().trim_ascii() != b"null")
}

/// Whether `request` is a CORS preflight: `OPTIONS` asking which method it may use.
pub fn is_preflight(method: &http::Method, headers: &http::HeaderMap) -> bool {
    method == http::Method::OPTIONS
        && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight from `origin`: 204 naming what a page may send.
pub fn preflight(origin: http::HeaderValue) -> axum::response::Response {
    use axum::response::IntoResponse;
    use http::header;
    let mut response = http::StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        http::HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        http::HeaderValue::from_static(CORS_REQUEST_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        http::HeaderValue::from_static("600"),
    );
    h.append(header::VARY, http::HeaderValue::from_static("origin"));
    response
}

/// Adds to `response` the CORS headers that let a page at `origin` read it.
pub fn allow_reading(response: &mut axum::response::Response, origin: http::HeaderValue) {
    use http::header;
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        http::HeaderValue::from_static(CORS_EXPOSED),
    );
    h.append(header::VARY, http::HeaderValue::from_static("origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header map with `name` once per value (a value that is no header value is
    /// sent as `invalid value`, which is malformed as an origin and as a host).
    fn header_map(name: http::header::HeaderName, values: &[&str]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for v in values {
            let value = http::HeaderValue::from_str(v)
                .unwrap_or_else(|_| http::HeaderValue::from_static("invalid value"));
            map.append(name.clone(), value);
        }
        map
    }

    fn origins(values: &[&str]) -> http::HeaderMap {
        header_map(http::header::ORIGIN, values)
    }

    fn check(o: &Origins, value: &str) -> OriginCheck {
        o.check(&origins(&[value]))
    }

    #[test]
    fn loopback_origins_pass_with_any_port_and_others_are_refused() {
        let o = Origins::default();
        assert_eq!(o.check(&http::HeaderMap::new()), OriginCheck::Absent);
        let two = origins(&["http://localhost", "http://evil.example"]);
        assert_eq!(o.check(&two), OriginCheck::Refused, "one Origin only");
        let same = origins(&["http://localhost", "http://localhost"]);
        assert_eq!(o.check(&same), OriginCheck::Refused, "one Origin only");
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://[::1]:9000",
            "HTTP://LOCALHOST:1",
        ] {
            assert_eq!(check(&o, ok), OriginCheck::Loopback, "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "null",
            "file://localhost",
            "garbage",
            "http://localhost/path",
        ] {
            assert_eq!(check(&o, bad), OriginCheck::Refused, "{bad}");
        }
    }

    #[test]
    fn listed_origins_match_scheme_host_and_port() {
        let o = Origins::new(&[
            "https://app.example.com".into(),
            "http://dev.example.com:*".into(),
        ])
        .unwrap_or_default();
        assert_eq!(check(&o, "https://app.example.com"), OriginCheck::Allowed);
        assert_eq!(
            check(&o, "https://app.example.com:443"),
            OriginCheck::Allowed
        );
        assert_eq!(
            check(&o, "https://app.example.com:8443"),
            OriginCheck::Refused
        );
        assert_eq!(check(&o, "http://app.example.com"), OriginCheck::Refused);
        assert_eq!(
            check(&o, "http://dev.example.com:5173"),
            OriginCheck::Allowed
        );
        assert!(!OriginCheck::Allowed.local());
        assert!(!OriginCheck::Loopback.local());
        assert!(OriginCheck::Absent.local());
        assert!(Origins::new(&["app.example.com".into()]).is_err());
        assert!(Origins::new(&["https://a.example/x".into()]).is_err());
    }

    #[test]
    fn allowed_hosts_allow_their_own_origins() {
        let listen = SocketAddr::from(([0, 0, 0, 0], 7420));
        let extra = [
            "maas.internal".to_string(),
            "gw.example:8443".to_string(),
            "[fd00::7]".to_string(),
        ];
        let hosts = allowed_hosts(listen, &extra).unwrap_or_default();
        let o = Origins::new(&[])
            .unwrap_or_default()
            .with_hosts(hosts.get(3..).unwrap_or_default());
        for ok in [
            "http://maas.internal:7420",
            "https://maas.internal",
            "http://MAAS.internal:9000",
            "https://gw.example:8443",
            "http://[fd00::7]:7420",
        ] {
            assert_eq!(check(&o, ok), OriginCheck::Allowed, "{ok}");
        }
        for refused in [
            "https://gw.example",
            "http://gw.example:8080",
            "http://maas.internal.evil.example:7420",
            "ftp://maas.internal",
            "http://other.internal:7420",
        ] {
            assert_eq!(check(&o, refused), OriginCheck::Refused, "{refused}");
        }
        // Allowed, not local: no token-less access under --insecure-loopback.
        assert!(!check(&o, "http://maas.internal:7420").local());
    }

    #[test]
    fn hosts_match_by_name_and_by_port_when_one_is_listed() {
        let local = SocketAddr::from(([127, 0, 0, 1], 7420));
        let hosts =
            Hosts::new(&allowed_hosts(local, &["maas.internal:7420".into()]).unwrap_or_default());
        let uri = http::Uri::from_static("/v1/changes");
        let headers = |values: &[&str]| header_map(http::header::HOST, values);
        let allows = |h: &str| hosts.allows(&headers(&[h]), &uri);
        for ok in [
            "127.0.0.1:7420",
            "localhost",
            "LOCALHOST:9",
            "[::1]:7420",
            "maas.internal:7420",
        ] {
            assert!(allows(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "rebind.attacker.example:7420",
            "maas.internal:80",
            "maas.internal",
            "127.0.0.1.evil.com",
            "",
            "bad host",
        ] {
            assert!(!allows(bad), "{bad}");
        }
        let none = http::HeaderMap::new();
        assert!(!hosts.allows(&none, &uri));
        let absolute = |u: &'static str| http::Uri::from_static(u);
        assert!(hosts.allows(&none, &absolute("http://localhost:7420/mcp")));
        // Both must be allowed, and one Host header only.
        let local = headers(&["localhost"]);
        assert!(hosts.allows(&local, &absolute("http://localhost:7420/mcp")));
        assert!(!hosts.allows(&local, &absolute("http://evil.example/mcp")));
        assert!(!hosts.allows(
            &headers(&["evil.example"]),
            &absolute("http://localhost/mcp")
        ));
        assert!(!hosts.allows(&headers(&["localhost", "evil.example"]), &uri));
        assert!(!hosts.allows(&headers(&["localhost", "localhost"]), &uri));
    }

    #[test]
    fn a_public_listen_address_needs_allowed_hosts() {
        let public: SocketAddr = "0.0.0.0:7420".parse().unwrap_or_else(|_| unreachable!());
        let err = allowed_hosts(public, &[]).err().unwrap_or_default();
        assert!(err.contains("--allowed-host"), "{err}");
        let hosts = allowed_hosts(public, &["maas.internal".into()]).unwrap_or_default();
        assert!(hosts.contains(&"maas.internal".to_string()));
        assert!(!hosts.contains(&"0.0.0.0".to_string()));
        let lan: SocketAddr = "10.0.0.5:7420".parse().unwrap_or_else(|_| unreachable!());
        let hosts = allowed_hosts(lan, &["maas.internal:7420".into()]).unwrap_or_default();
        assert!(hosts.contains(&"10.0.0.5".to_string()));
        let local: SocketAddr = "127.0.0.1:7420".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(allowed_hosts(local, &[]).map(|h| h.len()), Ok(3));
        assert!(allowed_hosts(local, &["bad host".into()]).is_err());
        // An IPv6 address is taken bare or in brackets, as the refusal of a Host names it.
        for entry in ["2001:db8::1", "[2001:DB8::1]", "[2001:db8::1]:7420"] {
            let listed = allowed_hosts(public, &[entry.into()]).unwrap_or_default();
            let hosts = Hosts::new(&listed);
            let ok = |host: &str| {
                hosts.allows(
                    &header_map(http::header::HOST, &[host]),
                    &http::Uri::from_static("/mcp"),
                )
            };
            assert!(ok("[2001:db8::1]:7420"), "{entry}");
            assert!(!ok("[2001:db8::2]:7420"), "{entry}");
        }
        assert!(allowed_hosts(public, &["2001:db8::g".into()]).is_err());
    }
}
