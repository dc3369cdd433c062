//! Block traces in the MSR Cambridge CSV format:
//!
//! ```text
//! Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime
//! 128166372003061629,hm,1,Read,7014609920,24576,41286
//! ```
//!
//! Timestamp is a Windows filetime (100 ns units since 1601), Type is
//! `Read` or `Write` (any case), Offset and Size are bytes; ResponseTime
//! is checked to be an integer and otherwise ignored, since the simulator
//! computes its own. Reading streams line by line, so traces larger than
//! memory replay fine.
//!
//! Two more formats live beside it: SCSI command traces ([`scsi`]) and
//! blkparse's default text output ([`blkparse`]). [`TraceFormat`] names the
//! three and opens a reader of either.

pub mod blkparse;
pub mod scsi;

use crate::workload::Arrival;
use cowlab_model::names::{Named, UnknownName};
use cowlab_model::{Op, Request};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::num::NonZeroU64;
use thiserror::Error;

/// Nanoseconds per filetime tick.
const TICK_NS: u64 = 100;

/// The column names, in order, as a header line spells them.
const COLUMNS: [&str; 7] = [
    "Timestamp",
    "Hostname",
    "DiskNumber",
    "Type",
    "Offset",
    "Size",
    "ResponseTime",
];

/// Filetime written for t = 0 by [`write_msr`]: 2020-01-01 00:00 UTC, so
/// written traces look like real ones.
const WRITE_EPOCH: u64 = 132_223_104_000_000_000;

/// A trace that cannot be read; every variant names the file and line.
#[derive(Debug, Error)]
pub enum TraceError {
    #[error("{file} line {line}: {source}")]
    Io {
        file: String,
        line: u64,
        source: io::Error,
    },
    #[error("{file} line {line}: expected 7 fields ({}), found {found}", COLUMNS.join(","))]
    FieldCount {
        file: String,
        line: u64,
        found: usize,
    },
    #[error("{file} line {line}: field {field}: '{value}' {problem}")]
    Field {
        file: String,
        line: u64,
        field: &'static str,
        value: String,
        problem: FieldProblem,
    },
    #[error("{file} line {line}: field {field}: missing from '{text}'")]
    MissingField {
        file: String,
        line: u64,
        field: &'static str,
        text: String,
    },
    #[error("{file} line {line}: after field {after}: '{value}' is one field too many")]
    ExtraField {
        file: String,
        line: u64,
        after: &'static str,
        value: String,
    },
}

/// Why one field of a trace line was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FieldProblem {
    #[error("is not an integer")]
    NotAnInteger,
    #[error("is neither Read nor Write")]
    NotReadOrWrite,
    #[error("is zero")]
    Zero,
    #[error("is earlier than the previous line's {0}")]
    EarlierThanPrevious(u64),
    #[error("ends past 2^64 bytes")]
    PastAddressSpace,
    #[error("is too late: more than 2^64 ns after the first line")]
    TooLate,
    #[error("is not a column name (a header line is {})", COLUMNS.join(","))]
    NotAHeader,
    #[error("ends past the end of the volume ({0} bytes)")]
    PastVolume(u64),
    #[error("is not READ(10), READ(16), WRITE(10) or WRITE(16)")]
    NotAScsiCommand,
    #[error("does not fit the {bits} bits {command} carries")]
    TooWideFor { bits: u32, command: &'static str },
    #[error("is not major,minor")]
    NotADevice,
    #[error("is not seconds with up to 9 decimals below 2^64 ns")]
    NotSeconds,
    #[error("is not RWBS letters")]
    NotRwbs,
    #[error("is not '+'")]
    NotPlus,
    #[error("is not a [process] name")]
    NotAProcess,
}

