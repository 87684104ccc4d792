//! The service: where to send. Parses what users paste — `rtmp[s]://host[:port]/app`
//! plus a separate stream key, or the whole URL with the key as its last path
//! segment. The key is kept byte for byte (it may hold `?`, `=`, `&`, `_`, `-`)
//! and is never shown in clear: `Display` and `Debug` mask it.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Rtmp,
    Rtmps,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Rtmp => 1935,
            Scheme::Rtmps => 443,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Rtmp => "rtmp",
            Scheme::Rtmps => "rtmps",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ServiceError {
    #[error("'{0}' is not an RTMP URL: it must start with rtmp:// or rtmps://")]
    Scheme(String),
    #[error("the URL has no host name")]
    NoHost,
    #[error("the port in the URL is not a number from 1 to 65535")]
    BadPort,
    #[error("the URL has no application name (e.g. rtmp://host/live)")]
    NoApp,
    #[error("no stream key: pass --key, or put the key at the end of the URL")]
    NoKey,
    #[error("the stream key contains a space or control character")]
    BadKey,
}

/// A parsed ingest target.
#[derive(Clone, PartialEq, Eq)]
pub struct Service {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// The RTMP application (may contain '/', e.g. `app/instance`).
    pub app: String,
    key: String,
    /// The URL as typed, up to and including the app: sent as `tcUrl`.
    pub tc_url: String,
}

impl Service {
    /// Parses `url`, taking the key from `key` when given, else from the URL's
    /// last path segment.
    pub fn parse(url: &str, key: Option<&str>) -> Result<Self, ServiceError> {
        let url = url.trim();
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(url, "rtmps://") {
            (Scheme::Rtmps, r)
        } else if let Some(r) = strip_prefix_ci(url, "rtmp://") {
            (Scheme::Rtmp, r)
        } else {
            let shown = url.split("://").next().unwrap_or(url);
            return Err(ServiceError::Scheme(if url.contains("://") {
                format!("{shown}://")
            } else {
                "(no scheme)".into()
            }));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(authority, scheme)?;
        let path = path.trim_end_matches('/');
        let key = key.map(str::trim).filter(|k| !k.is_empty());
        let (app, key) = match key {
            Some(k) => (path.to_string(), k.to_string()),
            None => match path.rfind('/') {
                Some(i) if i + 1 < path.len() => (path[..i].to_string(), path[i + 1..].to_string()),
                _ if path.is_empty() => return Err(ServiceError::NoApp),
                _ => return Err(ServiceError::NoKey),
            },
        };
        if app.is_empty() {
            return Err(ServiceError::NoApp);
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ServiceError::BadKey);
        }
        let tc_url = format!("{}://{}/{}", scheme.as_str(), authority, app);
        Ok(Service { scheme, host, port, app, key, tc_url })
    }

    /// The stream key, in clear. Only the wire should see it.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn masked_key(&self) -> String {
        mask(&self.key)
    }

    /// `host:port` for connecting.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Masks a secret for display: never more than its length.
pub fn mask(secret: &str) -> String {
    format!("{} ({} chars)", "*".repeat(secret.chars().count().clamp(4, 8)), secret.chars().count())
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tc_url, "*".repeat(self.key.chars().count().clamp(4, 8)))
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("tc_url", &self.tc_url)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("app", &self.app)
            .field("key", &self.masked_key())
            .finish()
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

fn split_host_port(authority: &str, scheme: Scheme) -> Result<(String, u16), ServiceError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or(ServiceError::NoHost)?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(ServiceError::NoHost);
    }
    let port = match port {
        None => scheme.default_port(),
        Some(p) => p.parse::<u16>().ok().filter(|&p| p > 0).ok_or(ServiceError::BadPort)?,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separate_key_and_default_ports() {
        let s = Service::parse("rtmp://ingest.example.com/live", Some("abc")).unwrap();
        assert_eq!(
            (s.scheme, s.host.as_str(), s.port, s.app.as_str(), s.key()),
            (Scheme::Rtmp, "ingest.example.com", 1935, "live", "abc")
        );
        assert_eq!(s.tc_url, "rtmp://ingest.example.com/live");
        let s = Service::parse("RTMPS://h/app/", Some("k")).unwrap();
        assert_eq!((s.scheme, s.port, s.app.as_str()), (Scheme::Rtmps, 443, "app"));
    }

    #[test]
    fn key_at_the_end_of_the_url_keeps_every_byte() {
        let key = "sk_us-west-2_abc?token=x=y&z=_1-2";
        let s = Service::parse(&format!("rtmp://127.0.0.1:19350/live/{key}"), None).unwrap();
        assert_eq!(s.key(), key);
        assert_eq!(s.app, "live");
        assert_eq!(s.port, 19350);
        assert_eq!(s.tc_url, "rtmp://127.0.0.1:19350/live");
        let s = Service::parse("rtmp://h/live", Some(key)).unwrap();
        assert_eq!(s.key(), key);
    }

    #[test]
    fn nested_app_and_ipv6() {
        let s = Service::parse("rtmp://[::1]:1936/app/inst/key1", None).unwrap();
        assert_eq!((s.host.as_str(), s.port, s.app.as_str(), s.key()), ("::1", 1936, "app/inst", "key1"));
        assert_eq!(s.addr(), "[::1]:1936");
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(Service::parse("http://h/live", Some("k")), Err(ServiceError::Scheme("http://".into())));
        assert_eq!(Service::parse("h/live", Some("k")), Err(ServiceError::Scheme("(no scheme)".into())));
        assert_eq!(Service::parse("rtmp:///live", Some("k")), Err(ServiceError::NoHost));
        assert_eq!(Service::parse("rtmp://h:99999/live", Some("k")), Err(ServiceError::BadPort));
        assert_eq!(Service::parse("rtmp://h", Some("k")), Err(ServiceError::NoApp));
        assert_eq!(Service::parse("rtmp://h/live", None), Err(ServiceError::NoKey));
        assert_eq!(Service::parse("rtmp://h/live", Some("  ")), Err(ServiceError::NoKey));
        assert_eq!(Service::parse("rtmp://h/live", Some("a b")), Err(ServiceError::BadKey));
    }

    #[test]
    fn display_and_debug_never_show_the_key() {
        let s = Service::parse("rtmp://h/live/supersecret123", None).unwrap();
        assert!(!format!("{s}").contains("supersecret123"));
        assert!(!format!("{s:?}").contains("supersecret123"));
        assert!(!s.masked_key().contains("supersecret"));
    }
}
