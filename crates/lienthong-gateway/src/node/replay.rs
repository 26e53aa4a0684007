//! Replay protection between nodes: message ids remembered inside the timestamp window.

use super::*;

/// Longest message id accepted (X-Road ids are UUIDs).
pub(super) const MESSAGE_ID_BYTES_MAX: usize = 128;

/// Remembers message ids inside the timestamp window; bounded.
pub(super) struct ReplayGuard {
    pub(super) seen: HashMap<String, u64>,
    pub(super) window_s: u64,
    pub(super) entries_max: usize,
}

impl ReplayGuard {
    pub(super) fn check(
        &mut self,
        client: &str,
        message_id: &str,
        timestamp: u64,
        now: u64,
    ) -> Result<(), GatewayError> {
        if now.abs_diff(timestamp) > self.window_s {
            return Err(GatewayError::StaleMessage(self.window_s));
        }
        if message_id.is_empty() || message_id.len() > MESSAGE_ID_BYTES_MAX {
            return Err(GatewayError::BadRequest(format!(
                "message id must be 1 to {MESSAGE_ID_BYTES_MAX} bytes"
            )));
        }
        if self.seen.len() >= self.entries_max {
            let horizon = now.saturating_sub(self.window_s);
            self.seen.retain(|_, t| *t >= horizon);
            if self.seen.len() >= self.entries_max {
                return Err(GatewayError::Busy(
                    "replay cache full; try again shortly".into(),
                ));
            }
        }
        // Keyed by client too: two consumers may pick the same X-Road-Id.
        if self
            .seen
            .insert(format!("{client}\u{1f}{message_id}"), timestamp)
            .is_some()
        {
            return Err(GatewayError::Replay(message_id.chars().take(64).collect()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_guard_rejects_repeats_and_stale_messages() {
        let mut g = ReplayGuard {
            seen: HashMap::new(),
            window_s: 300,
            entries_max: 2,
        };
        assert!(g.check("c", "a", 1000, 1000).is_ok());
        assert!(matches!(
            g.check("c", "a", 1000, 1001),
            Err(GatewayError::Replay(_))
        ));
        assert!(matches!(
            g.check("c", "b", 600, 1000),
            Err(GatewayError::StaleMessage(_))
        ));
        assert!(matches!(
            g.check("c", "c", 1400, 1000),
            Err(GatewayError::StaleMessage(_))
        ));
        assert!(g.check("c", "d", 1000, 1000).is_ok());
        // Full: entries older than the window are dropped first.
        assert!(g.check("c", "e", 2000, 2000).is_ok());
    }
}
