//! Schedules: when each connector schedule fires. A cron expression (optionally with seconds
//! and a year) in an IANA time zone, with the classic (Vixie) cron rules for daylight-saving
//! changes (DESIGN.md §4 "Schedules").
//!
//! A *fixed-time* schedule (neither the minute nor the hour field starts with `*`) fires a
//! local time skipped by a spring-forward gap once, at the first instant after the jump, and a
//! local time that occurs twice (fall-back) once, at its first occurrence. An *interval-like*
//! schedule (`*/5 * * * *`, `0 * * * *`) follows real time: it fires in both passes of a
//! repeated hour and not at all inside a skipped one.
//!
//! Field meanings are classic crontab(5) ones: day of week `0`–`7` with `0` and `7` Sunday
//! (names work too), and when both day of month and day of week are restricted (neither starts
//! with `*`) a day matches if either does.

mod expr;
mod fire;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod year_tests;

pub use fire::{CronSchedule, ScheduleError};
