"""A SimPy model of `cowlab sim --check off --json` with its defaults.

What it models (the run `SimConfig::default` in `sim/src/config.rs` describes, as the timed
driver `sim/src/driver.rs` runs it):

- a 1 GiB volume of 4 KiB blocks, 1 MiB segments (the copier's unit), 64 KiB chunks;
- policy snapshot-overlay: a write to a chunk neither copied nor preserved claims it, is
  held while the chunk is preserved (64 KiB read from the source, written to the snapshot
  device), then leaves the hold queue in arrival order and is applied; a write to a chunk
  claimed by someone else, or to a block a held write covers, is held too and waits;
- the copier: per segment, in sequential order, it waits for chunks of the segment being
  preserved, claims the segment, copies it (1 MiB read, 1 MiB written), marks it copied;
  then it copies every preserved chunk from the snapshot over the destination;
- 100,000 uniform 4 KiB writes, Poisson arrivals at 20,000 per second, each request a
  SimPy process of its own (open loop);
- separate NVMe devices (source, destination, snapshot): 20 us per I/O plus bytes at
  3e9 B/s, one I/O in service at a time, FIFO (a `simpy.Resource` of capacity 1);
- 1 us of CPU time per metadata step (a write's arrival, a map update, a release, a
  segment's claim and mark, each overlay step); a process woken by a step goes on at the
  end of that step's CPU time;
- then, as cowlab does for its throughput ratio, the same workload with no copy running,
  up to the end of the copy.

It prints one JSON object with the figures of `cowlab sim --json` it models (same names):
copy time, the copier's bytes, preserved bytes, held writes, hold latency quantiles (exact,
where cowlab's histogram keeps 3 significant digits), the hold queue's peak, the snapshot's
peak, write amplification and the throughput ratio.

How close: its random draws are Python's, not cowlab's, so by default its figures differ
from cowlab's as one seed's differ from another's (copy time and preserved bytes by a few
per cent, hold latencies by more: they hang on the queueing of a few overloaded seconds).
With `--trace-out FILE` it writes its requests as a trace and runs them as cowlab replays
one; `cowlab sim --check off --json --trace FILE --trace-format scsi` then gives the same
copy time, bytes, held writes and queue peak, and hold quantiles within the 0.1 % of
cowlab's histogram.

Run: `python3 sim/benches/simpy/model.py [--seed N] [--writes N] [--trace-out FILE]`
(needs `pip install simpy`). `cargo bench -p cowlab-sim --bench targets` times it against
cowlab and prints both programs' figures side by side.
"""

import argparse
import collections
import json
import math
import random
import sys

try:
    import simpy
except ImportError:
    sys.exit("simpy is not installed: pip install simpy")

KIB = 1024
BLOCK = 4 * KIB
VOLUME = 1 << 30
SEGMENT = 1 << 20
CHUNK = 64 * KIB
WRITE = 4 * KIB
RATE_PER_S = 20_000.0
OVERHEAD_NS = 20_000
BANDWIDTH = 3_000_000_000
CPU_NS = 1_000

BLOCKS = VOLUME // BLOCK
CHUNK_BLOCKS = CHUNK // BLOCK
CHUNKS = VOLUME // CHUNK
SEGMENTS = VOLUME // SEGMENT
CHUNKS_PER_SEGMENT = SEGMENT // CHUNK


