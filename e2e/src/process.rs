//! Child processes owned by a cluster: output goes to a log file in the
//! cluster's directory, and the process is killed and reaped on drop.
//!
//! Drop runs on normal teardown and while a panicking test unwinds. For a
//! test runner that is killed outright, each child is started under
//! `setpriv --pdeathsig KILL`, so the kernel kills it when its parent dies.
//! The parent-death signal fires when the *thread* that forked exits, so all
//! children are forked by one spawner thread that lives as long as the
//! process, never by a pool thread that may retire while the child runs.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{OnceLock, mpsc},
};

use crate::{Error, Result};

#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ManagedProcess {
    /// Starts `program args...`, logging to `<log_dir>/<name>.log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        log_dir: &Path,
    ) -> Result<ManagedProcess> {
        Self::spawn_with_env(name, program, args, None, log_dir)
    }

    /// [`spawn`](Self::spawn) with exactly the environment `env` (nothing
    /// inherited) when it is given, as a container gets only its own.
    pub fn spawn_with_env(
        name: &str,
        program: &Path,
        args: &[String],
        env: Option<&[(String, String)]>,
        log_dir: &Path,
    ) -> Result<ManagedProcess> {
        let log = log_dir.join(format!("{name}.log"));
        let out =
            File::create(&log).map_err(crate::io_error(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(crate::io_error(format!("opening {}", log.display())))?;
        let mut command = if parent_death_signal_available() {
            let mut c = Command::new("setpriv");
            c.args(["--pdeathsig", "KILL", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        if let Some(env) = env {
            command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = spawn_from_spawner_thread(command).map_err(crate::io_error(format!(
            "starting {name} ({})",
            program.display()
        )))?;
        tracing::debug!(name, pid = child.id(), log = %log.display(), "started");
        Ok(ManagedProcess {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Fails with the end of the log when the process has exited.
    pub fn check_running(&mut self, cluster: &str) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Cluster {
                cluster: cluster.to_owned(),
                message: format!(
                    "{} exited ({status}); last log lines:\n{}",
                    self.name,
                    self.log_tail(30)
                ),
            }),
            Err(e) => Err(Error::Io {
                context: format!("waiting for {}", self.name),
                source: e,
            }),
        }
    }

    /// The last `lines` lines of the process's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Resident memory in bytes, from /proc.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    }

    /// Kills the process and reaps it.
    pub fn stop(&mut self) {
        // SIGKILL: test clusters keep no state worth a graceful shutdown, and
        // the kernel releases every socket of a killed process at once.
        let _ = self.child.kill();
        let _ = self.child.wait();
        tracing::debug!(name = self.name, pid = self.child.id(), "stopped");
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

fn spawn_from_spawner_thread(command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("fedway-e2e-spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("spawning a thread at test start-up");
        requests
    });
    let (reply, result) = mpsc::channel();
    spawner
        .send((command, reply))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    result
        .recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

fn parent_death_signal_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}
