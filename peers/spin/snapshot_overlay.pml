/*
 * cowlab's SPIN peer: the copy-on-write online copy, policy snapshot-overlay, as Promela.
 *
 * The same algorithm, size and step granularity as
 *
 *   cowlab check --any-writes --segments 3 --segment-blocks 2 --cow-blocks 1 \
 *                --writers 2 --writes 2          (1 reader, 1 image reader, 1 copy worker)
 *
 * so that SPIN (with its default partial-order reduction) can be timed against cowlab's
 * exhaustive checker on one state space. Read it beside the engine it mirrors:
 *
 *   model/src/copier.rs           the copier (one worker): claim, copy, mark; overlay pass
 *   model/src/client.rs           writers (arrive, release), volume reads, image reads
 *   model/src/preserver.rs        a write's preservation: one copy step, one map update step
 *   model/src/meta.rs             the shared metadata: maps, chunks in flight, tracked
 *                                 image reads, the FIFO hold queue
 *   model/src/rules.rs            the decision points (and the mutants that bend them)
 *   model/src/policy/snapshot_overlay.rs   Preserve(Snapshot) + overlay pass
 *   model/src/invariants.rs       the invariants asserted here
 *   model/src/ghost.rs            the ghost state (newest arrived write per block)
 *   model/src/exhaustive/mod.rs   one action = one process's next step (with the range an
 *                                 open request chooses, when it chooses one)
 *
 * GRANULARITY. cowlab's exhaustive driver interleaves whole engine steps: each step is one
 * metadata critical section (everything under the metadata lock in the threaded driver) or
 * one I/O. Every such step is one d_step here, so it is one SPIN transition and no state
 * inside it is stored or interleaved. Where a request chooses its range when it arrives
 * (--any-writes), cowlab's action is "process p steps with range r": here each range is its
 * own option of a do-loop, each option one d_step, so the choice and the step are one
 * transition, as in cowlab.
 *
 * STATE. Every field of cowlab's state (model/src/world.rs: devices, metadata, ghost,
 * processes) that is not a function of the others has a variable here, and nothing else
 * does, so that the two checkers explore the same states: SPIN's "states stored" equals
 * the unique states of `cowlab check --no-reduction` (the full interleaving) on every
 * configuration tried (README.md). SPIN's partial-order reduction removes nothing: every
 * step here reads or writes shared variables, and SPIN's reduction needs local ones.
 * Fields that are functions of the rest in this configuration are left out: the copier's
 * routes (every chunk of a claimed segment is Claimed: the copier waits for chunks in flight
 * before it claims) and done_seen, the copy progress (one worker, sequential order), the
 * ghost's preserved set (equal to the snapshot map: a second preservation is asserted
 * against instead), copy_complete (the copier finished). The two counters wdone and pdone
 * are functions of the processes' states, kept only to make the checks cheap.
 *
 * Geometry is fixed: 6 blocks, 3 segments of 2 blocks, chunks of 1 block (chunk c is
 * block c). The clients can be changed for small runs that check the model against cowlab:
 *   spin -DWRITERS=1 -DWRITES=1 -DREADERS=1 -DIMAGE_READERS=1 -a snapshot_overlay.pml
 * and one mistake of cowlab's mutant catalogue (model/src/mutant.rs) switched on with
 * -DMUTANT=<n> (the numbers below).
 */

#ifndef WRITERS
#define WRITERS 2
#endif
#ifndef WRITES
#define WRITES 2
#endif
#ifndef READERS
#define READERS 1
#endif
#ifndef IMAGE_READERS
#define IMAGE_READERS 1
#endif
#ifndef MUTANT
#define MUTANT 0
#endif

/* Mutants (cowlab mutants; only those that need no faults, crashes, hand-backs or power). */
#define APPLY_BEFORE_PRESERVE      1  /* apply the write, then preserve */
#define CHECK_THEN_ACT             2  /* claim a chunk without marking it in flight */
#define RELEASE_OUT_OF_ORDER       3  /* any held write may leave the queue */
#define SKIP_OVERLAY               4  /* no overlay pass */
#define PRESERVE_TWICE             5  /* only the copied map makes a chunk safe */
#define IMAGE_READ_DURING_PRESERVE 6  /* image reads do not wait for chunks in flight */
#define COPIER_IGNORES_IN_FLIGHT   7  /* the copier claims without waiting */
#define MARK_BEFORE_COPY           8  /* mark the segment copied, then copy it */
#define FIRST_SEGMENT_ONLY         9  /* a write checks only the chunks of its first segment */

