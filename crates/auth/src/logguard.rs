//! Keeps secrets out of logs. The AWS SDK logs whole HTTP requests and
//! responses at TRACE (bodies included: passwords, tokens, TOTP secrets) and
//! error responses at DEBUG; some Cognito-compatible servers echo tokens in
//! error messages. Every SDK call of this crate runs under [`guard`], which
//! drops DEBUG and TRACE events and spans of the SDK and HTTP stacks whatever
//! subscriber the application installed; everything else passes through to it.

use std::future::Future;

use tracing::instrument::WithSubscriber;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};

/// Targets whose DEBUG/TRACE output may carry request or response bodies.
const NOISY: &[&str] = &[
    "aws_smithy",
    "aws_sdk",
    "aws_runtime",
    "aws_config",
    "aws_types",
    "aws_credential_types",
    "hyper",
    "h2",
    "tower",
    "rustls",
    "ureq",
];

pub(crate) fn blocked(meta: &Metadata<'_>) -> bool {
    *meta.level() > tracing::Level::INFO && NOISY.iter().any(|t| meta.target().starts_with(t))
}

struct Guard {
    inner: Dispatch,
}

impl Subscriber for Guard {
    fn register_callsite(&self, _meta: &'static Metadata<'static>) -> Interest {
        // decided per event in `enabled`, so the inner subscriber's cached "always" cannot bypass us
        Interest::sometimes()
    }
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        !blocked(meta) && self.inner.enabled(meta)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.inner.new_span(span)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values)
    }
    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows)
    }
    fn event(&self, event: &Event<'_>) {
        if !blocked(event.metadata()) {
            self.inner.event(event)
        }
    }
    fn enter(&self, span: &Id) {
        self.inner.enter(span)
    }
    fn exit(&self, span: &Id) {
        self.inner.exit(span)
    }
    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }
    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }
    fn current_span(&self) -> tracing_core::span::Current {
        self.inner.current_span()
    }
}

/// Runs `fut` (an SDK call) with SDK/HTTP DEBUG and TRACE output dropped.
pub fn guard<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let inner = tracing::dispatcher::get_default(|d| d.clone());
    fut.with_subscriber(Dispatch::new(Guard { inner }))
}
