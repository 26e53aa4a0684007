//! The peer face's mutual-TLS accept loop; the peer certificate's fingerprint rides with
//! every request of the connection.

use super::*;

/// The TLS peer's certificate fingerprint, attached to every request on that connection.
#[derive(Clone)]
pub(super) struct PeerFingerprint(pub(super) String);

pub(super) async fn serve_mtls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((tcp, remote)) = accepted else {
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        // A stopped node closes its open connections too: none keeps answering for it.
        let mut stopped = stop.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(%remote, error = %e, "tls handshake refused");
                        return;
                    }
                    Err(_) => return,
                };
            let fingerprint = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| lienthong_trust::sha256_hex(c))
                .unwrap_or_default();
            let service = hyper_util::service::TowerToHyperService::new(
                app.layer(Extension(PeerFingerprint(fingerprint))),
            );
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            tokio::select! {
                _ = builder.serve_connection(TokioIo::new(tls), service) => {}
                _ = stopped.changed() => {}
            }
        });
    }
}
