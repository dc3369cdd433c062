//! The checks of a real run are checkers, so they are tested like one: a sound outcome
//! passes, and the same outcome broken in one place is reported by the right check at the
//! right sector. No QEMU is needed: the outcomes are made here.

use cowlab_model::disk::{Stamp, BEGIN, UNWRITTEN};
use cowlab_model::fault::Break;
use cowlab_model::meta::stamp_of;
use cowlab_model::{Invariant, Op};
use cowlab_qemu::check::{judge, Check, JobEnd, Observed, Status, Verdict};
use cowlab_qemu::config::Copy;
use cowlab_qemu::load::Record;
use cowlab_qemu::stamp::Found;
use proptest::prelude::*;

const SECTORS: usize = 64;
const MS: u64 = 1_000_000;

/// A write of sectors `from..to`, sent at `sent` ms and answered at `done` ms.
fn write(id: u32, n: u32, from: u64, to: u64, sent: u64, done: u64) -> Record {
    Record {
        id,
        op: Op::Write,
        offset: from * 512,
        len: (to - from) * 512,
        write: Some(n),
        due_ns: sent * MS,
        issued_ns: Some(sent * MS),
        done_ns: Some(done * MS),
        error: Some(0),
        seen: Vec::new(),
    }
}

fn read(id: u32, op: Op, from: u64, seen: Vec<Found>, sent: u64, done: u64) -> Record {
    Record {
        id,
        op,
        offset: from * 512,
        len: seen.len() as u64 * 512,
        write: None,
        due_ns: sent * MS,
        issued_ns: Some(sent * MS),
        done_ns: Some(done * MS),
        error: Some(0),
        seen,
    }
}

fn stamp(s: Stamp) -> Found {
    Found::Stamp(s)
}

/// Three writes one after another (write 1 over part of write 0), a volume read and an
/// image read; the source holds them applied in order, the destination the begin image.
struct Run {
    copy: Copy,
    on_error: Break,
    records: Vec<Record>,
    source: Vec<Found>,
    destination: Vec<Found>,
    job: JobEnd,
    cbw_failed: Vec<u32>,
}

fn sound() -> Run {
    let mut records = vec![
        write(0, 0, 0, 8, 0, 1),
        write(1, 1, 4, 12, 2, 3),
        write(2, 2, 40, 48, 2, 4),
    ];
    let mut source = vec![stamp(BEGIN); SECTORS];
    for r in &records {
        for s in r.sectors() {
            source[s as usize] = stamp(stamp_of(r.write.expect("a write")));
        }
    }
    // A volume read after all three: it sees write 0 where write 1 did not reach.
    records.push(read(3, Op::Read, 2, source[2..10].to_vec(), 5, 6));
    records.push(read(4, Op::ReadImage, 0, vec![stamp(BEGIN); 16], 5, 6));
    Run {
        copy: Copy::Fleecing,
        on_error: Break::GuestWrite,
        records,
        source,
        destination: vec![stamp(BEGIN); SECTORS],
        job: JobEnd::Succeeded,
        cbw_failed: Vec::new(),
    }
}

fn verdict(r: &Run) -> Verdict {
    judge(&Observed {
        copy: r.copy,
        on_error: r.on_error,
        records: &r.records,
        source: &r.source,
        destination: &r.destination,
        job: &r.job,
        cbw_failed: &r.cbw_failed,
        cbw_timeout: false,
        hold_bound_ns: 1_000 * MS,
    })
}

/// The only broken check, and its first bad sector.
fn broken(r: &Run) -> (Check, Option<u64>, String) {
    let v = verdict(r);
    let found: Vec<_> = v.findings().collect();
    assert_eq!(found.len(), 1, "expected one broken check, got {found:#?}");
    (found[0].check, found[0].sector, found[0].detail.clone())
}

fn inv(i: Invariant) -> Check {
    Check::Invariant(i)
}

#[test]
fn a_sound_run_passes_every_check() {
    let v = verdict(&sound());
    assert!(v.holds(), "{v:#?}");
    for c in [
        Invariant::PointInTimeCopy,
        Invariant::PointInTimeImage,
        Invariant::NoLostWrite,
        Invariant::ReadYourWrites,
        Invariant::Progress,
    ] {
        assert!(
            matches!(v.status(inv(c)), Some(Status::Holds(_))),
            "{c} should be checked and hold: {v:#?}"
        );
    }
}

