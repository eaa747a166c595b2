//! A small smoke run of the load generator against Parley, in-process (runs in
//! `cargo xtask test`): four clients, two of them sending for a second. Keeps the
//! generator honest about Parley's protocol as it evolves.

use std::time::Duration;

use parley_backend::{Application, Config};

use crate::parley_db::new_account;
use crate::proto::Proto;
use crate::wire::{ClientSpec, ConnectSpec, SenderSpec, StepPlan};
use crate::worker::{Worker, now_us};

#[test]
fn the_generator_speaks_parley() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let dir = std::env::temp_dir().join(format!("parley-bench-smoke-{}", std::process::id()));
        let mut config = Config::for_tests(&dir);
        config.database = dir.join("parley.db").into();
        let app = Application::build(config).await.unwrap();
        let addr = app.local_addr();
        let store = app.store();
        let hash = parley_backend::auth::hash_password(
            &parley_common::Password::parse("benchmark password").unwrap(),
        )
        .unwrap();
        let mut clients = Vec::new();
        for i in 0..4 {
            let account = new_account(store.clone(), format!("smoke{i}"), hash.clone())
                .await
                .unwrap();
            clients.push(ClientSpec {
                room: parley_common::LOBBY.to_owned(),
                token: Some(account.token),
            });
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));

        let (worker, connected) = Worker::connect(ConnectSpec {
            proto: Proto::Parley,
            addr,
            source_ip: std::net::Ipv4Addr::LOCALHOST,
            clients,
            concurrency: 4,
            timeout_ms: 10_000,
        })
        .await
        .unwrap();
        assert_eq!(connected.ok, 4, "{:?}", connected.errors);

        let report = worker
            .run(StepPlan {
                step: 1,
                start_us: now_us() + 100_000,
                duration_ms: 1000,
                drain_ms: 500,
                body_len: 64,
                senders: vec![
                    SenderSpec {
                        client: 0,
                        id: 0,
                        rate: 10.0,
                        phase: 0.0,
                    },
                    SenderSpec {
                        client: 3,
                        id: 1,
                        rate: 10.0,
                        phase: 0.5,
                    },
                ],
            })
            .await
            .unwrap();
        let sent: u64 = report.sent.iter().map(|(_, n)| n).sum();
        assert_eq!(sent, 20, "two senders, 10/s, one second");
        assert_eq!(
            report.received,
            sent * 4,
            "every message reaches all four: {report:?}"
        );
        assert_eq!(report.duplicates, 0);
        assert_eq!(report.closed, 0);
        assert_eq!(report.errors, 0, "{:?}", report.first_error);
        drop(worker);
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
