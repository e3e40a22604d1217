//! WireGuard's UDP socket, many datagrams per system call: equal-size datagrams to one
//! address leave as one segmentation-offload send (UDP GSO), and the kernel hands over runs
//! of datagrams from one sender joined (UDP GRO), several runs per `recvmmsg`.
//!
//! The system calls themselves are quinn-udp's, which falls back to one datagram at a time on
//! kernels without these offloads. What is added here: the batching of outgoing datagrams
//! ([`SendBatch`]), buffers for incoming runs ([`RecvBatch`]), waiting for room when the
//! socket's buffer is full, and a socket that lets the network fragment WireGuard's datagrams
//! rather than drop them where the path's MTU is smaller than expected.

use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use rustix::event::{PollFd, PollFlags};

/// The largest run of datagrams one send or receive carries (an IPv4 UDP payload).
pub const MAX_RUN: usize = 65_507;
/// Runs read per `recvmmsg`.
const RECV_RUNS: usize = 8;
/// Socket buffers asked for (the kernel may give less without CAP_NET_ADMIN).
const SOCKET_BUFFER: usize = 4 << 20;
/// How long a send waits for room in a full socket buffer before dropping.
const SEND_PATIENCE: Duration = Duration::from_millis(50);

/// A UDP socket sending and receiving runs of datagrams.
pub struct BatchUdp {
    socket: UdpSocket,
    state: UdpSocketState,
}

impl std::fmt::Debug for BatchUdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchUdp")
            .field("local", &self.socket.local_addr().ok())
            .field("gso_segments", &self.state.max_gso_segments())
            .finish()
    }
}

