//! `ringway logs` queries over files written by ParquetSink, checked against an in-memory
//! computation over the same records, plus small hand-checked cases.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{at_us, TempDir, T0_US};
use ringway_analytics::civil::format_rfc3339;
use ringway_analytics::query::GroupRow;
use ringway_analytics::schema::{client_ip_text, record_is_error, Names};
use ringway_analytics::synth::Synth;
use ringway_analytics::{
    run_query, Error, GroupBy, OutputFormat, ParquetSink, Query, SinkConfig, StatusFilter,
};
use ringway_telemetry::record::{Inline, Method, Outcome, RequestRecord, NONE};

const HOUR_US: i64 = 3_600_000_000;

fn write(dir: &std::path::Path, recs: &[RequestRecord], names: &Names) {
    let cfg = SinkConfig {
        batch_rows: 1000,
        row_group_rows: 4000,
        ..SinkConfig::new(dir)
    };
    let mut sink = ParquetSink::new(cfg, names.clone()).unwrap();
    for r in recs {
        sink.push(r, at_us(T0_US)).unwrap();
    }
    sink.close().unwrap();
}

/// 20 000 synthetic records spread over three hours (06:00 to 09:00).
fn three_hours() -> Vec<RequestRecord> {
    let mut recs: Vec<_> = Synth::new(11, T0_US).take(20_000).collect();
    for (i, r) in recs.iter_mut().enumerate() {
        r.ts_us = T0_US + i as i64 * 540_000;
        if i % 500 == 1 {
            r.route = NONE;
            r.upstream = NONE;
            r.endpoint = NONE;
            r.status = 404;
            r.outcome = Outcome::NoRoute;
        }
    }
    recs
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum K {
    Null,
    Int(i64),
    Text(String),
}

/// The expected answer, computed straight from the records.
/// Exact nearest-rank quantile of sorted values (0 when empty): the reference the query's HDR
/// histograms are checked against.
fn quantile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Rows equal field by field, except that each latency quantile may be the top of its HDR
/// bucket: at or above the exact value, by at most 0.1%.
#[track_caller]
fn assert_rows_match(got: &[GroupRow], want: &[GroupRow], q: &Query) {
    assert_eq!(got.len(), want.len(), "{q:?}");
    for (g, w) in got.iter().zip(want) {
        let close = |got: u32, exact: u32| got >= exact && got - exact <= exact.div_ceil(1000);
        assert!(
            close(g.p50_us, w.p50_us) && close(g.p90_us, w.p90_us) && close(g.p99_us, w.p99_us),
            "{q:?}: quantiles {g:?} vs exact {w:?}"
        );
        let same = GroupRow {
            p50_us: w.p50_us,
            p90_us: w.p90_us,
            p99_us: w.p99_us,
            ..g.clone()
        };
        assert_eq!(&same, w, "{q:?}");
    }
}

fn oracle(recs: &[RequestRecord], n: &Names, q: &Query) -> Vec<GroupRow> {
    let route_of = |r: &RequestRecord| {
        (r.route != NONE).then(|| n.routes[usize::from(r.listener)][usize::from(r.route)].clone())
    };
    let mut groups: HashMap<K, (u64, u64, Vec<u32>, u64, u64)> = HashMap::new();
    for r in recs {
        if q.since_us.is_some_and(|s| r.ts_us < s) || q.until_us.is_some_and(|u| r.ts_us >= u) {
            continue;
        }
        if q.status.is_some_and(|f| !f.matches(r.status)) {
            continue;
        }
        if q.route
            .as_ref()
            .is_some_and(|want| route_of(r).as_ref() != Some(want))
        {
            continue;
        }
        if q.method
            .as_ref()
            .is_some_and(|m| !r.method.as_str().eq_ignore_ascii_case(m))
        {
            continue;
        }
        let ip = client_ip_text(&r.client_ip);
        let id = String::from_utf8(r.client_id.as_bytes().to_vec()).unwrap();
        if q.client.as_ref().is_some_and(|c| *c != ip && *c != id) {
            continue;
        }
        let key = match q.group_by {
            GroupBy::Route => route_of(r).map_or(K::Null, K::Text),
            GroupBy::Status => K::Int(i64::from(r.status)),
            GroupBy::Client => K::Text(if id.is_empty() { ip } else { id }),
            GroupBy::Upstream => {
                if r.upstream == NONE {
                    K::Null
                } else {
                    K::Text(n.upstreams[usize::from(r.upstream)].clone())
                }
            }
            GroupBy::Minute => K::Int(r.ts_us.div_euclid(60_000_000)),
            GroupBy::None => K::Null,
        };
        let g = groups.entry(key).or_default();
        g.0 += 1;
        g.1 += u64::from(record_is_error(r));
        g.2.push(r.total_us);
        g.3 += r.request_bytes;
        g.4 += r.response_bytes;
    }
    let mut v: Vec<_> = groups.into_iter().collect();
    v.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    if let Some(t) = q.top {
        v.truncate(t);
    }
    if q.group_by == GroupBy::Minute {
        v.sort_by(|a, b| a.0.cmp(&b.0));
    }
    v.into_iter()
        .map(|(k, (count, errors, mut lat, rq, rs))| {
            lat.sort_unstable();
            GroupRow {
                key: match k {
                    K::Null if q.group_by == GroupBy::None => Some("all".into()),
                    K::Null => None,
                    K::Int(m) if q.group_by == GroupBy::Minute => {
                        Some(format_rfc3339(m * 60_000_000))
                    }
                    K::Int(s) => Some(s.to_string()),
                    K::Text(s) => Some(s),
                },
                count,
                errors,
                p50_us: quantile(&lat, 0.5),
                p90_us: quantile(&lat, 0.9),
                p99_us: quantile(&lat, 0.99),
                request_bytes: rq,
                response_bytes: rs,
            }
        })
        .collect()
}

#[test]
fn queries_match_the_records() {
    let tmp = TempDir::new("query-oracle");
    let recs = three_hours();
    let names = Synth::names();
    write(tmp.path(), &recs, &names);

    let a_client = client_ip_text(&recs[0].client_ip);
    let an_identity = recs
        .iter()
        .find(|r| !r.client_id.as_bytes().is_empty())
        .map(|r| String::from_utf8(r.client_id.as_bytes().to_vec()).unwrap())
        .unwrap();
    let base = Query::default();
    let queries = [
        base.clone(),
        Query {
            group_by: GroupBy::Status,
            ..base.clone()
        },
        Query {
            group_by: GroupBy::Client,
            top: Some(10),
            ..base.clone()
        },
        Query {
            group_by: GroupBy::Upstream,
            status: Some(StatusFilter::Class(5)),
            ..base.clone()
        },
        Query {
            group_by: GroupBy::Minute,
            top: Some(7),
            ..base.clone()
        },
        Query {
            group_by: GroupBy::None,
            ..base.clone()
        },
        Query {
            route: Some("users".into()),
            status: Some(StatusFilter::Exact(200)),
            group_by: GroupBy::Minute,
            ..base.clone()
        },
        Query {
            method: Some("post".into()),
            group_by: GroupBy::Route,
            ..base.clone()
        },
        Query {
            client: Some(a_client),
            group_by: GroupBy::Status,
            ..base.clone()
        },
        Query {
            client: Some(an_identity),
            ..base.clone()
        },
        // Straddles the 07:00 and 08:00 partitions, with odd edges.
        Query {
            since_us: Some(T0_US + HOUR_US - 123_456_789),
            until_us: Some(T0_US + 2 * HOUR_US + 1),
            group_by: GroupBy::Upstream,
            ..base.clone()
        },
        Query {
            route: Some("no-such-route".into()),
            ..base.clone()
        },
    ];
    for q in &queries {
        let got = run_query(tmp.path(), q, &mut |_, _| {}).unwrap();
        let want = oracle(&recs, &names, q);
        assert!(!want.is_empty() || q.route.as_deref() == Some("no-such-route"));
        assert_rows_match(&got.rows, &want, q);
        let all_groups = oracle(
            &recs,
            &names,
            &Query {
                top: None,
                ..q.clone()
            },
        );
        assert_eq!(got.groups_total, all_groups.len(), "{q:?}");
        assert_eq!(
            got.rows_matched,
            all_groups.iter().map(|r| r.count).sum::<u64>(),
            "{q:?}"
        );
    }
}

#[test]
fn time_range_skips_partitions_and_row_groups() {
    let tmp = TempDir::new("query-prune");
    let recs = three_hours();
    write(tmp.path(), &recs, &Synth::names());
    let q = Query {
        since_us: Some(T0_US + 2 * HOUR_US),
        group_by: GroupBy::None,
        ..Query::default()
    };
    let got = run_query(tmp.path(), &q, &mut |_, _| {}).unwrap();
    assert_eq!(got.files_total, 3);
    assert_eq!(got.files_skipped, 2);
    let want = recs
        .iter()
        .filter(|r| r.ts_us >= T0_US + 2 * HOUR_US)
        .count() as u64;
    assert_eq!(got.rows_matched, want);
    assert_eq!(got.rows[0].count, want);
    // Row groups of 4 000 rows (~36 min): the first one of the last partition is not decoded.
    let q = Query {
        since_us: Some(T0_US + 2 * HOUR_US + HOUR_US * 3 / 4),
        ..q
    };
    let got = run_query(tmp.path(), &q, &mut |_, _| {}).unwrap();
    let in_hour = recs
        .iter()
        .filter(|r| r.ts_us >= T0_US + 2 * HOUR_US)
        .count() as u64;
    assert!(
        got.rows_scanned < in_hour,
        "{} vs {in_hour}",
        got.rows_scanned
    );
    assert_eq!(
        got.rows_matched,
        recs.iter()
            .filter(|r| r.ts_us >= T0_US + 2 * HOUR_US + HOUR_US * 3 / 4)
            .count() as u64
    );
}

/// 100 requests to route `a` taking 1..=100 µs (every 10th a 503), one without a route.
fn small() -> (Vec<RequestRecord>, Names) {
    let names = Names {
        listeners: vec!["main".into()],
        routes: vec![vec!["a".into()]],
        upstreams: vec!["up".into()],
        endpoints: vec![vec!["10.0.0.1:80".into()]],
    };
    let mut recs = Vec::new();
    for i in 0..100u32 {
        recs.push(RequestRecord {
            ts_us: T0_US + i64::from(i) * 1_000_000,
            route: 0,
            upstream: 0,
            endpoint: 0,
            status: if i % 10 == 9 { 503 } else { 200 },
            outcome: if i % 10 == 9 {
                Outcome::NoEndpoint
            } else {
                Outcome::Ok
            },
            method: Method::Get,
            total_us: 100 - i,
            request_bytes: 10,
            response_bytes: 1000,
            client_ip: std::net::Ipv4Addr::new(192, 0, 2, (i % 3) as u8)
                .to_ipv6_mapped()
                .octets(),
            request_id: Inline::new(format!("{i:032x}").as_bytes()),
            path: Inline::new(b"/a"),
            ..Default::default()
        });
    }
    recs.push(RequestRecord {
        ts_us: T0_US + 200_000_000,
        route: NONE,
        upstream: NONE,
        endpoint: NONE,
        status: 404,
        outcome: Outcome::NoRoute,
        total_us: 7,
        request_bytes: 5,
        response_bytes: 50,
        path: Inline::new(b"/nope"),
        ..Default::default()
    });
    (recs, names)
}

#[test]
fn hand_checked_aggregates_and_renderings() {
    let tmp = TempDir::new("query-small");
    let (recs, names) = small();
    write(tmp.path(), &recs, &names);
    let got = run_query(tmp.path(), &Query::default(), &mut |_, _| {}).unwrap();
    assert_eq!(
        got.render(OutputFormat::Csv),
        "route,count,errors,error_ratio,p50_us,p90_us,p99_us,request_bytes,response_bytes\n\
         a,100,10,0.100000,50,90,99,1000,100000\n\
         ,1,0,0.000000,7,7,7,5,50\n"
    );
    assert_eq!(
        got.render(OutputFormat::Json),
        "[\n  {\"route\":\"a\",\"count\":100,\"errors\":10,\"error_ratio\":0.100000,\
         \"p50_us\":50,\"p90_us\":90,\"p99_us\":99,\"request_bytes\":1000,\
         \"response_bytes\":100000},\n  {\"route\":null,\"count\":1,\"errors\":0,\
         \"error_ratio\":0.000000,\"p50_us\":7,\"p90_us\":7,\"p99_us\":7,\
         \"request_bytes\":5,\"response_bytes\":50}\n]\n"
    );
    assert_eq!(
        got.render(OutputFormat::Table),
        "route  count  errors  error_ratio  p50_us  p90_us  p99_us  request_bytes  response_bytes\n\
         a        100      10       10.00%      50      90      99           1000          100000\n\
         -          1       0        0.00%       7       7       7              5              50\n"
    );

    let by_status = Query {
        group_by: GroupBy::Status,
        status: Some("5xx".parse().unwrap()),
        ..Query::default()
    };
    let got = run_query(tmp.path(), &by_status, &mut |_, _| {}).unwrap();
    assert_eq!(got.rows.len(), 1);
    assert_eq!(got.rows[0].key.as_deref(), Some("503"));
    assert_eq!((got.rows[0].count, got.rows[0].errors), (10, 10));
    // total_us of the 503s: 91, 81, ..., 1.
    assert_eq!(
        (got.rows[0].p50_us, got.rows[0].p90_us, got.rows[0].p99_us),
        (41, 81, 91)
    );

    let by_client = Query {
        group_by: GroupBy::Client,
        top: Some(2),
        ..Query::default()
    };
    let got = run_query(tmp.path(), &by_client, &mut |_, _| {}).unwrap();
    let keys: Vec<_> = got
        .rows
        .iter()
        .map(|r| (r.key.clone().unwrap(), r.count))
        .collect();
    assert_eq!(
        keys,
        [("192.0.2.0".to_owned(), 34), ("192.0.2.1".to_owned(), 33)]
    );
    assert_eq!(got.groups_total, 4); // three IPv4 clients and `::`

    let by_minute = Query {
        group_by: GroupBy::Minute,
        ..Query::default()
    };
    let got = run_query(tmp.path(), &by_minute, &mut |_, _| {}).unwrap();
    let keys: Vec<_> = got
        .rows
        .iter()
        .map(|r| (r.key.clone().unwrap(), r.count))
        .collect();
    assert_eq!(
        keys,
        [
            ("2026-11-28T06:00:00Z".to_owned(), 60),
            ("2026-11-28T06:01:00Z".to_owned(), 40),
            ("2026-11-28T06:03:00Z".to_owned(), 1),
        ]
    );
}

#[test]
fn ignores_hidden_and_temporary_files_and_reports_progress() {
    let tmp = TempDir::new("query-hidden");
    let (recs, names) = small();
    write(tmp.path(), &recs, &names);
    let part = tmp.path().join("dt=2026-11-28/hour=06");
    // Garbage that would fail to parse if it were read.
    std::fs::write(part.join(".ringway-1-9.parquet.tmp"), b"PAR1 half a file").unwrap();
    std::fs::create_dir_all(tmp.path().join(".trash")).unwrap();
    std::fs::write(tmp.path().join(".trash/old.parquet"), b"junk").unwrap();
    std::fs::write(tmp.path().join("README.txt"), b"not parquet").unwrap();
    // A second real file in another partition.
    let mut later = recs.clone();
    for r in &mut later {
        r.ts_us += 24 * HOUR_US;
    }
    write(tmp.path(), &later, &names);

    let mut calls = Vec::new();
    let got = run_query(
        tmp.path(),
        &Query {
            group_by: GroupBy::None,
            ..Query::default()
        },
        &mut |done, total| calls.push((done, total)),
    )
    .unwrap();
    assert_eq!(calls, [(0, 2), (1, 2), (2, 2)]);
    assert_eq!(got.rows[0].count, 2 * recs.len() as u64);
    assert_eq!(got.rows[0].key.as_deref(), Some("all"));

    // A corrupt visible file is an error, naming the problem.
    std::fs::write(part.join("broken.parquet"), b"junk").unwrap();
    assert!(run_query(tmp.path(), &Query::default(), &mut |_, _| {}).is_err());
}

#[test]
fn refuses_an_unknown_schema_version() {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;

    let tmp = TempDir::new("query-version");
    let col: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let batch = RecordBatch::try_from_iter([("ts", col)]).unwrap();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "ringway.schema_version".into(),
            "99".to_owned(),
        )]))
        .build();
    let f = std::fs::File::create(tmp.path().join("future.parquet")).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let err = run_query(tmp.path(), &Query::default(), &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, Error::Schema { .. }), "{err}");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

