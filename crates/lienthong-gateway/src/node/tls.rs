//! The accept loop of every node face: a bound on open connections, a deadline for the TLS
//! handshake and for a request's headers, back-off when accepting fails, HTTP/2 only where
//! the protocol says so; with TLS, the peer certificate's fingerprint rides with every
//! request of the connection.

use super::*;

/// The TLS peer's certificate fingerprint, attached to every request on that connection.
#[derive(Clone)]
pub(super) struct PeerFingerprint(pub(super) String);

/// The TLS peer's certificate subject (common name), attached likewise: a node's certificate
/// names the member it acts for.
#[derive(Clone)]
pub(super) struct PeerSubject(pub(super) String);

/// What one listener allows.
#[derive(Clone, Copy)]
pub(super) struct Limits {
    /// Connections open at once; more wait in the kernel's backlog.
    pub(super) connections_max: usize,
    /// The peer face speaks HTTP/2 only, with or without ALPN.
    pub(super) http2_only: bool,
}

/// How long a client may take for the TLS handshake, and for the headers of a request.
const HANDSHAKE: Duration = Duration::from_secs(10);
const HEADERS: Duration = Duration::from_secs(10);
/// Streams one HTTP/2 connection may have open at once.
const STREAMS_MAX: u32 = 256;

fn builder(limits: Limits) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADERS);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(STREAMS_MAX)
        .max_header_list_size(64 * 1024)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    if limits.http2_only {
        builder = builder.http2_only();
    }
    builder
}

/// Serves `app` on `listener`, over TLS when `tls` is given, until `stop` changes.
pub(super) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let open = Arc::new(tokio::sync::Semaphore::new(limits.connections_max));
    let mut backoff = Duration::from_millis(10);
    loop {
        // A connection slot first: at the bound, new connections wait in the backlog.
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let (tcp, remote) = match accepted {
            Ok(a) => {
                backoff = Duration::from_millis(10);
                a
            }
            Err(e) => {
                // Out of file descriptors or memory: wait rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        // A stopped node closes its open connections too: none keeps answering for it.
        let mut stopped = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let builder = builder(limits);
            match acceptor {
                None => {
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    tokio::select! {
                        _ = builder.serve_connection(TokioIo::new(tcp), service) => {}
                        _ = stopped.changed() => {}
                    }
                }
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::info!(%remote, error = %e, "tls handshake refused");
                            return;
                        }
                        Err(_) => return,
                    };
                    let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                    let fingerprint = leaf
                        .map(|c| lienthong_trust::sha256_hex(c))
                        .unwrap_or_default();
                    let subject = leaf
                        .and_then(|c| lienthong_trust::cert_common_name(c))
                        .unwrap_or_default();
                    let service = hyper_util::service::TowerToHyperService::new(
                        app.layer(Extension(PeerFingerprint(fingerprint)))
                            .layer(Extension(PeerSubject(subject))),
                    );
                    tokio::select! {
                        _ = builder.serve_connection(TokioIo::new(tls), service) => {}
                        _ = stopped.changed() => {}
                    }
                }
            }
        });
    }
}
