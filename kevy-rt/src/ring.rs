//! A bounded lock-free single-producer single-consumer ring: Lamport's
//! queue with each side caching the other's index (as in rtrb and
//! Vyukov's SPSC queue), so a push or pop touches the shared cache line of
//! the other side only when its cached view says full or empty.
//!
//! Indices grow without bound (wrapping) and a slot is `index & mask`; the
//! ring is full when `tail - head == capacity`. The producer alone writes
//! `tail`, the consumer alone writes `head`.

#[cfg(loom)]
use loom::{
    cell::UnsafeCell,
    sync::atomic::{AtomicUsize, Ordering},
    sync::Arc,
};
#[cfg(not(loom))]
use std::{
    cell::UnsafeCell,
    sync::atomic::{AtomicUsize, Ordering},
    sync::Arc,
};

use std::mem::MaybeUninit;

/// Keeps a value on its own cache line (two lines: adjacent-line
/// prefetching makes 128 bytes the unit of false sharing on x86).
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

struct Slot<T>(UnsafeCell<MaybeUninit<T>>);

impl<T> Slot<T> {
    fn new() -> Self {
        Slot(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// # Safety
    /// The caller has exclusive access to this slot and it is empty.
    #[cfg(not(loom))]
    unsafe fn write(&self, v: T) {
        // SAFETY: exclusive access is the caller's precondition.
        unsafe { (*self.0.get()).write(v) };
    }

    /// # Safety
    /// The caller has exclusive access to this slot and it holds a value,
    /// which the caller now owns.
    #[cfg(not(loom))]
    unsafe fn read(&self) -> T {
        // SAFETY: exclusive access and initialisation are the caller's
        // preconditions.
        unsafe { (*self.0.get()).assume_init_read() }
    }

    /// # Safety
    /// As the non-loom `write`.
    #[cfg(loom)]
    unsafe fn write(&self, v: T) {
        // SAFETY: as above; loom checks the exclusive access.
        self.0.with_mut(|p| unsafe { (*p).write(v) });
    }

    /// # Safety
    /// As the non-loom `read`.
    #[cfg(loom)]
    unsafe fn read(&self) -> T {
        // SAFETY: as above; loom checks the exclusive access.
        self.0.with(|p| unsafe { (*p).assume_init_read() })
    }
}

struct Ring<T> {
    /// Next index to pop; written by the consumer only.
    head: Padded<AtomicUsize>,
    /// Next index to push; written by the producer only.
    tail: Padded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    mask: usize,
}

// SAFETY: the ring hands each `T` from exactly one thread (the producer) to
// exactly one other (the consumer); slots are accessed exclusively, as the
// index protocol below guarantees, so `T: Send` is all that is needed.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: as above; moving the ring moves owned `T`s, which are `Send`.
unsafe impl<T: Send> Send for Ring<T> {}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // Both handles are gone (the Arc is unique), so plain loads suffice.
        let mut head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Relaxed);
        while head != tail {
            // SAFETY: slots in [head, tail) hold values pushed and never
            // popped, and no other handle exists to touch them.
            drop(unsafe { self.slots[head & self.mask].read() });
            head = head.wrapping_add(1);
        }
    }
}

/// The sending end; exactly one exists per ring.
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    tail: usize,
    cached_head: usize,
}

/// The receiving end; exactly one exists per ring.
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    head: usize,
    cached_tail: usize,
}

/// A push into a full ring hands the value back.
#[derive(Debug, PartialEq, Eq)]
pub struct Full<T>(pub T);

/// A third thread's view of one ring's counts: how many values were
/// pushed and how many popped, ever (wrapping). The mover of a slot reads
/// every ring's to see that nothing is on its way (crate doc, "Moving
/// slots to the cores that have time").
#[cfg(not(loom))]
pub struct Probe(Arc<dyn Counts + Send + Sync>);

#[cfg(not(loom))]
trait Counts {
    fn counts(&self) -> (usize, usize);
}

#[cfg(not(loom))]
impl<T> Counts for Ring<T> {
    fn counts(&self) -> (usize, usize) {
        // Acquire pairs with each side's Release store of its index.
        (
            self.tail.0.load(Ordering::Acquire),
            self.head.0.load(Ordering::Acquire),
        )
    }
}

#[cfg(not(loom))]
impl Probe {
    /// `(pushed, popped)` so far.
    pub fn counts(&self) -> (usize, usize) {
        self.0.counts()
    }
}

/// A ring of `capacity` (rounded up to a power of two, at least 2) slots.
pub fn ring<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let cap = capacity.max(2).next_power_of_two();
    let ring = Arc::new(Ring {
        head: Padded(AtomicUsize::new(0)),
        tail: Padded(AtomicUsize::new(0)),
        slots: (0..cap).map(|_| Slot::new()).collect(),
        mask: cap - 1,
    });
    (
        Producer {
            ring: ring.clone(),
            tail: 0,
            cached_head: 0,
        },
        Consumer {
            ring,
            head: 0,
            cached_tail: 0,
        },
    )
}

