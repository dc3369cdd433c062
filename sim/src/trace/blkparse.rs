//! Linux blkparse's default text output:
//!
//! ```text
//!   8,0    3        1     0.000000000  4162  Q  WS 223490 + 8 [kjournald]
//!   8,0    3        2     0.000001563  4162  G  WS 223490 + 8 [kjournald]
//! ```
//!
//! Fields: device (major,minor), cpu, sequence, time (seconds, 9
//! decimals), pid, action, RWBS, sector + count (512-byte sectors) and
//! [process]. Only queued (`Q`) events become requests: RWBS with `W` a
//! write, with `R` a read; an `F` before them is a FLUSH first (a preflush:
//! a flush request, then the data request at the same time), an `F` after
//! them forced unit access (a FUA write); a flush without data (`FN`, or `F`
//! with no sectors) is a flush request. Discards (`D`) and other `N` events
//! are skipped, as are other actions and blkparse's summary lines ("CPU0
//! (8,0):", " Reads Queued: ...", "Total (8,0):"). Events of every device are
//! read. (A FLUSH changes nothing in a run without volatile caches.)

use super::{check_arrivals, Clock, FieldProblem, Lines, Place, TraceError};
use crate::workload::Arrival;
use cowlab_model::{Op, Request};
use std::io::{self, BufRead, Write};

/// Bytes per sector.
const SECTOR: u64 = 512;

/// Streams [`Arrival`]s out of blkparse output, one per `Q` event that
/// reads or writes data. The first such event is at t = 0, each later one
/// at its time less the first's; times must not go back. Iteration ends
/// after the first error.
pub struct BlkparseReader<R> {
    lines: Lines<R>,
    parser: Parser,
}

#[derive(Default)]
struct Parser {
    clock: Clock,
    volume: Option<u64>,
    /// The data request of a preflush event, due right after its flush.
    after_flush: Option<Arrival>,
}

impl<R: BufRead> BlkparseReader<R> {
    /// Reads `reader`; `file` names it in errors.
    pub fn new(file: String, reader: R) -> Self {
        BlkparseReader {
            lines: Lines::new(file, reader),
            parser: Parser::default(),
        }
    }

    /// Refuses requests that end past `bytes` (the simulated volume), naming their line.
    pub fn within(mut self, bytes: u64) -> Self {
        self.parser.volume = Some(bytes);
        self
    }
}

impl<R: BufRead> Iterator for BlkparseReader<R> {
    type Item = Result<Arrival, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(data) = self.parser.after_flush.take() {
            return Some(Ok(data));
        }
        let parser = &mut self.parser;
        self.lines
            .next_item(|place, line| parser.parse(place, line))
    }
}

/// The first whitespace-separated token of `rest`, which moves past it.
fn token<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let text = rest.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let (token, after) = text.split_at(end);
    *rest = after;
    (!token.is_empty()).then_some(token)
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `major,minor`, both numbers.
fn is_device(text: &str) -> bool {
    text.split_once(',').is_some_and(|(major, minor)| {
        is_digits(major)
            && is_digits(minor)
            && major.parse::<u32>().is_ok()
            && minor.parse::<u32>().is_ok()
    })
}

/// Seconds with up to 9 decimals, in nanoseconds.
fn nanoseconds(text: &str) -> Option<u64> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, "0"));
    if !is_digits(seconds) || !is_digits(fraction) || fraction.len() > 9 {
        return None;
    }
    let scale = 10u64.pow(9 - fraction.len() as u32);
    let fraction = fraction.parse::<u64>().ok()? * scale;
    seconds
        .parse::<u64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(fraction)
}