/// Streams [`Arrival`]s out of an MSR trace. The first request is at
/// t = 0; each later one at `(timestamp − first) × 100 ns`. Reads become
/// `Op::Read` (traces have no image reads). Iteration ends after the first
/// error.
pub struct MsrReader<R> {
    file: String,
    reader: R,
    line: u64,
    text: String,
    /// The first line's timestamp: t = 0.
    first: Option<u64>,
    previous: u64,
    /// Only the first non-blank line may be a header.
    header_allowed: bool,
    failed: bool,
    /// Requests must end inside this many bytes, if set.
    volume: Option<u64>,
}

impl<R: BufRead> MsrReader<R> {
    /// Reads `reader`; `file` names it in errors.
    pub fn new(file: String, reader: R) -> Self {
        MsrReader {
            file,
            reader,
            line: 0,
            text: String::new(),
            first: None,
            previous: 0,
            header_allowed: true,
            failed: false,
            volume: None,
        }
    }

    /// Refuses requests that end past `bytes` (the simulated volume), naming their line.
    pub fn within(mut self, bytes: u64) -> Self {
        self.volume = Some(bytes);
        self
    }

    /// The next non-blank, non-header line as an arrival, or `Ok(None)`
    /// at the end.
    fn next_arrival(&mut self) -> Result<Option<Arrival>, TraceError> {
        loop {
            self.text.clear();
            self.line += 1;
            let read = self.reader.read_line(&mut self.text);
            if read.map_err(|source| self.io_error(source))? == 0 {
                return Ok(None);
            }
            let text = std::mem::take(&mut self.text);
            let parsed = self.parse_line(text.trim());
            self.text = text;
            if let Some(arrival) = parsed? {
                return Ok(Some(arrival));
            }
        }
    }

    /// `Ok(None)` for a blank or header line.
    fn parse_line(&mut self, line: &str) -> Result<Option<Arrival>, TraceError> {
        if line.is_empty() {
            return Ok(None);
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != COLUMNS.len() {
            return Err(TraceError::FieldCount {
                file: self.file.clone(),
                line: self.line,
                found: fields.len(),
            });
        }
        if std::mem::take(&mut self.header_allowed) && fields[0].parse::<u64>().is_err() {
            return self.check_header(&fields).map(|()| None);
        }
        self.parse_record(&fields).map(Some)
    }

    /// A header must name all seven columns, in order, in any case.
    fn check_header(&self, fields: &[&str]) -> Result<(), TraceError> {
        for (field, column) in fields.iter().zip(COLUMNS) {
            if !field.eq_ignore_ascii_case(column) {
                return Err(self.field_error(column, field, FieldProblem::NotAHeader));
            }
        }
        Ok(())
    }

    fn parse_record(&mut self, fields: &[&str]) -> Result<Arrival, TraceError> {
        let timestamp = self.integer("Timestamp", fields[0])?;
        self.integer("DiskNumber", fields[2])?;
        let op = self.op(fields[3])?;
        let offset = self.integer("Offset", fields[4])?;
        let len = self.integer("Size", fields[5])?;
        self.integer("ResponseTime", fields[6])?;
        if len == 0 {
            return Err(self.field_error("Size", fields[5], FieldProblem::Zero));
        }
        match (offset.checked_add(len), self.volume) {
            (None, _) => {
                return Err(self.field_error("Size", fields[5], FieldProblem::PastAddressSpace))
            }
            (Some(end), Some(volume)) if end > volume => {
                let problem = FieldProblem::PastVolume(volume);
                return Err(self.field_error("Offset", fields[4], problem));
            }
            _ => {}
        }
        let at = self.time_of(timestamp, fields[0])?;
        Ok(Arrival {
            at,
            request: Request {
                op,
                offset,
                len,
                fua: false,
            },
        })
    }

    /// Nanoseconds since the first line; timestamps must not go back.
    fn time_of(&mut self, timestamp: u64, text: &str) -> Result<u64, TraceError> {
        let first = *self.first.get_or_insert(timestamp);
        if timestamp < self.previous {
            let problem = FieldProblem::EarlierThanPrevious(self.previous);
            return Err(self.field_error("Timestamp", text, problem));
        }
        self.previous = timestamp;
        (timestamp - first)
            .checked_mul(TICK_NS)
            .ok_or_else(|| self.field_error("Timestamp", text, FieldProblem::TooLate))
    }

    fn integer(&self, field: &'static str, text: &str) -> Result<u64, TraceError> {
        text.parse::<u64>()
            .map_err(|_| self.field_error(field, text, FieldProblem::NotAnInteger))
    }

    fn op(&self, text: &str) -> Result<Op, TraceError> {
        if text.eq_ignore_ascii_case("read") {
            Ok(Op::Read)
        } else if text.eq_ignore_ascii_case("write") {
            Ok(Op::Write)
        } else {
            Err(self.field_error("Type", text, FieldProblem::NotReadOrWrite))
        }
    }

    fn field_error(&self, field: &'static str, value: &str, problem: FieldProblem) -> TraceError {
        TraceError::Field {
            file: self.file.clone(),
            line: self.line,
            field,
            value: value.to_string(),
            problem,
        }
    }

    fn io_error(&self, source: io::Error) -> TraceError {
        TraceError::Io {
            file: self.file.clone(),
            line: self.line,
            source,
        }
    }
}

impl<R: BufRead> Iterator for MsrReader<R> {
    type Item = Result<Arrival, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_arrival();
        self.failed = next.is_err();
        next.transpose()
    }
}

