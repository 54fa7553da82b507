//! State images: a core started from the image of its memory holds the state a start
//! from the snapshot gives (same digest, same answers, searches included), keeps working
//! after it (writes that grow memory past the image), and an image that is damaged or
//! belongs to another journal is not used: the start falls back to the snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod temp_support;

use maas_host::journal::{JournalBackend, SqliteJournal};
use maas_host::runtime::image_path;
use maas_host::{CoreImage, Runtime, RuntimeOptions, admin, memories, types};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use temp_support::TempDir;

const OP: types::Caller = types::Caller::Operator;

/// Memories in the generated history.
const MEMORIES: &str = "3000";

fn maas(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_maas"))
        .args(args)
        .env_remove("MAAS_TOKEN")
        .env_remove("MAAS_HOME")
        // Any history is long enough for an image here.
        .env("MAAS_STATE_IMAGE_AFTER", "0")
        .output()
        .expect("maas runs");
    assert!(
        out.status.success(),
        "maas {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A data directory holding an imported history of `seed`; returns the import's answer.
fn imported(tmp: &TempDir, name: &str, seed: &str) -> (std::path::PathBuf, Value) {
    let history = tmp.0.join(format!("{name}.jsonl"));
    let dir = tmp.0.join(name);
    let h = history.to_str().unwrap();
    maas(&[
        "bench",
        "generate",
        "--memories",
        MEMORIES,
        "--out",
        h,
        "--seed",
        seed,
    ]);
    let answer = maas(&["--data-dir", dir.to_str().unwrap(), "--json", "import", h]);
    (dir, serde_json::from_str(&answer).unwrap())
}

fn journal(dir: &Path) -> Box<dyn JournalBackend> {
    Box::new(SqliteJournal::open(dir.join("journal.db")).unwrap())
}

fn start(dir: &Path, image: bool) -> Runtime {
    let options = RuntimeOptions {
        image: image.then(|| image_path(dir)),
        image_after: 0,
        snapshot_every: 0,
        ..RuntimeOptions::default()
    };
    Runtime::new(CoreImage::shared().unwrap(), journal(dir), options).unwrap()
}

fn digest(rt: &mut Runtime) -> String {
    rt.call(|c, s| c.maas_core_admin().call_state_digest(s, &OP))
        .unwrap()
}

/// What a few reads answer: searches by an agent that reads every pool and by one that
/// reads less, and agent listings.
fn answers(rt: &mut Runtime) -> Vec<String> {
    let mut out = Vec::new();
    for agent in ["agent-00", "agent-57"] {
        for query in ["baba", "buba mubi", "babaKefabi", "mufi", "wuguda"] {
            let caller = types::Caller::Agent(agent.into());
            let hits = rt.call(|c, s| {
                c.maas_core_memories()
                    .call_search(s, &caller, agent, query, 10)
            });
            out.push(format!("{agent} {query}: {hits:?}"));
        }
    }
    // The heap's size is not the state's: an image and a snapshot build differ.
    let stats = rt
        .call(|c, s| c.maas_core_admin().call_stats(s, &OP))
        .map(|counts| admin::Counts {
            heap_bytes: 0,
            ..counts
        });
    out.push(format!("{stats:?}"));
    out
}

fn store(rt: &mut Runtime, i: usize) {
    let agent = "agent-00";
    let req = memories::StoreRequest {
        agent_id: agent.into(),
        // Long texts, so the instance grows past the memory the image covered.
        content: format!(
            "after the image {i}: {}",
            "the cache key rotates nightly ".repeat(60)
        ),
        kind: memories::MemoryKind::Note,
        tags: vec!["after".into()],
        memory_id: Some(format!("after-{i}")),
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    };
    let caller = types::Caller::Agent(agent.into());
    rt.call(|c, s| c.maas_core_memories().call_store_memory(s, &caller, &req))
        .unwrap();
}

#[test]
fn an_image_starts_the_state_the_snapshot_gives_and_is_refused_when_it_does_not_fit() {
    let tmp = TempDir::new("state-image");
    let (dir, answer) = imported(&tmp, "a", "7");
    assert_eq!(answer["image"]["saved"], true, "{answer}");
    let seq = answer["image"]["seq"].as_u64().unwrap();
    assert_eq!(Some(seq), answer["entries"].as_u64());
    let path = image_path(&dir);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the image is private");
    }

    // The same state either way.
    let mut from_image = start(&dir, true);
    assert_eq!(from_image.image_seq(), Some(seq));
    let mut from_snapshot = start(&dir, false);
    assert_eq!(from_snapshot.image_seq(), None);
    let expected = digest(&mut from_snapshot);
    assert_eq!(digest(&mut from_image), expected);
    assert_eq!(answers(&mut from_image), answers(&mut from_snapshot));

    // The imaged instance keeps working: its allocator, now the image's, grows memory.
    for i in 0..400 {
        store(&mut from_image, i);
    }
    let after = digest(&mut from_image);
    assert_eq!(
        digest(&mut from_snapshot),
        after,
        "the other core catches up"
    );
    assert_eq!(answers(&mut from_image), answers(&mut from_snapshot));
    drop(from_image);
    drop(from_snapshot);

    // An image behind the journal: the tail is applied after it.
    let mut behind = start(&dir, true);
    assert_eq!(behind.image_seq(), Some(seq));
    assert_eq!(digest(&mut behind), after);
    // A fresh image at the head, then used. The temporary file of a save whose process
    // was killed, unwritten for an hour, goes with it; one of a process still running
    // (pid 1), or of another written a moment ago, stays.
    let abandoned = dir.join(format!(
        "{}.4294000000.tmp",
        path.file_name().unwrap().to_str().unwrap()
    ));
    let running = dir.join(format!(
        "{}.1.tmp",
        path.file_name().unwrap().to_str().unwrap()
    ));
    let recent = dir.join(format!(
        "{}.4294000001.tmp",
        path.file_name().unwrap().to_str().unwrap()
    ));
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for (file, text) in [(&abandoned, "half an image"), (&running, "another save")] {
        std::fs::write(file, text).unwrap();
        let f = std::fs::File::options().write(true).open(file).unwrap();
        f.set_modified(an_hour_ago).unwrap();
    }
    std::fs::write(&recent, b"a save in another namespace").unwrap();
    assert_eq!(behind.save_image(&path).unwrap().0, seq + 400);
    assert!(!abandoned.exists(), "an abandoned save is removed");
    assert!(
        running.exists(),
        "a save of a running process is left alone"
    );
    assert!(recent.exists(), "a save written a moment ago is left alone");
    std::fs::remove_file(&running).unwrap();
    std::fs::remove_file(&recent).unwrap();
    drop(behind);
    let mut fresh = start(&dir, true);
    assert_eq!(fresh.image_seq(), Some(seq + 400));
    assert_eq!(digest(&mut fresh), after);
    drop(fresh);

    // A damaged page: not used, the start reads the snapshot and the tail.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8 + 70_000] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let mut damaged = start(&dir, true);
    assert_eq!(damaged.image_seq(), None);
    assert!(
        damaged.notices().iter().any(|n| n.contains("damaged")),
        "{:?}",
        damaged.notices()
    );
    assert_eq!(digest(&mut damaged), after);
    drop(damaged);

    // Another journal's image: refused by the entry it was taken after.
    let (other, _) = imported(&tmp, "b", "8");
    std::fs::copy(image_path(&other), &path).unwrap();
    let mut foreign = start(&dir, true);
    assert_eq!(foreign.image_seq(), None);
    assert!(
        foreign
            .notices()
            .iter()
            .any(|n| n.contains("not the one it was taken after")),
        "{:?}",
        foreign.notices()
    );
    assert_eq!(digest(&mut foreign), after);
}
