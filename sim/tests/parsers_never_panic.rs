//! Bad input, everywhere: every parser of the simulator returns a value or an error for any
//! input, never panics, and what it accepts means what it says (sizes and durations read
//! back as `sim/src/size.rs` promises, traces read back as `sim/src/trace.rs` promises).
//!
//! Fixed seeds and no failure files, so CI runs the same cases every time.

use cowlab_model::{Op, Request};
use cowlab_sim::config::{size_arg, CheckLevel, SimConfig};
use cowlab_sim::size::{format_duration, format_size, parse_duration, parse_rate, parse_size};
use cowlab_sim::workload::parse_sizes;
use cowlab_sim::{
    write_blkparse, write_msr, write_scsi, Arrival, MsrReader, ScsiReader, TraceFormat,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use std::io::Cursor;
use std::num::NonZeroU64;

/// Deterministic: a fixed ChaCha seed per test, nothing persisted.
fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Text that looks like a quantity (digits, dots, signs, exponents, spaces, units, `/s`),
/// so that the accepting paths are reached too, not only "not a number".
fn quantity_like() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        "[0-9]{0,25}",
        "[0-9]{1,5}\\.[0-9]{0,22}",
        "[-+ .eE0-9]{0,12}",
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("340282366920938463463374607431768211456".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| x.to_string()),
    ];
    let unit = prop_oneof![
        Just(""),
        Just("B"),
        Just("KiB"),
        Just("MiB"),
        Just("GiB"),
        Just("TiB"),
        Just("PiB"),
        Just("EiB"),
        Just("kB"),
        Just("KB"),
        Just("MB"),
        Just("GB"),
        Just("TB"),
        Just("PB"),
        Just("ns"),
        Just("us"),
        Just("µs"),
        Just("ms"),
        Just("s"),
        Just("m"),
        Just("h"),
        Just("/s"),
        Just("MB/s"),
        Just("GiB/s"),
        Just("µ"),
        Just("é"),
        Just("kib"),
    ];
    (number, "[ \t]{0,2}", unit, "[ ]{0,1}")
        .prop_map(|(n, sp, u, tail)| format!("{n}{sp}{u}{tail}"))
}

/// Anything: arbitrary Unicode, or quantity-like text.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), quantity_like()]
}

