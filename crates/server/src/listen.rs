//! [`listen`]: the listening socket, sized for a burst of connections, and
//! [`raise_open_files_limit`], so that the connections it accepts are not refused for want of
//! file descriptors.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel completes and queues before they are accepted. tokio's default of
/// 1,024 overflowed when 3,000 clients connected at once: the kernel then drops SYNs, the
/// client sends them again after a second, and a health check caught in that burst took
/// 1,034 ms. Linux caps this at `net.core.somaxconn` (4,096 by default since 5.4).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `address` and listens with [`LISTEN_BACKLOG`], with `SO_REUSEADDR` as tokio's
/// `TcpListener::bind` sets it, so a restarted server can bind while old connections linger.
pub fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises this process's soft limit on open files to its hard limit and returns the new soft
/// limit. Each connection in flight takes a descriptor, and one that calls a model a second;
/// the soft limit many service managers leave (1,024) would refuse connections from about 500
/// invocations in flight, while the hard limit the operator set is usually far higher. This is
/// what Go's runtime does at start.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a valid rlimit into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            ..limit
        };
        // SAFETY: setrlimit only reads the struct; raising the soft limit up to the hard one
        // needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// More connections than tokio's default backlog arrive before any is accepted, and the
    /// kernel completes every one at once: none waits for a resent SYN. Up to what this
    /// machine's `somaxconn` allows, since the kernel caps the backlog there.
    #[tokio::test]
    async fn a_burst_beyond_tokios_default_backlog_is_queued() -> io::Result<()> {
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")?
            .trim()
            .parse()
            .map_err(io::Error::other)?;
        let burst = somaxconn.min(LISTEN_BACKLOG) as usize;
        assert!(
            raise_open_files_limit()? > burst as u64 + 64,
            "the hard limit on open files is too low for this test"
        );
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let address = listener.local_addr()?;
        let mut connected = Vec::with_capacity(burst);
        for index in 0..burst {
            // A dropped SYN is sent again after a second; a queued connection is immediate.
            let stream = std::net::TcpStream::connect_timeout(&address, Duration::from_millis(900))
                .map_err(|error| io::Error::other(format!("connection {index}: {error}")))?;
            connected.push(stream);
        }
        assert_eq!(connected.len(), burst);
        Ok(())
    }

    #[test]
    fn the_soft_limit_reaches_the_hard_limit() -> io::Result<()> {
        let soft = raise_open_files_limit()?;
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!((soft, limit.rlim_cur), (limit.rlim_max, limit.rlim_max));
        Ok(())
    }
}
