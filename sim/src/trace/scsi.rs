//! SCSI command traces: one command a line, a nanosecond timestamp, the
//! command, the logical block address and the transfer length in blocks:
//!
//! ```text
//! # time_ns op lba blocks
//! 0 WRITE(10) 2048 8
//! 1500 READ(16) 4096 16
//! ```
//!
//! Commands are READ(10), READ(16), WRITE(10) and WRITE(16), in any case. A
//! 10-byte CDB carries a 32-bit LBA and a 16-bit length, a 16-byte one a
//! 64-bit LBA and a 32-bit length; larger values are refused. Blocks are the
//! run's block size. Lines starting with `#` and blank lines are skipped.

use super::{check_arrivals, Clock, FieldProblem, Lines, Place, TraceError};
use crate::workload::Arrival;
use cowlab_model::{Op, Request};
use std::io::{self, BufRead, Write};
use std::num::NonZeroU64;

/// The fields of a line, in order.
const FIELDS: [&str; 4] = ["time_ns", "op", "lba", "blocks"];

/// A command: its name as written out, operation, and the widths of its
/// LBA and length fields.
struct Command {
    name: &'static str,
    op: Op,
    lba_bits: u32,
    blocks_bits: u32,
}

const COMMANDS: [Command; 4] = [
    Command {
        name: "READ(10)",
        op: Op::Read,
        lba_bits: 32,
        blocks_bits: 16,
    },
    Command {
        name: "READ(16)",
        op: Op::Read,
        lba_bits: 64,
        blocks_bits: 32,
    },
    Command {
        name: "WRITE(10)",
        op: Op::Write,
        lba_bits: 32,
        blocks_bits: 16,
    },
    Command {
        name: "WRITE(16)",
        op: Op::Write,
        lba_bits: 64,
        blocks_bits: 32,
    },
];

/// Whether `value` fits in `bits` bits.
fn fits(value: u64, bits: u32) -> bool {
    bits >= 64 || value >> bits == 0
}

/// Streams [`Arrival`]s out of a SCSI command trace. The first command is at
/// t = 0, each later one at its timestamp less the first's; timestamps must
/// not go back. Iteration ends after the first error.
pub struct ScsiReader<R> {
    lines: Lines<R>,
    parser: Parser,
}

struct Parser {
    block_size: u64,
    clock: Clock,
    volume: Option<u64>,
}

impl<R: BufRead> ScsiReader<R> {
    /// Reads `reader` (`file` names it in errors) in blocks of `block_size` bytes.
    pub fn new(file: String, reader: R, block_size: NonZeroU64) -> Self {
        ScsiReader {
            lines: Lines::new(file, reader),
            parser: Parser {
                block_size: block_size.get(),
                clock: Clock::default(),
                volume: None,
            },
        }
    }

    /// Refuses requests that end past `bytes` (the simulated volume), naming their line.
    pub fn within(mut self, bytes: u64) -> Self {
        self.parser.volume = Some(bytes);
        self
    }
}

impl<R: BufRead> Iterator for ScsiReader<R> {
    type Item = Result<Arrival, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let parser = &mut self.parser;
        self.lines
            .next_item(|place, line| parser.parse(place, line))
    }
}

impl Parser {
    /// `Ok(None)` for a blank or comment line.
    fn parse(&mut self, place: &Place, line: &str) -> Result<Option<Arrival>, TraceError> {
        if line.is_empty() || line.starts_with('#') {
            return Ok(None);
        }
        let mut tokens = line.split_whitespace();
        let mut fields = [""; 4];
        for (slot, name) in fields.iter_mut().zip(FIELDS) {
            *slot = tokens.next().ok_or_else(|| place.missing(name, line))?;
        }
        if let Some(extra) = tokens.next() {
            return Err(place.extra("blocks", extra));
        }
        let [time, op, lba, blocks] = fields;
        let ns = place.integer("time_ns", time)?;
        let command = COMMANDS
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(op))
            .ok_or_else(|| place.field("op", op, FieldProblem::NotAScsiCommand))?;
        let lba_value = place.integer("lba", lba)?;
        let blocks_value = place.integer("blocks", blocks)?;
        let too_wide = |bits, field, text| {
            let command = command.name;
            place.field(field, text, FieldProblem::TooWideFor { bits, command })
        };
        if !fits(lba_value, command.lba_bits) {
            return Err(too_wide(command.lba_bits, "lba", lba));
        }
        if !fits(blocks_value, command.blocks_bits) {
            return Err(too_wide(command.blocks_bits, "blocks", blocks));
        }
        if blocks_value == 0 {
            return Err(place.field("blocks", blocks, FieldProblem::Zero));
        }
        let bytes = |value: u64, field, text| {
            value
                .checked_mul(self.block_size)
                .ok_or_else(|| place.field(field, text, FieldProblem::PastAddressSpace))
        };
        let offset = bytes(lba_value, "lba", lba)?;
        let len = bytes(blocks_value, "blocks", blocks)?;
        place.extent((offset, "lba", lba), (len, "blocks", blocks), self.volume)?;
        let at = self.clock.at(place, "time_ns", time, ns)?;
        Ok(Some(Arrival {
            at,
            request: Request {
                op: command.op,
                offset,
                len,
                fua: false,
            },
        }))
    }
}

