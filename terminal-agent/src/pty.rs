//! Thin, Linux/Unix-only PTY helpers on top of libc: open a pair, spawn a child as the
//! session leader with the slave as its controlling terminal, resize, and async I/O on
//! the (non-blocking) master.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;

use tokio::io::unix::AsyncFd;
use tokio::process::{Child, Command};

/// Serialises PTY creation and spawning process-wide: `openpty` returns descriptors
/// without close-on-exec, and a fork elsewhere in between would leak them into another
/// child (which would then keep this terminal alive).
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

/// The master side of a PTY, registered with tokio for readiness.
pub(crate) type Master = AsyncFd<OwnedFd>;

/// What to run on a new PTY.
pub(crate) struct SpawnSpec<'a> {
    pub program: &'a str,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub workdir: Option<&'a Path>,
    pub cols: u16,
    pub rows: u16,
}

/// Opens a PTY of the given size and starts `spec.program` on it in a new session.
///
/// Must be called inside a tokio runtime (the master is registered with its reactor and
/// the child with its process driver).
pub(crate) fn spawn(spec: &SpawnSpec<'_>) -> io::Result<(Master, Child)> {
    // A poisoned lock only means another spawn panicked; the guarded state is `()`.
    let _guard = SPAWN_LOCK.lock().unwrap_or_else(|p| p.into_inner());

    let (master, slave) = open_pair(spec.cols, spec.rows)?;

    let mut cmd = Command::new(spec.program);
    cmd.args(spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave))
        // Safety net: if the owning task is dropped without reaping, tokio kills and reaps.
        .kill_on_drop(true);
    if let Some(dir) = spec.workdir {
        cmd.current_dir(dir);
    }
    // SAFETY: the closure runs in the forked child before exec and only calls
    // async-signal-safe functions (setsid, ioctl), allocating nothing.
    unsafe {
        cmd.pre_exec(|| {
            // New session so the PTY can become the controlling terminal and job control,
            // ^C and hangups reach the child's process group.
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            // stdin is already the slave here (std sets up stdio before pre_exec hooks).
            if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // Dropping the command closes our copies of the slave, so the master sees a hangup
    // (EIO) once the child and its descendants have closed theirs.
    drop(cmd);

    // SAFETY: OwnedFd always returns the one descriptor it owns, open until dropped.
    let master = unsafe { AsyncFd::register(master) }.map_err(|e| e.into_parts().1)?;
    Ok((master, child))
}

/// Opens a master/slave pair with close-on-exec on both and a non-blocking master.
fn open_pair(cols: u16, rows: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let size = winsize(cols, rows);
    // SAFETY: valid out-pointers; null name/termios are allowed and mean "don't care"
    // and "kernel defaults".
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded, so both are fresh descriptors we now own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    set_cloexec(&master)?;
    set_cloexec(&slave)?;
    set_nonblocking(&master)?;
    enable_iutf8(&slave)?;
    Ok((master, slave))
}

/// Sets the PTY's window size; the kernel sends SIGWINCH to its foreground group.
pub(crate) fn resize(master: &Master, cols: u16, rows: u16) -> io::Result<()> {
    let size = winsize(cols, rows);
    // SAFETY: TIOCSWINSZ reads one `winsize` from a valid pointer.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads the next chunk of output; `Ok(0)` means the terminal has hung up (no process
/// holds the slave open any more). Cancel-safe: data is only consumed after readiness.
pub(crate) async fn read(master: &Master, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut guard = master.readable().await?;
        let res = guard.try_io(|fd| {
            // SAFETY: reading into a valid, exclusively borrowed buffer of buf.len() bytes.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match res {
            Ok(Ok(n)) => return Ok(n),
            // Linux reports a hung-up PTY master as EIO rather than end-of-file.
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}

/// Writes all of `data` to the terminal, waiting while its input buffer is full.
pub(crate) async fn write_all(master: &Master, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let mut guard = master.writable().await?;
        let res = guard.try_io(|fd| {
            // SAFETY: writing from a valid buffer of data.len() bytes.
            let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match res {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

/// Live (non-zombie) processes whose session id is `sid`, found by scanning /proc.
///
/// Children spawned here are session leaders, so this finds everything still running
/// on their terminal, including background jobs in their own process groups. Processes
/// that started a session of their own are not found (they left the terminal).
pub(crate) fn session_members(sid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: libc::pid_t = entry.ok()?.file_name().to_str()?.parse().ok()?;
        // Processes may vanish mid-scan; unreadable ones are simply skipped.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may contain spaces and parentheses: fields resume after the
        // last ')': state ppid pgrp session ...
        let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
        let state = fields.next()?;
        let session: libc::pid_t = fields.nth(2)?.parse().ok()?;
        (session == sid && state != "Z" && state != "X").then_some(pid)
    })
    .collect()
}

/// Sends `signal` to the process group `sid` and to every live member of session `sid`.
pub(crate) fn signal_session(sid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: plain kill(2). Callers pass the id of a session leader they spawned; the
    // kernel does not reuse that id while any process still uses it as a session or
    // group id, so only members of that session can be hit.
    unsafe {
        libc::kill(-sid, signal);
    }
    for pid in session_members(sid) {
        // SAFETY: as above; `pid` was just seen as a member of the session.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

fn winsize(cols: u16, rows: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

fn set_cloexec(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFD);
        if flags == -1 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) == -1
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags == -1 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) == -1
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Tells the line discipline input is UTF-8, so backspace in canonical mode erases a
/// whole multi-byte character (what terminal emulators do for UTF-8 locales).
fn enable_iutf8(slave: &OwnedFd) -> io::Result<()> {
    // SAFETY: tcgetattr fills a zeroed termios we own; tcsetattr reads it back.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) == -1 {
            return Err(io::Error::last_os_error());
        }
        t.c_iflag |= libc::IUTF8;
        if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
