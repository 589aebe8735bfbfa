//! The `ferroban` binary: a thin shell over `ferroban-cli`, which decides from the
//! command line (and the name it was invoked by) which tool to be.

fn main() -> std::process::ExitCode {
    ferroban_cli::main()
}