/// Writes `arrivals` as an MSR trace without a header line, one line per
/// arrival, which [`MsrReader`] reads back. Times are rounded to the
/// nearest 100 ns (half up) and t = 0 becomes 2020-01-01 00:00 UTC; on
/// reading, times are relative to the first line, so a round trip keeps
/// times exactly when they are multiples of 100 ns and the first is 0.
/// `Op::ReadImage` is written as `Read` (the format has no image reads).
/// ResponseTime is written as 0.
///
/// Fails with `InvalidInput`, before writing anything, if the arrivals are
/// out of time order, a request is empty, or `hostname` has a comma or
/// line break (any would make a trace that does not read back).
pub fn write_msr(
    w: &mut impl Write,
    arrivals: &[Arrival],
    hostname: &str,
    disk: u32,
) -> io::Result<()> {
    check_writable(arrivals, hostname)?;
    for arrival in arrivals {
        let request = &arrival.request;
        let kind = match request.op {
            Op::Write => "Write",
            Op::Read | Op::ReadImage => "Read",
            Op::Flush => return Err(no_flush("MSR Cambridge")),
        };
        let ticks = arrival.at / TICK_NS + u64::from(arrival.at % TICK_NS >= TICK_NS / 2);
        writeln!(
            w,
            "{},{hostname},{disk},{kind},{},{},0",
            WRITE_EPOCH + ticks,
            request.offset,
            request.len
        )?;
    }
    Ok(())
}

fn check_writable(arrivals: &[Arrival], hostname: &str) -> io::Result<()> {
    let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    if hostname.contains([',', '\n', '\r']) {
        return invalid(format!(
            "trace hostname '{hostname}' contains a comma or line break"
        ));
    }
    if let Some(pair) = arrivals.windows(2).find(|pair| pair[1].at < pair[0].at) {
        return invalid(format!(
            "trace arrivals out of order: {} ns after {} ns",
            pair[1].at, pair[0].at
        ));
    }
    let data = |a: &&Arrival| a.request.op != Op::Flush;
    if let Some(empty) = arrivals
        .iter()
        .filter(data)
        .find(|arrival| arrival.request.len == 0)
    {
        return invalid(format!("trace request at {} ns has size 0", empty.at));
    }
    // Filetimes stay far below u64::MAX: u64::MAX ns is 1.8e17 ticks.
    Ok(())
}

