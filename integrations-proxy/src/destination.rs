//! Which addresses the proxy connects to: never a private, loopback or link-local one
//! (cloud metadata at 169.254.169.254 included) unless the host allows it, checked on
//! the resolved addresses so a DNS name cannot smuggle one in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use http::StatusCode;

use crate::config::ProxyConfig;
use crate::refusal::Refusal;

/// The IPv4 address an IPv6 one stands for, when it embeds one a network may route to:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`,
/// and the local-use `64:ff9b:1::/48` with the address in its last 32 bits) and 6to4
/// (`2002:AABB:CCDD::/48`). A private address must not pass in one of these forms.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let last = || Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
        return Some(last());
    }
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        return Some(last());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])));
    }
    None
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || embedded_v4(v6).is_some_and(|v4| is_loopback(v4.into()))
        }
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b))
                // IETF protocol assignments (192.0.0.0/24), where some clouds answer
                // metadata requests (192.0.0.192).
                || (a == 192 && b == 0 && c == 0)
                // Benchmarking (198.18.0.0/15), and reserved (240.0.0.0/4, broadcast
                // included): not on the public internet.
                || (a == 198 && (b & 0xfe) == 18)
                || a >= 240
                || v4.is_multicast()
                || a == 0
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // Site-local (fec0::/10): deprecated, but still routed inside some
                // networks.
                || (first & 0xffc0) == 0xfec0
                || v6.is_multicast()
                || embedded_v4(v6).is_some_and(|v4| is_private(v4.into()))
        }
    }
}

/// Checks one address.
pub(crate) fn check(ip: IpAddr, config: &ProxyConfig) -> Result<(), Refusal> {
    if is_loopback(ip) {
        if config.allow_loopback {
            return Ok(());
        }
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            crate::codes::refusal::DESTINATION_PRIVATE,
            "the destination is a loopback address",
        ));
    }
    if is_private(ip) && !config.allow_private {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            crate::codes::refusal::DESTINATION_PRIVATE,
            "the destination is a private or link-local address",
        ));
    }
    Ok(())
}

/// The addresses of `host:port` (the override when there is one), every one checked:
/// a name that resolves to any refused address is refused.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    config: &ProxyConfig,
) -> Result<Vec<SocketAddr>, Refusal> {
    let addrs: Vec<SocketAddr> = if let Some(over) = config.overrides.get(host) {
        vec![over.addr]
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        let lookup = tokio::time::timeout(
            config.connect_timeout,
            tokio::net::lookup_host((host, port)),
        )
        .await;
        match lookup {
            Ok(Ok(addrs)) => addrs.collect(),
            _ => {
                return Err(Refusal::bad_gateway(
                    crate::codes::refusal::RESOLVE_FAILED,
                    "the destination host could not be resolved",
                ));
            }
        }
    };
    if addrs.is_empty() {
        return Err(Refusal::bad_gateway(
            crate::codes::refusal::RESOLVE_FAILED,
            "the destination host has no address",
        ));
    }
    for addr in &addrs {
        check(addr.ip(), config)?;
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_private_and_loopback_are_refused_by_default() {
        let strict = ProxyConfig::default();
        for ip in [
            "169.254.169.254",
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "127.0.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            // IPv4 inside IPv6: compatible, NAT64 (well-known and local-use), 6to4.
            "::10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::c0a8:101",
            "2002:a00:1::",
            "2002:7f00:1::1",
            // Benchmarking and reserved ranges.
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            // IETF protocol assignments (a cloud's metadata at 192.0.0.192), site-local.
            "192.0.0.192",
            "fec0::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                check(ip, &strict).unwrap_err().code,
                "proxy.destination_private",
                "{ip}"
            );
        }
        for public in [
            "93.184.216.34",
            "198.20.0.1",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "2606:4700::1111",
        ] {
            assert!(check(public.parse().unwrap(), &strict).is_ok(), "{public}");
        }
        let loopback = ProxyConfig::default().allow_loopback(true);
        assert!(check("127.0.0.1".parse().unwrap(), &loopback).is_ok());
        assert!(check("169.254.169.254".parse().unwrap(), &loopback).is_err());
    }
}
