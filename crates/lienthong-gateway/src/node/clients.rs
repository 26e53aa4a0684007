//! Who may call: the agency's information systems on the client face (X-Road's connection
//! types), and each consumer member's share of a provider (calls in progress, calls per
//! second).

use super::*;

/// X-Road's connection types for the client face: `NOAUTH` (plain HTTP, loopback only),
/// `SSLNOAUTH` (TLS, any client), `SSLAUTH` (TLS, only registered client certificates).
#[derive(Debug, Clone, Default)]
pub enum ClientAuth {
    #[default]
    NoAuth,
    SslNoAuth {
        cert_pem: String,
        key_pem: String,
    },
    SslAuth {
        cert_pem: String,
        key_pem: String,
        systems: Vec<ClientSystem>,
    },
}

impl ClientAuth {
    /// `NOAUTH`, `SSLNOAUTH` or `SSLAUTH`.
    pub fn mode(&self) -> &'static str {
        match self {
            ClientAuth::NoAuth => "NOAUTH",
            ClientAuth::SslNoAuth { .. } => "SSLNOAUTH",
            ClientAuth::SslAuth { .. } => "SSLAUTH",
        }
    }

    /// The registered system holding the certificate with this fingerprint.
    pub(super) fn system(&self, fingerprint: &str) -> Option<&str> {
        match self {
            ClientAuth::SslAuth { systems, .. } => systems
                .iter()
                .find(|s| s.fingerprint.eq_ignore_ascii_case(fingerprint))
                .map(|s| s.name.as_str()),
            _ => None,
        }
    }
}

/// An information system registered on the node: its name (logged with its calls) and the
/// SHA-256 fingerprint of its TLS client certificate.
#[derive(Debug, Clone)]
pub struct ClientSystem {
    pub name: String,
    pub fingerprint: String,
}

impl Inner {
    /// A slot for one call of `consumer` (identified already), or `Client.TooManyRequests`
    /// when it has `consumer_calls_max` in progress.
    pub(super) fn consumer_slot(
        &self,
        consumer: &str,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, GatewayError> {
        let rate = f64::from(self.config.consumer_rate_per_s);
        if rate > 0.0 {
            let mut rates = self
                .consumer_rates
                .lock()
                .map_err(|_| GatewayError::Backend("consumer rates lock poisoned".into()))?;
            let now = std::time::Instant::now();
            if rates.len() >= PEERS_MAX {
                rates.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 60);
            }
            let (tokens, at) = rates.entry(consumer.to_owned()).or_insert((rate, now));
            *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(rate);
            *at = now;
            if *tokens < 1.0 {
                return Err(GatewayError::TooManyRequests(format!(
                    "{consumer} made more than {rate} calls per second at this provider, its limit; retry shortly"
                )));
            }
            *tokens -= 1.0;
        }
        let max = self.config.consumer_calls_max.max(1);
        let slots = {
            let mut calls = self
                .consumer_calls
                .lock()
                .map_err(|_| GatewayError::Backend("consumer slots lock poisoned".into()))?;
            if calls.len() >= PEERS_MAX {
                calls.retain(|_, s| s.available_permits() < max);
            }
            calls
                .entry(consumer.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(max)))
                .clone()
        };
        slots.try_acquire_owned().map_err(|_| {
            GatewayError::TooManyRequests(format!(
                "{consumer} has {max} calls in progress at this provider, its limit; retry shortly"
            ))
        })
    }
}