/// A trace of any format, as [`TraceFormat::reader`] opens it.
pub type Trace = Box<dyn Iterator<Item = Result<Arrival, TraceError>> + Send>;

/// The trace formats the simulator reads; serialized as their names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceFormat {
    /// MSR Cambridge CSV ([`MsrReader`]).
    #[default]
    Msr,
    /// SCSI commands, one a line ([`scsi::ScsiReader`]).
    Scsi,
    /// blkparse's default text output ([`blkparse::BlkparseReader`]).
    Blkparse,
}

impl Named for TraceFormat {
    const WHAT: &'static str = "trace format";
    const ALL: &'static [TraceFormat] = &TraceFormat::ALL;

    fn name(self) -> &'static str {
        match self {
            TraceFormat::Msr => "msr",
            TraceFormat::Scsi => "scsi",
            TraceFormat::Blkparse => "blkparse",
        }
    }

    /// The format called `text` (`msr`, `scsi` or `blkparse`, any case).
    fn from_name(text: &str) -> Result<TraceFormat, UnknownName> {
        Self::ALL
            .iter()
            .copied()
            .find(|format| format.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownName::new(Self::WHAT, text, Self::names()))
    }
}

cowlab_model::named_by_name!(TraceFormat);

impl TraceFormat {
    /// Every format, in the order their names are listed.
    pub const ALL: [TraceFormat; 3] = [TraceFormat::Msr, TraceFormat::Scsi, TraceFormat::Blkparse];

    /// Streams the trace in `reader` (`file` names it in errors). SCSI
    /// traces count in blocks of `block_size` bytes; the other formats
    /// ignore it. With `volume`, requests ending past it are errors.
    pub fn reader<R: BufRead + Send + 'static>(
        self,
        file: String,
        reader: R,
        block_size: NonZeroU64,
        volume: Option<u64>,
    ) -> Trace {
        match (self, volume) {
            (TraceFormat::Msr, None) => Box::new(MsrReader::new(file, reader)),
            (TraceFormat::Msr, Some(v)) => Box::new(MsrReader::new(file, reader).within(v)),
            (TraceFormat::Scsi, None) => Box::new(scsi::ScsiReader::new(file, reader, block_size)),
            (TraceFormat::Scsi, Some(v)) => {
                Box::new(scsi::ScsiReader::new(file, reader, block_size).within(v))
            }
            (TraceFormat::Blkparse, None) => Box::new(blkparse::BlkparseReader::new(file, reader)),
            (TraceFormat::Blkparse, Some(v)) => {
                Box::new(blkparse::BlkparseReader::new(file, reader).within(v))
            }
        }
    }

    /// Opens the file at `path` and streams it as [`TraceFormat::reader`]
    /// does; fails only if the file cannot be opened.
    pub fn open(
        self,
        path: &str,
        block_size: NonZeroU64,
        volume: Option<u64>,
    ) -> io::Result<Trace> {
        let file = File::open(path)?;
        Ok(self.reader(path.to_string(), BufReader::new(file), block_size, volume))
    }
}

/// Where a line of a trace is, for the errors of the SCSI and blkparse readers.
struct Place {
    file: String,
    /// 1-based.
    line: u64,
}

impl Place {
    fn field(&self, field: &'static str, value: &str, problem: FieldProblem) -> TraceError {
        TraceError::Field {
            file: self.file.clone(),
            line: self.line,
            field,
            value: value.to_string(),
            problem,
        }
    }

    fn missing(&self, field: &'static str, text: &str) -> TraceError {
        TraceError::MissingField {
            file: self.file.clone(),
            line: self.line,
            field,
            text: text.to_string(),
        }
    }

    fn extra(&self, after: &'static str, value: &str) -> TraceError {
        TraceError::ExtraField {
            file: self.file.clone(),
            line: self.line,
            after,
            value: value.to_string(),
        }
    }

