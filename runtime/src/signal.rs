//! Process signals.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGTERM and SIGINT (Ctrl-C) handlers, installed when this is created: create it before
/// announcing readiness, so a signal sent right after the announcement stops the process
/// gracefully instead of killing it.
pub struct Shutdown {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl Shutdown {
    /// Installs the handlers now.
    #[must_use]
    pub fn install() -> Self {
        Self {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Resolves on the first SIGTERM or SIGINT.
    pub async fn wait(mut self) {
        let term = wait_for(self.term.as_mut());
        let int = wait_for(self.int.as_mut());
        tokio::select! {
            () = term => {}
            () = int => {}
        }
    }
}

async fn wait_for(signal: Option<&mut Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_signal_sent_right_after_install_is_seen_not_fatal() {
        let shutdown = Shutdown::install();
        // Sent before anyone waits: the handler is already there, so the process lives on and
        // the wait sees it.
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(5), shutdown.wait())
            .await
            .expect("the signal is seen");
    }
}