#define NSEG 3
#define SEGB 2                 /* blocks (= chunks) per segment */
#define NBLK 6                 /* blocks = chunks */
#define UNW  15                /* a block never written (cowlab's UNWRITTEN) */
#define NPROCS (1 + WRITERS + READERS + IMAGE_READERS)

/* Chunk sets are bit masks (chunk c is bit c). */
#define BIT(c)        (1 << (c))
#define HAS(m, c)     ((((m) >> (c)) & 1) == 1)
#define RANGE(l, h)   ((1 << (h)) - (1 << (l)))   /* chunks l..h-1 */
#define SEGMASK(s)    (3 << (2 * (s)))            /* the 2 chunks of segment s */

/* ---- devices (model/src/disk.rs): per block, the stamp of the write that wrote it last
 * (0 = begin-time data, write w has stamp w+1; UNW = never written) */
byte src[NBLK];
byte dst[NBLK] = UNW;
byte snap[NBLK] = UNW;

/* ---- metadata (model/src/meta.rs), all of it behind cowlab's one metadata lock */
byte copied;                   /* the copied map (chunks the copier marked done) */
byte snapmap;                  /* the snapshot map (chunks preserved to the snapshot) */
byte inflight;                 /* chunks claimed by a preserver or the copier */
#if IMAGE_READERS > 0
byte tracked[NBLK];            /* image reads routed to the source, per chunk */
byte trackmask;                /* chunks with tracked[c] > 0 (a function of tracked) */
#endif
/* the hold queue: held writes in arrival order (stamp and blocks), hq_n of them */
byte hq_w[WRITERS];
byte hq_lo[WRITERS];
byte hq_hi[WRITERS];
byte hq_n;

/* ---- ghost state (model/src/ghost.rs): per block, the newest write that arrived
 * (held or applied): what a volume read must return, and the source at quiescence */
byte latest[NBLK];

/* functions of the processes' states, kept to make the checks cheap (no extra states) */
byte wdone;                    /* writers finished */
byte pdone;                    /* processes finished */

/* scratch registers of the d_steps: hidden (not in the state vector), always written
 * before read inside one d_step */
hidden byte i, k, x, waits, ovl;

/* Names that make SPIN's "assertion violated (...)" line say which invariant broke. */
hidden byte map_soundness = 1, point_in_time_image = 1, point_in_time_copy = 1;
hidden byte read_your_writes = 1, no_lost_write = 1, preserved_twice_not = 1;

/* ---- the invariants (model/src/invariants.rs), checked at the end of every step that
 * changes a device or a map: that is every state cowlab checks them in. */
inline check_state() {
  i = 0;
  do
  :: i < NBLK ->
     /* map soundness: a chunk in the snapshot map has begin-time data on the snapshot;
      * a chunk marked copied (and not overlaid from the snapshot) has it at the
      * destination */
     if
     :: HAS(snapmap, i) -> assert(map_soundness && snap[i] == 0)
     :: else -> skip
     fi;
     if
     :: HAS(copied, i) && !HAS(snapmap, i) -> assert(map_soundness && dst[i] == 0)
     :: else -> skip
     fi;
     /* point-in-time image: the image (snapshot if preserved, else destination if
      * copied, else source) holds begin-time data; the first two cases are implied by
      * map soundness above, so only the third is left */
     if
     :: !HAS(snapmap, i) && !HAS(copied, i) -> assert(point_in_time_image && src[i] == 0)
     :: else -> skip
     fi;
     i++
  :: else -> break
  od;
  i = 0       /* (a d_step may not end in a loop: SPIN's jump out of it) */
}

/* no lost or reordered write: at quiescence (nothing held, every writer finished) the
 * source holds, per block, the newest write that arrived. Once every writer is finished
 * the source and the ghost never change again, so it is checked once, there. */