proptest! {
    #![proptest_config(config(2000, 0x5112_0001))]

    #[test]
    fn parse_size_never_panics_and_what_it_accepts_formats_back(text in any_text()) {
        match parse_size(&text) {
            Ok(bytes) => {
                prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
                prop_assert_eq!(size_arg("--volume", &text), Ok(bytes));
            }
            Err(e) => {
                prop_assert_eq!(&e.text, &text);
                // The CLI message names the flag and the text as given.
                let message = size_arg("--volume", &text).unwrap_err().to_string();
                prop_assert!(message.starts_with("--volume"), "{}", message);
                prop_assert!(message.contains(&format!("'{text}'")), "{}", message);
            }
        }
    }

    #[test]
    fn parse_duration_never_panics(text in any_text()) {
        match parse_duration(&text) {
            Ok(ns) => prop_assert!(parse_duration(&format_duration(ns)).is_ok()),
            Err(e) => prop_assert_eq!(&e.text, &text),
        }
    }

    #[test]
    fn parse_rate_never_panics_and_accepts_only_finite_positive_rates(text in any_text()) {
        match parse_rate(&text) {
            Ok(rate) => prop_assert!(rate.is_finite() && rate > 0.0, "{} -> {}", text, rate),
            Err(e) => prop_assert_eq!(&e.text, &text),
        }
    }

    #[test]
    fn parse_sizes_never_panics_and_accepts_only_positive_weights(
        text in prop_oneof![
            any::<String>(),
            proptest::collection::vec((quantity_like(), "(:[-0-9a-z ]{0,12})?"), 1..4)
                .prop_map(|entries| entries
                    .into_iter()
                    .map(|(size, weight)| format!("{size}{weight}"))
                    .collect::<Vec<_>>()
                    .join(",")),
        ]
    ) {
        if let Ok(sizes) = parse_sizes(&text) {
            prop_assert!(!sizes.0.is_empty());
            prop_assert!(sizes.0.iter().all(|&(_, weight)| weight > 0));
        }
    }

    /// `format_size` promises text that parses back to the same number, for every `u64`.
    #[test]
    fn every_size_formats_and_parses_back(bytes in prop_oneof![
        any::<u64>(),
        (0u32..64, 0u64..1024).prop_map(|(shift, k)| k << shift),
    ]) {
        prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        prop_assert_eq!(parse_size(&format_size(bytes).replace(' ', "")), Ok(bytes));
    }

    /// `format_duration` promises text that parses back to within half a thousandth of the
    /// unit it chose (plus the half nanosecond of rounding back to whole nanoseconds).
    #[test]
    fn every_duration_formats_and_parses_back_closely(ns in prop_oneof![
        any::<u64>(),
        0u64..10_000_000,
        (0u32..64).prop_map(|shift| 1u64 << shift),
    ]) {
        let text = format_duration(ns);
        let back = parse_duration(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let unit: u64 = match text.rsplit(' ').next() {
            Some("h") => 3_600_000_000_000,
            Some("m") => 60_000_000_000,
            Some("s") => 1_000_000_000,
            Some("ms") => 1_000_000,
            Some("us") => 1_000,
            _ => 1,
        };
        prop_assert!(back.abs_diff(ns) <= unit / 2000 + 1, "{} -> {} -> {}", ns, text, back);
    }

    /// Sizes a command line can give, in any combination: the configuration is refused with
    /// a flag or accepted, never a panic (the sizes are divided, multiplied and rounded).
    #[test]
    fn any_geometry_is_accepted_or_refused_by_flag(
        volume in prop_oneof![any::<u64>(), (0u32..64).prop_map(|s| 1u64 << s)],
        block in prop_oneof![any::<u64>(), (0u32..64).prop_map(|s| 1u64 << s), 0u64..5],
        segment in prop_oneof![any::<u64>(), (0u32..64).prop_map(|s| 1u64 << s)],
        cow in prop_oneof![any::<u64>(), (0u32..64).prop_map(|s| 1u64 << s), 0u64..5],
    ) {
        let mut c = SimConfig::default().with_volume(volume).with_block_size(block);
        c.segment_size = segment;
        c.cow_size = cow;
        c.check = Some(CheckLevel::Off);
        if let Err(e) = c.spec() {
            prop_assert!(e.flag().starts_with("--"), "{}", e);
        }
    }
}

/// Tokens a trace field might hold: good values, the edges of `u64`, negatives, decimals,
/// words, Unicode and nothing.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("0".to_string()),
        Just("1".to_string()),
        Just("4096".to_string()),
        Just("Read".to_string()),
        Just("write".to_string()),
        Just("-1".to_string()),
        Just("1.5".to_string()),
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("99999999999999999999999999".to_string()),
        Just("Timestamp".to_string()),
        Just("µs".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..1_000_000).prop_map(|n| n.to_string()),
        "[ -~]{0,6}",
    ]
}

/// Lines of seven (or a few more or less) fields, joined by LF or CRLF, sometimes with a
/// stray invalid UTF-8 byte.
fn trace_like() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        4 => proptest::collection::vec(field(), 7),
        1 => proptest::collection::vec(field(), 0..10),
    ]
    .prop_map(|fields| fields.join(","));
    (
        proptest::collection::vec(line, 0..8),
        prop_oneof![Just("\n"), Just("\r\n")],
        proptest::option::weighted(0.2, (any::<prop::sample::Index>(), 0x80u8..=0xff)),
    )
        .prop_map(|(lines, eol, stray)| {
            let mut bytes = lines.join(eol).into_bytes();
            if let Some((at, byte)) = stray {
                bytes.insert(at.index(bytes.len() + 1), byte);
            }
            bytes
        })
}