    fn integer(&self, field: &'static str, text: &str) -> Result<u64, TraceError> {
        text.parse::<u64>()
            .map_err(|_| self.field(field, text, FieldProblem::NotAnInteger))
    }

    /// Refuses an extent that ends past 2^64 (naming the length) or past
    /// `volume` (naming the offset).
    fn extent(
        &self,
        offset: (u64, &'static str, &str),
        len: (u64, &'static str, &str),
        volume: Option<u64>,
    ) -> Result<(), TraceError> {
        match (offset.0.checked_add(len.0), volume) {
            (None, _) => Err(self.field(len.1, len.2, FieldProblem::PastAddressSpace)),
            (Some(end), Some(volume)) if end > volume => {
                Err(self.field(offset.1, offset.2, FieldProblem::PastVolume(volume)))
            }
            _ => Ok(()),
        }
    }
}

/// The lines of a trace, each handed to a parser; iteration ends after the
/// first error, as [`MsrReader`]'s does.
struct Lines<R> {
    place: Place,
    reader: R,
    text: String,
    failed: bool,
}

impl<R: BufRead> Lines<R> {
    fn new(file: String, reader: R) -> Self {
        Lines {
            place: Place { file, line: 0 },
            reader,
            text: String::new(),
            failed: false,
        }
    }

    /// The next arrival `parse` makes of a trimmed line; `parse` returns
    /// `Ok(None)` for lines that carry none.
    fn next_item(
        &mut self,
        mut parse: impl FnMut(&Place, &str) -> Result<Option<Arrival>, TraceError>,
    ) -> Option<Result<Arrival, TraceError>> {
        if self.failed {
            return None;
        }
        loop {
            self.text.clear();
            self.place.line += 1;
            let parsed = match self.reader.read_line(&mut self.text) {
                Ok(0) => return None,
                Ok(_) => parse(&self.place, self.text.trim()),
                Err(source) => Err(TraceError::Io {
                    file: self.place.file.clone(),
                    line: self.place.line,
                    source,
                }),
            };
            match parsed {
                Ok(None) => {}
                Ok(Some(arrival)) => return Some(Ok(arrival)),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Nanosecond timestamps made relative to the first, refused if they go back.
#[derive(Default)]
struct Clock {
    first: Option<u64>,
    previous: u64,
}

impl Clock {
    fn at(
        &mut self,
        place: &Place,
        field: &'static str,
        text: &str,
        ns: u64,
    ) -> Result<u64, TraceError> {
        if ns < self.previous {
            let problem = FieldProblem::EarlierThanPrevious(self.previous);
            return Err(place.field(field, text, problem));
        }
        self.previous = ns;
        Ok(ns - *self.first.get_or_insert(ns))
    }
}

/// What the SCSI and blkparse writers need of their arrivals: in time order,
/// none empty, offsets and lengths multiples of `unit` bytes.
fn check_arrivals(arrivals: &[Arrival], unit: u64) -> io::Result<()> {
    check_writable(arrivals, "")?;
    match arrivals
        .iter()
        .find(|a| a.request.offset % unit != 0 || a.request.len % unit != 0)
    {
        Some(a) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "trace request at {} ns ({} bytes at {}) is not in whole {unit}-byte units",
                a.at, a.request.len, a.request.offset
            ),
        )),
        None => Ok(()),
    }
}

/// A trace writer's refusal of a FLUSH request: cowlab's trace formats carry reads and
/// writes only.
pub(crate) fn no_flush(format: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("the {format} trace writer has no FLUSH request: a workload with flushes cannot be written as this trace"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Cursor, Read};

    fn read_all(text: &str) -> Vec<Result<Arrival, TraceError>> {
        MsrReader::new("trace.csv".to_string(), Cursor::new(text.to_string())).collect()
    }

    fn arrivals(text: &str) -> Vec<Arrival> {
        read_all(text).into_iter().map(Result::unwrap).collect()
    }

    /// The message of the only error in `text`, which must come last.
    fn error(text: &str) -> String {
        let results = read_all(text);
        let last = results.last().expect("at least one item");
        assert!(results[..results.len() - 1].iter().all(Result::is_ok));
        last.as_ref().unwrap_err().to_string()
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

    const SAMPLE: &str = "\
128166372003061629,hm,1,Read,7014609920,24576,41286
128166372003061729,hm,1,Write,4096,4096,100
128166372013061629,hm,1,write,0,512,7
";

    #[test]
    fn reads_times_relative_to_the_first_line() {
        assert_eq!(
            arrivals(SAMPLE),
            [
                arrival(0, Op::Read, 7_014_609_920, 24_576),
                arrival(10_000, Op::Write, 4096, 4096),
                arrival(1_000_000_000, Op::Write, 0, 512),
            ]
        );
    }

    #[test]
    fn header_blank_lines_crlf_and_no_trailing_newline_are_fine() {
        let text = "Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime\r\n\
                    \r\n\
                    100,h,0,READ,0,4096,1\r\n\
                    \n\
                    103,h,0,Write,4096,4096,1";
        assert_eq!(
            arrivals(text),
            [
                arrival(0, Op::Read, 0, 4096),
                arrival(300, Op::Write, 4096, 4096)
            ]
        );
        assert!(arrivals("").is_empty());
        assert!(arrivals("\n\n").is_empty());
    }

    #[test]
    fn only_the_first_line_may_be_a_header() {
        let text = "100,h,0,Read,0,4096,1\n\
                    Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime\n";
        assert_eq!(
            error(text),
            "trace.csv line 2: field Timestamp: 'Timestamp' is not an integer"
        );
    }

    #[test]
    fn a_wrong_header_is_named() {
        assert_eq!(
            error("Time,Host,Disk,Type,Offset,Size,Response\n"),
            "trace.csv line 1: field Timestamp: 'Time' is not a column name \
             (a header line is Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime)"
        );
    }

    #[test]
    fn each_bad_field_is_named_with_line_and_value() {
        let good = "100,h,0,Read,0,4096,1\n";
        let cases = [
            ("1x0,h,0,Read,0,4096,1", "field Timestamp: '1x0' is not an integer"),
            ("100,h,d,Read,0,4096,1", "field DiskNumber: 'd' is not an integer"),
            ("100,h,0,Trim,0,4096,1", "field Type: 'Trim' is neither Read nor Write"),
            ("100,h,0,Read,-5,4096,1", "field Offset: '-5' is not an integer"),
            ("100,h,0,Read,0,12x,1", "field Size: '12x' is not an integer"),
            ("100,h,0,Read,0,0,1", "field Size: '0' is zero"),
            ("100,h,0,Read,0,4096,1.5", "field ResponseTime: '1.5' is not an integer"),
            ("99,h,0,Read,0,4096,1", "field Timestamp: '99' is earlier than the previous line's 100"),
            (
                "100,h,0,Read,18446744073709551615,1,1",
                "field Size: '1' ends past 2^64 bytes",
            ),
            ("100,h,0,Read,0,4096", "expected 7 fields (Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime), found 6"),
            ("100,h,0,Read,0,4096,1,9", "expected 7 fields (Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime), found 8"),
        ];
        for (line, message) in cases {
            let text = format!("{good}\n{line}\n");
            assert_eq!(
                error(&text),
                format!("trace.csv line 3: {message}"),
                "{line}"
            );
        }
    }

    #[test]
    fn times_past_u64_nanoseconds_are_refused() {
        let text = "0,h,0,Read,0,1,0\n18446744073709551615,h,0,Read,0,1,0\n";
        assert!(error(text).contains("is too late"));
    }

    #[test]
    fn iteration_ends_after_an_error() {
        let text = "100,h,0,Read,0,x,1\n100,h,0,Read,0,4096,1\n";
        let results = read_all(text);
        assert_eq!(results.len(), 1);
        assert!(results[0].is_err());
    }

    #[test]
    fn io_errors_carry_the_line() {
        let bytes = b"100,h,0,Read,0,4096,1\n\xff\xfe\n".to_vec();
        let results: Vec<_> = MsrReader::new("bad.csv".into(), Cursor::new(bytes)).collect();
        assert_eq!(results.len(), 2);
        let message = results[1].as_ref().unwrap_err().to_string();
        assert!(message.starts_with("bad.csv line 2: "), "{message}");
    }

    #[test]
    fn written_traces_read_back() {
        let original = vec![
            arrival(0, Op::Write, 0, 4096),
            arrival(0, Op::Read, 8192, 512),
            arrival(1_500, Op::Write, 1 << 40, 65_536),
            arrival(2_000_000_000, Op::Read, 4096, 4096),
        ];
        let mut out = Vec::new();
        write_msr(&mut out, &original, "sim", 3).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().next(),
            Some("132223104000000000,sim,3,Write,0,4096,0")
        );
        assert_eq!(arrivals(&text), original);
    }

    #[test]
    fn writing_rounds_to_100ns_and_reads_relative_to_the_first() {
        let original = [
            arrival(1_000, Op::Write, 0, 4096),
            arrival(1_049, Op::Write, 0, 4096),
            arrival(1_050, Op::ReadImage, 0, 4096),
        ];
        let mut out = Vec::new();
        write_msr(&mut out, &original, "sim", 0).unwrap();
        assert_eq!(
            arrivals(&String::from_utf8(out).unwrap()),
            [
                arrival(0, Op::Write, 0, 4096),
                arrival(0, Op::Write, 0, 4096),
                arrival(100, Op::Read, 0, 4096),
            ]
        );
    }

    #[test]
    fn unwritable_traces_are_refused_before_writing() {
        let out_of_order = [arrival(5, Op::Write, 0, 1), arrival(4, Op::Write, 0, 1)];
        let empty = [arrival(5, Op::Write, 0, 0)];
        let fine = [arrival(5, Op::Write, 0, 1)];
        for (arrivals, hostname) in [
            (&out_of_order[..], "h"),
            (&empty[..], "h"),
            (&fine[..], "a,b"),
        ] {
            let mut out = Vec::new();
            let err = write_msr(&mut out, arrivals, hostname, 0).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(out.is_empty());
        }
    }

    /// Produces a 100k-line trace on demand, counting the bytes handed out.
    struct LazyTrace {
        next_line: u64,
        lines: u64,
        pending: Vec<u8>,
        produced: std::rc::Rc<std::cell::Cell<usize>>,
    }

    impl Read for LazyTrace {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pending.is_empty() && self.next_line < self.lines {
                let line = format!(
                    "{},h,0,Write,{},4096,1\n",
                    1000 + self.next_line,
                    self.next_line * 4096
                );
                self.pending = line.into_bytes();
                self.next_line += 1;
            }
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            self.produced.set(self.produced.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn large_traces_stream() {
        let produced = std::rc::Rc::new(std::cell::Cell::new(0));
        let source = LazyTrace {
            next_line: 0,
            lines: 100_000,
            pending: Vec::new(),
            produced: produced.clone(),
        };
        let mut reader = MsrReader::new("big.csv".into(), BufReader::with_capacity(4096, source));
        let first = reader.next().unwrap().unwrap();
        assert_eq!(first, arrival(0, Op::Write, 0, 4096));
        assert!(
            produced.get() <= 4096,
            "read ahead {} bytes",
            produced.get()
        );
        let mut count = 1;
        let mut last = first;
        for item in reader {
            last = item.unwrap();
            count += 1;
        }
        assert_eq!(count, 100_000);
        assert_eq!(last, arrival(99_999 * 100, Op::Write, 99_999 * 4096, 4096));
        assert!(produced.get() > 3_000_000);
    }
}