inline check_quiescent() {
  if
  :: wdone == WRITERS && hq_n == 0 ->
     i = 0;
     do
     :: i < NBLK -> assert(no_lost_write && src[i] == latest[i]); i++
     :: else -> break
     od
  :: else -> skip
  fi;
  i = 0
}

/* ====================================================================================
 * The copier (model/src/copier.rs), one worker, sequential order. Its steps:
 *   claim  (lock)  take the next segment, claim its chunks (mark them in flight); it waits
 *                  while a chunk of that segment is in flight (being preserved)
 *   copy   (I/O)   the segment source -> destination
 *   mark   (lock)  release the claims, mark the chunks copied; next segment or overlay
 *   overlay        one step per chunk of the snapshot map: snapshot -> destination (an
 *                  I/O reading the map); the step that finds none left declares the copy
 *                  complete (copy.rs: "in the same step: nothing can be observed in
 *                  between")
 * ==================================================================================== */
#define C_CLAIM    0
#define C_COPY     1
#define C_MARK     2
#define C_OVERLAY  3
#define C_COMPLETE 4
#define C_FIN      5

inline copier_done() {
  /* point-in-time copy: the destination is the begin-time source */
  i = 0;
  do
  :: i < NBLK -> assert(point_in_time_copy && dst[i] == 0); i++
  :: else -> break
  od;
  cpc = C_FIN; seg = 0; onext = 0; pdone++;
  printf("copier: copy complete\n")
}

inline next_segment() {
  seg++;
  if
  :: seg < NSEG -> cpc = C_CLAIM
#if MUTANT == SKIP_OVERLAY
  :: else -> cpc = C_COMPLETE
#else
  :: else -> cpc = C_OVERLAY; onext = 0
#endif
  fi
}

active proctype copier() {
  byte cpc = C_CLAIM;
  byte seg = 0;                /* the segment to claim next, or being copied */
  byte onext = 0;              /* overlay: the next snapshot-map chunk at or after */
#if MUTANT == COPIER_IGNORES_IN_FLIGHT
  byte routes = 0;             /* chunks of the segment it claimed (the others unclaimed) */
#endif
  /* Every loop head is an end state for SPIN: a process waits and ends at the same place
   * (a finished process is one whose guards are all false). Deadlock is checked by the
   * watchdog below instead. */
end_copier:
  do
#if MUTANT == COPIER_IGNORES_IN_FLIGHT
  :: d_step { cpc == C_CLAIM ->
       routes = SEGMASK(seg) & ~inflight;
       inflight = inflight | routes;
       cpc = C_COPY;
       printf("copier: claims segment %d\n", seg) }
#else
  :: d_step { cpc == C_CLAIM && (inflight & SEGMASK(seg)) == 0 ->
       inflight = inflight | SEGMASK(seg);
#if MUTANT == MARK_BEFORE_COPY
       cpc = C_MARK;
#else
       cpc = C_COPY;
#endif
       printf("copier: claims segment %d\n", seg) }
#endif
  :: d_step { cpc == C_COPY ->
       dst[2 * seg] = src[2 * seg];
       dst[2 * seg + 1] = src[2 * seg + 1];
       printf("copier: copies segment %d (stamps %d %d)\n", seg, src[2 * seg], src[2 * seg + 1]);
#if MUTANT == MARK_BEFORE_COPY
       next_segment();
#else
       cpc = C_MARK;
#endif
       check_state() }
  :: d_step { cpc == C_MARK ->
#if MUTANT == COPIER_IGNORES_IN_FLIGHT
       inflight = inflight & ~routes;   /* (routes stay until the next claim, as cowlab's) */
#else
       inflight = inflight & ~SEGMASK(seg);
#endif
       copied = copied | SEGMASK(seg);
       printf("copier: marks segment %d copied\n", seg);
#if MUTANT == MARK_BEFORE_COPY
       cpc = C_COPY;
#else
       next_segment();
#endif
       check_state() }
  :: d_step { cpc == C_OVERLAY ->
       x = onext;
       do
       :: x < NBLK && !HAS(snapmap, x) -> x++
       :: else -> break
       od;
       if
       :: x < NBLK ->
          dst[x] = snap[x];
          onext = x + 1;
          printf("copier: overlays chunk %d from the snapshot\n", x)
       :: else -> copier_done()
       fi;
       check_state() }
  :: d_step { cpc == C_COMPLETE -> copier_done() }
  od
}