impl Parser {
    /// `Ok(None)` for a blank or summary line, an event other than `Q`, and
    /// a `Q` that moves no data.
    fn parse(&mut self, place: &Place, line: &str) -> Result<Option<Arrival>, TraceError> {
        let mut rest = line;
        let Some(device) = token(&mut rest) else {
            return Ok(None);
        };
        if !device.starts_with(|c: char| c.is_ascii_digit()) && line.contains(':') {
            return Ok(None); // A summary line.
        }
        if !is_device(device) {
            return Err(place.field("device", device, FieldProblem::NotADevice));
        }
        let mut next = |field| token(&mut rest).ok_or_else(|| place.missing(field, line));
        let cpu = next("cpu")?;
        let sequence = next("sequence")?;
        let time = next("time")?;
        let pid = next("pid")?;
        if next("action")? != "Q" {
            return Ok(None);
        }
        let rwbs = next("rwbs")?;
        place.integer("cpu", cpu)?;
        place.integer("sequence", sequence)?;
        let ns =
            nanoseconds(time).ok_or_else(|| place.field("time", time, FieldProblem::NotSeconds))?;
        place.integer("pid", pid)?;
        if !rwbs.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(place.field("rwbs", rwbs, FieldProblem::NotRwbs));
        }
        let flush = rwbs.contains('F');
        // An `F` before the operation is a preflush, after it forced unit access.
        let data = rwbs.find(['W', 'R']);
        let preflush = rwbs.starts_with('F');
        let fua = data.is_some_and(|i| rwbs[i + 1..].contains('F'));
        let flush_at = |clock: &mut Clock| {
            let at = clock.at(place, "time", time, ns)?;
            Ok(Some(Arrival {
                at,
                request: Request::flush(),
            }))
        };
        // Discards (`D`), `N` and bare flushes (`F`) have neither `W` nor `R`.
        let op = match data.map(|i| rwbs.as_bytes()[i]) {
            Some(b'W') => Op::Write,
            Some(_) => Op::Read,
            None if preflush && !rwbs.contains('D') => return flush_at(&mut self.clock),
            None => return Ok(None),
        };
        let mut after_rwbs = rest;
        match token(&mut after_rwbs) {
            Some(process) if flush && process.starts_with('[') => return flush_at(&mut self.clock),
            None if flush => return flush_at(&mut self.clock),
            _ => {}
        }
        let mut next = |field| token(&mut rest).ok_or_else(|| place.missing(field, line));
        let sector = next("sector")?;
        let sector_value = place.integer("sector", sector)?;
        let plus = next("separator")?;
        if plus != "+" {
            return Err(place.field("separator", plus, FieldProblem::NotPlus));
        }
        let count = next("count")?;
        let count_value = place.integer("count", count)?;
        let process = rest.trim();
        if process.is_empty() {
            return Err(place.missing("process", line));
        }
        if process.len() < 2 || !process.starts_with('[') || !process.ends_with(']') {
            return Err(place.field("process", process, FieldProblem::NotAProcess));
        }
        if count_value == 0 {
            if flush {
                return flush_at(&mut self.clock);
            }
            return Err(place.field("count", count, FieldProblem::Zero));
        }
        let bytes = |value: u64, field, text| {
            value
                .checked_mul(SECTOR)
                .ok_or_else(|| place.field(field, text, FieldProblem::PastAddressSpace))
        };
        let offset = bytes(sector_value, "sector", sector)?;
        let len = bytes(count_value, "count", count)?;
        place.extent(
            (offset, "sector", sector),
            (len, "count", count),
            self.volume,
        )?;
        let at = self.clock.at(place, "time", time, ns)?;
        let arrival = Arrival {
            at,
            request: Request {
                op,
                offset,
                len,
                fua: fua && op == Op::Write,
            },
        };
        if preflush {
            self.after_flush = Some(arrival);
            return Ok(Some(Arrival {
                at,
                request: Request::flush(),
            }));
        }
        Ok(Some(arrival))
    }
}

