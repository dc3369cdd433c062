//! Fault-plan files (`cowlab sim --fault-plan FILE`) and the `[faults]` table of a sweep
//! file: the same keys as the fault flags. Every refusal names the file, the line, the key
//! and the value.
//!
//! ```toml
//! seed = 7
//! on_error = "retry:2:break-snapshot"
//! store_capacity = "64KiB"
//! crash_at = [40]
//! [[fail]]
//! device = "snapshot"
//! nth = 3          # or: blocks = "10..20"   or: probability = 0.01
//! ```
//!
//! The syntax of the fault flags' values is here too ([`parse_error_policy`],
//! [`parse_device_error`], [`parse_device`]): the engine keeps the types and prints them.

use crate::size::{format_size, parse_size};
use crate::tomlfile::{FileError, SourceText};
use cowlab_model::fault::{Break, ErrorPolicy, FaultPlan, PlannedError, When};
use cowlab_model::names::UnknownName;
use cowlab_model::Device;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// The keys of a fault plan as written; every value keeps where it stood, for the errors.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsTable {
    pub seed: Option<Spanned<u64>>,
    pub on_error: Option<Spanned<String>>,
    pub store_capacity: Option<Spanned<String>>,
    pub crash_at: Option<Spanned<Vec<Spanned<u64>>>>,
    pub fail: Option<Vec<FailTable>>,
}

/// One `[[fail]]` entry: a device and exactly one of `nth`, `blocks`, `probability`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailTable {
    pub device: Spanned<String>,
    pub nth: Option<Spanned<u64>>,
    pub blocks: Option<Spanned<String>>,
    pub probability: Option<Spanned<f64>>,
}

/// A refused value of a table: its place in the text, its key (`store_capacity`,
/// `fail.nth`) and why. The caller turns the place into a line of its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub span: Range<usize>,
    pub key: String,
    pub reason: String,
}

fn field(span: Range<usize>, key: &str, reason: impl ToString) -> FieldError {
    FieldError {
        span,
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

/// What a table says: the plan, and the error policy if it names one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlannedFaults {
    pub plan: FaultPlan,
    pub on_error: Option<ErrorPolicy>,
}

/// The forms of an error policy, as a refusal lists them.
const ERROR_POLICY_FORMS: [&str; 4] = [
    "break-guest-write",
    "break-snapshot",
    "retry:N",
    "retry:N:break-snapshot",
];

/// What breaks when retries are exhausted, by its name.
fn parse_break(text: &str) -> Option<Break> {
    match text {
        "break-guest-write" => Some(Break::GuestWrite),
        "break-snapshot" => Some(Break::Snapshot),
        _ => None,
    }
}

/// `break-guest-write`, `break-snapshot`, `retry:N` (then break-guest-write) or
/// `retry:N:break-snapshot` (what `--on-error` and a plan's `on_error` take).
pub fn parse_error_policy(text: &str) -> Result<ErrorPolicy, String> {
    let Some(rest) = text.strip_prefix("retry:") else {
        return parse_break(text)
            .map(|then| ErrorPolicy { retries: 0, then })
            .ok_or_else(|| UnknownName::new("error policy", text, ERROR_POLICY_FORMS).to_string());
    };
    let (n, after) = rest.split_once(':').unwrap_or((rest, "break-guest-write"));
    let retries = n
        .parse::<u8>()
        .map_err(|_| format!("retry count {n:?} is not a whole number from 0 to 255"))?;
    let then = parse_break(after).ok_or_else(|| {
        let known = ["break-guest-write", "break-snapshot"];
        UnknownName::new("error policy after retry:N:", after, known).to_string()
    })?;
    Ok(ErrorPolicy { retries, then })
}

/// A device of a plan by its name: source, destination, snapshot or cache.
pub fn parse_device(name: &str) -> Result<Device, UnknownName> {
    let names = Device::ALL.map(|d| d.to_string());
    Device::ALL
        .into_iter()
        .zip(&names)
        .find(|(_, n)| *n == name)
        .map(|(d, _)| d)
        .ok_or_else(|| UnknownName::new("device", name, names.clone()))
}

/// `DEVICE:nth=N`, `DEVICE:blocks=A..B` or `DEVICE:p=P` (what `--fail` takes). An inclusive
/// block range (`blocks=3..=5`) is refused with its half-open form (`write the range
/// half-open: blocks=3..6`).
pub fn parse_device_error(text: &str) -> Result<PlannedError, String> {
    let (dev, rule) = text
        .split_once(':')
        .ok_or("expected DEVICE:nth=N, DEVICE:blocks=A..B or DEVICE:p=P")?;
    let device = parse_device(dev).map_err(|e| e.to_string())?;
    let (key, value) = rule
        .split_once('=')
        .ok_or_else(|| format!("{rule:?}: expected nth=N, blocks=A..B or p=P"))?;
    let number = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("{v:?} is not a whole number"))
    };
    let when = match key {
        "nth" => match number(value)? {
            0 => return Err("nth=0: I/Os are counted from 1".into()),
            n => When::Nth(n),
        },
        "blocks" => {
            refuse_inclusive_range(value)
                .map_err(|half_open| format!("write the range half-open: blocks={half_open}"))?;
            let (a, b) = value
                .split_once("..")
                .ok_or_else(|| format!("{value:?}: expected a block range A..B"))?;
            let (a, b) = (number(a)?, number(b)?);
            if a >= b {
                return Err(format!("blocks {a}..{b} is an empty range"));
            }
            When::Blocks(a..b)
        }
        "p" => match value.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => When::Probability(p),
            _ => return Err(format!("p={value}: expected a probability from 0 to 1")),
        },
        _ => {
            let rules = UnknownName::new("rule", key, ["nth", "blocks", "p"]);
            return Err(rules.to_string());
        }
    };
    Ok(PlannedError { device, when })
}