/* ====================================================================================
 * Writers (model/src/client.rs, Client::arrive and the Release step; the preserver,
 * model/src/preserver.rs). Writer p's write n has id p*WRITES+n and stamp id+1. Steps:
 *   arrive   (lock)  choose any range lo..hi-1 (one option per range); for each chunk:
 *                    settled (copied or in the snapshot map): nothing; in flight: the write
 *                    must wait; else claim it (mark it in flight). The ghost records the
 *                    write. It is held (pushed on the FIFO hold queue) if it claimed,
 *                    waits, overlaps a held write or a tracked image read; else applied now.
 *   preserve (I/O)   per claimed chunk, in order: copy its begin-time data source ->
 *                    snapshot
 *   publish  (lock)  set the chunk's snapshot-map bit, release its claim
 *   release  (lock+I/O) at the head of the queue, none of its chunks in flight or tracked:
 *                    leave the queue and apply (cowlab applies in the same step)
 * ==================================================================================== */
#define W_START    0
#define W_PRESERVE 1
#define W_PUBLISH  2
#define W_RELEASE  3
#define W_FIN      4

#if MUTANT == PRESERVE_TWICE
#define SAFE(c) HAS(copied, c)
#else
#define SAFE(c) (HAS(copied, c) || HAS(snapmap, c))
#endif

#if MUTANT == FIRST_SEGMENT_ONLY
/* the chunks checked end with the write's first segment */
#define CHECK_END(l, h) ((h) < (((l) / SEGB) + 1) * SEGB -> (h) : (((l) / SEGB) + 1) * SEGB)
#else
#define CHECK_END(l, h) (h)
#endif

/* the writer's index (the copier is process 0) and its current write's stamp */
#define ME (_pid - 1)
#define ME_STAMP (ME * WRITES + n + 1)

inline apply_write() {
  x = lo;
  do
  :: x < hi -> src[x] = ME_STAMP; x++
  :: else -> break
  od
}

inline advance() {
  n++; lo = 0; hi = 0; claims = 0; cur = 0; held = 0;
  if
  :: n < WRITES -> wpc = W_START
  :: else -> wpc = W_FIN; wdone++; pdone++; check_quiescent()
  fi
}

inline arrive(L, H) {
  lo = L; hi = H;
  claims = 0; waits = 0; ovl = 0;
  /* claim_chunks / claim_unsafe */
  x = lo;
  do
  :: x < CHECK_END(lo, hi) ->
     if
     :: SAFE(x) -> skip
     :: else ->
        if
        :: HAS(inflight, x) -> waits = 1
        :: else ->
           claims = claims | BIT(x);
#if MUTANT != CHECK_THEN_ACT
           inflight = inflight | BIT(x)
#else
           skip
#endif
        fi
     fi;
     x++
  :: else -> break
  od;
  /* overlaps a held write? */
  k = 0;
  do
  :: k < hq_n -> if :: hq_lo[k] < hi && lo < hq_hi[k] -> ovl = 1 :: else -> skip fi; k++
  :: else -> break
  od;
  /* the ghost: the write is the newest of its blocks */
  x = lo;
  do
  :: x < hi -> latest[x] = ME_STAMP; x++
  :: else -> break
  od;
#if MUTANT == APPLY_BEFORE_PRESERVE
  held = 0;
#else
  held = (claims != 0 || waits || ovl
#if IMAGE_READERS > 0
          || (trackmask & RANGE(lo, CHECK_END(lo, hi))) != 0
#endif
         );
#endif
  printf("writer %d: write %d (stamp %d) to blocks %d..%d arrives, claims chunk mask %d, held %d\n",
         ME + 1, ME_STAMP - 1, ME_STAMP, lo, hi - 1, claims, held);
  if
  :: held -> hq_w[hq_n] = ME_STAMP; hq_lo[hq_n] = lo; hq_hi[hq_n] = hi; hq_n++
  :: else -> apply_write()
  fi;
  if
  :: claims == 0 && held -> wpc = W_RELEASE; held = 0
  :: claims == 0 && !held -> advance()
  :: else ->
     /* the first claimed chunk */
     cur = 0;
     do
     :: !HAS(claims, cur) -> cur++
     :: else -> break
     od;
     wpc = W_PRESERVE
  fi;
  check_state()
}

