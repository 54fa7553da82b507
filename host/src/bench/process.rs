//! `maas` child processes: `maas serve` until ready, and one-shot commands, with their
//! time and peak resident memory.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `maas serve` child process, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>/mcp`.
    pub url: String,
    /// From spawn to `/healthz` answering.
    pub ready_after: Duration,
}

impl Server {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound and released; another process could take it meanwhile).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// True once `GET /healthz` answers 200.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    buf.get(..n).is_some_and(|b| b.starts_with(b"HTTP/1.1 200"))
}

/// Starts `maas --data-dir <dir> serve` on a free port and waits until it is ready.
pub fn serve(maas: &Path, dir: &Path) -> Result<Server, String> {
    let port = free_port()?;
    let start = Instant::now();
    let child = Command::new(maas)
        .arg("--data-dir")
        .arg(dir)
        // A generated history of a million memories fills the default capacity; the
        // stores measured against it need room.
        .arg("--limit")
        .arg("memories=100000000")
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--insecure-loopback")
        .env_remove("MAAS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", maas.display()))?;
    let mut server = Server {
        child,
        url: format!("http://127.0.0.1:{port}/mcp"),
        ready_after: Duration::ZERO,
    };
    while !healthy(port) {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("maas serve exited early: {status}"));
        }
        if start.elapsed() > Duration::from_secs(300) {
            return Err("maas serve did not become ready in 300 s".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    server.ready_after = start.elapsed();
    Ok(server)
}

/// A finished one-shot command: wall time and peak resident memory.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// From spawn to exit.
    pub wall: Duration,
    /// The highest `VmHWM` seen while it ran, in KiB (sampled every few ms).
    pub peak_kib: Option<u64>,
}

/// Runs `maas --data-dir <dir> <args…>` to completion; an unsuccessful exit is an error.
pub fn run(maas: &Path, dir: &Path, args: &[&str]) -> Result<Run, String> {
    let start = Instant::now();
    let mut child = Command::new(maas)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("MAAS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", maas.display()))?;
    let pid = child.id();
    let mut peak = None;
    loop {
        if let Some(k) = super::stats::proc_kib(Some(pid), "VmHWM") {
            peak = Some(peak.map_or(k, |p: u64| p.max(k)));
        }
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => std::thread::sleep(Duration::from_millis(3)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let wall = start.elapsed();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "maas {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Run {
        wall,
        peak_kib: peak,
    })
}
