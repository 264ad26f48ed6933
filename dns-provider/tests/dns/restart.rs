//! The last good state survives a broken source and a restart; the SOA
//! serial increases on every change, across restarts too.

use std::time::Duration;

use hickory_proto::rr::{RData, RecordType};

use crate::support::{Dns, UDP, query, within};

fn zone(extra: &str) -> String {
    format!(
        r#"
kind: DNSZone
spec:
  zone: cache.example
  nameServers: [{{name: ns1.cache.example, addresses: [127.53.11.53]}}]
---
kind: DNSRecord
spec:
  hostname: shop.cache.example
  ttlSeconds: 5
  endpoints: [{{clusterName: east, addresses: [192.0.2.1], hubHealthy: true}}]
{extra}"#
    )
}

const NEW: &str = r#"---
kind: DNSRecord
spec:
  hostname: new.cache.example
  ttlSeconds: 5
  endpoints: [{clusterName: east, addresses: [192.0.2.2], hubHealthy: true}]
"#;

async fn serial(dns: &Dns) -> u32 {
    let reply = query(dns.address, "cache.example.", RecordType::SOA, UDP).await;
    match reply.answers.first().map(|r| &r.data) {
        Some(RData::SOA(soa)) => soa.serial,
        other => panic!("SOA: {other:?}"),
    }
}

async fn answered(dns: &Dns, name: &str) -> bool {
    !query(dns.address, name, RecordType::A, UDP)
        .await
        .answers
        .is_empty()
}

/// Rewrites the file so its modification time surely changes.
async fn rewrite(dns: &Dns, content: &str) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(&dns.file, content).expect("rewrite");
    let later = std::time::SystemTime::now() + Duration::from_secs(1);
    let file = std::fs::File::options()
        .write(true)
        .open(&dns.file)
        .expect("open");
    file.set_modified(later).expect("touch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_good_state_survives_bad_input_and_restarts() {
    let mut dns = Dns::serve("127.53.11.1", &zone("")).await;
    let first = serial(&dns).await;

    rewrite(&dns, &zone(NEW)).await;
    within(Duration::from_secs(5), "new record served", || async {
        answered(&dns, "new.cache.example.").await.then_some(())
    })
    .await;
    let second = serial(&dns).await;
    assert!(
        second > first,
        "serial {second} after a change, was {first}"
    );

    // A broken file changes nothing.
    rewrite(&dns, "kind: DNSZone\nspec: [broken\n").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(answered(&dns, "new.cache.example.").await);
    assert_eq!(serial(&dns).await, second);

    // Restarted while the source is still broken: the cache answers, with
    // the same serial.
    dns.restart().await;
    assert!(
        answered(&dns, "new.cache.example.").await,
        "cached state served"
    );
    assert_eq!(serial(&dns).await, second);

    // The next good change bumps the serial past the cached one.
    rewrite(&dns, &zone("")).await;
    within(Duration::from_secs(5), "record removed", || async {
        (!answered(&dns, "new.cache.example.").await).then_some(())
    })
    .await;
    assert!(serial(&dns).await > second);
    let page = dns.metrics_page().await;
    assert!(page.contains("fedway_dns_records 1"), "{page}");
    dns.stop().await;
}