#define ARRIVE(L, H) :: d_step { wpc == W_START -> arrive(L, H) }

#if MUTANT == RELEASE_OUT_OF_ORDER
#define TURN (hq_n > 0)
#else
#define TURN (hq_n > 0 && hq_w[0] == ME_STAMP)
#endif
#if IMAGE_READERS > 0
#define FREE(l, h) ((inflight & RANGE(l, h)) == 0 && (trackmask & RANGE(l, h)) == 0)
#else
#define FREE(l, h) ((inflight & RANGE(l, h)) == 0)
#endif

active [WRITERS] proctype writer() {
  byte wpc = W_START;
  byte n = 0;                  /* the write it works on (0..WRITES-1) */
  byte lo = 0, hi = 0;         /* its range, once chosen (0..0 before) */
  byte claims = 0;             /* the chunks it claimed to preserve */
  byte cur = 0;                /* the claimed chunk being preserved */
  bit held = 0;                /* the write is held (not yet applied) while preserving */
end_writer:
  do
  ARRIVE(0, 1) ARRIVE(0, 2) ARRIVE(0, 3) ARRIVE(0, 4) ARRIVE(0, 5) ARRIVE(0, 6)
  ARRIVE(1, 2) ARRIVE(1, 3) ARRIVE(1, 4) ARRIVE(1, 5) ARRIVE(1, 6)
  ARRIVE(2, 3) ARRIVE(2, 4) ARRIVE(2, 5) ARRIVE(2, 6)
  ARRIVE(3, 4) ARRIVE(3, 5) ARRIVE(3, 6)
  ARRIVE(4, 5) ARRIVE(4, 6)
  ARRIVE(5, 6)
  /* the preserver's copy: one I/O, no lock */
  :: d_step { wpc == W_PRESERVE ->
       snap[cur] = src[cur];
       wpc = W_PUBLISH;
       printf("writer %d: preserves chunk %d (stamp %d) to the snapshot\n", ME + 1, cur, src[cur]);
       check_state() }
  /* the preserver's map update: one critical section */
  :: d_step { wpc == W_PUBLISH ->
       /* ghost: no chunk is preserved twice (map soundness) */
       assert(preserved_twice_not && !HAS(snapmap, cur));
       snapmap = snapmap | BIT(cur);
       inflight = inflight & ~BIT(cur);
       printf("writer %d: marks chunk %d in the snapshot map\n", ME + 1, cur);
       cur++;
       do
       :: cur < NBLK && !HAS(claims, cur) -> cur++
       :: else -> break
       od;
       if
       :: cur < NBLK -> wpc = W_PRESERVE
       :: else ->
          if
          :: held -> wpc = W_RELEASE; claims = 0; cur = 0; held = 0
          :: else -> advance()
          fi
       fi;
       check_state() }
  /* its turn in the queue, its chunks free: leave the queue, apply */
  :: d_step { wpc == W_RELEASE && TURN && FREE(lo, hi) ->
       k = 0;
       do
       :: hq_w[k] != ME_STAMP -> k++
       :: else -> break
       od;
       do
       :: k + 1 < hq_n ->
          hq_w[k] = hq_w[k + 1]; hq_lo[k] = hq_lo[k + 1]; hq_hi[k] = hq_hi[k + 1]; k++
       :: else -> break
       od;
       hq_n--;
       hq_w[hq_n] = 0; hq_lo[hq_n] = 0; hq_hi[hq_n] = 0;
       apply_write();
       printf("writer %d: write %d leaves the hold queue, applied\n", ME + 1, ME_STAMP - 1);
       advance();
       check_state() }
  od
}

/* ====================================================================================
 * Volume readers (Client::read): one read of any one block, in one step (an I/O of the
 * source; a held write covering the block wins, the newest one). read-your-writes: it
 * returns the newest write that arrived (the ghost).
 * ==================================================================================== */