/// Reads a whole trace in `format` (blocks of `block` bytes), checking what the reader
/// promises of each item.
fn read_checked(
    format: TraceFormat,
    bytes: &[u8],
    block: NonZeroU64,
    volume: Option<u64>,
) -> Result<(), TestCaseError> {
    let reader = format.reader(
        "t.trace".to_string(),
        Cursor::new(bytes.to_vec()),
        block,
        volume,
    );
    // Each line yields at most two items (a blkparse preflush: its flush, then its data),
    // and a line is at least one byte.
    let most = 2 * (bytes.len() + 1);
    let mut previous = 0;
    let mut items = 0;
    let mut errors = 0;
    for item in reader {
        items += 1;
        prop_assert!(items <= most, "more items than lines");
        match item {
            Ok(a) => {
                let r = a.request;
                // Only a FLUSH carries no data.
                prop_assert!(r.len > 0 || (r.op == Op::Flush && r.offset == 0));
                let end = r.offset.checked_add(r.len);
                prop_assert!(end.is_some());
                if let (Some(end), Some(v)) = (end, volume) {
                    prop_assert!(end <= v);
                }
                if format == TraceFormat::Scsi {
                    prop_assert!(r.offset % block == 0 && r.len % block == 0);
                }
                if format == TraceFormat::Blkparse {
                    prop_assert!(r.offset % 512 == 0 && r.len % 512 == 0);
                }
                prop_assert!(a.at >= previous);
                previous = a.at;
            }
            Err(e) => {
                errors += 1;
                let message = e.to_string();
                prop_assert!(message.starts_with("t.trace line "), "{}", message);
            }
        }
    }
    // The readers stop after their first error.
    prop_assert!(errors <= 1);
    Ok(())
}

/// Lines joined by LF or CRLF, sometimes with a stray invalid UTF-8 byte.
fn join_lines(lines: impl Strategy<Value = Vec<String>>) -> impl Strategy<Value = Vec<u8>> {
    (
        lines,
        prop_oneof![Just("\n"), Just("\r\n")],
        proptest::option::weighted(0.2, (any::<prop::sample::Index>(), 0x80u8..=0xff)),
    )
        .prop_map(|(lines, eol, stray)| {
            let mut bytes = lines.join(eol).into_bytes();
            if let Some((at, byte)) = stray {
                bytes.insert(at.index(bytes.len() + 1), byte);
            }
            bytes
        })
}

/// Lines starting with a timestamp `delta` after the previous one (or not
/// starting with one, when `None`), so that some traces keep time order.
fn timed_lines(
    line: impl Strategy<Value = (Option<u64>, String)>,
    time: fn(u64) -> String,
) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(line, 0..8).prop_map(move |lines| {
        let mut now = 0u64;
        lines
            .into_iter()
            .map(|(delta, rest)| match delta {
                Some(delta) => {
                    now = now.saturating_add(delta);
                    rest.replacen("{t}", &time(now), 1)
                }
                None => rest,
            })
            .collect()
    })
}

fn small_or_field() -> impl Strategy<Value = String> {
    prop_oneof![8 => (0u64..5000).prop_map(|n| n.to_string()), 1 => field()]
}

/// SCSI trace lines: commands good and bad, comments, blank lines and junk.
fn scsi_like() -> BoxedStrategy<Vec<u8>> {
    let op = prop_oneof![
        8 => prop::sample::select(&["READ(10)", "write(10)", "READ(16)", "WRITE(16)"][..])
            .prop_map(str::to_string),
        1 => prop::sample::select(&["READ(12)", "WRITE(", "TRIM"][..]).prop_map(str::to_string),
        1 => field(),
    ];
    let command = (
        0u64..2000,
        op,
        small_or_field(),
        small_or_field(),
        "[ \t]{1,2}",
    )
        .prop_map(|(delta, op, lba, blocks, sp)| {
            (Some(delta), format!("{{t}}{sp}{op}{sp}{lba}{sp}{blocks}"))
        });
    let junk = proptest::collection::vec(field(), 0..7).prop_map(|fields| (None, fields.join(" ")));
    let line = prop_oneof![
        12 => command,
        1 => Just((None, "# time_ns op lba blocks".to_string())),
        1 => Just((None, String::new())),
        1 => junk,
    ];
    join_lines(timed_lines(line, |ns| ns.to_string())).boxed()
}

