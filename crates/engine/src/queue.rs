//! A bounded queue between a capture thread and an encoder thread that drops
//! the oldest item when full, so capture never stalls behind a slow encoder.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

pub struct DropOldest<T> {
    inner: Mutex<Inner<T>>,
    ready: Condvar,
    capacity: usize,
}

struct Inner<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> DropOldest<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner { items: VecDeque::with_capacity(capacity), closed: false }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// Pushes an item; returns the item it dropped to make room, if any.
    pub fn push(&self, item: T) -> Option<T> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = if g.items.len() >= self.capacity { g.items.pop_front() } else { None };
        g.items.push_back(item);
        drop(g);
        self.ready.notify_one();
        dropped
    }

    /// Waits for an item; `None` once the queue is closed and empty.
    pub fn pop(&self) -> Option<T> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(item) = g.items.pop_front() {
                return Some(item);
            }
            if g.closed {
                return None;
            }
            g = self.ready.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.ready.notify_all();
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn drops_the_oldest_when_full_and_drains_after_close() {
        let q = DropOldest::new(2);
        assert_eq!(q.push(1), None);
        assert_eq!(q.push(2), None);
        assert_eq!(q.push(3), Some(1));
        q.close();
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn pop_wakes_on_push_from_another_thread() {
        let q = Arc::new(DropOldest::new(4));
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.pop());
        q.push(7);
        assert_eq!(t.join().unwrap(), Some(7));
    }
}
