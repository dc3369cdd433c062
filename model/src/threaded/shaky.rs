//! Real threads with a seeded shake: std's threads and locks, with a pause (a yield, or a
//! short sleep) drawn from a seed before every lock is taken.
//!
//! On an idle machine the OS runs each thread's steps in long uninterrupted stretches, so the
//! windows the concurrency mutants need (another thread stepping between two steps of one
//! operation) rarely open on plain [`Std`]. Every step of the driver, and every gap a locking
//! mistake could open, begins with taking a lock: pausing there opens those windows without
//! the driver knowing. The draws are seeded per thread (the run's seed, then the thread's
//! place in spawn order), so a seed decides where the pauses fall; which interleaving that
//! yields is still up to the OS.

use super::platform::{Platform, RealThreads, Std};
use std::cell::Cell;
use std::time::Duration;

/// std threads and locks with seeded pauses before each lock.
#[derive(Debug)]
pub enum Shaky {}

thread_local! {
    /// This thread's pause draws; a spawned thread's stream is drawn from its parent's.
    static DRAWS: Cell<u64> = const { Cell::new(0) };
}

/// splitmix64: the next state and a well-mixed output of it.
fn draw() -> u64 {
    DRAWS.with(|state| {
        let s = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

impl Shaky {
    /// Seeds this thread's draws, and through them those of the threads it spawns next.
    pub fn seed(seed: u64) {
        DRAWS.with(|state| state.set(seed));
    }

    /// One in `YIELD_ONE_IN` pauses yields the core; one in `SLEEP_ONE_IN` sleeps for up to
    /// `SLEEP_MAX_US` microseconds (a sleep lets whole operations of other threads run; a
    /// yield, a step or two). Yields of 1/2 to 1/8 and sleeps of 1/4 to 1/128, up to 50 to
    /// 1000 us, caught the concurrency mutants about equally often (measured with pauses at
    /// the driver's step boundaries, which caught as often as pauses before every lock);
    /// these keep a stress run at a few milliseconds.
    const YIELD_ONE_IN: u64 = 4;
    const SLEEP_ONE_IN: u64 = 64;
    const SLEEP_MAX_US: u64 = 200;

    fn pause() {
        let d = draw();
        if d.is_multiple_of(Shaky::SLEEP_ONE_IN) {
            let us = 1 + (d >> 32) % Shaky::SLEEP_MAX_US;
            std::thread::sleep(Duration::from_micros(us));
        } else if d.is_multiple_of(Shaky::YIELD_ONE_IN) {
            std::thread::yield_now();
        }
    }
}

impl Platform for Shaky {
    type Mutex<T: Send> = <Std as Platform>::Mutex<T>;
    type Guard<'a, T: Send + 'a> = <Std as Platform>::Guard<'a, T>;
    type Condvar = <Std as Platform>::Condvar;
    type Arc<T: Send + Sync> = <Std as Platform>::Arc<T>;
    type AtomicU64 = <Std as Platform>::AtomicU64;
    type JoinHandle<T: Send + 'static> = <Std as Platform>::JoinHandle<T>;

    fn mutex<T: Send>(value: T) -> Self::Mutex<T> {
        Std::mutex(value)
    }
    fn lock<T: Send>(mutex: &Self::Mutex<T>) -> Self::Guard<'_, T> {
        Shaky::pause();
        Std::lock(mutex)
    }
    fn into_inner<T: Send>(mutex: Self::Mutex<T>) -> T {
        Std::into_inner(mutex)
    }
    fn condvar() -> Self::Condvar {
        Std::condvar()
    }
    fn wait<'a, T: Send>(condvar: &Self::Condvar, guard: Self::Guard<'a, T>) -> Self::Guard<'a, T> {
        Std::wait(condvar, guard)
    }
    fn notify_all(condvar: &Self::Condvar) {
        Std::notify_all(condvar)
    }
    fn arc<T: Send + Sync>(value: T) -> Self::Arc<T> {
        Std::arc(value)
    }
    fn try_unwrap<T: Send + Sync>(arc: Self::Arc<T>) -> Result<T, Self::Arc<T>> {
        Std::try_unwrap(arc)
    }
    fn atomic(value: u64) -> Self::AtomicU64 {
        Std::atomic(value)
    }
    fn fetch_add(atomic: &Self::AtomicU64, value: u64) -> u64 {
        Std::fetch_add(atomic, value)
    }
    fn load(atomic: &Self::AtomicU64) -> u64 {
        Std::load(atomic)
    }
    fn spawn<F, T>(f: F) -> Self::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let seed = draw();
        Std::spawn(move || {
            Shaky::seed(seed);
            f()
        })
    }
    fn join<T: Send + 'static>(handle: Self::JoinHandle<T>) -> std::thread::Result<T> {
        Std::join(handle)
    }
}

impl RealThreads for Shaky {
    fn is_finished<T: Send + 'static>(handle: &Self::JoinHandle<T>) -> bool {
        Std::is_finished(handle)
    }
}