/// blkparse lines: events of every action with good and bad fields, summaries and junk.
fn blkparse_like() -> BoxedStrategy<Vec<u8>> {
    let pick = |options: &'static [&'static str]| prop_oneof![30 => prop::sample::select(options).prop_map(str::to_string), 1 => field()];
    let event = (
        0u64..3_000_000,
        pick(&["8,0", "259,1", "8,0", " 8,1"]),
        pick(&["0", "3"]),
        pick(&["1", "42"]),
        pick(&["Q", "Q", "Q", "Q", "Q", "Q", "G", "I", "D", "C", "M", "P", "U", "m"]),
        pick(&["W", "WS", "R", "RA", "D", "N", "FWS", "FWFS", "WM", "R", "W", "ws", "F"]),
        small_or_field(),
        pick(&["+", "+", "+", "+", "+", "+", "+", "-"]),
        small_or_field(),
        pick(&["[kjournald]", "[kworker/u8:2]", "[a b]", "[dd]", "[p]", "[p]", "[dd]", "dd", "[]", ""]),
    )
        .prop_map(|(delta, dev, cpu, seq, action, rwbs, sector, plus, count, process)| {
            let line = format!(
                "{dev:>5} {cpu:>4} {seq:>8} {{t}} 4162 {action:>2} {rwbs:>3} {sector} {plus} {count} {process}"
            );
            (Some(delta), line)
        });
    // Flushes without a sector, cut lines and time written in other ways.
    let odd = (0u64..3_000_000, 0usize..12, field()).prop_map(|(delta, cut, time)| {
        let tokens = ["8,0", "0", "1", &time, "4162", "Q", "FWS", "[jbd2/sda1-8]"];
        (Some(delta), tokens[..cut.min(tokens.len())].join(" "))
    });
    let summary = prop::sample::select(
        &[
            "CPU0 (8,0):",
            "Total (8,0):",
            " Reads Queued:           3,      260KiB\t Writes Queued:           4,       12KiB",
            "Throughput (R/W): 208KiB/s / 9KiB/s",
            "Events (8,0): 18 entries",
            "",
        ][..],
    )
    .prop_map(|line| (None, line.to_string()));
    let junk =
        proptest::collection::vec(field(), 0..12).prop_map(|fields| (None, fields.join(" ")));
    let line = prop_oneof![12 => event, 1 => odd, 1 => summary, 1 => junk];
    join_lines(timed_lines(line, |ns| {
        format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
    }))
    .boxed()
}

fn block_size() -> impl Strategy<Value = NonZeroU64> {
    prop_oneof![
        Just(1u64),
        Just(512),
        Just(4096),
        1u64..1 << 20,
        Just(1 << 50),
        any::<u64>()
    ]
    .prop_map(|b| NonZeroU64::new(b.max(1)).expect("at least 1"))
}

fn volume() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(prop_oneof![any::<u64>(), 0u64..100_000, 0u64..1 << 32])
}

