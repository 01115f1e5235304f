//! The proxy of a request, from the environment as it was when the client was built,
//! by the rules reqwest followed (curl's, as `hyper-util` implements them), which
//! differ from ureq's own `Proxy::try_from_env` (one proxy for every scheme, exact
//! `NO_PROXY` names):
//!
//! * `http://` URLs use `HTTP_PROXY` (then `http_proxy`), `https://` ones `HTTPS_PROXY`
//!   (then `https_proxy`); either falls back on `ALL_PROXY` (then `all_proxy`). A value
//!   that is not a proxy URL counts as unset.
//! * `NO_PROXY` (then `no_proxy`): comma-separated; an IP address or network
//!   (`10.0.0.0/8`) matches the hosts given as addresses in it, a name matches itself
//!   and its subdomains (`example.com` and `.example.com` alike), and `*` every host
//!   given by name (not those given as addresses, as in reqwest).
//! * Under CGI (`REQUEST_METHOD` set) no proxy is used: `HTTP_PROXY` may come from a
//!   request header there ("httpoxy").
//!
//! One difference is left: through an HTTP proxy, ureq tunnels with `CONNECT` for
//! `http://` URLs too, where reqwest sent them to the proxy in absolute form (a proxy
//! that allows `CONNECT` only to port 443 refuses the former).

use std::net::IpAddr;

/// The proxy variables, read once.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxyEnv {
    cgi: bool,
    http: String,
    https: String,
    all: String,
    no: String,
}

impl ProxyEnv {
    pub(crate) fn from_env() -> ProxyEnv {
        let cgi = std::env::var_os("REQUEST_METHOD").is_some();
        ProxyEnv::from_vars(cgi, |name| std::env::var(name).ok())
    }

    /// The variables as `var` gives them (`cgi`: `REQUEST_METHOD` is set).
    pub(crate) fn from_vars(cgi: bool, var: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let first = |names: [&str; 2]| names.into_iter().find_map(&var).unwrap_or_default();
        ProxyEnv {
            cgi,
            http: first(["HTTP_PROXY", "http_proxy"]),
            https: first(["HTTPS_PROXY", "https_proxy"]),
            all: first(["ALL_PROXY", "all_proxy"]),
            no: first(["NO_PROXY", "no_proxy"]),
        }
    }

    /// The proxy for requests to `url` (its value as configured, and the proxy), or
    /// `None` to connect directly.
    pub(crate) fn proxy_for(&self, url: &url::Url) -> Option<(String, ureq::Proxy)> {
        if self.cgi {
            return None;
        }
        let host = url.host_str()?;
        if no_proxy(&self.no, host) {
            return None;
        }
        let own = match url.scheme() {
            "http" => &self.http,
            "https" => &self.https,
            _ => return None,
        };
        [own, &self.all]
            .into_iter()
            .filter(|v| !v.trim().is_empty())
            .find_map(|v| Some((v.clone(), ureq::Proxy::new(v.trim()).ok()?)))
    }
}

/// Whether `host` (a name, or an address, IPv6 ones in brackets) is on the `NO_PROXY`
/// list `list`.
pub(crate) fn no_proxy(list: &str, host: &str) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let mut entries = list.split(',').map(str::trim).filter(|e| !e.is_empty());
    let is_address = |e: &str| e.parse::<IpAddr>().is_ok() || network(e).is_some();
    match host.parse::<IpAddr>() {
        Ok(addr) => entries.any(|e| e.parse::<IpAddr>() == Ok(addr) || in_network(addr, e)),
        Err(_) => entries
            .filter(|e| !is_address(e))
            .any(|e| e == "*" || domain_matches(e, host)),
    }
}

/// A network (`address/prefix length`, the length within the address's bits).
fn network(net: &str) -> Option<(IpAddr, u32)> {
    let (base, len) = net.split_once('/')?;
    let (base, len) = (base.parse::<IpAddr>().ok()?, len.parse::<u32>().ok()?);
    let bits = if base.is_ipv4() { 32 } else { 128 };
    (len <= bits).then_some((base, len))
}

