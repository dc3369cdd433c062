//! Bad input, everywhere: `sweep::parse` returns a sweep or an error naming the file and
//! line for any text, never panics, and a sweep it accepts writes (`Sweep::to_toml`) a file
//! that reads back as the same sweep.
//!
//! Fixed seeds and no failure files, so CI runs the same cases every time.

use cowlab_model::policy;
use cowlab_reports::sweep::{self, Sweep};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

fn policies() -> Vec<String> {
    policy::names().iter().map(|n| n.to_string()).collect()
}

/// Parses, and checks what `parse` promises: an error names the file and a line of the
/// text; a sweep writes a file that reads back the same.
fn check(text: &str) -> Result<(), TestCaseError> {
    match sweep::parse(text, "s.toml", &policies()) {
        Err(e) => {
            prop_assert_eq!(&e.file, "s.toml");
            let lines = text.matches('\n').count() + 1;
            prop_assert!(
                e.line >= 1 && e.line <= lines,
                "line {} of {}",
                e.line,
                lines
            );
            prop_assert!(e.to_string().starts_with("s.toml line "));
        }
        Ok(s) => {
            let written = s.to_toml();
            let back = sweep::parse(&written, "written.toml", &policies());
            prop_assert_eq!(back.as_ref(), Ok(&s), "{}\nwrote:\n{}", text, written);
        }
    }
    Ok(())
}

/// Keys of every table, some misspelt or unknown.
const TOP_KEYS: &[&str] = &[
    "volume",
    "block_size",
    "writes",
    "rates",
    "rates.nvme",
    "rates.tape",
    "write_size",
    "read_fraction",
    "image_fraction",
    "zipf_s",
    "hot_fraction",
    "hot_size",
    "order",
    "check",
    "queue_depth",
    "speed",
    "mutant",
    "seeds",
    "seed",
    "policies",
    "workloads",
    "disks",
    "volumes",
    "on_error",
    "topologies",
    "\"quoted key\"",
    "é",
];
const GRANULARITY_KEYS: &[&str] = &[
    "mode",
    "chunk_sizes",
    "segment_sizes",
    "segment_for_chunks",
    "chunk_for_segments",
    "grid",
];
const COST_KEYS: &[&str] = &[
    "minimize",
    "weights",
    "weights.hold_p99_us",
    "weights.copy_seconds",
    "weights.bogus",
    "copy_within",
    "max_preserved_bytes",
    "max_snapshot_bytes",
];
/// The `[faults]` table's keys and its `[[faults.fail]]` entries' keys.
const FAULT_KEYS: &[&str] = &[
    "seed",
    "on_error",
    "store_capacity",
    "crash_at",
    "device",
    "nth",
    "blocks",
    "probability",
    "p",
];
const TABLES: &[&str] = &[
    "",
    "[faults]",
    "[[faults.fail]]",
    "[[faults.fail]]",
    "[granularity]",
    "[cost]",
    "[cost.weights]",
    "[rates]",
    "[nowhere]",
    "[[granularity]]",
];

