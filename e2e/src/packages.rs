//! Debian packages that tests need (real DNS servers and clients, proxies),
//! installed on first use by `e2e/scripts/packages.sh`, as the control
//! plane is built on first use: `cargo test --workspace` works on a fresh
//! machine without running `.ci/run` first.

use std::{path::Path, process::Command, sync::Mutex};

/// Makes sure each `(command, package)`'s command is on PATH, installing the
/// packages of those missing (needs root or password-less sudo). Panics
/// with the script's reason when it cannot: a test without its peer
/// cannot run.
pub fn require(commands: &[(&str, &str)]) {
    // One installer at a time in this process; the script locks across
    // processes.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/packages.sh");
    let status = Command::new(&script)
        .args(
            commands
                .iter()
                .map(|(command, package)| format!("{command}={package}")),
        )
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        status.success(),
        "{} could not install what {:?} need ({status})",
        script.display(),
        commands.iter().map(|(c, _)| *c).collect::<Vec<_>>()
    );
}