#[test]
fn a_destination_sector_that_is_not_the_begin_image_breaks_the_copy_at_that_sector() {
    for s in [0, 7, 63] {
        let mut r = sound();
        r.destination[s] = stamp(stamp_of(0));
        let (check, sector, detail) = broken(&r);
        assert_eq!(
            (check, sector),
            (inv(Invariant::PointInTimeCopy), Some(s as u64))
        );
        assert!(detail.contains(&format!("sector {s} ")), "{detail}");
    }
    // Unwritten (the copy never got there) is as wrong as new data.
    let mut r = sound();
    r.destination[30] = stamp(UNWRITTEN);
    assert_eq!(broken(&r).1, Some(30));
}

#[test]
fn a_failed_copy_promises_nothing_of_its_destination() {
    let mut r = sound();
    r.destination[3] = stamp(UNWRITTEN);
    r.job = JobEnd::Failed("Input/output error".into());
    assert!(verdict(&r).holds());
}

#[test]
fn a_lost_write_a_reordered_write_and_a_failed_write_applied_are_each_caught() {
    // Write 2's sector back to the begin image: lost.
    let mut r = sound();
    r.source[41] = stamp(BEGIN);
    let (check, sector, detail) = broken(&r);
    assert_eq!((check, sector), (inv(Invariant::NoLostWrite), Some(41)));
    assert!(detail.contains("lost"), "{detail}");
    // Write 0 where write 1, sent after write 0 was answered, wrote last: reordered.
    let mut r = sound();
    r.source[5] = stamp(stamp_of(0));
    let (check, sector, detail) = broken(&r);
    assert_eq!((check, sector), (inv(Invariant::NoLostWrite), Some(5)));
    assert!(detail.contains("reordered"), "{detail}");
    // Write 2 failed back to its writer (its copy-before-write failed), but its data is there.
    let mut r = sound();
    r.records[2].error = Some(5);
    r.cbw_failed = vec![2];
    let (check, sector, _) = broken(&r);
    assert_eq!((check, sector), (inv(Invariant::NoLostWrite), Some(40)));
    // Data no write put there.
    let mut r = sound();
    r.source[20] = stamp(stamp_of(1));
    assert_eq!(broken(&r).1, Some(20));
    let mut r = sound();
    r.source[63] = Found::Garbage;
    assert_eq!(broken(&r).1, Some(63));
}

#[test]
fn concurrent_overlapping_writes_may_land_in_either_order() {
    // Writes 0 and 1 overlap in time: either may be last.
    for last in [0u32, 1] {
        let mut r = sound();
        r.records[1].issued_ns = Some(0);
        r.records[1].due_ns = 0;
        for s in 4..8 {
            r.source[s] = stamp(stamp_of(last));
        }
        r.records[3].seen = r.source[2..10].to_vec();
        assert!(verdict(&r).holds(), "{:#?}", verdict(&r));
    }
}

#[test]
fn a_read_that_misses_an_acknowledged_write_or_sees_a_superseded_one_is_caught() {
    let mut r = sound();
    r.records[3].seen[0] = stamp(BEGIN); // sector 2: write 0 was acknowledged before
    let (check, sector, _) = broken(&r);
    assert_eq!((check, sector), (inv(Invariant::ReadYourWrites), Some(2)));
    let mut r = sound();
    r.records[3].seen[3] = stamp(stamp_of(0)); // sector 5: write 1 superseded it
    let (check, sector, _) = broken(&r);
    assert_eq!((check, sector), (inv(Invariant::ReadYourWrites), Some(5)));
    // A read concurrent with write 1 may see either.
    let mut r = sound();
    r.records[3].issued_ns = Some(2 * MS + 500_000);
    r.records[3].seen[3] = stamp(stamp_of(0));
    assert!(verdict(&r).holds(), "{:#?}", verdict(&r));
}

#[test]
fn an_image_read_that_returns_new_data_breaks_the_point_in_time_image() {
    let mut r = sound();
    r.records[4].seen[9] = stamp(stamp_of(1));
    let (check, sector, _) = broken(&r);
    assert_eq!((check, sector), (inv(Invariant::PointInTimeImage), Some(9)));
    // A refused image read returns nothing, and breaks nothing.
    let mut r = sound();
    r.records[4].error = Some(22);
    assert!(verdict(&r).holds());
}

