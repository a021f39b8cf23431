//! The `static_files` example (an HTTP/1.1 server sending files with `sendfile`), started
//! by the `sandloop` CLI with `--dir`, answering curl: a client nobody here wrote.

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// A fresh directory of this test's own with an empty `www/docs`, removed on drop.
fn temp_dir(test: &str) -> common::TempDir {
    let dir = common::TempDir::new(&format!("static-files-{test}"));
    std::fs::create_dir_all(dir.0.join("www/docs")).expect("create www/docs");
    dir
}

/// The server, killed when dropped.
struct Served {
    _cli: common::Cli,
    port: u16,
}

/// Starts `static_files` serving `www` (preopened as `/www`) and waits for "Serving on".
fn serve(www: &Path, extra: &[&str]) -> Served {
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = format!("{}::/www", www.display());
    let args: Vec<&str> = [addr.as_str(), "/www"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let (cli, line) = common::start_cli(
        &["--allow-listen", &addr, "--dir", &dir],
        "static_files",
        &args,
    );
    assert!(
        line.starts_with("Serving on "),
        "static_files said {line:?}"
    );
    Served { _cli: cli, port }
}

fn curl(args: &[&str]) -> Output {
    let out = Command::new("curl")
        .args(["-sS", "--http1.1", "--max-time", "60"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn serves_files_to_curl(extra: &[&str], test: &str) {
    let tmp = temp_dir(test);
    let www = tmp.0.join("www");
    std::fs::write(www.join("index.html"), b"<h1>sandloop</h1>\n").unwrap();
    // 8 MiB of bytes that differ at every offset, to catch any misplaced chunk.
    let big: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(www.join("docs/big.bin"), &big).unwrap();
    std::fs::write(tmp.0.join("secret.txt"), b"outside the preopen").unwrap();
    let served = serve(&www, extra);
    let base = format!("http://127.0.0.1:{}", served.port);

    // Two files on one kept-alive connection (curl reuses it for the second URL).
    let big_out = tmp.0.join("big.out");
    let out = curl(&[
        &format!("{base}/"),
        &format!("{base}/docs/big.bin"),
        "-o",
        "-",
        "-o",
        big_out.to_str().unwrap(),
        "-w",
        "%{http_code} %{size_download} %{num_connects}\n",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        format!("<h1>sandloop</h1>\n200 18 1\n200 {} 0\n", big.len()),
        "one connection, two 200s"
    );
    assert!(
        std::fs::read(&big_out).unwrap() == big,
        "big.bin arrived intact"
    );

    // Missing files and directories are 404s; `..` is refused and cannot reach outside.
    let status = |path: &str| status_of(&served, path);
    assert_eq!(status("/missing.html"), "404");
    assert_eq!(status("/docs"), "404");
    assert_eq!(status("/../secret.txt"), "400");
    assert_eq!(status("/docs/../../secret.txt"), "400");

    // HEAD gives the length without the body.
    let out = curl(&["-I", &format!("{base}/docs/big.bin")]);
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        head.contains(&format!("content-length: {}", big.len())),
        "{head}"
    );
}

/// `GET path` on `served`'s port: the status code curl saw.
fn status_of(served: &Served, path: &str) -> String {
    let out = curl(&[
        "--path-as-is",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{}{path}", served.port),
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A FIFO without a writer, a unix socket and devices in the served directory are
/// refused (403; a directory stays a 404) and the server goes on serving. Before, the
/// FIFO's open blocked the whole server until some writer came (none does here).
#[test]
fn static_files_refuses_what_is_not_a_regular_file_without_blocking() {
    let tmp = temp_dir("special");
    let www = tmp.0.join("www");
    common::make_special_files(&www);
    std::fs::write(www.join("index.html"), b"<h1>sandloop</h1>\n").unwrap();
    let served = serve(&www, &[]);
    assert_eq!(status_of(&served, "/fifo"), "403");
    assert_eq!(status_of(&served, "/socket"), "403");
    assert_eq!(status_of(&served, "/docs"), "404");
    assert_eq!(status_of(&served, "/"), "200");

    // Devices: the host's /dev served as the root.
    let devices = serve(Path::new("/dev"), &[]);
    assert_eq!(status_of(&devices, "/null"), "403");
    assert_eq!(status_of(&devices, "/zero"), "403");
}

#[test]
fn static_files_serves_curl_with_sendfile() {
    serves_files_to_curl(&[], "default");
}

#[test]
fn static_files_on_a_selector_loop_serves_curl() {
    serves_files_to_curl(&["--selector"], "selector");
}
