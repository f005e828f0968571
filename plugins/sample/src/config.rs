//! The sample connector's typed settings, validated once per run.

use connector_sdk::{config, Error};

/// Settings after validation.
pub struct Settings {
    pub label: String,
    pub batch: i64,
}

impl Settings {
    pub fn load() -> Result<Self, Error> {
        let label: String = config::get_or("label", "heartbeat".to_owned())?;
        let batch: i64 = config::get_or("batch", 1)?;
        if !(1..=1000).contains(&batch) {
            return Err(Error::invalid(format!(
                "setting batch: expected 1 to 1000, found {batch}"
            )));
        }
        Ok(Settings { label, batch })
    }
}
