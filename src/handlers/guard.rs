//! Checks against a browser driven by another site, run before a request is routed: a request
//! carrying an `Origin` the host did not allow (a cross-site `fetch` or form post), or naming a
//! `Host` the registry does not serve (DNS rebinding onto a registry bound to loopback).

use http::{header, request::Parts, StatusCode};

use crate::error::{ErrorCode, RegistryError};
use crate::settings::BrowserGuard;

/// `Ok` when the request may go on; otherwise the 403 to answer.
pub(crate) fn check(guard: &BrowserGuard, parts: &Parts) -> Result<(), RegistryError> {
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|origin| {
            guard
                .allowed_origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin))
        });
        if !allowed {
            return Err(RegistryError::new(
                ErrorCode::Denied,
                "requests from web pages of this origin are refused",
            )
            .with_status(StatusCode::FORBIDDEN)
            .with_detail(serde_json::json!({
                "origin": String::from_utf8_lossy(origin.as_bytes()),
            })));
        }
    }
    if let Some(allowed_hosts) = &guard.allowed_hosts {
        // HTTP/2 carries `:authority` (in the URI); HTTP/1.1 `Host`.
        let named = match parts.uri.authority() {
            Some(authority) => Some(authority.as_str()),
            None => match parts.headers.get(header::HOST) {
                Some(host) => Some(host.to_str().unwrap_or("")),
                None => None,
            },
        };
        if let Some(named) = named {
            let served = split_authority(named).is_some_and(|(host, port)| {
                allowed_hosts.iter().any(|(allowed, allowed_port)| {
                    allowed.eq_ignore_ascii_case(host)
                        && allowed_port.is_none_or(|p| Some(p) == port)
                })
            });
            if !served {
                return Err(RegistryError::new(
                    ErrorCode::Denied,
                    "this registry is not served under that host name",
                )
                .with_status(StatusCode::FORBIDDEN)
                .with_detail(serde_json::json!({ "host": named })));
            }
        }
    }
    Ok(())
}

/// `host[:port]` (`[v6]` in brackets) as (lowercase host without a trailing dot, port);
/// `None` when it is not an authority without user info.
pub(crate) fn parse_authority(text: &str) -> Option<(String, Option<u16>)> {
    split_authority(text).map(|(host, port)| (host.to_ascii_lowercase(), port))
}

/// [`parse_authority`] without the allocation: the host as written (any case, brackets kept
/// around an IPv6 address, a trailing dot cut), for comparing with `eq_ignore_ascii_case`.
fn split_authority(text: &str) -> Option<(&str, Option<u16>)> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        // `[` + address + `]`.
        return Some((&text[..v6.len() + 2], port));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse().ok()?)),
        None => (text, None),
    };
    let valid = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_');
    if host.is_empty() || !host.bytes().all(valid) {
        return None;
    }
    Some((host.trim_end_matches('.'), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_parse_with_and_without_ports() {
        let ok = |text: &str| parse_authority(text).unwrap();
        assert_eq!(ok("LocalHost."), ("localhost".to_owned(), None));
        assert_eq!(ok("127.0.0.1:5000"), ("127.0.0.1".to_owned(), Some(5000)));
        assert_eq!(ok("[::1]:80"), ("[::1]".to_owned(), Some(80)));
        assert_eq!(ok("[::1]"), ("[::1]".to_owned(), None));
        assert_eq!(split_authority("[::1]:80"), Some(("[::1]", Some(80))));
        assert_eq!(split_authority("Reg.Example."), Some(("Reg.Example", None)));
        for bad in [
            "",
            "a:b",
            "user@host",
            "[::1",
            "[nope]",
            "a b",
            "host:99999",
            ":80",
        ] {
            assert_eq!(parse_authority(bad), None, "{bad:?}");
        }
    }
}
