//! What a stopped shop's data directory holds, tree by tree: entries, key bytes and value
//! bytes, as JSON (`bench.py disk`; docs/BENCHMARKS.md, "Disk per ticket, reservation and
//! payment"). The bytes are the records themselves; the files on disk are larger by sled's
//! own overhead, which `du` on the directory shows.
//!
//! Reads sled directly, like `commit_bench`'s sled-alone modes: it measures the format, and
//! must not go through the store, which would rebuild indexes and replay the journal first.
//! Run it only on a directory no shop has open (sled refuses a second process anyway):
//!
//!     cargo run --release --example tree_sizes -- /path/to/data-dir

use std::collections::BTreeMap;

fn main() -> anyhow::Result<()> {
    let usage = || anyhow::anyhow!("usage: tree_sizes DATA_DIR");
    let data_dir = std::env::args().nth(1).ok_or_else(usage)?;
    let db = sled::Config::new()
        .path(std::path::Path::new(&data_dir).join("db"))
        .open()?;
    let mut trees = BTreeMap::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name)?;
        let (mut entries, mut key_bytes, mut value_bytes) = (0u64, 0u64, 0u64);
        for entry in tree.iter() {
            let (key, value) = entry?;
            entries += 1;
            key_bytes += key.len() as u64;
            value_bytes += value.len() as u64;
        }
        trees.insert(
            String::from_utf8_lossy(&name).into_owned(),
            serde_json::json!({"entries": entries, "key_bytes": key_bytes, "value_bytes": value_bytes}),
        );
    }
    println!("{}", serde_json::to_string_pretty(&trees)?);
    Ok(())
}
