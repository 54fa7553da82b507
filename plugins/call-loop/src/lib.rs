//! `call-loop`: `run N` asks the core who it is N times and returns N. What
//! `maas plugin bench` times, and the simplest plugin to copy from.

wit_bindgen::generate!({
    path: "../../wit",
    world: "plugin",
});

use maas::core::plugin_identity::whoami;

struct CallLoop;

impl exports::maas::core::plugin_entry::Guest for CallLoop {
    fn run(args: Vec<String>) -> Result<String, String> {
        let n: u64 = match args.first() {
            Some(n) => n.parse().map_err(|_| format!("not a count: {n}"))?,
            None => 1,
        };
        let mut agent = String::new();
        for _ in 0..n {
            agent = whoami().map_err(|e| format!("whoami failed: {e:?}"))?.id;
        }
        Ok(format!("{n} calls as {agent}"))
    }
}

export!(CallLoop);
