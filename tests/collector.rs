//! AsyncCollector: values in order, done, error, abandonment, and misuse.

mod common;

use std::thread;

use duet::{AsyncCollector, CollectorError};
use futures::StreamExt;
use tokio_test::{assert_pending, assert_ready_eq};

#[test]
fn done_delivers_every_value_in_order_then_ends() {
    let out = duet::run_scope(async |s| {
        let (collector, stream) = AsyncCollector::<u32>::new();
        s.spawn(async move {
            for i in 0..5 {
                collector.add(i).unwrap();
                if i % 2 == 0 {
                    duet::yield_now().await;
                }
            }
            collector.done().unwrap();
        });
        Ok::<_, std::convert::Infallible>(stream.collect::<Vec<_>>().await)
    });
    assert_eq!(out.unwrap(), [Ok(0), Ok(1), Ok(2), Ok(3), Ok(4)]);
}

#[test]
fn error_delivers_the_values_added_before_it_then_the_error_then_ends() {
    let (collector, mut stream) = AsyncCollector::<u32, &str>::new();
    collector.add(1).unwrap();
    collector.add(2).unwrap();
    collector.error("lost connection").unwrap();
    let got = duet::run(async {
        let mut got = Vec::new();
        while let Some(item) = stream.next().await {
            got.push(item);
        }
        // Fused: it stays ended.
        assert_eq!(stream.next().await, None);
        got
    });
    assert_eq!(
        got,
        [Ok(1), Ok(2), Err(CollectorError::Failed("lost connection"))]
    );
}

#[test]
fn adding_after_done_is_an_error_that_returns_the_value() {
    let (collector, stream) = AsyncCollector::<String>::new();
    collector.add("kept".into()).unwrap();
    collector.done().unwrap();
    let err = collector.add("late".into()).unwrap_err();
    assert!(err.is_finished());
    assert_eq!(
        err.to_string(),
        "duet: the AsyncCollector has already finished (done() or error() was called); \
         nothing can be added or reported after that"
    );
    assert_eq!(err.into_inner(), "late");
    let got: Vec<_> = duet::run(stream.collect());
    assert_eq!(got, [Ok("kept".to_string())]);
}

#[test]
fn only_the_first_ending_counts_and_a_rejected_error_is_handed_back() {
    let (collector, stream) = AsyncCollector::<u8, &str>::new();
    collector.done().unwrap();
    assert!(collector.done().unwrap_err().is_finished());
    let rejected = collector.error("too late").unwrap_err();
    assert_eq!(rejected.into_inner(), "too late");
    let got: Vec<_> = duet::run(stream.collect());
    assert_eq!(got, []);
}

#[test]
fn dropping_every_handle_without_finishing_is_reported_as_abandoned() {
    let out = duet::run_scope(async |s| {
        let (collector, stream) = AsyncCollector::<u32>::new();
        let producer = s.spawn(async move {
            collector.add(7).unwrap();
            futures::future::pending::<()>().await; // cancelled below, never says done
        });
        let mut stream = stream;
        let first = stream.next().await;
        producer.cancel();
        let rest: Vec<_> = stream.collect().await;
        Ok::<_, std::convert::Infallible>((first, rest))
    });
    let (first, rest) = out.unwrap();
    assert_eq!(first, Some(Ok(7)));
    assert_eq!(rest, [Err(CollectorError::Abandoned)]);
    assert_eq!(
        CollectorError::<String>::Abandoned.to_string(),
        "every AsyncCollector handle was dropped without calling done() or error(); the values \
         received may be incomplete (was the producer cancelled?)"
    );
}

#[test]
fn adding_after_the_consumer_dropped_its_stream_is_an_error() {
    let (collector, stream) = AsyncCollector::<u8>::new();
    drop(stream);
    assert!(collector.is_closed());
    let err = collector.add(1).unwrap_err();
    assert!(!err.is_finished());
    assert_eq!(
        err.to_string(),
        "duet: the AsyncCollector's stream was dropped; nobody will read what is added"
    );
}

#[test]
fn the_consumer_is_woken_by_each_add_and_by_done() {
    let (collector, stream) = AsyncCollector::<u8>::new();
    let mut stream = tokio_test::task::spawn(stream);
    assert_pending!(stream.poll_next());
    collector.add(1).unwrap();
    assert!(stream.is_woken());
    assert_ready_eq!(stream.poll_next(), Some(Ok(1)));
    assert_pending!(stream.poll_next());
    collector.done().unwrap();
    assert!(stream.is_woken());
    assert_ready_eq!(stream.poll_next(), None);
}

#[test]
fn clones_feed_one_stream_and_done_from_any_finishes_it_for_all() {
    let (a, stream) = AsyncCollector::<&str>::new();
    let b = a.clone();
    a.add("from a").unwrap();
    b.add("from b").unwrap();
    b.done().unwrap();
    assert!(a.add("after b's done").unwrap_err().is_finished());
    let got: Vec<_> = duet::run(stream.collect());
    assert_eq!(got, [Ok("from a"), Ok("from b")]);
}

#[test]
fn a_producer_on_another_thread_wakes_the_loop() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AsyncCollector<u64, String>>();

    let (collector, stream) = AsyncCollector::<u64, String>::new();
    let producer = thread::spawn(move || {
        for i in 0..1000 {
            collector.add(i).unwrap();
        }
        collector.done().unwrap();
    });
    let sum = duet::run(async {
        let mut stream = stream;
        let mut sum = 0;
        while let Some(item) = stream.next().await {
            sum += item.unwrap();
        }
        sum
    });
    producer.join().unwrap();
    assert_eq!(sum, 499_500);
}