/// Writes `arrivals` as blkparse output that [`BlkparseReader`] reads back:
/// one `Q` event per arrival on device `major,minor`, cpu 0, pid 0, numbered
/// from 1, RWBS `W` or `R`, spaced as blkparse spaces them. Times are
/// written to the nanosecond, so a round trip keeps them exactly when the
/// first is 0. `Op::ReadImage` is written as a read.
///
/// Fails with `InvalidInput`, before writing anything, if the arrivals are
/// out of time order, a request is empty or not in whole 512-byte sectors,
/// or `process` has a line break.
pub fn write_blkparse(
    w: &mut impl Write,
    arrivals: &[Arrival],
    (major, minor): (u32, u32),
    process: &str,
) -> io::Result<()> {
    if process.contains(['\n', '\r']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("trace process '{process}' contains a line break"),
        ));
    }
    check_arrivals(arrivals, SECTOR)?;
    for (sequence, arrival) in (1u64..).zip(arrivals) {
        let request = &arrival.request;
        let rwbs = match (request.op, request.fua) {
            (Op::Write, false) => "W",
            (Op::Write, true) => "WF",
            (Op::Read | Op::ReadImage, _) => "R",
            (Op::Flush, _) => "FN",
        };
        let (seconds, fraction) = (arrival.at / 1_000_000_000, arrival.at % 1_000_000_000);
        writeln!(
            w,
            "{major:3},{minor:<3} {cpu:2} {sequence:8} {seconds:5}.{fraction:09} {pid:5} {action:>2} {rwbs:>3} {} + {} [{process}]",
            request.offset / SECTOR,
            request.len / SECTOR,
            cpu = 0,
            pid = 0,
            action = "Q",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read_all(text: &str, volume: Option<u64>) -> Vec<Result<Arrival, TraceError>> {
        let reader = BlkparseReader::new("t.blk".into(), Cursor::new(text.to_string()));
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

    fn error(text: &str, volume: Option<u64>) -> String {
        let results = read_all(text, volume);
        let last = results.last().expect("at least one item");
        assert!(results[..results.len() - 1].iter().all(Result::is_ok));
        last.as_ref().unwrap_err().to_string()
    }

    #[test]
    fn only_queued_reads_and_writes_count() {
        let text = "\
  8,0    3        1     1.000000000  4162  Q  WS 223490 + 8 [kjournald]
  8,0    3        2     1.000001563  4162  G  WS 223490 + 8 [kjournald]
  8,0    3        3     1.000002000  4162  P   N [kjournald]
  8,0    3        4     1.000003000  4162  Q   D 100 + 16 [fstrim]
  8,0    3        5     1.000004000  4162  Q FWS [jbd2/sda1-8]
  8,0    3        6     1.000005000  4162  Q  RA 16 + 24 [cat]
  8,0    3        7     1.000006000  4162  Q FWFS 8 + 8 [jbd2/sda1-8]
  8,0    3        8     1.000007000  4162  Q  N 0 + 0 [swapper]
  8,0    3        9     1.000008000  4162  C  WS 223490 + 8 [0]
  8,0    0        0     1.000009000     0  m   N cfq4162 insert_request
CPU3 (8,0):
 Reads Queued:           1,       12KiB\t Writes Queued:           2,        8KiB
Total (8,0):
Throughput (R/W): 0KiB/s / 33KiB/s
";
        let arrivals: Vec<_> = read_all(text, None)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let flush = |at| Arrival {
            at,
            request: Request::flush(),
        };
        let fua = |a: Arrival| Arrival {
            request: Request {
                fua: true,
                ..a.request
            },
            ..a
        };
        // `FWS` without sectors is a bare flush; `FWFS` with sectors a flush, then a FUA
        // write at the same time.
        assert_eq!(
            arrivals,
            [
                arrival(0, Op::Write, 223_490 * 512, 8 * 512),
                flush(4_000),
                arrival(5_000, Op::Read, 16 * 512, 24 * 512),
                flush(6_000),
                fua(arrival(6_000, Op::Write, 8 * 512, 8 * 512)),
            ]
        );
    }

    #[test]
    fn flushes_and_fua_writes_round_trip() {
        let arrivals = [
            arrival(0, Op::Write, 0, 4096),
            Arrival {
                at: 10,
                request: Request::flush(),
            },
            Arrival {
                at: 20,
                request: Request::write_fua(4096, 4096),
            },
        ];
        let mut out = Vec::new();
        write_blkparse(&mut out, &arrivals, (8, 0), "cowlab").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(" FN ") && text.contains(" WF "), "{text}");
        let back: Vec<_> = read_all(&text, None)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, arrivals);
    }

    #[test]
    fn times_take_up_to_9_decimals() {
        assert_eq!(nanoseconds("0.000000000"), Some(0));
        assert_eq!(nanoseconds("12.5"), Some(12_500_000_000));
        assert_eq!(nanoseconds("3"), Some(3_000_000_000));
        assert_eq!(nanoseconds("18446744073.709551615"), Some(u64::MAX));
        for bad in [
            "18446744073.709551616",
            "1.0000000001",
            "1.",
            ".5",
            "-1.0",
            "+1.0",
            "1e3",
            "",
        ] {
            assert_eq!(nanoseconds(bad), None, "{bad}");
        }
    }

    /// Every way a `Q` line (or a line that is no event) can be malformed.
    #[test]
    fn each_malformed_line_names_file_line_field_and_value() {
        let cases = [
            ("hello", "field device: 'hello' is not major,minor"),
            (
                "8.0 3 1 0.5 1 Q W 0 + 8 [p]",
                "field device: '8.0' is not major,minor",
            ),
            (
                "8,x 3 1 0.5 1 Q W 0 + 8 [p]",
                "field device: '8,x' is not major,minor",
            ),
            (
                "8,0 3 1 0.5 1",
                "field action: missing from '8,0 3 1 0.5 1'",
            ),
            ("8,0", "field cpu: missing from '8,0'"),
            (
                "8,0 3 1 0.5 1 Q",
                "field rwbs: missing from '8,0 3 1 0.5 1 Q'",
            ),
            (
                "8,0 c 1 0.5 1 Q W 0 + 8 [p]",
                "field cpu: 'c' is not an integer",
            ),
            (
                "8,0 3 -1 0.5 1 Q W 0 + 8 [p]",
                "field sequence: '-1' is not an integer",
            ),
            (
                "8,0 3 1 0,5 1 Q W 0 + 8 [p]",
                "field time: '0,5' is not seconds with up to 9 decimals below 2^64 ns",
            ),
            (
                "8,0 3 1 0.1234567891 1 Q W 0 + 8 [p]",
                "field time: '0.1234567891' is not seconds with up to 9 decimals below 2^64 ns",
            ),
            (
                "8,0 3 1 0.1 1 Q W 0 + 8 [p]",
                "field time: '0.1' is earlier than the previous line's 500000000",
            ),
            (
                "8,0 3 1 0.5 p1 Q W 0 + 8 [p]",
                "field pid: 'p1' is not an integer",
            ),
            (
                "8,0 3 1 0.5 1 Q ws 0 + 8 [p]",
                "field rwbs: 'ws' is not RWBS letters",
            ),
            (
                "8,0 3 1 0.5 1 Q W [p]",
                "field sector: '[p]' is not an integer",
            ),
            (
                "8,0 3 1 0.5 1 Q W",
                "field sector: missing from '8,0 3 1 0.5 1 Q W'",
            ),
            (
                "8,0 3 1 0.5 1 Q W 0",
                "field separator: missing from '8,0 3 1 0.5 1 Q W 0'",
            ),
            (
                "8,0 3 1 0.5 1 Q W 0 +",
                "field count: missing from '8,0 3 1 0.5 1 Q W 0 +'",
            ),
            (
                "8,0 3 1 0.5 1 Q W 0 + 8",
                "field process: missing from '8,0 3 1 0.5 1 Q W 0 + 8'",
            ),
            (
                "8,0 3 1 0.5 1 Q W x + 8 [p]",
                "field sector: 'x' is not an integer",
            ),
            (
                "8,0 3 1 0.5 1 Q W 0 - 8 [p]",
                "field separator: '-' is not '+'",
            ),
            (
                "8,0 3 1 0.5 1 Q W 0 + 8k [p]",
                "field count: '8k' is not an integer",
            ),
            (
                "8,0 3 1 0.5 1 Q W 0 + 8 kjournald",
                "field process: 'kjournald' is not a [process] name",
            ),
            (
                "8,0 3 1 0.5 1 Q W 0 + 8 [",
                "field process: '[' is not a [process] name",
            ),
            ("8,0 3 1 0.5 1 Q W 0 + 0 [p]", "field count: '0' is zero"),
            (
                "8,0 3 1 0.5 1 Q W 36028797018963968 + 1 [p]",
                "field sector: '36028797018963968' ends past 2^64 bytes",
            ),
            (
                "8,0 3 1 0.5 1 Q W 36028797018963967 + 1 [p]",
                "field count: '1' ends past 2^64 bytes",
            ),
            (
                "8,0 3 1 0.5 1 Q W 2048 + 1 [p]",
                "field sector: '2048' ends past the end of the volume (1048576 bytes)",
            ),
        ];
        for (line, message) in cases {
            let text = format!("8,0 0 1 0.5 1 Q R 0 + 8 [p]\n{line}\n");
            assert_eq!(
                error(&text, Some(1 << 20)),
                format!("t.blk line 2: {message}"),
                "{line}"
            );
        }
    }

    #[test]
    fn iteration_ends_after_an_error() {
        let results = read_all(
            "8,0 0 1 0.5 1 Q R x + 8 [p]\n8,0 0 1 0.5 1 Q R 0 + 8 [p]\n",
            None,
        );
        assert_eq!(results.len(), 1);
        assert!(results[0].is_err());
    }

    #[test]
    fn io_errors_carry_the_line() {
        let bytes = b"8,0 0 1 0.5 1 Q R 0 + 8 [p]\n\xff\n".to_vec();
        let results: Vec<_> = BlkparseReader::new("bad.blk".into(), Cursor::new(bytes)).collect();
        assert_eq!(results.len(), 2);
        let message = results[1].as_ref().unwrap_err().to_string();
        assert!(message.starts_with("bad.blk line 2: "), "{message}");
    }

    #[test]
    fn writes_lines_spaced_as_blkparse_does() {
        let arrivals = [
            arrival(0, Op::Write, 223_490 * 512, 8 * 512),
            arrival(1_234_567_890_123, Op::ReadImage, 0, 512),
        ];
        let mut out = Vec::new();
        write_blkparse(&mut out, &arrivals, (8, 0), "cowlab").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  8,0    0        1     0.000000000     0  Q   W 223490 + 8 [cowlab]\n  \
             8,0    0        2  1234.567890123     0  Q   R 0 + 1 [cowlab]\n"
        );
    }

    #[test]
    fn unwritable_traces_are_refused_before_writing() {
        let fine = vec![arrival(5, Op::Write, 0, 512)];
        let cases = [
            (
                vec![arrival(5, Op::Write, 0, 512), arrival(4, Op::Write, 0, 512)],
                "p",
            ),
            (vec![arrival(5, Op::Write, 0, 0)], "p"),
            (vec![arrival(5, Op::Write, 100, 512)], "p"),
            (vec![arrival(5, Op::Write, 0, 500)], "p"),
            (fine, "a\nb"),
        ];
        for (arrivals, process) in cases {
            let mut out = Vec::new();
            let err = write_blkparse(&mut out, &arrivals, (8, 0), process).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{arrivals:?}");
            assert!(out.is_empty());
        }
    }
}
