//! Exits with the code given as the first argument, through `sandloop::exit` (tests that
//! the host passes the exact code on).

fn main() {
    let code: u8 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    sandloop::exit(code);
}
