//! The run log's vocabulary: why a run started, how it ended, where a queued job stands. Each
//! is an enum from the caller to the column, stored and shown by its name.

use std::fmt;
use std::str::FromStr;

/// A stored name that is not one of its vocabulary's (a row written by a newer host, or by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {found:?} is not one of {expected}")]
pub struct UnknownName {
    /// What was parsed: `trigger`, `run status`, `job status`.
    pub what: &'static str,
    /// The text found.
    pub found: String,
    /// The names accepted, comma-separated.
    pub expected: String,
}

/// An enum stored by name: `as_str`, `FromStr`, `Display`, `Serialize` as the name, and
/// comparison with a name (`status == "failed"`).
macro_rules! named {
    ($(#[$meta:meta])* $vis:vis enum $name:ident as $what:literal {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the database and shown to people.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        what: $what,
                        found: s.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

named! {
    /// How a run ended (or that it has not yet).
    pub enum RunStatus as "run status" {
        /// Started, not finished.
        Running = "running",
        /// The plugin returned a summary; its writes are committed.
        Succeeded = "succeeded",
        /// The plugin returned an error; writes since its last checkpoint are rolled back.
        Failed = "failed",
        /// The plugin trapped (panic, unreachable, host refusal to continue).
        Trapped = "trapped",
        /// The run passed its deadline.
        Timeout = "timeout",
        /// The plugin tried to grow its memory past the cap.
        OutOfMemory = "out-of-memory",
        /// The host stopped (SIGINT/SIGTERM) before the run finished, after its grace period.
        Interrupted = "interrupted",
        /// The host running it stopped renewing its lease (it died or lost the database).
        Abandoned = "abandoned",
    }
}

impl RunStatus {
    /// Whether the run counts as a success (exit code 0).
    pub fn is_success(self) -> bool {
        self == RunStatus::Succeeded
    }
}

named! {
    /// Why a run was started.
    pub enum TriggerKind as "trigger" {
        /// A schedule fired.
        Schedule = "schedule",
        /// A person or an API call asked for it.
        Manual = "manual",
        /// Making up for fires missed while the host was down.
        CatchUp = "catch-up",
        /// A retry of a failed run.
        Retry = "retry",
        /// A webhook arrived.
        Webhook = "webhook",
        /// An operator asked for the fires of a past window (`backfill`); the plugin sees it as
        /// a catch-up.
        Backfill = "backfill",
    }
}

named! {
    /// Where a queued job stands.
    pub enum QueueStatus as "job status" {
        /// Waiting for its `run_after`, or for a worker.
        Pending = "pending",
        /// Leased by a worker.
        Processing = "processing",
        /// Done; its writes are committed.
        Completed = "completed",
        /// Dead letter: out of attempts, or failed for good.
        Failed = "failed",
    }
}

impl QueueStatus {
    /// Whether jobs in this status may still run.
    pub fn is_unfinished(self) -> bool {
        matches!(self, QueueStatus::Pending | QueueStatus::Processing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
        }
        for t in TriggerKind::ALL {
            assert_eq!(t.to_string().parse::<TriggerKind>(), Ok(*t));
        }
        assert_eq!(
            "done".parse::<QueueStatus>().unwrap_err().to_string(),
            "job status \"done\" is not one of pending, processing, completed, failed"
        );
        assert_eq!(
            serde_json::to_string(&RunStatus::OutOfMemory).unwrap(),
            "\"out-of-memory\""
        );
        assert!(TriggerKind::CatchUp == "catch-up");
    }
}
