//! Where requests come from (a generator, open or closed loop, or a trace) and how each
//! arrives: a client process of its own.

use super::*;

/// Where requests come from.
pub(super) enum Source {
    Open(Generator),
    Closed {
        gen: Generator,
        think_ns: u64,
        until: Option<u64>,
    },
    Trace(Trace),
}

impl SimConfig {
    /// The run's trace, opened for reading (`None` when it replays a generated workload).
    pub fn open_trace(&self) -> Result<Option<Trace>, SimError> {
        let Some(path) = &self.trace else {
            return Ok(None);
        };
        let block = std::num::NonZeroU64::new(self.block_size)
            .ok_or_else(|| ConfigError::new("--block-size", "0", "must be at least one byte"))?;
        let reader = self
            .trace_format
            .open(path, block, Some(self.volume))
            .map_err(|error| SimError::TraceOpen {
                path: path.clone(),
                error,
            })?;
        // An empty trace would run a copy with no writes at all: say so instead.
        let mut reader = reader.peekable();
        if reader.peek().is_none() {
            return Err(SimError::EmptyTrace { path: path.clone() });
        }
        Ok(Some(Box::new(reader)))
    }
}

pub(super) fn source(cfg: &SimConfig) -> Result<Source, SimError> {
    if let Some(reader) = cfg.open_trace()? {
        return Ok(Source::Trace(reader));
    }
    let gen = Generator::new(&cfg.workload, cfg.seed)
        .map_err(|e| {
            ConfigError::new(
                &format!("--{}", e.field.replace('_', "-")),
                &e.value,
                &e.reason,
            )
        })?
        .with_guest_durability(cfg.guest, cfg.seed);
    Ok(match cfg.workload.arrivals {
        Arrivals::Open { .. } => Source::Open(gen),
        Arrivals::Closed { think_ns, .. } => Source::Closed {
            gen,
            think_ns,
            until: match cfg.workload.stop {
                Stop::Duration(t) => Some(t),
                Stop::Writes(_) => None,
            },
        },
    })
}

impl<S: BlockStore, G: Ghost, V: Verify<S, G>> Sim<'_, S, G, V> {
    pub(super) fn start_source(&mut self) -> Result<(), SimError> {
        match &mut self.source {
            Source::Closed { .. } => {
                let writers = match self.cfg.workload.arrivals {
                    Arrivals::Closed { writers, .. } => writers,
                    Arrivals::Open { .. } => 0,
                };
                for w in 0..writers {
                    self.at(0, Due::Think(w));
                }
            }
            _ => self.arrival_next()?,
        }
        Ok(())
    }

    /// Schedules the next open-loop or traced arrival.
    pub(super) fn arrival_next(&mut self) -> Result<(), SimError> {
        let next = match &mut self.source {
            Source::Open(gen) => gen.next_arrival(),
            Source::Trace(reader) => reader.next().transpose()?,
            Source::Closed { .. } => None,
        };
        match next {
            Some(a) => {
                self.pending = Some(a.request);
                self.at(a.at, Due::Arrival);
            }
            None => self.arrivals_end = Some(self.now),
        }
        Ok(())
    }

    pub(super) fn arrival(&mut self) -> Result<(), SimError> {
        let request = self.pending.take().expect("an arrival carries a request");
        self.admit(request, None)?;
        self.arrival_next()
    }

    pub(super) fn think_done(&mut self, writer: u32) -> Result<(), SimError> {
        let Source::Closed { gen, until, .. } = &mut self.source else {
            return Ok(());
        };
        let request = match until.is_some_and(|end| self.now >= end) {
            true => None,
            false => gen.next_request(),
        };
        match request {
            Some(r) => self.admit(r, Some(writer))?,
            None => {
                self.arrivals_end.get_or_insert(self.now);
            }
        }
        Ok(())
    }

    /// A request arrives: a client process of its own, stepping now.
    pub(super) fn admit(&mut self, request: Request, writer: Option<u32>) -> Result<(), SimError> {
        let g = &self.spec.geometry;
        let flush = request.op == Op::Flush;
        if flush && !self.spec.volatile {
            // Without volatile caches a FLUSH has nothing to do: it completes at once.
            if let (Some(w), Source::Closed { think_ns, .. }) = (writer, &self.source) {
                let think = *think_ns;
                self.at(self.now.saturating_add(think), Due::Think(w));
            }
            return Ok(());
        }
        let mut blocks = match flush {
            true => 0..0,
            false => g
                .blocks_of(request.offset, request.len)
                .map_err(|e| ConfigError::new("--workload", "", e))?,
        };
        if self.spec.volumes().len() > 1 && !flush {
            // A request belongs to one volume: one that runs past its end is cut there.
            let v = self.spec.volume_of(blocks.start);
            blocks.end = blocks.end.min(self.spec.volume_blocks(v).end);
        }
        let write = request.op == Op::Write;
        let id = match write {
            true => {
                if self.writes_issued >= MAX_WRITES {
                    return Err(SimError::TooManyWrites { max: MAX_WRITES });
                }
                self.writes_issued += 1;
                self.live_writes += 1;
                (self.writes_issued - 1) as u32
            }
            false => 0,
        };
        let resolved = Resolved {
            op: request.op,
            blocks,
            write: id,
            fua: request.fua,
        };
        let pid = match self.free.pop() {
            Some(p) => p as Pid,
            None => {
                self.slots.push(Slot::default());
                self.world.procs.len()
            }
        };
        let client = Process::Client(Client::with_request(pid, resolved));
        match pid == self.world.procs.len() {
            true => self.world.procs.push(client),
            false => self.world.procs[pid] = client,
        }
        let slot = &mut self.slots[pid];
        slot.arrived = self.now;
        slot.write = write;
        slot.held = false;
        slot.failed = false;
        self.aside.forget(pid);
        slot.writer = writer.map(|w| NonZeroU32::new(w + 1).expect("w + 1 > 0"));
        self.attempt(pid);
        Ok(())
    }
}
