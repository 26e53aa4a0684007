//! The body budget: room for request and answer bodies, reserved before they are read.

use super::*;

/// Room for bodies, held while they are in memory.
pub(super) type Room = Vec<tokio::sync::OwnedSemaphorePermit>;

/// The room held by calls waiting for more, counted while they wait (and uncounted when
/// the wait ends or the call is dropped).
pub(super) struct WaitingHeld<'a> {
    pub(super) total: &'a std::sync::atomic::AtomicUsize,
    pub(super) kib: usize,
}

impl<'a> WaitingHeld<'a> {
    /// Counts `kib` in if the total stays within `limit`; `None` if it would not.
    pub(super) fn enter(
        total: &'a std::sync::atomic::AtomicUsize,
        kib: usize,
        limit: usize,
    ) -> Option<Self> {
        use std::sync::atomic::Ordering::SeqCst;
        if kib == 0 {
            return Some(WaitingHeld { total, kib });
        }
        total
            .fetch_update(SeqCst, SeqCst, |t| (t + kib <= limit).then_some(t + kib))
            .ok()
            .map(|_| WaitingHeld { total, kib })
    }
}

impl Drop for WaitingHeld<'_> {
    fn drop(&mut self) {
        self.total
            .fetch_sub(self.kib, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Why a body was not read: the node's budget refused room (`Server.Busy` or an oversized
/// total, kept as such), or the body itself failed (too long, too slow, broken), which the
/// caller names for its side.
#[derive(Debug)]
pub(super) enum BodyError {
    Budget(GatewayError),
    Read(String),
}

impl BodyError {
    /// The error to answer: the budget's own, or `read` of what went wrong with the body.
    pub(super) fn or(self, read: impl FnOnce(String) -> GatewayError) -> GatewayError {
        match self {
            BodyError::Budget(e) => e,
            BodyError::Read(m) => read(m),
        }
    }
}

/// A call's request body with the room it holds (answers read for it join that room).
pub(super) struct Incoming<'r> {
    pub(super) body: Bytes,
    pub(super) room: &'r mut Room,
}

impl Inner {
    /// Reserves `kib` KiB of room. A call holding nothing may wait (up to the request
    /// timeout). A call already holding room may wait only while everything held by
    /// waiting calls, its own included, stays within half the budget: the other half is
    /// then held by calls that are not waiting and will give it back, so waiters are never
    /// all waiting on each other. Otherwise it is refused at once (`Server.Busy`).
    pub(super) async fn reserve(&self, kib: usize, held_kib: usize) -> Result<Room, GatewayError> {
        use std::sync::atomic::Ordering::Relaxed;
        let max = self.config.inflight_body_bytes_max.div_ceil(1024);
        if kib == 0 {
            return Ok(Room::new());
        }
        if kib + held_kib > max {
            return Err(GatewayError::BadRequest(format!(
                "{} KiB of bodies are more than this node holds at once ({} bytes)",
                kib + held_kib,
                self.config.inflight_body_bytes_max
            )));
        }
        let waiting = WaitingHeld::enter(&self.waiting_held_kib, held_kib, max / 2);
        let got = match self.budget.clone().try_acquire_many_owned(kib as u32) {
            Ok(p) => Some(p),
            Err(_) if waiting.is_some() => {
                self.room_seen.waits.fetch_add(1, Relaxed);
                metrics::counter!("lienthong_node_body_room_waits_total").increment(1);
                let timeout = Duration::from_millis(self.config.request_timeout_ms);
                tokio::time::timeout(timeout, self.budget.clone().acquire_many_owned(kib as u32))
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        drop(waiting);
        if got.is_some() {
            let held = max.saturating_sub(self.budget.available_permits());
            if self.room_seen.peak_kib.fetch_max(held, Relaxed) < held {
                metrics::gauge!("lienthong_node_body_room_peak_bytes").set((held * 1024) as f64);
            }
        }
        got.map(|p| vec![p]).ok_or_else(|| {
            metrics::counter!("lienthong_node_body_budget_exhausted_total").increment(1);
            GatewayError::Busy("the node holds as many bodies as it may; try again".into())
        })
    }

    /// Reads a body of at most `body_bytes_max` within the request timeout. Room for
    /// `factor` × its length is reserved first when the length is announced (the factor
    /// covers what is derived from it: parsed JSON, a projected copy), else as it grows.
    pub(super) async fn read_body<B>(
        &self,
        body: B,
        room: &mut Room,
        factor: usize,
    ) -> Result<Bytes, BodyError>
    where
        B: hyper::body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let held = |room: &Room| room.iter().map(|p| p.num_permits()).sum::<usize>();
        let max = self.config.body_bytes_max;
        let announced = body.size_hint().exact();
        let mut reserved = 0usize; // KiB reserved for this body
        if let Some(n) = announced {
            if n as usize > max {
                return Err(BodyError::Read(format!(
                    "length limit exceeded ({n} > {max} bytes)"
                )));
            }
            reserved = (n as usize).saturating_mul(factor).div_ceil(1024).max(1);
            let r = self
                .reserve(reserved, held(room))
                .await
                .map_err(BodyError::Budget)?;
            room.extend(r);
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.config.request_timeout_ms);
        let mut body = body;
        let mut out = Vec::with_capacity(announced.unwrap_or(0) as usize);
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    return Err(BodyError::Read(
                        "body not received within the timeout".into(),
                    ))
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(BodyError::Read(e.to_string())),
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > max {
                    return Err(BodyError::Read(format!(
                        "length limit exceeded (> {max} bytes)"
                    )));
                }
                out.extend_from_slice(&data);
                if announced.is_none() {
                    // Only what the running total needs beyond what is reserved: many tiny
                    // frames cannot pin more room than their bytes.
                    let need = out.len().saturating_mul(factor).div_ceil(1024);
                    if need > reserved {
                        let r = self
                            .reserve(need - reserved, held(room))
                            .await
                            .map_err(BodyError::Budget)?;
                        room.extend(r);
                        reserved = need;
                    }
                }
            }
        }
        Ok(Bytes::from(out))
    }
}
