//! A small generic sync layer: the primitives the threaded driver uses, with one
//! implementation over `std` and one over `loom`, chosen by a type parameter.
//!
//! Selecting the implementation by type (not by `--cfg loom`) lets plain `cargo test` run
//! the same driver on real threads and under loom's model checker, with bounds each test
//! sets for itself.

use std::ops::{Deref, DerefMut};

/// Mutex, condition variable, atomic counter, `Arc` and threads of one platform.
///
/// Poisoning is not modelled: a panic on one thread is propagated by [`Platform::join`].
pub trait Platform: Sized + 'static {
    type Mutex<T: Send>: Send + Sync;
    type Guard<'a, T: Send + 'a>: DerefMut<Target = T>;
    type Condvar: Send + Sync;
    type Arc<T: Send + Sync>: Clone + Deref<Target = T> + Send + Sync;
    type AtomicU64: Send + Sync;
    type JoinHandle<T: Send + 'static>;

    fn mutex<T: Send>(value: T) -> Self::Mutex<T>;
    fn lock<T: Send>(mutex: &Self::Mutex<T>) -> Self::Guard<'_, T>;
    fn into_inner<T: Send>(mutex: Self::Mutex<T>) -> T;

    fn condvar() -> Self::Condvar;
    /// Releases the guard's mutex, sleeps until notified, and takes the mutex again.
    fn wait<'a, T: Send>(condvar: &Self::Condvar, guard: Self::Guard<'a, T>) -> Self::Guard<'a, T>;
    fn notify_all(condvar: &Self::Condvar);

    fn arc<T: Send + Sync>(value: T) -> Self::Arc<T>;
    /// The value, if this is the last reference.
    fn try_unwrap<T: Send + Sync>(arc: Self::Arc<T>) -> Result<T, Self::Arc<T>>;

    fn atomic(value: u64) -> Self::AtomicU64;
    /// Adds and returns the previous value (sequentially consistent).
    fn fetch_add(atomic: &Self::AtomicU64, value: u64) -> u64;
    fn load(atomic: &Self::AtomicU64) -> u64;

    fn spawn<F, T>(f: F) -> Self::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;
    fn join<T: Send + 'static>(handle: Self::JoinHandle<T>) -> std::thread::Result<T>;
}

/// Platforms of real threads, whose join handles say whether the thread has ended: what a
/// watchdog needs to tell a hung run from a slow one without joining.
pub trait RealThreads: Platform {
    fn is_finished<T: Send + 'static>(handle: &Self::JoinHandle<T>) -> bool;
}

impl RealThreads for Std {
    fn is_finished<T: Send + 'static>(handle: &Self::JoinHandle<T>) -> bool {
        handle.is_finished()
    }
}

/// loom mirrors std's API on purpose, so both platforms are the same code over a different
/// crate's `sync` and `thread` modules. Poisoning cannot happen under loom, and under std a panic while
/// holding a lock is already reported by `join`, so `lock` and `wait` only unwrap.
macro_rules! platform {
    ($(#[$doc:meta])* $name:ident, $krate:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $name {}

        impl Platform for $name {
            type Mutex<T: Send> = $krate::sync::Mutex<T>;
            type Guard<'a, T: Send + 'a> = $krate::sync::MutexGuard<'a, T>;
            type Condvar = $krate::sync::Condvar;
            type Arc<T: Send + Sync> = $krate::sync::Arc<T>;
            type AtomicU64 = $krate::sync::atomic::AtomicU64;
            type JoinHandle<T: Send + 'static> = $krate::thread::JoinHandle<T>;

            fn mutex<T: Send>(value: T) -> Self::Mutex<T> {
                <$krate::sync::Mutex<T>>::new(value)
            }
            fn lock<T: Send>(mutex: &Self::Mutex<T>) -> Self::Guard<'_, T> {
                mutex.lock().expect("a thread panicked holding the lock")
            }
            fn into_inner<T: Send>(mutex: Self::Mutex<T>) -> T {
                mutex
                    .into_inner()
                    .expect("a thread panicked holding the lock")
            }
            fn condvar() -> Self::Condvar {
                <$krate::sync::Condvar>::new()
            }
            fn wait<'a, T: Send>(
                condvar: &Self::Condvar,
                guard: Self::Guard<'a, T>,
            ) -> Self::Guard<'a, T> {
                condvar
                    .wait(guard)
                    .expect("a thread panicked holding the lock")
            }
            fn notify_all(condvar: &Self::Condvar) {
                condvar.notify_all()
            }
            fn arc<T: Send + Sync>(value: T) -> Self::Arc<T> {
                <$krate::sync::Arc<T>>::new(value)
            }
            fn try_unwrap<T: Send + Sync>(arc: Self::Arc<T>) -> Result<T, Self::Arc<T>> {
                <$krate::sync::Arc<T>>::try_unwrap(arc)
            }
            fn atomic(value: u64) -> Self::AtomicU64 {
                <$krate::sync::atomic::AtomicU64>::new(value)
            }
            fn fetch_add(atomic: &Self::AtomicU64, value: u64) -> u64 {
                atomic.fetch_add(value, std::sync::atomic::Ordering::SeqCst)
            }
            fn load(atomic: &Self::AtomicU64) -> u64 {
                atomic.load(std::sync::atomic::Ordering::SeqCst)
            }
            fn spawn<F, T>(f: F) -> Self::JoinHandle<T>
            where
                F: FnOnce() -> T + Send + 'static,
                T: Send + 'static,
            {
                $krate::thread::spawn(f)
            }
            fn join<T: Send + 'static>(handle: Self::JoinHandle<T>) -> std::thread::Result<T> {
                handle.join()
            }
        }
    };
}

platform!(
    /// Real threads and locks.
    Std,
    std
);

platform!(
    /// loom's model of threads and locks: only usable inside `loom::model` (or a
    /// `loom::model::Builder::check`), which runs the closure under every interleaving it
    /// explores.
    Loom,
    loom
);
