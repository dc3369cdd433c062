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

/// Real threads and locks.
#[derive(Debug)]
pub enum Std {}

impl Platform for Std {
    type Mutex<T: Send> = std::sync::Mutex<T>;
    type Guard<'a, T: Send + 'a> = std::sync::MutexGuard<'a, T>;
    type Condvar = std::sync::Condvar;
    type Arc<T: Send + Sync> = std::sync::Arc<T>;
    type AtomicU64 = std::sync::atomic::AtomicU64;
    type JoinHandle<T: Send + 'static> = std::thread::JoinHandle<T>;

    fn mutex<T: Send>(value: T) -> Self::Mutex<T> {
        std::sync::Mutex::new(value)
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
        std::sync::Condvar::new()
    }
    fn wait<'a, T: Send>(condvar: &Self::Condvar, guard: Self::Guard<'a, T>) -> Self::Guard<'a, T> {
        condvar
            .wait(guard)
            .expect("a thread panicked holding the lock")
    }
    fn notify_all(condvar: &Self::Condvar) {
        condvar.notify_all()
    }
    fn arc<T: Send + Sync>(value: T) -> Self::Arc<T> {
        std::sync::Arc::new(value)
    }
    fn try_unwrap<T: Send + Sync>(arc: Self::Arc<T>) -> Result<T, Self::Arc<T>> {
        std::sync::Arc::try_unwrap(arc)
    }
    fn atomic(value: u64) -> Self::AtomicU64 {
        std::sync::atomic::AtomicU64::new(value)
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
        std::thread::spawn(f)
    }
    fn join<T: Send + 'static>(handle: Self::JoinHandle<T>) -> std::thread::Result<T> {
        handle.join()
    }
}

/// loom's model of threads and locks: only usable inside `loom::model` (or a
/// `loom::model::Builder::check`), which runs the closure under every interleaving it
/// explores.
#[derive(Debug)]
pub enum Loom {}

impl Platform for Loom {
    type Mutex<T: Send> = loom::sync::Mutex<T>;
    type Guard<'a, T: Send + 'a> = loom::sync::MutexGuard<'a, T>;
    type Condvar = loom::sync::Condvar;
    type Arc<T: Send + Sync> = loom::sync::Arc<T>;
    type AtomicU64 = loom::sync::atomic::AtomicU64;
    type JoinHandle<T: Send + 'static> = loom::thread::JoinHandle<T>;

    fn mutex<T: Send>(value: T) -> Self::Mutex<T> {
        loom::sync::Mutex::new(value)
    }
    fn lock<T: Send>(mutex: &Self::Mutex<T>) -> Self::Guard<'_, T> {
        mutex.lock().expect("loom mutexes do not poison")
    }
    fn into_inner<T: Send>(mutex: Self::Mutex<T>) -> T {
        mutex.into_inner().expect("loom mutexes do not poison")
    }
    fn condvar() -> Self::Condvar {
        loom::sync::Condvar::new()
    }
    fn wait<'a, T: Send>(condvar: &Self::Condvar, guard: Self::Guard<'a, T>) -> Self::Guard<'a, T> {
        condvar.wait(guard).expect("loom mutexes do not poison")
    }
    fn notify_all(condvar: &Self::Condvar) {
        condvar.notify_all()
    }
    fn arc<T: Send + Sync>(value: T) -> Self::Arc<T> {
        loom::sync::Arc::new(value)
    }
    fn try_unwrap<T: Send + Sync>(arc: Self::Arc<T>) -> Result<T, Self::Arc<T>> {
        loom::sync::Arc::try_unwrap(arc)
    }
    fn atomic(value: u64) -> Self::AtomicU64 {
        loom::sync::atomic::AtomicU64::new(value)
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
        loom::thread::spawn(f)
    }
    fn join<T: Send + 'static>(handle: Self::JoinHandle<T>) -> std::thread::Result<T> {
        handle.join()
    }
}
