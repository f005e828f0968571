//! Captures every log line the host writes during a test run, so tests can search all of it
//! (for secret values, say). One global subscriber per test process, installed on first use.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// A handle on the captured output.
#[derive(Clone)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far by any test in this process.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber if not yet installed: everything at trace level but the
/// compiler's own chatter (cranelift's trace output would dwarf the rest and slow every test).
pub fn capture() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let sink = buffer.clone();
            let _ = tracing_subscriber::fmt()
                .with_env_filter("trace,cranelift_codegen=info,cranelift_frontend=info,wasmtime_cranelift=info,regalloc2=info,wasmtime_environ=info,wasmtime=debug,wasmparser=info")
                .with_ansi(false)
                .with_writer(move || Writer(sink.clone()))
                .try_init();
            Captured(buffer)
        })
        .clone()
}