#[test]
fn a_request_never_answered_or_answered_past_the_bound_breaks_progress() {
    let mut r = sound();
    r.records[2].done_ns = None;
    r.records[2].error = None;
    // An unanswered write may or may not have landed: only progress is broken.
    let (check, sector, _) = broken(&r);
    assert_eq!((check, sector), (inv(Invariant::Progress), Some(40)));
    // The bound is 1000 ms: exactly the bound passes, one nanosecond more does not.
    let mut r = sound();
    r.records[2].done_ns = Some(2 * MS + 1_000 * MS);
    assert!(verdict(&r).holds());
    r.records[2].done_ns = Some(2 * MS + 1_000 * MS + 1);
    assert_eq!(broken(&r).0, inv(Invariant::Progress));
    let mut r = sound();
    r.job = JobEnd::Unfinished;
    assert_eq!(broken(&r).0, inv(Invariant::Progress));
}

#[test]
fn break_guest_write_must_fail_the_write_whose_copy_failed_and_no_other() {
    let mut r = sound();
    r.cbw_failed = vec![2];
    // The copy-before-write failed but the write was acknowledged.
    let (check, sector, detail) = broken(&r);
    assert_eq!((check, sector), (Check::Contract, Some(40)));
    assert!(detail.contains("break-guest-write"), "{detail}");
    // Failed back, and changed nothing: the contract holds.
    r.records[2].error = Some(5);
    for s in 40..48 {
        r.source[s] = stamp(BEGIN);
    }
    let v = verdict(&r);
    assert!(v.holds(), "{v:#?}");
    assert!(matches!(v.status(Check::Contract), Some(Status::Holds(_))));
    // A write that failed without a failed copy-before-write is not the policy's doing.
    r.cbw_failed.clear();
    assert_eq!(broken(&r).0, Check::Contract);
}

#[test]
fn break_snapshot_must_fail_the_copy_and_every_later_image_read_but_no_write() {
    let mut r = sound();
    r.on_error = Break::Snapshot;
    r.cbw_failed = vec![1]; // breaks at 3 ms, when write 1 is answered
    r.job = JobEnd::Failed("Permission denied".into());
    // The image read at 5 ms returned data after the break.
    let (check, _, detail) = broken(&r);
    assert_eq!(check, Check::Contract);
    assert!(detail.contains("after the snapshot broke"), "{detail}");
    r.records[4].error = Some(22);
    assert!(verdict(&r).holds(), "{:#?}", verdict(&r));
    // The copy may not report success once the snapshot broke.
    r.job = JobEnd::Succeeded;
    assert!(broken(&r).2.contains("reported success"));
    // And no guest write may fail.
    let mut r2 = sound();
    r2.on_error = Break::Snapshot;
    r2.records[2].error = Some(5);
    for s in 40..48 {
        r2.source[s] = stamp(BEGIN);
    }
    assert_eq!(broken(&r2).0, Check::Contract);
}

#[test]
fn the_controls_have_no_error_policy_and_no_image() {
    let mut r = sound();
    r.copy = Copy::Mirror;
    r.records.pop();
    let v = verdict(&r);
    assert!(matches!(
        v.status(Check::Contract),
        Some(Status::NotExercised(_))
    ));
    assert!(matches!(
        v.status(inv(Invariant::PointInTimeImage)),
        Some(Status::NotExercised(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(15), ..ProptestConfig::default() })]

    /// Writes one after another, applied in order, always pass; changing any one sector of
    /// the final source to another write's data, or the begin image, is always caught
    /// there unless that value was legitimately the last.
    #[test]
    fn sequential_writes_pass_and_one_changed_sector_is_caught_there(
        writes in proptest::collection::vec((0u64..60, 1u64..5), 1..12),
        victim in 0usize..SECTORS,
        other in 0usize..12,
    ) {
        let mut r = sound();
        r.records.clear();
        r.source = vec![stamp(BEGIN); SECTORS];
        for (i, (from, n)) in writes.iter().enumerate() {
            let to = (from + n).min(SECTORS as u64);
            let t = 2 * i as u64;
            r.records.push(write(i as u32, i as u32, *from, to, t, t + 1));
            for s in *from..to {
                r.source[s as usize] = stamp(stamp_of(i as u32));
            }
        }
        prop_assert!(verdict(&r).holds());
        let replacement = match other % (writes.len() + 1) {
            0 => stamp(BEGIN),
            k => stamp(stamp_of(k as u32 - 1)),
        };
        if r.source[victim] != replacement {
            r.source[victim] = replacement;
            let (check, sector, _) = broken(&r);
            prop_assert_eq!(check, inv(Invariant::NoLostWrite));
            prop_assert_eq!(sector, Some(victim as u64));
        }
    }
}