/// A store capacity in bytes as whole blocks (rounding down); less than one block is
/// refused, since it could hold nothing.
pub fn store_blocks(bytes: u64, block_size: u64) -> Result<u64, String> {
    match bytes.checked_div(block_size) {
        Some(b) if b > 0 => Ok(b),
        _ => Err(format!(
            "smaller than one block ({})",
            format_size(block_size)
        )),
    }
}

/// Refuses a block range written inclusive (`3..=5`): every range a user types or reads is
/// half-open (`3..6`, 6 excluded), as traces print them (`show_blocks` in
/// model/src/geometry.rs). `Err` holds the half-open form of the range (`3..6`), or `A..B`
/// when its ends are not whole numbers.
pub fn refuse_inclusive_range(range: &str) -> Result<(), String> {
    let Some((a, b)) = range.split_once("..=") else {
        return Ok(());
    };
    let half_open = match (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
        (Ok(a), Ok(b)) => match b.checked_add(1) {
            Some(end) => format!("{a}..{end}"),
            None => "A..B".to_string(),
        },
        _ => "A..B".to_string(),
    };
    Err(half_open)
}

/// Refuses a block range that ends past the volume.
pub fn check_blocks(e: &PlannedError, volume_blocks: u64) -> Result<(), String> {
    match &e.when {
        When::Blocks(r) if r.end > volume_blocks => {
            Err(format!("the volume has {volume_blocks} blocks"))
        }
        _ => Ok(()),
    }
}

impl FaultsTable {
    /// The plan, for a volume of `volume_blocks` blocks of `block_size` bytes.
    pub fn resolve(
        &self,
        block_size: u64,
        volume_blocks: u64,
    ) -> Result<PlannedFaults, FieldError> {
        let mut out = PlannedFaults::default();
        if let Some(v) = &self.seed {
            out.plan.seed = *v.get_ref();
        }
        if let Some(v) = &self.on_error {
            let policy =
                parse_error_policy(v.get_ref()).map_err(|e| field(v.span(), "on_error", e))?;
            out.on_error = Some(policy);
        }
        if let Some(v) = &self.store_capacity {
            let bytes =
                parse_size(v.get_ref()).map_err(|e| field(v.span(), "store_capacity", e))?;
            let blocks = store_blocks(bytes, block_size)
                .map_err(|e| field(v.span(), "store_capacity", e))?;
            out.plan.store_blocks = Some(blocks);
        }
        if let Some(list) = &self.crash_at {
            for n in list.get_ref() {
                if *n.get_ref() == 0 {
                    return Err(field(n.span(), "crash_at", "steps are counted from 1"));
                }
                out.plan.crashes.push(*n.get_ref());
            }
        }
        for f in self.fail.iter().flatten() {
            out.plan.errors.push(f.resolve(volume_blocks)?);
        }
        Ok(out)
    }
}