proptest! {
    #![proptest_config(config(1500, 0x5112_0002))]

    #[test]
    fn any_bytes_read_as_a_trace_never_panic(
        bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), trace_like()],
        volume in proptest::option::of(prop_oneof![any::<u64>(), 0u64..100_000]),
    ) {
        read_checked(TraceFormat::Msr, &bytes, NonZeroU64::MIN, volume)?;
    }

    /// `write_msr` promises a trace that reads back exactly when times are multiples of
    /// 100 ns starting at 0, image reads becoming reads.
    #[test]
    fn written_traces_read_back(
        requests in proptest::collection::vec(
            (0u64..1 << 40, 0u8..3, 0u64..1 << 62, 1u64..1 << 32),
            1..20,
        ),
        host in "[a-zA-Z0-9_.-]{1,8}",
        disk in any::<u32>(),
    ) {
        let mut ticks: Vec<u64> = requests.iter().map(|r| r.0).collect();
        ticks.sort();
        let first = ticks[0];
        let arrivals: Vec<Arrival> = requests
            .iter()
            .zip(&ticks)
            .map(|(&(_, op, offset, len), &t)| Arrival {
                at: (t - first) * 100,
                request: Request {
                    op: [Op::Read, Op::Write, Op::ReadImage][op as usize],
                    offset,
                    len,
                    fua: false,
                },
            })
            .collect();
        let mut out = Vec::new();
        write_msr(&mut out, &arrivals, &host, disk).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Vec<Arrival> = MsrReader::new("w.csv".into(), Cursor::new(out))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected: Vec<Arrival> = arrivals
            .into_iter()
            .map(|mut a| {
                if a.request.op == Op::ReadImage {
                    a.request.op = Op::Read;
                }
                a
            })
            .collect();
        prop_assert_eq!(back, expected);
    }
}

proptest! {
    #![proptest_config(config(1000, 0x5112_0003))]

    #[test]
    fn any_bytes_read_as_a_scsi_trace_never_panic(
        bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), scsi_like()],
        block in block_size(),
        volume in volume(),
    ) {
        read_checked(TraceFormat::Scsi, &bytes, block, volume)?;
    }
}

proptest! {
    #![proptest_config(config(1000, 0x5112_0004))]

    #[test]
    fn any_bytes_read_as_blkparse_output_never_panic(
        bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), blkparse_like()],
        volume in volume(),
    ) {
        read_checked(TraceFormat::Blkparse, &bytes, NonZeroU64::MIN, volume)?;
    }
}

/// Arrivals in time order from 0, in whole `unit`s, of every operation.
fn arrivals_in(unit: u64, most_units: u64) -> impl Strategy<Value = Vec<Arrival>> {
    proptest::collection::vec(
        (0u64..1 << 40, 0u8..3, 0u64..1 << 20, 1u64..most_units),
        1..20,
    )
    .prop_map(move |requests| {
        let mut times: Vec<u64> = requests.iter().map(|r| r.0).collect();
        times.sort();
        let first = times[0];
        requests
            .iter()
            .zip(&times)
            .map(|(&(_, op, offset, len), &t)| Arrival {
                at: t - first,
                request: Request {
                    op: [Op::Read, Op::Write, Op::ReadImage][op as usize],
                    offset: offset * unit,
                    len: len * unit,
                    fua: false,
                },
            })
            .collect()
    })
}

/// Image reads read back as reads: the formats have none.
fn as_read_back(arrivals: Vec<Arrival>) -> Vec<Arrival> {
    arrivals
        .into_iter()
        .map(|mut a| {
            if a.request.op == Op::ReadImage {
                a.request.op = Op::Read;
            }
            a
        })
        .collect()
}

