//! A one-shot signal between tasks of one core: set once, it wakes every task waiting for it
//! (an HTTP/2 connection being opened, a cache fill being fetched). No lock: `Cell`/`RefCell`.

use std::cell::{Cell, RefCell};
use std::task::{Poll, Waker};

/// Set once; [`Signal::wait`] resolves from then on.
#[derive(Default)]
pub(crate) struct Signal {
    done: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Signal {
    /// Sets it and wakes every waiting task.
    pub(crate) fn finish(&self) {
        self.done.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Resolves once it is set.
    pub(crate) async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.done.get() {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}