/// Version 1 files are today's without the TLS and gRPC columns: they are still read, and
/// give the same answers.
#[test]
fn reads_version_1_files() {
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;

    let (recs, names) = small();
    let v2 = TempDir::new("query-v2");
    write(v2.path(), &recs, &names);
    let v1 = TempDir::new("query-v1");
    for rel in common::all_files(v2.path()) {
        let batches = common::read_batches(&v2.path().join(&rel));
        let keep: Vec<usize> = (0..batches[0].num_columns())
            .filter(|&i| {
                let n = batches[0].schema().field(i).name().clone();
                !["tls_version", "tls_session", "alpn", "sni", "grpc_status"].contains(&n.as_str())
            })
            .collect();
        assert_eq!(keep.len(), batches[0].num_columns() - 5);
        let out = v1.path().join(&rel);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "ringway.schema_version".into(),
                "1".to_owned(),
            )]))
            .build();
        let first = batches[0].project(&keep).unwrap();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&out).unwrap(),
            first.schema(),
            Some(props),
        )
        .unwrap();
        for b in &batches {
            w.write(&b.project(&keep).unwrap()).unwrap();
        }
        w.close().unwrap();
    }
    let q = Query {
        group_by: GroupBy::Route,
        ..Query::default()
    };
    let a = run_query(v2.path(), &q, &mut |_, _| {}).unwrap();
    let b = run_query(v1.path(), &q, &mut |_, _| {}).unwrap();
    assert!(!a.rows.is_empty());
    assert_eq!(format!("{:?}", a.rows), format!("{:?}", b.rows));
}
