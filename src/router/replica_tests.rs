//! A replica applying the batches a writer decided holds the writer's store: random events in
//! random batch splits are decided and applied on one store, their frozen batches encoded as the
//! writer ships them, and applied from those bytes alone on a second store — every key and
//! value the same (no reads are audited in between, so even the audit chains agree), but the
//! decisions log's position, which only the replica records.

use proptest::prelude::*;

use super::decide;
use super::tests::{at, envelopes, incoming, op, open, runtime};
use crate::store::Store;

/// Decides and applies `records` on `writer` in batches of `splits` (cycled), applying each
/// batch's encoding on `replica` too.
async fn decide_and_replicate(
    writer: &Store,
    replica: &Store,
    records: &[crate::store::Incoming],
    splits: &[usize],
) {
    let policy = decide::fake::policy();
    let mut rest = records;
    let mut sizes = splits.iter().cycle();
    let mut offset = 0;
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let mut batch = writer.begin(at(1_000)).await;
        for record in chunk {
            let decided = decide::decide(&batch, record, &policy).unwrap();
            batch.stage(record.clone(), decided.decision);
        }
        batch.advance(&chunk.iter().map(|r| r.position).collect::<Vec<_>>());
        let frozen = batch.freeze();
        let shipped = frozen.encode();
        writer.apply(frozen).await.unwrap();
        offset += 2;
        replica.apply_decided(&shipped, offset).await.unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_replica_holds_the_writers_store(
        ops in proptest::collection::vec(op(), 1..40),
        splits in proptest::collection::vec(1usize..9, 1..6),
    ) {
        let records = incoming(&envelopes(&ops));
        let (w, r) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (writer, replica) = runtime().block_on(async {
            let (writer, replica) = (open(w.path()), open(r.path()));
            decide_and_replicate(&writer, &replica, &records, &splits).await;
            let decisions = b"Mdecisions".to_vec();
            let mut replica = replica.dump();
            replica.retain(|(key, _)| *key != decisions);
            (writer.dump(), replica)
        });
        prop_assert_eq!(writer.len(), replica.len());
        prop_assert!(writer == replica, "the replica's store differs from the writer's");
    }
}
