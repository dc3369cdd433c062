//! The three trace formats of `sim/src/trace.rs` read their hand-written
//! samples in `sim/tests/data/` as meant, and what their writers make of
//! those arrivals reads back the same.

use cowlab_model::names::Named;
use cowlab_model::{Op, Request};
use cowlab_sim::{write_blkparse, write_msr, write_scsi, Arrival, TraceFormat};
use std::io::Cursor;
use std::num::NonZeroU64;

const BLOCK: NonZeroU64 = NonZeroU64::new(4096).unwrap();

fn sample(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Every arrival of the file at `path`, opened as `format` would be by the CLI.
fn read_file(format: TraceFormat, path: &str) -> Vec<Arrival> {
    format
        .open(path, BLOCK, None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn read_text(format: TraceFormat, text: Vec<u8>) -> Vec<Arrival> {
    format
        .reader("written".into(), Cursor::new(text), BLOCK, None)
        .collect::<Result<_, _>>()
        .unwrap()
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

#[test]
fn scsi_sample_reads_and_round_trips() {
    let arrivals = read_file(TraceFormat::Scsi, &sample("sample.scsi"));
    let b = BLOCK.get();
    assert_eq!(
        arrivals,
        [
            arrival(0, Op::Write, 2048 * b, 8 * b),
            arrival(1_500, Op::Read, 4096 * b, 16 * b),
            arrival(1_500, Op::Write, (1 << 32) * b, b),
            arrival(8_000, Op::Read, 0, 65_535 * b),
            arrival(999_999_000, Op::Write, 123_456 * b, 4_294_967_295 * b),
            arrival(999_999_007, Op::Read, 4_294_967_295 * b, b),
        ]
    );
    let mut text = Vec::new();
    write_scsi(&mut text, &arrivals, BLOCK).unwrap();
    assert_eq!(read_text(TraceFormat::Scsi, text), arrivals);
}

#[test]
fn blkparse_sample_reads_and_round_trips() {
    let arrivals = read_file(TraceFormat::Blkparse, &sample("sample.blkparse"));
    assert_eq!(
        arrivals,
        [
            arrival(0, Op::Write, 223_490 * 512, 8 * 512),
            arrival(4_231, Op::Write, 223_498 * 512, 8 * 512),
            arrival(101_770, Op::Read, 1_048_576 * 512, 256 * 512),
            arrival(201_113, Op::Read, 1_048_832 * 512, 256 * 512),
            // `FWS` with no sectors: a bare flush; `FWFS`: a flush, then a FUA write.
            Arrival {
                at: 300_000,
                request: Request::flush(),
            },
            Arrival {
                at: 320_500,
                request: Request::flush(),
            },
            Arrival {
                at: 320_500,
                request: Request::write_fua(16 * 512, 8 * 512),
            },
            arrival(400_000, Op::Write, 0, 512),
            arrival(1_250_000_000, Op::Read, 0, 8 * 512),
        ]
    );
    let mut text = Vec::new();
    write_blkparse(&mut text, &arrivals, (8, 0), "cowlab").unwrap();
    assert_eq!(read_text(TraceFormat::Blkparse, text), arrivals);
}

#[test]
fn msr_sample_reads_and_round_trips() {
    let arrivals = read_file(TraceFormat::Msr, &sample("sample.msr.csv"));
    assert_eq!(
        arrivals,
        [
            arrival(0, Op::Read, 7_014_609_920, 24_576),
            arrival(10_000, Op::Write, 4096, 4096),
            arrival(10_000, Op::Write, 8192, 512),
            arrival(1_000_000_000, Op::Write, 0, 512),
        ]
    );
    let mut text = Vec::new();
    write_msr(&mut text, &arrivals, "hm", 1).unwrap();
    assert_eq!(read_text(TraceFormat::Msr, text), arrivals);
}

#[test]
fn formats_are_found_by_name() {
    for format in TraceFormat::ALL {
        assert_eq!(format.name().parse(), Ok(format));
    }
    assert_eq!("BlkParse".parse(), Ok(TraceFormat::Blkparse));
    assert_eq!(
        "csv".parse::<TraceFormat>().unwrap_err().to_string(),
        "unknown trace format (expected one of: msr, scsi, blkparse)"
    );
    assert!("".parse::<TraceFormat>().is_err());
    assert_eq!(
        "blkpars".parse::<TraceFormat>().unwrap_err().to_string(),
        "unknown trace format (expected one of: msr, scsi, blkparse); did you mean blkparse?"
    );
    // As a field of a serialized configuration, a format is its name.
    for format in TraceFormat::ALL {
        let json = serde_json::to_string(&format).unwrap();
        assert_eq!(json, format!("\"{}\"", format.name()));
        assert_eq!(serde_json::from_str::<TraceFormat>(&json).unwrap(), format);
    }
    assert_eq!(TraceFormat::default(), TraceFormat::Msr);
}

/// Each sample ends past a 1 MiB volume; the reader of each format says where.
#[test]
fn every_format_refuses_requests_past_the_volume() {
    for (format, name, message) in [
        (
            TraceFormat::Msr,
            "sample.msr.csv",
            "line 2: field Offset: '7014609920' ends past the end of the volume (1048576 bytes)",
        ),
        (
            TraceFormat::Scsi,
            "sample.scsi",
            "line 3: field lba: '2048' ends past the end of the volume (1048576 bytes)",
        ),
        (
            TraceFormat::Blkparse,
            "sample.blkparse",
            "line 1: field sector: '223490' ends past the end of the volume (1048576 bytes)",
        ),
    ] {
        let path = sample(name);
        let results: Vec<_> = format.open(&path, BLOCK, Some(1 << 20)).unwrap().collect();
        assert_eq!(results.len(), 1, "{name}");
        let error = results[0].as_ref().unwrap_err().to_string();
        assert_eq!(error, format!("{path} {message}"));
    }
}

#[test]
fn a_missing_file_fails_to_open() {
    let missing = sample("no-such-trace");
    for format in TraceFormat::ALL {
        let error = format.open(&missing, BLOCK, None).err().unwrap();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    }
}
