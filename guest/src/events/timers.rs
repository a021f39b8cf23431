//! The loop's timers, asyncio's `_scheduled` heap: earliest first, and in scheduling order
//! among timers due at the same time.
//!
//! The heap holds only compact entries, 16 bytes each: the due time as an ordered integer
//! and a word of the scheduling order (high half) and the handle's key (low half). The
//! handles sit in a slab beside it. So a pop's sift compares four children that share one
//! or two cache lines and never follows a pointer, which matters when the heap outgrows the
//! cache (100k timers: 1.6 MB instead of the 3.2 MB of entries holding their handles, and
//! no handle read per comparison).
//!
//! Cancelling a timer takes its handle out of the slab at once (what the callback captured
//! is freed then, not when the timer would have been due) and leaves its heap entry behind,
//! lazily removed as asyncio does: popped when it reaches the top, or purged with all the
//! others when they are more than half of the heap. The slab keeps the entry's key reserved
//! (as `None`) until then, so a stale heap entry never names another timer's handle.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;

use slab::Slab;

/// What the timers hold: a timer's handle, which only identity tells apart from another
/// (the loop's `Handle`; the timers know no more of it, so handles may name the timers).
pub(crate) trait Identity {
    /// Whether both are one timer.
    fn same(&self, other: &Self) -> bool;
}

/// asyncio purges cancelled timers from the heap when they are over this many and over
/// half of it (`_MIN_SCHEDULED_TIMER_HANDLES`, `_MIN_CANCELLED_TIMER_HANDLES_FRACTION`).
const MIN_SCHEDULED_TIMER_HANDLES: usize = 100;

/// A timer in the heap: ordered by due time, then by scheduling order.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// The due time, as [`order_key`] makes it.
    due: u64,
    /// The scheduling order (high 32 bits, unique among the entries) and the slab key of the
    /// handle (low 32 bits, never compared: the order decides first).
    order_and_key: u64,
}

impl Entry {
    fn key(self) -> usize {
        (self.order_and_key & u64::from(u32::MAX)) as usize
    }