impl FailTable {
    fn resolve(&self, volume_blocks: u64) -> Result<PlannedError, FieldError> {
        let dev = &self.device;
        let device =
            parse_device(dev.get_ref()).map_err(|e| field(dev.span(), "fail.device", e))?;
        let given = [
            self.nth.as_ref().map(|v| v.span()),
            self.blocks.as_ref().map(|v| v.span()),
            self.probability.as_ref().map(|v| v.span()),
        ];
        let spans: Vec<Range<usize>> = given.into_iter().flatten().collect();
        if spans.len() != 1 {
            // Point at the second rule given, or at the device when none is.
            let span = spans.get(1).cloned().unwrap_or(dev.span());
            return Err(field(
                span,
                "fail",
                "give exactly one of nth, blocks or probability",
            ));
        }
        let when = if let Some(v) = &self.nth {
            match *v.get_ref() {
                0 => return Err(field(v.span(), "fail.nth", "I/Os are counted from 1")),
                n => When::Nth(n),
            }
        } else if let Some(v) = &self.blocks {
            refuse_inclusive_range(v.get_ref()).map_err(|half_open| {
                field(
                    v.span(),
                    "fail.blocks",
                    format!("write the range half-open: blocks = \"{half_open}\""),
                )
            })?;
            let range = v.get_ref().split_once("..").and_then(|(a, b)| {
                Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?))
            });
            match range {
                Some((a, b)) if a < b => When::Blocks(a..b),
                Some(_) => return Err(field(v.span(), "fail.blocks", "an empty range")),
                None => {
                    return Err(field(
                        v.span(),
                        "fail.blocks",
                        "expected a block range A..B of whole numbers",
                    ))
                }
            }
        } else {
            let v = self
                .probability
                .as_ref()
                .expect("one of the three is given");
            match *v.get_ref() {
                p if (0.0..=1.0).contains(&p) => When::Probability(p),
                _ => {
                    return Err(field(
                        v.span(),
                        "fail.probability",
                        "expected a probability from 0 to 1",
                    ))
                }
            }
        };
        let e = PlannedError { device, when };
        if let Err(reason) = check_blocks(&e, volume_blocks) {
            let span = self.blocks.as_ref().map_or(dev.span(), |v| v.span());
            return Err(field(span, "fail.blocks", reason));
        }
        Ok(e)
    }
}

/// A refused fault-plan file: where, which key, which value, why.
pub type FaultFileError = FileError;