#if READERS > 0
inline volume_read(B) {
  x = src[B];
  k = 0;
  do
  :: k < hq_n -> if :: hq_lo[k] <= B && B < hq_hi[k] -> x = hq_w[k] :: else -> skip fi; k++
  :: else -> break
  od;
  printf("reader: reads block %d: stamp %d\n", B, x);
  assert(read_your_writes && x == latest[B]);
  rpc = 1; pdone++
}
#define READ(B) :: d_step { rpc == 0 -> volume_read(B) }

active [READERS] proctype reader() {
  bit rpc = 0;                 /* 0: to read, 1: finished */
end_reader:
  do
  READ(0) READ(1) READ(2) READ(3) READ(4) READ(5)
  od
}
#endif

/* ====================================================================================
 * Image readers (Client::route_image, image_read, Untrack): one read of any one block of
 * the point-in-time image. Steps:
 *   route   (lock)  choose a block whose chunk is not in flight (image reads wait for
 *                   chunks being preserved); route it: snapshot if in the snapshot map,
 *                   else destination if copied, else source, and then track the chunk
 *                   (writes to it wait until the read is done)
 *   read    (I/O)   read it: it must be begin-time data (point-in-time image)
 *   untrack (lock)  if tracked: release the tracking
 * ==================================================================================== */
#if IMAGE_READERS > 0
#define I_START   0
#define I_READ    1
#define I_UNTRACK 2
#define I_FIN     3
#define D_SOURCE  0
#define D_SNAP    1
#define D_DEST    2

inline image_finish() {
  ipc = I_FIN; blk = 0; dev = 0; trk = 0; pdone++
}

inline route(B) {
  blk = B;
  if
  :: HAS(snapmap, B) -> dev = D_SNAP
  :: !HAS(snapmap, B) && HAS(copied, B) -> dev = D_DEST
  :: else -> dev = D_SOURCE
  fi;
  trk = (dev == D_SOURCE && !HAS(inflight, B));
  if
  :: trk -> tracked[B]++; trackmask = trackmask | BIT(B)
  :: else -> skip
  fi;
  ipc = I_READ;
  printf("image reader: routes block %d to device %d (0 source, 1 snapshot, 2 destination)\n", B, dev)
}
#if MUTANT == IMAGE_READ_DURING_PRESERVE
#define ROUTE(B) :: d_step { ipc == I_START -> route(B) }
#else
#define ROUTE(B) :: d_step { ipc == I_START && !HAS(inflight, B) -> route(B) }
#endif

active [IMAGE_READERS] proctype imagereader() {
  byte ipc = I_START;
  byte blk = 0;                /* its block, once chosen */
  byte dev = 0;                /* where it was routed */
  bit trk = 0;                 /* whether it tracks its chunk */
end_imagereader:
  do
  ROUTE(0) ROUTE(1) ROUTE(2) ROUTE(3) ROUTE(4) ROUTE(5)
  :: d_step { ipc == I_READ ->
       if
       :: dev == D_SOURCE -> x = src[blk]
       :: dev == D_SNAP -> x = snap[blk]
       :: else -> x = dst[blk]
       fi;
       printf("image reader: reads block %d: stamp %d\n", blk, x);
       assert(point_in_time_image && x == 0);
       if
       :: trk -> ipc = I_UNTRACK
       :: else -> image_finish()
       fi }
  :: d_step { ipc == I_UNTRACK ->
       tracked[blk]--;
       if
       :: tracked[blk] == 0 -> trackmask = trackmask & ~BIT(blk)
       :: else -> skip
       fi;
       image_finish() }
  od
}
#endif

/* ====================================================================================
 * Progress (cowlab's "progress: a state where no process can step is finished"). Every
 * process above ends at its loop head, where it also waits, so SPIN's own end-state
 * check cannot tell a finished process from a stuck one; the watchdog can: `timeout` is
 * executable only when no other statement of the system is, and then every process must
 * be finished. (A process that ended with a `break` would need one more local step, and
 * states, that cowlab's step machines do not have.)
 * ==================================================================================== */
active proctype watchdog() {
end_watchdog:
  do
  :: atomic { timeout -> assert(pdone == NPROCS) }
  od
}
