//! Which addresses the proxy connects to: never a private, loopback or link-local one
//! (cloud metadata at 169.254.169.254 included) unless the host allows it, checked on
//! the resolved addresses so a DNS name cannot smuggle one in.

use std::net::{IpAddr, SocketAddr};

use http::StatusCode;

use crate::config::ProxyConfig;
use crate::refusal::Refusal;

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.to_ipv4_mapped().is_some_and(|v4| is_loopback(v4.into()))
        }
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b))
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6.is_multicast()
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(v4.into()))
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
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                check(ip, &strict).unwrap_err().code,
                "proxy.destination_private",
                "{ip}"
            );
        }
        assert!(check("93.184.216.34".parse().unwrap(), &strict).is_ok());
        let loopback = ProxyConfig::default().allow_loopback(true);
        assert!(check("127.0.0.1".parse().unwrap(), &loopback).is_ok());
        assert!(check("169.254.169.254".parse().unwrap(), &loopback).is_err());
    }
}