/// Values of every TOML type, of the right and the wrong kind for each key: sizes good and
/// bad, zero, huge and negative numbers, names known and unknown, empty and mixed lists.
fn value() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("4KiB"),
        Just("64KiB"),
        Just("1MiB"),
        Just("8MiB"),
        Just("3KiB"),
        Just("0"),
        Just("0B"),
        Just("16EiB"),
        Just("18446744073709551615"),
        Just("1.5"),
        Just("-4KiB"),
        Just(""),
        Just("4KiB:70,64KiB:30"),
        Just("4KiB:0"),
        Just("sequential"),
        Just("random"),
        Just("grid"),
        Just("sweeps"),
        Just("end"),
        Just("off"),
        Just("every-step"),
        Just("nvme"),
        Just("ssd"),
        Just("hdd"),
        Just("tape"),
        Just("uniform"),
        Just("zipf"),
        Just("out-of-turn"),
        Just("offline"),
        Just("hold_p99_us"),
        Just("copy_seconds"),
        Just("throughput_ratio"),
        Just("apply-before-preserve"),
        Just("é\u{85}"),
        Just("snapshot"),
        Just("source"),
        Just("destination"),
        Just("break-snapshot"),
        Just("break-guest-write"),
        Just("retry:2"),
        Just("retry:1:break-snapshot"),
        Just("10..20"),
        Just("0..99999"),
        Just("separate"),
        Just("shared"),
        Just("raid5-source"),
        Just("san"),
    ];
    let string = prop_oneof![
        4 => word.prop_map(|w| format!("{w:?}")),
        1 => "[ -~]{0,8}".prop_map(|s| format!("{s:?}")),
        1 => Just("'literal'".to_string()),
        1 => Just("\"\\u0085 4KiB\"".to_string()),
    ];
    let number = prop_oneof![
        Just("0".to_string()),
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("0.5".to_string()),
        Just("1.0".to_string()),
        Just("1.5".to_string()),
        Just("1e300".to_string()),
        Just("-0.0".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("9223372036854775807".to_string()),
        Just("4294967296".to_string()),
        Just("99999999999999999999".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        (0.0f64..1e20).prop_map(|x| format!("{x:?}")),
        Just("true".to_string()),
        Just("1979-05-27".to_string()),
    ];
    // Rates for every disk, so that the rates are kept (and written back) often.
    let rate = prop_oneof![
        number.clone(),
        (0.0f64..1e25).prop_map(|x| format!("{x:?}"))
    ];
    let rates = (rate.clone(), rate.clone(), rate)
        .prop_map(|(n, s, h)| format!("{{ nvme = {n}, ssd = {s}, hdd = {h} }}"));
    let scalar = prop_oneof![string.clone(), number.clone()];
    prop_oneof![
        4 => scalar.clone(),
        1 => proptest::collection::vec(scalar.clone(), 0..4)
            .prop_map(|v| format!("[{}]", v.join(", "))),
        1 => proptest::collection::vec(string, 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        2 => rates,
        1 => proptest::collection::vec(
                (prop_oneof![Just("nvme"), Just("ssd"), Just("hdd"), Just("tape"),
                             Just("hold_p99_us"), Just("x y")], number),
                0..3,
            )
            .prop_map(|kv| {
                let items: Vec<String> = kv.iter().map(|(k, v)| format!("{k:?} = {v}")).collect();
                format!("{{ {} }}", items.join(", "))
            }),
    ]
}

/// A table header (often none) and some `key = value` lines under it.
fn section() -> impl Strategy<Value = String> {
    (
        prop::sample::select(TABLES),
        proptest::collection::vec(
            (
                prop_oneof![
                    prop::sample::select(TOP_KEYS),
                    prop::sample::select(GRANULARITY_KEYS),
                    prop::sample::select(COST_KEYS),
                    prop::sample::select(FAULT_KEYS),
                ],
                value(),
            ),
            0..5,
        ),
    )
        .prop_map(|(table, lines)| {
            let mut out = format!("{table}\n");
            for (k, v) in lines {
                out.push_str(&format!("{k} = {v}\n"));
            }
            out
        })
}

/// A sweep file that is TOML, or nearly: sections, then maybe a cut or a stray character.
fn sweep_like() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(section(), 1..4),
        proptest::option::of((any::<prop::sample::Index>(), "[\\[\\]=\"'\n,é{}]")),
    )
        .prop_map(|(sections, stray)| {
            let mut text = sections.concat();
            if let Some((at, s)) = stray {
                let chars: Vec<char> = text.chars().collect();
                let i = at.index(chars.len() + 1);
                text = chars[..i].iter().collect::<String>()
                    + &s
                    + &chars[i..].iter().collect::<String>();
            }
            text
        })
}

/// A valid file with one key changed, so that most of the work past TOML is reached.
fn one_key_off() -> impl Strategy<Value = String> {
    let base = Sweep::default().to_toml();
    let lines: Vec<String> = base.lines().map(str::to_string).collect();
    (any::<prop::sample::Index>(), value()).prop_map(move |(at, v)| {
        let keyed: Vec<usize> = (0..lines.len())
            .filter(|i| lines[*i].contains(" = ") && !lines[*i].starts_with('#'))
            .collect();
        let i = keyed[at.index(keyed.len())];
        let key = lines[i].split(" = ").next().unwrap_or("");
        let mut out = lines.clone();
        out[i] = format!("{key} = {v}");
        out.join("\n")
    })
}

proptest! {
    #![proptest_config(config(2000, 0x5_11EE_0001))]

    #[test]
    fn any_text_parses_or_is_refused_with_a_line(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn sweep_like_toml_parses_or_is_refused_with_a_line(text in sweep_like()) {
        check(&text)?;
    }

    #[test]
    fn a_default_file_with_one_key_off_parses_or_is_refused(text in one_key_off()) {
        check(&text)?;
    }
}

/// Every accepted sweep must round-trip; the built-in one, as a plain case.
#[test]
fn the_default_sweep_reads_back() {
    let s = Sweep::default();
    assert_eq!(sweep::parse(&s.to_toml(), "d.toml", &policies()), Ok(s));
}

/// Found by `a_default_file_with_one_key_off_parses_or_is_refused`: a write size with a
/// character Rust's `{:?}` escapes but TOML does not (U+0085, which `parse_size` trims as
/// white space) was written back as `"\u{85} 4KiB"`, which is not TOML.
#[test]
fn a_write_size_with_any_character_reads_back() {
    for text in [
        "write_size = \"\\u0085 4KiB\"\n",
        "write_size = \" 4KiB\\u007F\"\n",
    ] {
        let Ok(s) = sweep::parse(text, "s.toml", &policies()) else {
            continue;
        };
        assert_eq!(sweep::parse(&s.to_toml(), "w.toml", &policies()), Ok(s));
    }
}

/// Found the same way: a rate of 1e20 was written `100000000000000000000`, an integer TOML
/// cannot hold, and a rate for an unknown disk was kept and written as a bare key.
#[test]
fn rates_read_back_and_name_only_disks() {
    let text = "rates = { nvme = 1e20, ssd = 5000.0, hdd = 200.0 }\n";
    let s = sweep::parse(text, "s.toml", &policies()).unwrap();
    assert_eq!(sweep::parse(&s.to_toml(), "w.toml", &policies()), Ok(s));
    let e = sweep::parse(
        "rates = { nvme = 1.0, ssd = 1.0, hdd = 1.0, \"x y\" = 2.0 }\n",
        "s.toml",
        &policies(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.toml line 1: key rates.x y = 2.0: unknown disk (expected one of: nvme, ssd, hdd)"
    );
}