/// `addr` is in the network `net`.
fn in_network(addr: IpAddr, net: &str) -> bool {
    let Some((base, len)) = network(net) else {
        return false;
    };
    match (base, addr) {
        (IpAddr::V4(base), IpAddr::V4(addr)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(base) & mask == u32::from(addr) & mask
        }
        (IpAddr::V6(base), IpAddr::V6(addr)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(base) & mask == u128::from(addr) & mask
        }
        _ => false,
    }
}

/// `entry` (`example.com` or `.example.com`) names `host` or a domain above it.
fn domain_matches(entry: &str, host: &str) -> bool {
    let name = entry.strip_prefix('.').unwrap_or(entry);
    if name.eq_ignore_ascii_case(host) {
        return true;
    }
    host.len() > name.len()
        && host.is_char_boundary(host.len() - name.len())
        && host[host.len() - name.len()..].eq_ignore_ascii_case(name)
        && host.as_bytes()[host.len() - name.len() - 1] == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> ProxyEnv {
        ProxyEnv::from_vars(false, |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn proxy(env: &ProxyEnv, url: &str) -> Option<String> {
        env.proxy_for(&url::Url::parse(url).expect("url"))
            .map(|(value, _)| value)
    }

    #[test]
    fn each_scheme_has_its_own_variable_and_all_proxy_is_the_fallback() {
        let e = env(&[("HTTPS_PROXY", "http://s:1"), ("http_proxy", "http://p:2")]);
        assert_eq!(proxy(&e, "https://h/").as_deref(), Some("http://s:1"));
        assert_eq!(proxy(&e, "http://h/").as_deref(), Some("http://p:2"));
        // A developer's HTTPS proxy is not used for a plain-HTTP local server.
        let e = env(&[("HTTPS_PROXY", "http://s:1")]);
        assert_eq!(proxy(&e, "http://localhost:3000/"), None);
        let e = env(&[("ALL_PROXY", "p:3"), ("HTTP_PROXY", "not a proxy")]);
        assert_eq!(proxy(&e, "http://h/").as_deref(), Some("p:3"));
        assert_eq!(proxy(&e, "https://h/").as_deref(), Some("p:3"));
        // Upper case first, as curl and reqwest read them.
        let e = env(&[("HTTP_PROXY", "http://u:1"), ("http_proxy", "http://l:2")]);
        assert_eq!(proxy(&e, "http://h/").as_deref(), Some("http://u:1"));
        assert_eq!(proxy(&env(&[]), "https://h/"), None);
        // Under CGI, none.
        let cgi = ProxyEnv::from_vars(true, |_| Some("http://p:1".to_owned()));
        assert_eq!(proxy(&cgi, "http://h/"), None);
    }

    #[test]
    fn no_proxy_matches_names_with_their_subdomains_addresses_and_networks() {
        let list = "example.com, .corp.test,10.0.0.0/8, 192.168.1.7 ,::1,fd00::/8";
        for host in [
            "example.com",
            "api.example.com",
            "EXAMPLE.com",
            "corp.test",
            "a.b.corp.test",
            "10.1.2.3",
            "192.168.1.7",
            "[::1]",
            "[fd12::1]",
        ] {
            assert!(no_proxy(list, host), "{host}");
        }
        for host in [
            "notexample.com",
            "example.com.evil",
            "11.0.0.1",
            "192.168.1.8",
            "[::2]",
            "localhost",
        ] {
            assert!(!no_proxy(list, host), "{host}");
        }
        assert!(no_proxy("*", "anything.example"));
        assert!(!no_proxy("*", "127.0.0.1"), "as reqwest: `*` is for names");
        assert!(!no_proxy("192.168.1.7", "x.192.168.1.7"));
        assert!(!no_proxy("", "example.com"));
        assert!(!no_proxy("10.0.0.0/40,ä", "10.0.0.1"));
        let e = env(&[("HTTP_PROXY", "http://p:1"), ("no_proxy", "127.0.0.1")]);
        assert_eq!(proxy(&e, "http://127.0.0.1:3000/"), None);
        assert!(proxy(&e, "http://127.0.0.2:3000/").is_some());
    }
}