proptest! {
    #![proptest_config(config(300, 0x5112_0005))]

    /// `write_scsi` promises a trace that reads back exactly with the same block size,
    /// whichever CDB each command needs.
    #[test]
    fn written_scsi_traces_read_back(
        block in prop_oneof![Just(1u64), Just(512), Just(4096)],
        arrivals in arrivals_in(1, 1 << 18),
        spread in prop_oneof![Just(1u64), Just(1 << 20)],
    ) {
        // Offsets must be whole blocks of the block size written with.
        let block = NonZeroU64::new(block).expect("positive");
        let arrivals: Vec<Arrival> = arrivals
            .into_iter()
            .map(|mut a| {
                a.request.offset = a.request.offset * spread * block.get();
                a.request.len *= block.get();
                a
            })
            .collect();
        let mut out = Vec::new();
        write_scsi(&mut out, &arrivals, block).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Vec<Arrival> = ScsiReader::new("w.scsi".into(), Cursor::new(out), block)
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, as_read_back(arrivals));
    }

    /// `write_blkparse` promises output that reads back exactly, to the nanosecond.
    #[test]
    fn written_blkparse_output_reads_back(
        arrivals in arrivals_in(512, 1 << 22),
        device in (any::<u32>(), any::<u32>()),
        process in "[ -~]{0,16}",
    ) {
        let mut out = Vec::new();
        write_blkparse(&mut out, &arrivals, device, &process)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Vec<Arrival> = TraceFormat::Blkparse
            .reader("w.blk".into(), Cursor::new(out), NonZeroU64::MIN, None)
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, as_read_back(arrivals));
    }
}

/// Inputs the properties above run into at their edges, kept as plain cases.
#[test]
fn edge_cases_are_errors_that_name_the_value() {
    for text in [
        "",
        " ",
        "-0",
        ".",
        "1..2",
        "1e3",
        "0x10",
        "١٢",
        "4 KiB B",
        "18446744073709551616",
    ] {
        let e = parse_size(text).unwrap_err();
        assert!(e.to_string().contains(&format!("'{text}'")), "{e}");
    }
    for text in [
        "5",
        "1e3s",
        "-1s",
        "99999999999h",
        "0.00000000000000000001s",
    ] {
        assert!(parse_duration(text).is_err(), "{text}");
    }
    for text in [
        "0",
        "-1",
        "NaN",
        "inf",
        "1e309",
        "/s",
        "-5MB/s",
        "18446744073709551616B/s",
    ] {
        assert!(parse_rate(text).is_err(), "{text}");
    }
}

