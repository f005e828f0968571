//! The `connector-host` command line, built inside the tests crate so integration tests can run
//! it as a process (to kill it or send it signals) via `CARGO_BIN_EXE_host-under-test`.

fn main() -> std::process::ExitCode {
    connector_host::cli::main()
}