def service_ns(nbytes):
    """The NVMe model of `sim/src/device.rs`: overhead plus the transfer, rounded up."""
    return OVERHEAD_NS + -(-nbytes * 1_000_000_000 // BANDWIDTH)


def arrivals(seed, writes):
    """(time in ns, block) of each write: exponential gaps rounded to whole ns."""
    rng = random.Random(seed)
    t = 0
    for _ in range(writes):
        t += round(rng.expovariate(RATE_PER_S / 1e9))
        yield t, rng.randrange(BLOCKS)


def traced(requests, path):
    """Writes the requests as a SCSI trace (`sim/src/trace/scsi.rs`: time, command, block,
    blocks); a replay times them from the first, so these do too."""
    requests = list(requests)
    first = requests[0][0] if requests else 0
    shifted = [(t - first, block) for t, block in requests]
    with open(path, "w") as f:
        for t, block in shifted:
            f.write(f"{t} WRITE(10) {block} 1\n")
    return lambda: iter(shifted)


class Tally:
    """The counters the figures come from."""

    def __init__(self):
        self.copier_read = self.copier_written = 0
        self.preserved = self.device_written = self.app_written = 0
        self.writes = self.held = self.queue_max = self.in_window = 0
        self.holds = []


class Device:
    """One device: a FIFO queue with one I/O in service at a time."""

    def __init__(self, env, tally):
        self.env = env
        self.queue = simpy.Resource(env, capacity=1)
        self.tally = tally

    def io(self, nbytes, write):
        with self.queue.request() as turn:
            yield turn
            yield self.env.timeout(service_ns(nbytes))
        if write:
            self.tally.device_written += nbytes


class HoldQueue:
    """Held writes in arrival order, and the blocks they cover (for overlap checks)."""

    def __init__(self):
        self.order = collections.deque()
        self.covering = collections.Counter()

    def push(self, w, block):
        self.order.append(w)
        self.covering[block] += 1

    def pop_head(self, block):
        self.order.popleft()
        self.covering[block] -= 1
        if not self.covering[block]:
            del self.covering[block]

    def head(self):
        return self.order[0] if self.order else None


class Copy:
    """The online copy under its workload: the metadata, the devices and the processes."""

    def __init__(self, env, tally, copying=True):
        self.env = env
        self.tally = tally
        self.source = Device(env, tally)
        self.destination = Device(env, tally)
        self.snapshot = Device(env, tally)
        self.copying = copying
        fill = 0 if copying else 1
        self.copied = bytearray([fill]) * CHUNKS
        self.mapped = bytearray(CHUNKS)
        self.in_flight = bytearray(CHUNKS)
        self.hold = HoldQueue()
        self.chunk_waiters = {}
        self.turn_waiters = {}
        self.copy_done = not copying
        self.copy_end = 0
        self.arrivals_done = False
        self.arrivals_end = 0
        self.snapshot_bytes = 0

    # Waiting and waking. A woken process goes on once the freeing step's CPU time is over,
    # ahead of the freeing process's own next step (as the timed driver orders them): the
    # waker hands it a timeout made before its own, and the woken process waits for that.

    def wait(self, waiters, key):
        ev = self.env.event()
        waiters.setdefault(key, []).append(ev)
        woken = yield ev
        yield woken

    def wake(self, waiters, key):
        for ev in waiters.pop(key, ()):
            ev.succeed(self.env.timeout(CPU_NS))

    def free_chunk(self, c):
        self.wake(self.chunk_waiters, c)

    def next_head(self):
        self.wake(self.turn_waiters, self.hold.head())

    # The copier.

    def copier(self):
        for s in range(SEGMENTS):
            chunks = range(s * CHUNKS_PER_SEGMENT, (s + 1) * CHUNKS_PER_SEGMENT)
            yield from self.claim_segment(chunks)
            yield self.env.timeout(CPU_NS)
            # Nothing is copied out of turn under this policy: the whole segment is read.
            yield from self.copier_io(self.source, SEGMENT, False)
            yield from self.copier_io(self.destination, SEGMENT, True)
            self.mark_segment(chunks)
            yield self.env.timeout(CPU_NS)
        yield from self.overlay()

    def claim_segment(self, chunks):
        """Waits for the segment's chunks being preserved, then claims them all."""
        while True:
            busy = next((c for c in chunks if self.in_flight[c]), None)
            if busy is None:
                break
            yield from self.wait(self.chunk_waiters, busy)
        for c in chunks:
            self.in_flight[c] = 1

    def mark_segment(self, chunks):
        for c in chunks:
            self.in_flight[c] = 0
            self.copied[c] = 1
            self.free_chunk(c)

    def overlay(self):
        """Every preserved chunk, snapshot over destination, one step each."""
        c = self.mapped.find(1)
        while c >= 0:
            yield self.env.timeout(CPU_NS)
            yield from self.copier_io(self.snapshot, CHUNK, False)
            yield from self.copier_io(self.destination, CHUNK, True)
            c = self.mapped.find(1, c + 1)
        self.copy_done = True
        yield self.env.timeout(CPU_NS)
        self.copy_end = self.env.now

    def copier_io(self, device, nbytes, write):
        yield from device.io(nbytes, write)
        if write:
            self.tally.copier_written += nbytes
        else:
            self.tally.copier_read += nbytes

    # The writes.

    def workload(self, requests):
        """Starts each write as a process of its own at its arrival time."""
        for w, (at, block) in enumerate(requests):
            yield self.env.timeout(at - self.env.now)
            self.env.process(self.write(w, block))
        self.arrivals_done = True
        self.arrivals_end = self.env.now

    def write(self, w, block):
        arrived = self.env.now
        c = block // CHUNK_BLOCKS
        claimed, waits = self.claim(c)
        held = claimed or waits or block in self.hold.covering
        self.tally.writes += 1
        self.tally.app_written += WRITE
        if held:
            self.hold.push(w, block)
            self.tally.held += 1
            self.tally.queue_max = max(self.tally.queue_max, len(self.hold.order))
        yield self.env.timeout(CPU_NS)
        if held:
            if claimed:
                yield from self.preserve(c)
            yield from self.release(w, c, block)
        else:
            yield from self.source.io(WRITE, True)
        self.acknowledged(arrived, held)

    def claim(self, c):
        """(claimed, waits): a chunk not yet safe is claimed, unless someone else has it."""
        if self.copied[c] or self.mapped[c]:
            return False, False
        if self.in_flight[c]:
            return False, True
        self.in_flight[c] = 1
        return True, False

    def preserve(self, c):
        """Copies the chunk's begin-time data to the snapshot, then publishes it."""
        yield from self.source.io(CHUNK, False)
        yield from self.snapshot.io(CHUNK, True)
        self.tally.preserved += CHUNK
        self.mapped[c] = 1
        self.in_flight[c] = 0
        self.snapshot_bytes += CHUNK
        self.free_chunk(c)
        yield self.env.timeout(CPU_NS)

    def release(self, w, c, block):
        """Waits for its turn at the head of the queue and for its chunk, then is applied."""
        while True:
            if self.hold.head() != w:
                yield from self.wait(self.turn_waiters, w)
            elif self.in_flight[c]:
                yield from self.wait(self.chunk_waiters, c)
            else:
                break
        self.hold.pop_head(block)
        self.next_head()
        yield self.env.timeout(CPU_NS)
        yield from self.source.io(WRITE, True)

    def acknowledged(self, arrived, held):
        # The window in which the copy and the workload both run (the baseline stops at
        # its end instead).
        if not self.copying or not (self.copy_done or self.arrivals_done):
            self.tally.in_window += 1
        if held:
            self.tally.holds.append(self.env.now - arrived)


def baseline(requests, window):
    """Writes acknowledged by `window` with no copy running."""
    env = simpy.Environment()
    tally = Tally()
    run = Copy(env, tally, copying=False)
    env.process(run.workload(requests))
    env.run(until=window + 1)
    return tally.in_window


def quantile_us(sorted_ns, q):
    """The smallest latency that at least a share `q` of them do not exceed."""
    if not sorted_ns:
        return 0.0
    rank = min(max(1, math.ceil(q * len(sorted_ns))), len(sorted_ns))
    return sorted_ns[rank - 1] / 1000


def figures(run, tally, base):
    holds = sorted(tally.holds)
    return {
        "copy_seconds": run.copy_end / 1e9,
        "copier_bytes_read": tally.copier_read,
        "copier_bytes_written": tally.copier_written,
        "preserved_bytes": tally.preserved,
        "write_amplification": tally.device_written / tally.app_written,
        "snapshot_peak_bytes": run.snapshot_bytes,
        "writes": tally.writes,
        "held_writes": tally.held,
        "hold_p50_us": quantile_us(holds, 0.5),
        "hold_p99_us": quantile_us(holds, 0.99),
        "hold_p999_us": quantile_us(holds, 0.999),
        "hold_max_us": holds[-1] / 1000 if holds else 0.0,
        "queue_depth_max": tally.queue_max,
        "throughput_ratio": tally.in_window / base if base else None,
    }


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--writes", type=int, default=100_000)
    args.add_argument(
        "--trace-out",
        metavar="FILE",
        help="write the requests to FILE as a SCSI trace and time them from the first, as "
        "`cowlab sim --trace FILE --trace-format scsi` replays it: the same requests in both",
    )
    opts = args.parse_args()
    requests = lambda: arrivals(opts.seed, opts.writes)
    if opts.trace_out:
        requests = traced(requests(), opts.trace_out)
    env = simpy.Environment()
    tally = Tally()
    run = Copy(env, tally)
    env.process(run.copier())
    env.process(run.workload(requests()))
    env.run()
    window = min(run.copy_end, run.arrivals_end)
    base = baseline(requests(), window)
    print(json.dumps(figures(run, tally, base), sort_keys=True))


if __name__ == "__main__":
    main()