/// Text that looks like a fault plan file: its keys (and a few wrong ones), values of every
/// type, tables and arrays of tables, in any order.
fn fault_plan_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("seed"),
        Just("on_error"),
        Just("store_capacity"),
        Just("crash_at"),
        Just("device"),
        Just("nth"),
        Just("blocks"),
        Just("probability"),
        Just("p"),
        Just("fail"),
    ];
    let value = prop_oneof![
        quantity_like().prop_map(|q| format!("{q:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        "\"(source|destination|snapshot|cache|disk)\"",
        "\"(break-guest-write|break-snapshot|retry:[0-9]{1,3}(:break-snapshot)?|x)\"",
        "\"[0-9]{0,3}\\.\\.[0-9]{0,3}\"",
        "\\[[0-9, -]{0,12}\\]",
        any_text().prop_map(|t| format!("{t:?}")),
    ];
    let line = prop_oneof![
        4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => Just("[[fail]]".to_string()),
        1 => Just("[fail]".to_string()),
        1 => any_text(),
    ];
    proptest::collection::vec(line, 0..10).prop_map(|lines| lines.join("\n"))
}

/// What `--fail` is given: mostly well-formed rules, with any numbers.
fn fail_like() -> impl Strategy<Value = String> {
    let dev = prop_oneof![
        Just("source"),
        Just("destination"),
        Just("snapshot"),
        Just("cache"),
        Just("disk"),
    ];
    let rule = prop_oneof![
        quantity_like().prop_map(|n| format!("nth={n}")),
        (quantity_like(), quantity_like()).prop_map(|(a, b)| format!("blocks={a}..{b}")),
        (0u64..40, 0u64..40).prop_map(|(a, b)| format!("blocks={a}..{b}")),
        (1u64..60).prop_map(|n| format!("nth={n}")),
        quantity_like().prop_map(|p| format!("p={p}")),
        (0.0f64..0.5).prop_map(|p| format!("p={p}")),
        any_text(),
    ];
    prop_oneof![
        4 => (dev, rule).prop_map(|(d, r)| format!("{d}:{r}")),
        1 => any_text(),
    ]
}

proptest! {
    #![proptest_config(config(2000, 0x5112_0003))]

    /// A fault-plan file is read or refused with its line (within the text) and never
    /// panics; what it accepts is a plan whose printed flags mention only what it holds.
    #[test]
    fn a_fault_plan_file_never_panics(
        text in fault_plan_like(),
        block_size in prop_oneof![Just(0u64), Just(1), Just(4096), any::<u64>()],
        blocks in any::<u64>(),
    ) {
        match cowlab_sim::faults::parse(&text, "plan.toml", block_size, blocks) {
            Ok(f) => {
                prop_assert!(f.plan.store_blocks.is_none_or(|b| b > 0));
                prop_assert!(!f.plan.crashes.contains(&0));
                let _ = f.plan.to_string();
            }
            Err(e) => {
                prop_assert!(e.line >= 1 && e.line <= text.lines().count().max(1) + 1, "{e}");
                prop_assert!(e.to_string().starts_with("plan.toml line "));
            }
        }
    }

    /// `--fail`, `--on-error` and `--store-capacity` take any text: a rule that prints back
    /// as given (the flag replays), or an error.
    #[test]
    fn the_fault_flags_never_panic(
        fail in fail_like(),
        policy in any_text(),
        capacity in quantity_like(),
        block_size in any::<u64>(),
    ) {
        if let Ok(e) = cowlab_sim::faults::parse_device_error(&fail) {
            let back = cowlab_sim::faults::parse_device_error(&e.to_string());
            prop_assert_eq!(back.as_ref(), Ok(&e));
        }
        if let Ok(p) = cowlab_sim::faults::parse_error_policy(&policy) {
            prop_assert_eq!(cowlab_sim::faults::parse_error_policy(&p.to_string()), Ok(p));
        }
        if let Ok(bytes) = parse_size(&capacity) {
            if let Ok(b) = cowlab_sim::faults::store_blocks(bytes, block_size) {
                prop_assert!(b >= 1 && b.saturating_mul(block_size) <= bytes);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(150, 0x5112_0004))]

    /// Any accepted plan on a tiny volume: the run is refused by flag or completes, every
    /// invariant checked after every step, and the driver never panics.
    #[test]
    fn any_fault_plan_runs_or_is_refused(
        fails in proptest::collection::vec(fail_like(), 0..4),
        crashes in proptest::collection::vec(0u64..30, 0..3),
        store in proptest::option::of(0u64..20),
        on_error in prop_oneof![
            Just("break-guest-write"),
            Just("break-snapshot"),
            Just("retry:1"),
            Just("retry:3:break-snapshot"),
        ],
        policy in proptest::sample::select(cowlab_model::policy::names()),
        seed in 0u64..1000,
    ) {
        let mut c = SimConfig {
            policy: policy.parse().unwrap(),
            segment_size: 16 << 10,
            cow_size: 8 << 10,
            seed,
            check: Some(CheckLevel::EveryStep),
            on_error: cowlab_sim::faults::parse_error_policy(on_error).unwrap(),
            ..SimConfig::default()
        }
        .with_volume(128 << 10);
        c.workload.stop = cowlab_sim::Stop::Writes(40);
        c.workload.read_fraction = 0.2;
        c.workload.image_fraction = 0.5;
        c.workload.arrivals = cowlab_sim::Arrivals::Open { rate: 100_000.0 };
        c.faults.errors = fails
            .iter()
            .filter_map(|f| cowlab_sim::faults::parse_device_error(f).ok())
            .collect();
        c.faults.crashes = crashes;
        c.faults.store_blocks = store;
        c.faults.seed = seed;
        match cowlab_sim::simulate(&c, &mut |_| {}) {
            Ok(o) => prop_assert!(o.failure.is_none(), "{}: {:?}", c.faults, o.failure),
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.starts_with("--fail ") || text.starts_with("--crash-at "), "{text}");
            }
        }
    }
}