/// Writes `arrivals` as a SCSI command trace that [`ScsiReader`] reads back
/// with the same `block_size`: a `# time_ns op lba blocks` comment line, then
/// one command per arrival, times in nanoseconds as they are (so a round
/// trip keeps them exactly when the first is 0). Each command is the 10-byte
/// one when its LBA and length fit, else the 16-byte one. `Op::ReadImage` is
/// written as a read (the format has no image reads).
///
/// Fails with `InvalidInput`, before writing anything, if the arrivals are
/// out of time order, a request is empty, not in whole blocks, or longer
/// than a 16-byte CDB carries (2^32 − 1 blocks).
pub fn write_scsi(
    w: &mut impl Write,
    arrivals: &[Arrival],
    block_size: NonZeroU64,
) -> io::Result<()> {
    let bs = block_size.get();
    check_arrivals(arrivals, bs)?;
    if let Some(long) = arrivals.iter().find(|a| !fits(a.request.len / bs, 32)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "trace request at {} ns is {} blocks, more than a 16-byte CDB carries",
                long.at,
                long.request.len / bs
            ),
        ));
    }
    writeln!(w, "# {}", FIELDS.join(" "))?;
    for arrival in arrivals {
        let request = &arrival.request;
        let (lba, blocks) = (request.offset / bs, request.len / bs);
        let short = fits(lba, 32) && fits(blocks, 16);
        let name = match (request.op, short) {
            (Op::Write, true) => "WRITE(10)",
            (Op::Write, false) => "WRITE(16)",
            (Op::Read | Op::ReadImage, true) => "READ(10)",
            (Op::Read | Op::ReadImage, false) => "READ(16)",
            (Op::Flush, _) => return Err(crate::trace::no_flush("SCSI")),
        };
        writeln!(w, "{} {name} {lba} {blocks}", arrival.at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const BS: NonZeroU64 = NonZeroU64::new(512).unwrap();

    fn read_all(text: &str, volume: Option<u64>) -> Vec<Result<Arrival, TraceError>> {
        let reader = ScsiReader::new("t.scsi".into(), Cursor::new(text.to_string()), BS);
        match volume {
            Some(v) => reader.within(v).collect(),
            None => reader.collect(),
        }
    }

    fn arrival(at: u64, op: Op, offset: u64, len: u64) -> Arrival {
        Arrival {
            at,
            request: Request {
                op,
                offset,
                len,
                fua: false,
            },
        }
    }

    /// The message of the only error in `text`, which must come last.
    fn error(text: &str, volume: Option<u64>) -> String {
        let results = read_all(text, volume);
        let last = results.last().expect("at least one item");
        assert!(results[..results.len() - 1].iter().all(Result::is_ok));
        last.as_ref().unwrap_err().to_string()
    }

    #[test]
    fn reads_commands_in_blocks_relative_to_the_first_time() {
        let text = "# time_ns op lba blocks\n\n  100 write(10) 2048 8\n\
                    # a comment\n1600 READ(16) 4096 16\r\n1600 Read(10) 0 1";
        let arrivals: Vec<_> = read_all(text, None)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            arrivals,
            [
                arrival(0, Op::Write, 2048 * 512, 8 * 512),
                arrival(1500, Op::Read, 4096 * 512, 16 * 512),
                arrival(1500, Op::Read, 0, 512),
            ]
        );
    }

    #[test]
    fn the_widest_values_of_each_cdb_are_accepted() {
        let text = "0 READ(10) 4294967295 65535\n0 WRITE(16) 1000 4294967295\n";
        assert!(read_all(text, None).iter().all(Result::is_ok));
        let reader = ScsiReader::new(
            "t".into(),
            Cursor::new("0 READ(16) 18446744073709551614 1"),
            NonZeroU64::new(1).unwrap(),
        );
        assert_eq!(reader.count(), 1);
    }

    /// Every way a line can be malformed, one line after a good one.
    #[test]
    fn each_malformed_line_names_file_line_field_and_value() {
        let cases = [
            ("1x READ(10) 0 8", "field time_ns: '1x' is not an integer"),
            (
                "5 READ(10) 0 8",
                "field time_ns: '5' is earlier than the previous line's 10",
            ),
            (
                "10 READ(12) 0 8",
                "field op: 'READ(12)' is not READ(10), READ(16), WRITE(10) or WRITE(16)",
            ),
            (
                "10 TRIM 0 8",
                "field op: 'TRIM' is not READ(10), READ(16), WRITE(10) or WRITE(16)",
            ),
            ("10 READ(10) -1 8", "field lba: '-1' is not an integer"),
            ("10 READ(10) 0 8.5", "field blocks: '8.5' is not an integer"),
            (
                "10 READ(10) 4294967296 8",
                "field lba: '4294967296' does not fit the 32 bits READ(10) carries",
            ),
            (
                "10 write(10) 0 65536",
                "field blocks: '65536' does not fit the 16 bits WRITE(10) carries",
            ),
            (
                "10 WRITE(16) 0 4294967296",
                "field blocks: '4294967296' does not fit the 32 bits WRITE(16) carries",
            ),
            (
                "10 READ(16) 18446744073709551616 8",
                "field lba: '18446744073709551616' is not an integer",
            ),
            ("10 READ(10) 0 0", "field blocks: '0' is zero"),
            (
                "10 READ(16) 36028797018963968 1",
                "field lba: '36028797018963968' ends past 2^64 bytes",
            ),
            (
                "10 READ(16) 36028797018963967 1",
                "field blocks: '1' ends past 2^64 bytes",
            ),
            (
                "10 READ(16) 0 4294967295",
                "field lba: '0' ends past the end of the volume (1048576 bytes)",
            ),
            (
                "10 READ(10) 0",
                "field blocks: missing from '10 READ(10) 0'",
            ),
            ("10", "field op: missing from '10'"),
            (
                "10 READ(10) 0 8 9",
                "after field blocks: '9' is one field too many",
            ),
        ];
        for (line, message) in cases {
            let text = format!("10 WRITE(10) 0 8\n{line}\n");
            assert_eq!(
                error(&text, Some(1 << 20)),
                format!("t.scsi line 2: {message}"),
                "{line}"
            );
        }
    }

    #[test]
    fn iteration_ends_after_an_error() {
        let results = read_all("0 READ(10) 0 x\n0 READ(10) 0 8\n", None);
        assert_eq!(results.len(), 1);
        assert!(results[0].is_err());
    }

    #[test]
    fn io_errors_carry_the_line() {
        let bytes = b"0 READ(10) 0 8\n\xff\n".to_vec();
        let results: Vec<_> = ScsiReader::new("bad.scsi".into(), Cursor::new(bytes), BS).collect();
        assert_eq!(results.len(), 2);
        let message = results[1].as_ref().unwrap_err().to_string();
        assert!(message.starts_with("bad.scsi line 2: "), "{message}");
    }

    #[test]
    fn writes_the_short_command_when_it_fits() {
        let arrivals = [
            arrival(0, Op::Write, 0, 512 * 65_535),
            arrival(7, Op::ReadImage, 512 * 4_294_967_295, 512),
            arrival(9, Op::Read, 0, 512 * 65_536),
            arrival(9, Op::Write, 512 * 4_294_967_296, 512),
        ];
        let mut out = Vec::new();
        write_scsi(&mut out, &arrivals, BS).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# time_ns op lba blocks\n\
             0 WRITE(10) 0 65535\n\
             7 READ(10) 4294967295 1\n\
             9 READ(16) 0 65536\n\
             9 WRITE(16) 4294967296 1\n"
        );
    }

    #[test]
    fn unwritable_traces_are_refused_before_writing() {
        let cases = [
            vec![arrival(5, Op::Write, 0, 512), arrival(4, Op::Write, 0, 512)],
            vec![arrival(5, Op::Write, 0, 0)],
            vec![arrival(5, Op::Write, 100, 512)],
            vec![arrival(5, Op::Write, 0, 500)],
            vec![arrival(5, Op::Write, 0, 512 << 32)],
        ];
        for arrivals in cases {
            let mut out = Vec::new();
            let err = write_scsi(&mut out, &arrivals, BS).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{arrivals:?}");
            assert!(out.is_empty());
        }
    }
}
