//! A host flag written after the component: `sandloop run app.wasm --allow-connect X`
//! passes `--allow-connect X` to the workload (everything after the component is its
//! argument list), which then runs without the grant and fails for want of it. When the
//! workload fails, the CLI names such arguments, so that the failure does not look like a
//! policy that ignores its flags.
//!
//! The flags are `sandloop run`'s own, read from clap's definition of the command, so the
//! list cannot fall behind it. Arguments after a `--` the user wrote are the workload's
//! by choice and never named; so are any when the workload succeeds (it may well take a
//! `--dir` of its own).

use clap::CommandFactory as _;

use super::Cli;

/// The workload arguments in `args` that spell a `sandloop run` flag (`--name` or
/// `--name=value`), up to the first `--`. `args` are the words after the component as
/// given, before a leading `--` is dropped: one there means none are flags.
pub(crate) fn host_flags_among(args: &[String]) -> Vec<String> {
    if args.first().is_some_and(|first| first == "--") {
        return Vec::new();
    }
    let command = Cli::command();
    let Some(run) = command.find_subcommand("run") else {
        return Vec::new();
    };
    let longs: Vec<&str> = run
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .collect();
    args.iter()
        .take_while(|arg| *arg != "--")
        .filter(|arg| {
            arg.strip_prefix("--")
                .map(|flag| flag.split_once('=').map_or(flag, |(name, _)| name))
                .is_some_and(|name| longs.contains(&name))
        })
        .cloned()
        .collect()
}

/// Warns on stderr that `flags` went to the workload, not to the host.
pub(crate) fn warn(flags: &[String]) {
    if flags.is_empty() {
        return;
    }
    let names = flags
        .iter()
        .map(|flag| format!("`{flag}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let (they, arguments) = if flags.len() == 1 {
        ("it", "argument")
    } else {
        ("they", "arguments")
    };
    eprintln!(
        "warning: {names} came after the component, so {they} went to the workload as its \
         {arguments}, not to the host: put host flags before the component \
         (sandloop run [FLAGS] COMPONENT [-- ARGS...])"
    );
}

#[cfg(test)]
mod tests {
    use super::host_flags_among;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn run_flags_before_any_double_dash_are_found() {
        assert_eq!(
            host_flags_among(&words(
                "8080 --allow-listen 127.0.0.1:8080 --max-memory=64M -v"
            )),
            ["--allow-listen", "--max-memory=64M"]
        );
        assert_eq!(
            host_flags_among(&words("--dir /www -- --allow-shell")),
            ["--dir"]
        );
        assert!(host_flags_among(&words("-- --allow-shell")).is_empty());
        assert!(host_flags_among(&words("--port 80 --allowlisten")).is_empty());
    }
}
