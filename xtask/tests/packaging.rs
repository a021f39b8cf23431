//! The published crates hold what they need to build on their own: `sandloop`'s package has the
//! WIT its bindings read (`guest/wit/`, the workspace's single copy) and `sandloop-host`'s has
//! the same files through its `wit` symlink, both with the README; neither ships the
//! workspace-only tests. `cargo package --list` is what `cargo package`/`cargo publish` pack.
//! The full verification (compiling each packaged crate) is `.ci/run`'s packaging step.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// The files `cargo package` packs for `package`.
fn package_list(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "package",
            "--list",
            "--allow-dirty",
            "--quiet",
            "-p",
            package,
        ])
        .current_dir(root())
        .output()
        .expect("run cargo package --list");
    assert!(
        output.status.success(),
        "cargo package --list -p {package} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8 paths")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every file under `guest/wit/`, as `wit/...` paths.
fn wit_files() -> BTreeSet<String> {
    fn walk(dir: &Path, prefix: &str, files: &mut BTreeSet<String>) {
        for entry in
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        {
            let entry = entry.expect("directory entry");
            let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
            if entry.file_type().expect("file type").is_dir() {
                walk(&entry.path(), &name, files);
            } else {
                files.insert(name);
            }
        }
    }
    let mut files = BTreeSet::new();
    walk(&root().join("guest/wit"), "wit", &mut files);
    assert!(
        files.contains("wit/world.wit"),
        "guest/wit holds the world: {files:?}"
    );
    files
}

fn assert_self_contained(package: &str) {
    let list = package_list(package);
    let missing: Vec<_> = wit_files().difference(&list).cloned().collect();
    assert!(
        missing.is_empty(),
        "{package}'s package lacks WIT files {missing:?}; it packs {list:?}"
    );
    for file in ["README.md", "Cargo.toml", "src/lib.rs"] {
        assert!(
            list.contains(file),
            "{package}'s package lacks {file}: {list:?}"
        );
    }
    let stray: Vec<_> = list
        .iter()
        .filter(|f| f.starts_with("tests/") || f.starts_with("examples/"))
        .collect();
    assert!(
        stray.is_empty(),
        "{package}'s package holds workspace-only files {stray:?}"
    );
}

#[test]
fn the_guest_package_holds_its_wit_and_readme() {
    assert_self_contained("sandloop");
}

#[test]
fn the_host_package_holds_the_guest_wit_and_readme() {
    assert_self_contained("sandloop-host");
    assert!(
        package_list("sandloop-host").contains("src/main.rs"),
        "the CLI ships with the host"
    );
}

#[test]
fn the_host_wit_is_the_guest_wit() {
    let host_wit = root().join("host/wit");
    let meta = std::fs::symlink_metadata(&host_wit).expect("host/wit exists");
    assert!(
        meta.file_type().is_symlink(),
        "host/wit is a symlink to ../guest/wit, not a copy"
    );
    assert_eq!(
        std::fs::canonicalize(&host_wit).expect("host/wit resolves"),
        std::fs::canonicalize(root().join("guest/wit")).expect("guest/wit exists"),
        "host/wit points at the guest crate's WIT",
    );
}
