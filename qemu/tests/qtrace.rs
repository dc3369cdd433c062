//! Who copied what, read from trace lines written in the format QEMU's log backend
//! prints them: each rule of the attribution has a trace that breaks it if it is wrong.

use cowlab_qemu::qtrace::{attribute, Tally};

const DEST: &str =
    "bdrv_open_common bs 0xd0 filename \"/run/destination.img\" flags 0x2002 format_name \"raw\"";
const SNAP: &str = "bdrv_open_common bs 0x50 filename \"json:{\"image\": {\"driver\": \"file\", \"filename\": \"/run/snapshot.img\"}, \"driver\": \"blkdebug\"}\" flags 0x2002 format_name \"raw\"";
/// The file node under the destination has the same name but is not the raw node.
const DEST_FILE: &str =
    "bdrv_open_common bs 0xd1 filename \"/run/destination.img\" flags 0xa002 format_name \"file\"";

fn enter(to: &str) -> String {
    format!("qemu_aio_coroutine_enter ctx 0x1 from 0x7f00 to {to} opaque 0x2")
}

fn yield_to_main(from: &str) -> String {
    format!("qemu_coroutine_yield from {from} to 0x7f00")
}

fn backup(lines: &[String]) -> cowlab_qemu::qtrace::CopyStats {
    let mut all = vec![DEST.to_string(), DEST_FILE.to_string()];
    all.extend_from_slice(lines);
    attribute(&all.join("\n"), "destination.img", "destination.img")
}

fn tally(bytes: u64, tasks: u64, failed: u64) -> Tally {
    Tally {
        bytes,
        tasks,
        failed,
    }
}

#[test]
fn a_task_made_while_serving_a_guest_write_is_its_copy_before_write_and_any_other_the_jobs() {
    let s = backup(&[
        // The job's coroutine copies the first megabyte.
        enter("0xa00"),
        "block_copy_process bcs 0xb start 0".into(),
        "bdrv_co_pwritev_part bs 0xd0 offset 0 bytes 1048576 flags 0x0".into(),
        "bdrv_co_pwritev_part bs 0xd1 offset 0 bytes 1048576 flags 0x0".into(),
        yield_to_main("0xa00"),
        // A guest write's coroutine copies its cluster first.
        enter("0xc00"),
        "blk_co_pwritev blk 0xe bs 0xf offset 2097152 bytes 4096 flags 0x0".into(),
        "block_copy_process bcs 0xb start 2097152".into(),
        yield_to_main("0xc00"),
        enter("0xc00"),
        "bdrv_co_pwritev_part bs 0xd0 offset 2097152 bytes 65536 flags 0x0".into(),
        "qemu_coroutine_terminate self 0xc00".into(),
    ]);
    assert_eq!(s.job, tally(1 << 20, 1, 0));
    assert_eq!(
        s.cbw,
        tally(65536, 1, 0),
        "the file node's write is not counted twice"
    );
    assert_eq!(s.writes.len(), 1);
    assert!(s.writes[0].copied && !s.writes[0].failed);
    assert_eq!(s.unfinished, 0);
}

#[test]
fn a_coroutine_that_ended_serves_no_write_any_more() {
    // 0xc00 served a guest write, ended, and its memory is reused by the job.
    let s = backup(&[
        enter("0xc00"),
        "blk_co_pwritev blk 0xe bs 0xf offset 0 bytes 4096 flags 0x0".into(),
        "qemu_coroutine_terminate self 0xc00".into(),
        enter("0xc00"),
        "block_copy_process bcs 0xb start 65536".into(),
        "bdrv_co_pwritev_part bs 0xd0 offset 65536 bytes 65536 flags 0x0".into(),
    ]);
    assert_eq!(s.job, tally(65536, 1, 0));
    assert_eq!(s.cbw, tally(0, 0, 0));
    assert!(!s.writes[0].copied);
}

#[test]
fn a_task_whose_write_or_read_fails_copied_nothing_and_marks_its_guest_write() {
    let s = backup(&[
        enter("0xc00"),
        "blk_co_pwritev blk 0xe bs 0xf offset 0 bytes 4096 flags 0x0".into(),
        "block_copy_process bcs 0xb start 0".into(),
        "bdrv_co_pwritev_part bs 0xd0 offset 0 bytes 65536 flags 0x0".into(),
        "block_copy_write_fail bcs 0xb start 0 ret -5".into(),
        "qemu_coroutine_terminate self 0xc00".into(),
        enter("0xa00"),
        "block_copy_process bcs 0xb start 131072".into(),
        "block_copy_read_fail bcs 0xb start 131072 ret -13".into(),
        // The job copies the failed cluster again, and succeeds.
        "block_copy_process bcs 0xb start 0".into(),
        "bdrv_co_pwritev_part bs 0xd0 offset 0 bytes 65536 flags 0x0".into(),
    ]);
    assert_eq!(s.cbw, tally(0, 0, 1));
    assert_eq!(s.job, tally(65536, 1, 1));
    assert!(s.writes[0].failed);
}

#[test]
fn fleecing_counts_copy_before_write_on_the_snapshot_and_the_job_on_the_destination() {
    let lines = [
        DEST.to_string(),
        SNAP.to_string(),
        // The job and a guest write's copy both have a task at offset 0 at once.
        enter("0xa00"),
        "block_copy_process bcs 0x1a start 0".into(),
        yield_to_main("0xa00"),
        enter("0xc00"),
        "blk_co_pwritev blk 0xe bs 0xf offset 0 bytes 4096 flags 0x0".into(),
        "block_copy_process bcs 0x1c start 0".into(),
        "bdrv_co_pwritev_part bs 0x50 offset 0 bytes 65536 flags 0x0".into(),
        yield_to_main("0xc00"),
        enter("0xa00"),
        "bdrv_co_pwritev_part bs 0xd0 offset 0 bytes 1048576 flags 0x0".into(),
    ];
    let s = attribute(&lines.join("\n"), "snapshot.img", "destination.img");
    assert_eq!(s.cbw, tally(65536, 1, 0));
    assert_eq!(s.job, tally(1 << 20, 1, 0));
}

#[test]
fn a_task_with_no_write_yet_is_unfinished_and_other_events_are_ignored() {
    let s = backup(&[
        enter("0xa00"),
        "block_copy_skip_range bcs 0xb start 0 bytes 65536".into(),
        "block_copy_process bcs 0xb start 65536".into(),
        "job_state_transition job 0x9 ret 0 verb run from 1 to 2".into(),
        String::new(),
    ]);
    assert_eq!(s.unfinished, 1);
    assert_eq!(s.job, tally(0, 0, 0));
}
