//! The card watcher across a restart of the smart-card service: when pcscd stops, the card in
//! it is reported removed; when pcscd comes back with the card, the watcher reconnects on its
//! own and reports it inserted. Alone in its test binary, because it stops this process's
//! shared pcscd.

mod client_support;

use std::sync::mpsc::Receiver;

use client_support::Lab;
use vigie_client::watch::{CardEvent, CardWatcher};

/// The next event about `reader`, skipping others.
fn next_for(events: &Receiver<CardEvent>, reader: &str) -> CardEvent {
    loop {
        let event = events.recv().expect("the watcher is running");
        match &event {
            CardEvent::Inserted { reader: r, .. } | CardEvent::Removed { reader: r }
                if r == reader =>
            {
                return event;
            }
            _ => {}
        }
    }
}

#[test]
fn watcher_follows_the_card_across_a_pcscd_restart() {
    let Some(lab) = Lab::with_card("cps4-doctor") else {
        return;
    };
    let reader = lab.slot.reader_name();
    let pcscd_pid = lab.slot.pcscd().pid();
    let (watcher, events) = CardWatcher::spawn().expect("watch");
    assert!(matches!(
        next_for(&events, &reader),
        CardEvent::Inserted { .. }
    ));

    // The last handle on the shared pcscd: dropping it stops the service.
    drop(lab);
    assert_eq!(
        next_for(&events, &reader),
        CardEvent::Removed {
            reader: reader.clone()
        }
    );

    let lab = Lab::with_card("cps4-doctor").expect("root, as before");
    assert_ne!(
        lab.slot.pcscd().pid(),
        pcscd_pid,
        "a new pcscd serves the same socket"
    );
    assert_eq!(lab.slot.reader_name(), reader, "the first slot again");
    let again = next_for(&events, &reader);
    assert!(
        matches!(&again, CardEvent::Inserted { atr, .. } if *atr == lab.card.atr()),
        "{again:?}"
    );
    watcher.stop();
}
