//! How the data path's threads wait: for their descriptor to have something, for their next
//! timer, or for the tunnel to stop — whichever comes first, with no polling loop and no
//! packet sent to oneself to wake up.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags};

/// A stop request every waiting thread sees at once.
#[derive(Debug)]
pub struct Stop {
    event: OwnedFd,
    stopped: AtomicBool,
}

/// What ended a [`wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The descriptor has something to read (or an error to report).
    Ready,
    /// The timeout passed first.
    TimedOut,
    /// [`Stop::stop`] was called.
    Stopped,
}

impl Stop {
    /// A stop request not yet made.
    pub fn new() -> std::io::Result<Self> {
        let flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK;
        Ok(Self {
            event: rustix::event::eventfd(0, flags)?,
            stopped: AtomicBool::new(false),
        })
    }

    /// Wakes every thread waiting on this request, now and later.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&self.event, &1u64.to_ne_bytes());
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// Waits until `fd` is readable, `timeout` passes (`None`: no timeout) or `stop` is made.
pub fn wait(fd: BorrowedFd<'_>, stop: &Stop, timeout: Option<Duration>) -> Wait {
    if stop.is_stopped() {
        return Wait::Stopped;
    }
    let mut fds = [
        PollFd::new(&fd, PollFlags::IN),
        PollFd::new(&stop.event, PollFlags::IN),
    ];
    let timeout = timeout.and_then(|t| rustix::event::Timespec::try_from(t).ok());
    match rustix::event::poll(&mut fds, timeout.as_ref()) {
        _ if stop.is_stopped() => Wait::Stopped,
        Ok(0) | Err(_) => Wait::TimedOut,
        Ok(_) if fds[0].revents().is_empty() => Wait::TimedOut,
        Ok(_) => Wait::Ready,
    }
}

impl AsFd for Stop {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.event.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn a_wait_ends_on_data_on_timeout_and_on_stop_from_another_thread() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let stop = Stop::new().unwrap();
        let short = Some(Duration::from_millis(20));
        assert_eq!(wait(socket.as_fd(), &stop, short), Wait::TimedOut);

        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"x", socket.local_addr().unwrap()).unwrap();
        assert_eq!(wait(socket.as_fd(), &stop, short), Wait::Ready);

        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(30));
                stop.stop();
            });
            let mut buffer = [0u8; 8];
            socket.recv(&mut buffer).unwrap();
            assert_eq!(wait(socket.as_fd(), &stop, None), Wait::Stopped);
        });
        assert_eq!(wait(socket.as_fd(), &stop, None), Wait::Stopped);
    }
}
