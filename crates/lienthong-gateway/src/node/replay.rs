//! Replay protection between nodes: message ids remembered inside the timestamp window.

use super::*;

/// Longest message id accepted (X-Road ids are UUIDs).
pub(super) const MESSAGE_ID_BYTES_MAX: usize = 128;

/// Remembers message ids inside the timestamp window; bounded, and no client may hold more
/// than half of it, so that one member's flood of fresh ids cannot lock the others out.
pub(super) struct ReplayGuard {
    pub(super) seen: HashMap<String, u64>,
    pub(super) window_s: u64,
    pub(super) entries_max: usize,
    /// Entries held per client.
    pub(super) held: HashMap<String, usize>,
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
        // Keyed by client too: two consumers may pick the same X-Road-Id.
        let key = format!("{client}\u{1f}{message_id}");
        if self.seen.contains_key(&key) {
            return Err(GatewayError::Replay(message_id.chars().take(64).collect()));
        }
        let share = (self.entries_max / 2).max(1);
        let over_share = self.held.get(client).is_some_and(|n| *n >= share);
        if self.seen.len() >= self.entries_max || over_share {
            let horizon = now.saturating_sub(self.window_s);
            self.seen.retain(|_, t| *t >= horizon);
            self.held.clear();
            for key in self.seen.keys() {
                let owner = key.split('\u{1f}').next().unwrap_or("");
                *self.held.entry(owner.to_owned()).or_default() += 1;
            }
            if self.held.get(client).is_some_and(|n| *n >= share) {
                return Err(GatewayError::TooManyRequests(format!(
                    "{client} sent more than {share} messages inside the {} s replay window, its share of this provider's replay cache; retry shortly",
                    self.window_s
                )));
            }
            if self.seen.len() >= self.entries_max {
                return Err(GatewayError::Busy(
                    "replay cache full; try again shortly".into(),
                ));
            }
        }
        self.seen.insert(key, timestamp);
        *self.held.entry(client.to_owned()).or_default() += 1;
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
            entries_max: 4,
            held: HashMap::new(),
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

    #[test]
    fn one_client_cannot_take_the_whole_cache() {
        let mut g = ReplayGuard {
            seen: HashMap::new(),
            window_s: 300,
            entries_max: 4,
            held: HashMap::new(),
        };
        assert!(g.check("flood", "1", 1000, 1000).is_ok());
        assert!(g.check("flood", "2", 1000, 1000).is_ok());
        assert!(matches!(
            g.check("flood", "3", 1000, 1000),
            Err(GatewayError::TooManyRequests(_))
        ));
        // The others keep their share.
        assert!(g.check("other", "1", 1000, 1000).is_ok());
        assert!(g.check("other", "2", 1000, 1000).is_ok());
        // Once the window has passed, the flooder's old ids go and it may send again.
        assert!(g.check("flood", "4", 1400, 1400).is_ok());
    }
}