    fn with_order(self, order: u32) -> Entry {
        Entry {
            due: self.due,
            order_and_key: (u64::from(order) << 32) | (self.order_and_key & u64::from(u32::MAX)),
        }
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed, so that the heap (a max-heap) pops the earliest timer first.
    fn cmp(&self, other: &Entry) -> Ordering {
        (other.due, other.order_and_key).cmp(&(self.due, self.order_and_key))
    }
}

/// `when` as an integer that orders as `f64::total_cmp` orders the times.
fn order_key(when: f64) -> u64 {
    let bits = when.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// The timers of a loop: a 4-ary heap of compact entries and a slab of handles.
pub(crate) struct Timers<H> {
    heap: RefCell<dary_heap::QuaternaryHeap<Entry>>,
    /// The handles by key; `None` for a cancelled timer whose heap entry is still there.
    handles: RefCell<Slab<Option<H>>>,
    /// The scheduling order of the next timer. When it runs out, the timers in the heap are
    /// numbered again from 0 in their order (see [`Timers::renumber`]).
    next_order: Cell<u32>,
    /// The cancelled timers whose entries are still in the heap.
    cancelled: Cell<usize>,
    /// At least the latest due time in the heap (as [`order_key`] makes it): exact while
    /// timers are only added, an upper bound once some left, reset when the heap empties.
    latest: Cell<u64>,
}

impl<H: Identity> Timers<H> {
    pub(crate) fn new() -> Timers<H> {
        Timers::starting_at(0)
    }

    fn starting_at(order: u32) -> Timers<H> {
        Timers {
            heap: RefCell::new(dary_heap::QuaternaryHeap::new()),
            handles: RefCell::new(Slab::new()),
            next_order: Cell::new(order),
            cancelled: Cell::new(0),
            latest: Cell::new(0),
        }
    }

    /// The key the next timer pushed gets (its handle holds it, to leave when cancelled).
    pub(crate) fn next_key(&self) -> u32 {
        let key = self.handles.borrow().vacant_key();
        // A wasm32 guest cannot hold 2^32 timers: its memory would not hold their handles.
        u32::try_from(key).expect("fewer than 2^32 timers")
    }

    /// Adds `handle`, due at `when` (not NaN), under [`Timers::next_key`]; returns the key.
    pub(crate) fn push(&self, when: f64, handle: H) -> u32 {
        if self.next_order.get() == u32::MAX {
            self.renumber();
        }
        let order = self.next_order.get();
        self.next_order.set(order + 1);
        let key = self.next_key();
        self.handles.borrow_mut().insert(Some(handle));
        let due = order_key(when);
        self.latest.set(self.latest.get().max(due));
        self.heap.borrow_mut().push(Entry {
            due,
            order_and_key: (u64::from(order) << 32) | u64::from(key),
        });
        key
    }

    /// Numbers the timers in the heap 0, 1, 2... in their order, so that scheduling
    /// order never wraps around (after 2^32 - 1 timers scheduled, at most once per 2^32 -
    /// 1 - len timers: a sort of the heap then, a cost spread over billions of pushes).
    fn renumber(&self) {
        let mut heap = self.heap.borrow_mut();
        let mut entries = std::mem::take(&mut *heap).into_vec();
        // Ascending in time: the reverse of the heap's order.
        entries.sort_unstable_by(|a, b| b.cmp(a));
        let mut order = 0u32;
        for entry in &mut entries {
            *entry = entry.with_order(order);
            order += 1;
        }
        self.next_order.set(order);
        *heap = dary_heap::QuaternaryHeap::from(entries);
    }

    /// Takes a cancelled timer's handle out (the handle calls this when cancelled, with its
    /// key) and counts it for purging; nothing if the key no longer holds that handle (it
    /// came due and left, and the key may be another timer's now).
    pub(crate) fn cancel(&self, key: u32, handle: &H) {
        let gone = match self.handles.try_borrow_mut() {
            Ok(mut handles) => match handles.get_mut(key as usize) {
                Some(slot) if slot.as_ref().is_some_and(|h| h.same(handle)) => slot.take(),
                _ => None,
            },
            // The loop is moving handles (it never runs a callback meanwhile, but a drop
            // might cancel): the handle stays, marked cancelled, and the loop skips it when
            // it comes due, as it skips any cancelled handle.
            Err(_) => None,
        };
        if gone.is_some() {
            self.cancelled.set(self.cancelled.get() + 1);
        }
        // Dropped outside the borrow: a handle's drop may reach the timers again.
        drop(gone);
    }

    /// The due time of the earliest timer, cancelled or not.
    pub(crate) fn earliest(&self) -> Option<f64> {
        self.heap.borrow().peek().map(|top| from_order_key(top.due))
    }

    /// Moves every timer due before `end` (loop time) to `due`, earliest first, dropping the
    /// cancelled ones it meets on the way.
    ///
    /// When every timer is due (a burst of timers, a loop that was busy), one sort of the
    /// entries replaces a pop per timer: a pop sifts through the whole depth of the heap and
    /// misses the cache at each level once the heap outgrows it, a sort walks the entries
    /// in order (100k timers: ~60 ns less per timer).
    pub(crate) fn pop_due(&self, end: f64, mut due: impl FnMut(H)) {
        let end = order_key(end);
        let mut heap = self.heap.borrow_mut();
        let mut handles = self.handles.borrow_mut();
        if heap.len() > 1 && self.latest.get() < end {
            let mut entries = std::mem::take(&mut *heap).into_vec();
            // The cancelled go first, so that the sort has only the others to order.
            drop_cancelled(&mut entries, &mut handles);
            self.cancelled.set(0);
            // Ascending in time: the reverse of the heap's order.
            entries.sort_unstable_by(|a, b| b.cmp(a));
            for entry in entries.drain(..) {
                if let Some(handle) = handles.try_remove(entry.key()).flatten() {
                    due(handle);
                }
            }
            // The emptied vector keeps its room for the next timers.
            *heap = dary_heap::QuaternaryHeap::from(entries);
            self.latest.set(0);
            return;
        }
        while let Some(&top) = heap.peek() {
            let key = top.key();
            let cancelled = matches!(handles.get(key), Some(None));
            if !cancelled && top.due >= end {
                break;
            }
            heap.pop();
            match handles.try_remove(key).flatten() {
                Some(handle) => {
                    due(handle);
                }
                None => self.cancelled.set(self.cancelled.get().saturating_sub(1)),
            }
        }
    }

    /// Drops the cancelled timers' entries when they are many, so that a heap of cancelled
    /// timeouts does not grow without bound (asyncio does the same).
    ///
    /// Every iteration asks, so the common answer (nothing cancelled) is one read.
    #[inline]
    pub(crate) fn purge_cancelled(&self) {
        let cancelled = self.cancelled.get();
        if cancelled <= MIN_SCHEDULED_TIMER_HANDLES / 2 {
            return;
        }
        let len = self.heap.borrow().len();
        if len <= MIN_SCHEDULED_TIMER_HANDLES || cancelled * 2 <= len {
            return;
        }
        let mut heap = self.heap.borrow_mut();
        let mut handles = self.handles.borrow_mut();
        let mut entries = std::mem::take(&mut *heap).into_vec();
        drop_cancelled(&mut entries, &mut handles);
        *heap = dary_heap::QuaternaryHeap::from(entries);
        self.cancelled.set(0);
    }

    /// The number of timers in the heap, cancelled ones included.
    pub(crate) fn len(&self) -> usize {
        self.heap.borrow().len()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.borrow().is_empty()
    }

    /// Takes every timer out (the loop closes); the caller drops them, outside any borrow.
    pub(crate) fn take_all(&self) -> Vec<H> {
        self.heap.borrow_mut().clear();
        self.cancelled.set(0);
        let handles = std::mem::take(&mut *self.handles.borrow_mut());
        handles
            .into_iter()
            .filter_map(|(_, handle)| handle)
            .collect()
    }
}

/// The time [`order_key`] made `key` of.
fn from_order_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

/// Drops the entries of cancelled timers, and frees their keys.
fn drop_cancelled<H>(entries: &mut Vec<Entry>, handles: &mut Slab<Option<H>>) {
    entries.retain(|entry| {
        let live = matches!(handles.get(entry.key()), Some(Some(_)));
        if !live {
            handles.try_remove(entry.key());
        }
        live
    });
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;

    /// A timer's handle for these tests: its time, told apart by identity.
    #[derive(Clone)]
    struct Handle(Rc<f64>);

    impl Handle {
        fn when(&self) -> f64 {
            *self.0
        }
    }

    impl Identity for Handle {
        fn same(&self, other: &Handle) -> bool {
            Rc::ptr_eq(&self.0, &other.0)
        }
    }

    fn handle(when: f64) -> Handle {
        Handle(Rc::new(when))
    }

    fn drain(timers: &Timers<Handle>) -> Vec<f64> {
        let mut out = Vec::new();
        timers.pop_due(f64::INFINITY, |h| out.push(h.when()));
        out
    }

    #[test]
    fn order_keys_order_as_total_cmp() {
        let times = [-1e9, -1.5, -0.0, 0.0, 1e-9, 0.5, 3.0, 1e300, f64::INFINITY];
        for pair in times.windows(2) {
            assert!(order_key(pair[0]) < order_key(pair[1]), "{pair:?}");
        }
        for t in times {
            assert_eq!(from_order_key(order_key(t)).to_bits(), t.to_bits());
        }
    }

    #[test]
    fn the_earliest_pops_first_then_the_first_scheduled() {
        let timers = Timers::new();
        let mut keys = Vec::new();
        for (i, when) in [3.0, 1.0, 2.0, 1.0, 1.0].into_iter().enumerate() {
            // The fractional part tells the timers due at the same time apart.
            let h = handle(when + i as f64 * 1e-3);
            keys.push(timers.push(when, h));
        }
        let order: Vec<usize> = {
            let mut out = Vec::new();
            timers.pop_due(f64::INFINITY, |h| {
                out.push((h.when().fract() * 1e3).round() as usize)
            });
            out
        };
        assert_eq!(order, [1, 3, 4, 2, 0]);
    }

    #[test]
    fn only_timers_due_before_the_end_pop() {
        let timers = Timers::new();
        for when in [1.0, 2.0, 3.0] {
            timers.push(when, handle(when));
        }
        let mut out = Vec::new();
        timers.pop_due(2.5, |h| out.push(h.when()));
        assert_eq!(out, [1.0, 2.0]);
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.earliest(), Some(3.0));
    }

    #[test]
    fn cancelled_timers_are_skipped_and_their_keys_not_reused_while_queued() {
        let timers = Timers::new();
        let h = handle(1.0);
        let first = timers.push(1.0, h.clone());
        timers.cancel(first, &h);
        // The cancelled timer's key stays reserved: the next one gets another.
        let second = timers.push(2.0, handle(2.0));
        assert_ne!(first, second);
        assert_eq!(timers.earliest(), Some(1.0));
        assert_eq!(drain(&timers), [2.0]);
        assert_eq!((timers.len(), timers.cancelled.get()), (0, 0));
    }

    #[test]
    fn cancelling_a_timer_that_left_does_not_touch_the_next_one_under_its_key() {
        let timers = Timers::new();
        let fired = handle(1.0);
        let key = timers.push(1.0, fired.clone());
        assert_eq!(drain(&timers), [1.0]);
        let next = handle(2.0);
        assert_eq!(timers.push(2.0, next.clone()), key, "the key is free again");
        timers.cancel(key, &fired);
        assert_eq!(timers.cancelled.get(), 0);
        assert_eq!(drain(&timers), [2.0]);
    }

    #[test]
    fn more_than_half_cancelled_are_purged() {
        let timers = Timers::new();
        let pushed: Vec<(u32, Handle)> = (0..200)
            .map(|i| {
                let h = handle(f64::from(i));
                (timers.push(f64::from(i), h.clone()), h)
            })
            .collect();
        for (key, h) in pushed.iter().take(100) {
            timers.cancel(*key, h);
        }
        timers.purge_cancelled();
        assert_eq!(
            timers.len(),
            200,
            "exactly half cancelled: kept, as asyncio does"
        );
        timers.cancel(pushed[100].0, &pushed[100].1);
        timers.purge_cancelled();
        assert_eq!((timers.len(), timers.cancelled.get()), (99, 0));
        assert_eq!(timers.handles.borrow().len(), 99);
        assert_eq!(drain(&timers).first(), Some(&101.0));
    }

    #[test]
    fn popping_some_then_all_gives_the_order_of_a_sort() {
        // Pseudo-random times with many ties, a third cancelled; popped first up to a
        // time (one pop at a time), then all at once (the sorted drain).
        let timers = Timers::new();
        let mut expected = Vec::new();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for i in 0..3000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let when = f64::from((x % 50) as u32) - 10.0;
            let id = f64::from(i) * 1e-6;
            let h = handle(id);
            let key = timers.push(when, h.clone());
            if i % 3 == 0 {
                timers.cancel(key, &h);
            } else {
                expected.push((when, i));
            }
        }
        expected.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut got = Vec::new();
        let mut take = |h: Handle| got.push((h.when() * 1e6).round() as u32);
        timers.pop_due(5.0, &mut take);
        timers.pop_due(f64::INFINITY, &mut take);
        let expected: Vec<u32> = expected.into_iter().map(|(_, i)| i).collect();
        assert_eq!(got, expected);
        assert_eq!((timers.len(), timers.cancelled.get()), (0, 0));
        assert_eq!(timers.handles.borrow().len(), 0);
    }

    #[test]
    fn running_out_of_order_numbers_keeps_the_order() {
        let timers = Timers::starting_at(u32::MAX - 3);
        for (i, when) in [2.0, 1.0, 2.0, 1.0, 2.0, 1.0].into_iter().enumerate() {
            let h = handle(when + i as f64 * 1e-3);
            timers.push(when, h);
        }
        assert!(timers.next_order.get() < 10, "numbered again from 0");
        let mut out = Vec::new();
        timers.pop_due(f64::INFINITY, |h| {
            out.push((h.when().fract() * 1e3).round() as usize)
        });
        assert_eq!(out, [1, 3, 5, 0, 2, 4]);
    }
}