impl BatchUdp {
    /// Binds `address`; the socket is non-blocking (wait with [`crate::wake::wait`]).
    pub fn bind(address: SocketAddr) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(address)?;
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        grow_buffers(&socket);
        if address.is_ipv4() {
            // quinn-udp forbids fragmentation (it probes the path itself); WireGuard relies on
            // the network fragmenting a datagram a smaller link cannot carry whole.
            let dont = rustix::net::sockopt::Ipv4PathMtuDiscovery::DONT;
            let _ = rustix::net::sockopt::set_ip_mtu_discover(&socket, dont);
        }
        Ok(Self { socket, state })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// How many equal datagrams one send may carry (1 without UDP GSO).
    pub fn max_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Sends `contents` to `to`: one datagram, or a run of `segment`-byte datagrams (the
    /// last may be shorter). Waits a little for room when the socket's buffer is full;
    /// other failures are the network's to lose, like any UDP datagram, and are logged.
    pub fn send(&self, to: SocketAddr, contents: &[u8], segment: Option<usize>) {
        match segment.filter(|&s| s < contents.len()) {
            Some(size) if self.state.max_gso_segments() <= 1 => {
                self.send_singly(to, contents, size)
            }
            segment => self.transmit(to, contents, segment),
        }
    }

    fn transmit(&self, to: SocketAddr, contents: &[u8], segment: Option<usize>) {
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents,
            segment_size: segment,
            src_ip: None,
        };
        for _ in 0..2 {
            match self
                .state
                .try_send(UdpSockRef::from(&self.socket), &transmit)
            {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !self.wait_for_room() {
                        break;
                    }
                }
                Err(error) => match segment {
                    // A path that cannot take the run whole (a smaller MTU): one by one.
                    Some(size) => return self.send_singly(to, contents, size),
                    None => return tracing::trace!(%error, "a datagram could not be sent"),
                },
                Ok(()) => return,
            }
        }
        tracing::trace!("the socket stayed full; datagrams dropped");
    }

    fn send_singly(&self, to: SocketAddr, contents: &[u8], segment: usize) {
        for datagram in contents.chunks(segment.max(1)) {
            self.transmit(to, datagram, None);
        }
    }

    fn wait_for_room(&self) -> bool {
        let mut fds = [PollFd::new(&self.socket, PollFlags::OUT)];
        let timeout = rustix::event::Timespec::try_from(SEND_PATIENCE).ok();
        matches!(rustix::event::poll(&mut fds, timeout.as_ref()), Ok(n) if n > 0)
    }

    /// Reads what is waiting into `batch` (nothing, without blocking, when nothing is).
    pub fn recv(&self, batch: &mut RecvBatch) -> std::io::Result<()> {
        batch.count = 0;
        let mut runs = batch.buffer.chunks_mut(batch.run);
        let mut slices: [IoSliceMut<'_>; RECV_RUNS] =
            std::array::from_fn(|_| IoSliceMut::new(runs.next().unwrap_or_default()));
        match self.state.recv(
            UdpSockRef::from(&self.socket),
            &mut slices,
            &mut batch.metas,
        ) {
            Ok(count) => batch.count = count,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Larger socket buffers than the default, so bursts of 64 KiB runs are not dropped: forced
/// past the system's limit where the process may (CAP_NET_ADMIN), else up to it.
fn grow_buffers(socket: &UdpSocket) {
    use rustix::net::sockopt;
    if sockopt::set_socket_recv_buffer_size_force(socket, SOCKET_BUFFER).is_err() {
        let _ = sockopt::set_socket_recv_buffer_size(socket, SOCKET_BUFFER);
    }
    if sockopt::set_socket_send_buffer_size_force(socket, SOCKET_BUFFER).is_err() {
        let _ = sockopt::set_socket_send_buffer_size(socket, SOCKET_BUFFER);
    }
}

impl AsFd for BatchUdp {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// Buffers for the runs one [`BatchUdp::recv`] reads.
pub struct RecvBatch {
    buffer: Box<[u8]>,
    metas: Vec<RecvMeta>,
    run: usize,
    count: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        let run = 65_536;
        Self {
            buffer: vec![0; run * RECV_RUNS].into_boxed_slice(),
            metas: vec![RecvMeta::default(); RECV_RUNS],
            run,
            count: 0,
        }
    }
}

impl RecvBatch {
    /// Whether the last read found nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every datagram read, with its sender, in order.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        let runs = self
            .buffer
            .chunks(self.run)
            .zip(&self.metas)
            .take(self.count);
        runs.flat_map(|(buffer, meta)| {
            let stride = if meta.stride == 0 {
                meta.len
            } else {
                meta.stride
            };
            let run = &buffer[..meta.len.min(buffer.len())];
            run.chunks(stride.max(1)).map(move |d| (meta.addr, d))
        })
    }
}

/// Where a [`SendBatch`] sends its runs.
pub trait RunSender {
    /// Sends a run of `segment`-byte datagrams (or one datagram) to `to`.
    fn send_run(&mut self, to: SocketAddr, contents: &[u8], segment: usize);
}

impl RunSender for &BatchUdp {
    fn send_run(&mut self, to: SocketAddr, contents: &[u8], segment: usize) {
        self.send(to, contents, Some(segment));
    }
}

/// Outgoing datagrams gathered into runs: consecutive equal-size datagrams to one address
/// go out in one send; a different address or size, a shorter datagram (which ends a run),
/// a full run or the end of a batch ([`flush`](Self::flush)) sends what is gathered.
pub struct SendBatch {
    buffer: Box<[u8]>,
    len: usize,
    segment: usize,
    count: usize,
    to: Option<SocketAddr>,
    closed: bool,
    max_segments: usize,
}

impl SendBatch {
    /// Runs of at most `max_segments` datagrams ([`BatchUdp::max_segments`]).
    pub fn new(max_segments: usize) -> Self {
        Self {
            buffer: vec![0; MAX_RUN].into_boxed_slice(),
            len: 0,
            segment: 0,
            count: 0,
            to: None,
            closed: false,
            max_segments: max_segments.max(1),
        }
    }

    /// Adds `datagram` for `to`, sending what was gathered first if it cannot join.
    pub fn push(&mut self, sender: &mut impl RunSender, to: SocketAddr, datagram: &[u8]) {
        let joins = self.to == Some(to)
            && !self.closed
            && datagram.len() <= self.segment
            && self.len + datagram.len() <= MAX_RUN
            && self.count < self.max_segments;
        if !joins {
            self.flush(sender);
        }
        if datagram.len() > MAX_RUN {
            return tracing::trace!(len = datagram.len(), "a datagram too large was dropped");
        }
        if self.count == 0 {
            self.to = Some(to);
            self.segment = datagram.len();
        }
        self.buffer[self.len..self.len + datagram.len()].copy_from_slice(datagram);
        self.len += datagram.len();
        self.count += 1;
        self.closed = datagram.len() < self.segment;
    }

    /// Sends what is gathered.
    pub fn flush(&mut self, sender: &mut impl RunSender) {
        if let (Some(to), true) = (self.to, self.count > 0) {
            sender.send_run(to, &self.buffer[..self.len], self.segment);
        }
        self.len = 0;
        self.count = 0;
        self.closed = false;
        self.to = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Sent(Vec<(SocketAddr, usize, usize)>);

    impl RunSender for Sent {
        fn send_run(&mut self, to: SocketAddr, contents: &[u8], segment: usize) {
            self.0.push((to, contents.len(), segment));
        }
    }

    #[test]
    fn equal_datagrams_to_one_address_leave_together() {
        let (a, b): (SocketAddr, SocketAddr) = (
            "198.18.0.1:1".parse().unwrap(),
            "198.18.0.2:2".parse().unwrap(),
        );
        let mut batch = SendBatch::new(64);
        let mut sent = Sent::default();
        for len in [1452, 1452, 1452, 900, 1452] {
            batch.push(&mut sent, a, &vec![0; len]);
        }
        batch.push(&mut sent, b, &[0; 100]);
        batch.flush(&mut sent);
        let runs = vec![(a, 3 * 1452 + 900, 1452), (a, 1452, 1452), (b, 100, 100)];
        assert_eq!(sent.0, runs);
    }

    #[test]
    fn runs_stop_at_the_segment_limit_and_the_largest_payload() {
        let to: SocketAddr = "198.18.0.2:51820".parse().unwrap();
        let mut batch = SendBatch::new(2);
        let mut sent = Sent::default();
        for _ in 0..5 {
            batch.push(&mut sent, to, &[0; 1000]);
        }
        batch.flush(&mut sent);
        let counts: Vec<usize> = sent.0.iter().map(|(_, len, _)| len / 1000).collect();
        assert_eq!(counts, [2, 2, 1]);

        let mut batch = SendBatch::new(64);
        let mut sent = Sent::default();
        for _ in 0..50 {
            batch.push(&mut sent, to, &[0; 1452]);
        }
        batch.flush(&mut sent);
        assert!(sent.0.iter().all(|(_, len, _)| *len <= MAX_RUN));
        assert_eq!(
            sent.0.iter().map(|(_, len, _)| len).sum::<usize>(),
            50 * 1452
        );
    }

    #[test]
    fn a_run_read_back_splits_at_its_stride() {
        let mut batch = RecvBatch::default();
        let from: SocketAddr = "198.18.0.1:4000".parse().unwrap();
        batch.buffer[..2500].fill(7);
        batch.metas[0] = RecvMeta {
            addr: from,
            len: 2500,
            stride: 1000,
            ..RecvMeta::default()
        };
        batch.count = 1;
        let lens: Vec<usize> = batch.datagrams().map(|(_, d)| d.len()).collect();
        assert_eq!(lens, [1000, 1000, 500]);
        assert!(batch.datagrams().all(|(a, _)| a == from));
    }
}
