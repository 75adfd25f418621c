//! Rules about a base URL that the wire, the test knobs and the settings share. A leaf: it
//! imports nothing of the crate, so the wire (`feishu`) may ask it.

/// Whether `base_url` names this machine (127.0.0.0/8, ::1, localhost): the only servers the
/// benchmark-only `--unpaced` may burst at, since Feishu answers a burst with 1061045, and the
/// only ones the test knobs act on.
pub fn is_loopback(base_url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base_url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    // IPv6 hosts come bracketed ("[::1]").
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}
