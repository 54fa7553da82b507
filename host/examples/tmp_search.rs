use maas_host::{CoreImage, Runtime, RuntimeOptions, types};
use std::path::Path;
use std::time::Instant;
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap();
    let mut limits = maas_host::default_limits();
    limits.memories = 100_000_000;
    let options = RuntimeOptions { limits, snapshot_every: 0, ..RuntimeOptions::default() };
    let journal = maas_host::datadir::open_journal(Path::new(&dir)).map_err(|e| e.message())?;
    let image = match std::env::var_os("TMPWASM") { Some(p) => std::sync::Arc::new(CoreImage::load(Path::new(&p))?), None => CoreImage::shared()? };
    let mut rt = Runtime::new(image, journal, options).map_err(|e| format!("{e:?}"))?;
    let caller = types::Caller::Operator;
    let q = std::env::args().nth(2).unwrap();
    let between = std::env::args().nth(3);
    for batch in 0..8 {
        let mut lat = Vec::new();
        for _ in 0..101 {
            if between.is_some() {
                let _ = rt.call(|c, s| c.maas_core_agents().call_get(s, &caller, "agent-00"));
            }
            let t = Instant::now();
            let hits = rt.call(|c, s| c.maas_core_memories().call_search(s, &caller, "agent-00", &q, 10))?;
            lat.push(t.elapsed());
            assert!(!hits.is_empty());
        }
        lat.sort();
        println!("batch {batch}: p50 {:?}", lat[50]);
    }
    Ok(())
}
