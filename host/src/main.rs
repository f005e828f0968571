//! The `connector-host` binary; everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    connector_host::cli::main()
}
