//! Test knobs: hidden environment variables that shorten larkup's waits or raise its write
//! rate, so the test suite and the benchmarks run in seconds instead of minutes.
//!
//! Each is honoured only when the base URL names this machine (`config::is_loopback`: the
//! sandbox, a benchmark server): against Feishu or any other host they are ignored, so a
//! variable left in a shell can neither burst at Feishu (1061045) nor cut a real upload's
//! timeouts short. docs/contributing.md lists them for contributors; users never need one.

use std::time::Duration;

/// One knob: its variable, and what it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    /// Write calls per second (Feishu's 5 otherwise), e.g. for a sandbox at `--qps 50`.
    WriteQps,
    /// The retry law's first delay in milliseconds (250 otherwise; it doubles from there).
    RetryBaseMs,
    /// The unit of the looks after an unknown outcome in milliseconds (1 s otherwise).
    ReconcileBaseMs,
    /// Opening a connection (10 s otherwise).
    ConnectTimeoutMs,
    /// No byte moving while a body is sent or an answer read (60 s otherwise).
    StallTimeoutMs,
    /// Waiting for a write's answer (120 s otherwise).
    AnswerTimeoutMs,
    /// How often a call still waiting for its answer is said (5 s otherwise).
    AnswerNoticeMs,
}

impl Knob {
    pub const ALL: [Knob; 7] = [
        Knob::WriteQps,
        Knob::RetryBaseMs,
        Knob::ReconcileBaseMs,
        Knob::ConnectTimeoutMs,
        Knob::StallTimeoutMs,
        Knob::AnswerTimeoutMs,
        Knob::AnswerNoticeMs,
    ];

    pub fn var(self) -> &'static str {
        match self {
            Knob::WriteQps => "LARKUP_WRITE_QPS",
            Knob::RetryBaseMs => "LARKUP_RETRY_BASE_MS",
            Knob::ReconcileBaseMs => "LARKUP_RECONCILE_BASE_MS",
            Knob::ConnectTimeoutMs => "LARKUP_CONNECT_TIMEOUT_MS",
            Knob::StallTimeoutMs => "LARKUP_STALL_TIMEOUT_MS",
            Knob::AnswerTimeoutMs => "LARKUP_ANSWER_TIMEOUT_MS",
            Knob::AnswerNoticeMs => "LARKUP_ANSWER_NOTICE_MS",
        }
    }

    /// The knob's number for a server at `base_url`: None when it is not set, not a number,
    /// or the server is not on this machine.
    pub fn value(self, base_url: &str) -> Option<u64> {
        value_from(std::env::var(self.var()).ok().as_deref(), base_url)
    }

    /// The knob as a duration in milliseconds, else `default`; 0 counts as not set (a zero
    /// timeout would fail every call).
    pub fn millis_or(self, base_url: &str, default: Duration) -> Duration {
        self.value(base_url)
            .filter(|ms| *ms > 0)
            .map_or(default, Duration::from_millis)
    }
}

fn value_from(raw: Option<&str>, base_url: &str) -> Option<u64> {
    raw.and_then(|value| value.trim().parse().ok())
        .filter(|_| crate::host::is_loopback(base_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_knob_counts_only_against_this_machine() {
        for local in [
            "http://127.0.0.1:8080",
            "http://[::1]:9",
            "http://localhost:1",
        ] {
            assert_eq!(value_from(Some(" 50 "), local), Some(50), "{local}");
        }
        for remote in [
            "https://open.feishu.cn",
            "https://open.larksuite.com",
            "http://10.0.0.1:8080",
            "http://127.0.0.1.example.com",
        ] {
            assert_eq!(value_from(Some("50"), remote), None, "{remote}");
        }
        assert_eq!(value_from(Some("fast"), "http://127.0.0.1:1"), None);
        assert_eq!(value_from(None, "http://127.0.0.1:1"), None);
    }

    #[test]
    fn every_knob_is_documented_for_contributors() {
        let doc = include_str!("../docs/contributing.md");
        for knob in Knob::ALL {
            assert!(
                doc.contains(knob.var()),
                "{} not in docs/contributing.md",
                knob.var()
            );
        }
        assert!(doc.contains("loopback"), "the loopback rule is not said");
    }
}
