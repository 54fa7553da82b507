//! Builds the core component (guest/component) for wasm32-wasip2 and hands its path to
//! the host as `MAAS_CORE_WASM`. The guest is its own workspace with its own target
//! directory: a nested cargo sharing the outer target directory would wait on the outer
//! build's lock forever.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let root = manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir.clone());
    let guest = root.join("guest");
    for dir in ["wit", "guest/core/src", "guest/component/src"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for file in [
        "guest/core/Cargo.toml",
        "guest/component/Cargo.toml",
        "guest/component/Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    println!("cargo:rerun-if-env-changed=MAAS_CORE_WASM_OVERRIDE");

    if let Ok(path) = env::var("MAAS_CORE_WASM_OVERRIDE") {
        println!("cargo:rustc-env=MAAS_CORE_WASM={path}");
        return;
    }

    ensure_target();
    let target_dir = env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"))
        .join("guest");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(guest.join("component/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_MAKEFLAGS")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("building the maas core component failed ({s}); see the output above"),
        Err(e) => panic!("could not run cargo to build the maas core component: {e}"),
    }
    let wasm = target_dir.join(TARGET).join("release/maas_component.wasm");
    println!("cargo:rustc-env=MAAS_CORE_WASM={}", wasm.display());
}

/// Installs the wasm32-wasip2 target through rustup when it is missing.
fn ensure_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(true);
    if !installed {
        let ok = Command::new("rustup")
            .args(["target", "add", TARGET])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            println!("cargo:warning=could not install the {TARGET} target with rustup");
        }
    }
}