/// Reads a fault-plan file for a volume of `volume_blocks` blocks of `block_size` bytes;
/// `file` names it in errors.
pub fn parse(
    text: &str,
    file: &str,
    block_size: u64,
    volume_blocks: u64,
) -> Result<PlannedFaults, FaultFileError> {
    let doc = SourceText::new(text, file);
    let table: FaultsTable = toml::from_str(text).map_err(|e| doc.toml_error(&e))?;
    table
        .resolve(block_size, volume_blocks)
        .map_err(|e| doc.at(e.span, &e.key, e.reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_policies_parse_and_print_back() {
        for text in [
            "break-guest-write",
            "break-snapshot",
            "retry:3",
            "retry:2:break-snapshot",
        ] {
            assert_eq!(parse_error_policy(text).unwrap().to_string(), text);
        }
        assert_eq!(
            parse_error_policy("retry:1:break-guest-write").unwrap(),
            ErrorPolicy {
                retries: 1,
                then: Break::GuestWrite
            }
        );
        for bad in [
            "",
            "retry",
            "retry:x",
            "retry:300",
            "retry:1:explode",
            "break",
        ] {
            assert!(parse_error_policy(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_error_policy("retry:1:break-snapshto").unwrap_err(),
            "unknown error policy after retry:N: (expected one of: break-guest-write, break-snapshot); did you mean break-snapshot?"
        );
    }

    #[test]
    fn device_errors_parse_and_print_back() {
        for text in ["source:nth=3", "snapshot:blocks=2..5", "cache:p=0.25"] {
            assert_eq!(parse_device_error(text).unwrap().to_string(), text);
        }
        for bad in [
            "source",
            "disk:nth=1",
            "source:nth=0",
            "source:nth=-1",
            "source:blocks=5..5",
            "source:blocks=5",
            "source:p=2",
            "source:when=3",
        ] {
            let err = parse_device_error(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
        assert_eq!(
            parse_device_error("sorce:nth=1").unwrap_err(),
            "unknown device (expected one of: source, destination, snapshot, cache); did you mean source?"
        );
    }

    const PLAN: &str = r#"seed = 7
on_error = "retry:2:break-snapshot"
store_capacity = "64KiB"
crash_at = [40]
[[fail]]
device = "snapshot"
nth = 3
[[fail]]
device = "source"
blocks = "10..20"
[[fail]]
device = "cache"
probability = 0.01
"#;

    #[test]
    fn a_plan_file_reads_into_a_plan() {
        let f = parse(PLAN, "plan.toml", 4096, 256).unwrap();
        assert_eq!(
            f.on_error,
            Some(ErrorPolicy {
                retries: 2,
                then: Break::Snapshot
            })
        );
        assert_eq!(
            f.plan.to_string(),
            "--fail snapshot:nth=3 --fail source:blocks=10..20 --fail cache:p=0.01 --store-blocks 16 --crash-at 40 --fault-seed 7"
        );
        assert_eq!(
            parse("", "empty.toml", 4096, 256).unwrap(),
            PlannedFaults::default()
        );
    }

    #[test]
    fn a_fail_flag_with_an_inclusive_range_is_refused_with_its_half_open_form() {
        assert_eq!(
            parse_device_error("snapshot:blocks=3..=5").unwrap_err(),
            "write the range half-open: blocks=3..6"
        );
        assert_eq!(
            parse_device_error("source:blocks=4..=4").unwrap_err(),
            "write the range half-open: blocks=4..5"
        );
        assert_eq!(
            parse_device_error("source:blocks=x..=4").unwrap_err(),
            "write the range half-open: blocks=A..B"
        );
        assert_eq!(
            parse_device_error("snapshot:blocks=3..6")
                .unwrap()
                .to_string(),
            "snapshot:blocks=3..6"
        );
    }

    #[test]
    fn refusals_name_the_file_line_key_and_value() {
        let e = |text: &str| parse(text, "p.toml", 4096, 256).unwrap_err().to_string();
        assert_eq!(
            e("seed = 1\nstore_capacity = \"1KiB\"\n"),
            "p.toml line 2: key store_capacity = \"1KiB\": smaller than one block (4 KiB)"
        );
        assert_eq!(
            e("crash_at = [3, 0]"),
            "p.toml line 1: key crash_at = 0: steps are counted from 1"
        );
        assert_eq!(
            e("[[fail]]\ndevice = \"disk\"\nnth = 1"),
            "p.toml line 2: key fail.device = \"disk\": unknown device (expected one of: source, destination, snapshot, cache)"
        );
        assert_eq!(
            e("[[fail]]\ndevice = \"snapshto\"\nnth = 1"),
            "p.toml line 2: key fail.device = \"snapshto\": unknown device (expected one of: source, destination, snapshot, cache); did you mean snapshot?"
        );
        assert_eq!(
            e("on_error = \"break-snapshto\""),
            "p.toml line 1: key on_error = \"break-snapshto\": unknown error policy (expected one of: break-guest-write, break-snapshot, retry:N, retry:N:break-snapshot); did you mean break-snapshot?"
        );
        assert_eq!(
            e("[[fail]]\ndevice = \"source\"\nnth = 1\nprobability = 0.5"),
            "p.toml line 4: key fail = 0.5: give exactly one of nth, blocks or probability"
        );
        assert_eq!(
            e("[[fail]]\ndevice = \"source\"\nblocks = \"200..300\""),
            "p.toml line 3: key fail.blocks = \"200..300\": the volume has 256 blocks"
        );
        assert_eq!(
            e("[[fail]]\ndevice = \"source\"\nprobability = 1.5"),
            "p.toml line 3: key fail.probability = 1.5: expected a probability from 0 to 1"
        );
        let unknown = e("seed = 1\ncrash = [3]\n");
        assert!(
            unknown.starts_with("p.toml line 2: key crash = [3]: unknown field"),
            "{unknown}"
        );
        assert_eq!(
            e("[[fail]]\ndevice = \"source\"\nblocks = \"3..=5\""),
            "p.toml line 3: key fail.blocks = \"3..=5\": write the range half-open: blocks = \"3..6\""
        );
        let bad = e("on_error = \"retry:x\"");
        assert!(
            bad.starts_with("p.toml line 1: key on_error = \"retry:x\":"),
            "{bad}"
        );
    }
}