impl<T> Producer<T> {
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// Appends `v`, or hands it back when the ring is full.
    pub fn push(&mut self, v: T) -> Result<(), Full<T>> {
        let cap = self.ring.mask + 1;
        if self.tail.wrapping_sub(self.cached_head) == cap {
            // Acquire pairs with the consumer's Release store of `head`: the
            // consumer's read of the slot we are about to reuse happened
            // before this point.
            self.cached_head = self.ring.head.0.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.cached_head) == cap {
                return Err(Full(v));
            }
        }
        let slot = &self.ring.slots[self.tail & self.ring.mask];
        debug_assert!(self.tail.wrapping_sub(self.cached_head) < cap);
        // SAFETY: the slot at `tail` is outside [head, tail) as the consumer
        // sees it (the ring is not full), so the consumer does not touch it
        // until we publish `tail + 1`; we are the only producer.
        unsafe { slot.write(v) };
        self.tail = self.tail.wrapping_add(1);
        // Release pairs with the consumer's Acquire load of `tail`: the slot
        // write above becomes visible before the new tail does.
        self.ring.tail.0.store(self.tail, Ordering::Release);
        Ok(())
    }
}

#[cfg(not(loom))]
impl<T: Send + 'static> Consumer<T> {
    /// A view of this ring's counts for a third thread.
    pub fn probe(&self) -> Probe {
        Probe(self.ring.clone())
    }
}

impl<T> Consumer<T> {
    /// Removes the oldest value, if any.
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.cached_tail {
            // Acquire pairs with the producer's Release store of `tail`.
            self.cached_tail = self.ring.tail.0.load(Ordering::Acquire);
            if self.head == self.cached_tail {
                return None;
            }
        }
        let slot = &self.ring.slots[self.head & self.ring.mask];
        // SAFETY: `head < tail` as published by the producer, so the slot
        // holds a value the producer no longer touches; we are the only
        // consumer, and advancing `head` below hands the slot back.
        let v = unsafe { slot.read() };
        self.head = self.head.wrapping_add(1);
        // Release pairs with the producer's Acquire load of `head`: our read
        // of the slot completes before the producer may overwrite it.
        self.ring.head.0.store(self.head, Ordering::Release);
        Some(v)
    }

    /// True when nothing was pushed that has not been popped. A push may
    /// make it non-empty at any time after this returns.
    pub fn is_empty(&self) -> bool {
        // Acquire pairs with the producer's Release store of `tail`.
        self.head == self.ring.tail.0.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomic;

    #[test]
    fn fifo_and_full_hands_value_back() {
        let (mut p, mut c) = ring::<u32>(3);
        assert_eq!(p.capacity(), 4);
        for i in 0..4 {
            p.push(i).unwrap();
        }
        assert_eq!(p.push(9), Err(Full(9)));
        assert_eq!(c.pop(), Some(0));
        p.push(4).unwrap();
        let got: Vec<_> = std::iter::from_fn(|| c.pop()).collect();
        assert_eq!(got, vec![1, 2, 3, 4]);
        assert!(c.is_empty());
    }

    #[test]
    fn drops_every_value_exactly_once() {
        static DROPS: StdAtomic = StdAtomic::new(0);
        struct D;
        impl Drop for D {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (mut p, mut c) = ring::<D>(8);
        for _ in 0..6 {
            assert!(p.push(D).is_ok());
        }
        drop(c.pop());
        drop(c.pop());
        assert_eq!(DROPS.load(Ordering::Relaxed), 2);
        drop(p);
        drop(c);
        assert_eq!(DROPS.load(Ordering::Relaxed), 6);
    }

    /// Two threads, millions of values through a small ring: every value
    /// arrives once, in order.
    #[test]
    fn two_thread_stress_keeps_fifo_order() {
        const N: u64 = 3_000_000;
        let (mut p, mut c) = ring::<u64>(64);
        let prod = std::thread::spawn(move || {
            let mut i = 0;
            while i < N {
                match p.push(i) {
                    Ok(()) => i += 1,
                    Err(Full(_)) => std::hint::spin_loop(),
                }
            }
        });
        let mut expect = 0;
        while expect < N {
            if let Some(v) = c.pop() {
                assert_eq!(v, expect);
                expect += 1;
            } else {
                std::hint::spin_loop();
            }
        }
        prod.join().unwrap();
        assert!(c.pop().is_none());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// Every interleaving of a producer pushing three values through a
    /// two-slot ring and a consumer popping them: FIFO, no loss, no
    /// duplication, and slot accesses never race (loom checks the cells).
    #[test]
    fn loom_spsc_fifo() {
        loom::model(|| {
            let (mut p, mut c) = ring::<usize>(2);
            let t = loom::thread::spawn(move || {
                for i in 0..3 {
                    let mut v = i;
                    loop {
                        match p.push(v) {
                            Ok(()) => break,
                            Err(Full(back)) => {
                                v = back;
                                loom::thread::yield_now();
                            }
                        }
                    }
                }
            });
            let mut got = 0;
            while got < 3 {
                match c.pop() {
                    Some(v) => {
                        assert_eq!(v, got);
                        got += 1;
                    }
                    None => loom::thread::yield_now(),
                }
            }
            t.join().unwrap();
        });
    }
}
