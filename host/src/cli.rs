//! The command line: `sandloop run`, `sandloop host` and `sandloop compile`.

use std::path::{Path, PathBuf};

mod instances;
mod limits;
mod misplaced;
mod shutdown;
mod tenants;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use sandloop_host::policy::PolicyFile;
use sandloop_host::{
    AddrRule, ComponentError, ExecRule, ExitStatus, LoadError, PRECOMPILED_EXTENSION,
    PrecompiledError, Preopen, ResolveOverride, RunOptions, Runtime, RuntimeOptions, UnixRule,
    Workload,
};

/// The exit code when the host cannot run the workload (as clap's for bad flags).
pub const HOST_ERROR_EXIT_CODE: i32 = 2;

/// The exit code when the workload traps (as a native Rust program that panics).
pub const TRAP_EXIT_CODE: i32 = 101;

/// The exit code when the host itself panicked: a bug of sandloop's, never the workload's
/// doing (EX_SOFTWARE of sysexits.h), so that it is not mistaken for a trap.
pub const HOST_BUG_EXIT_CODE: i32 = 70;

/// Host environment variables a workload always receives when they are set: they
/// configure the guest loop itself, not the workload's business.
const PASSED_THROUGH_ENV: &[&str] = &["SANDLOOP_DEBUG"];

/// Runs asyncio-style event-loop workloads, compiled to WebAssembly components.
#[derive(Parser)]
#[command(name = "sandloop", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workload: a `.wasm` component, or (with `--allow-precompiled`) a `.cwasm`
    /// from `sandloop compile`.
    ///
    /// The grants come from a policy file (`--policy FILE`, TOML, see docs/policy.md) and
    /// from the flags below, which add to the file's.
    ///
    /// The workload's stdin, stdout and stderr are the host's. Its environment holds only
    /// what `--env` and `--env-inherit` give it, plus SANDLOOP_DEBUG when set. It gets no
    /// network unless `--allow-listen` and `--allow-connect` (streams), `--allow-udp-bind`
    /// and `--allow-udp-send` (datagrams) grant it; each denial is an
    /// error in the workload and a warning in the host log (SANDLOOP_LOG). The exit code is
    /// the workload's; 101 if it traps; 2 if it cannot be run; 70 if the host itself
    /// panicked (a bug of sandloop's).
    ///
    /// On a SIGTERM, SIGINT or SIGHUP that no workload handles, the host stops the
    /// workload (its children killed and reaped, its sockets closed) and then dies of that
    /// signal; a second one ends it at once. A child also dies with the host when the host
    /// is killed outright (SIGKILL).
    ///
    /// RULE is `ADDR:PORTS`. ADDR: an IPv4 address (`127.0.0.1`), an IPv4 network
    /// (`10.0.0.0/8`), an IPv6 address or network in brackets (`[::1]`, `[fd00::]/8`), or
    /// `*` for any address. PORTS: a port (`8080`), a range (`8000-8999`), or `*` for any
    /// port (0, "any free port", included).
    Run(Box<RunArgs>),
    /// Run the tenants of FILE side by side in one process: different workloads, each
    /// with its own instances, arguments, environment, policy and limits (TOML, see
    /// docs/tenants.md), on host threads they share.
    ///
    /// Every tenant is loaded before any starts. An instance that traps is reported with
    /// its tenant's name and counted; the others keep running. The host ends when every
    /// instance has ended: 0 if all exited 0, else the exit code of the first failure
    /// (101 for a trap); 2 if the file or a component is bad. SIGTERM, SIGINT and SIGHUP
    /// stop every instance, as for `run`.
    Host(tenants::HostArgs),
    /// Precompile a component for this host into a `.cwasm`, which starts without
    /// compiling (`sandloop run --allow-precompiled`). The file ends with the SHA-256 of
    /// the native code and the 8 bytes `SLSHA256`, checked before it is loaded.
    Compile(CompileArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Start from the policy in FILE (TOML, see docs/policy.md): its rules, environment
    /// and directories; the flags below then ADD to it (a flag never removes a grant of
    /// the file; `--no-dns` turns lookups off whatever the file says, and `--resolve` or
    /// `--env` for a name the file has replaces the file's value).
    #[arg(long = "policy", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Set an environment variable of the workload.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    env: Vec<(String, String)>,
    /// Pass the host's value of an environment variable to the workload (skipped if
    /// unset).
    #[arg(long = "env-inherit", value_name = "NAME")]
    env_inherit: Vec<String>,
    /// Allow binding and listening on addresses that match RULE (repeatable), e.g.
    /// `127.0.0.1:8080` or `127.0.0.1:*`.
    #[arg(long = "allow-listen", value_name = "RULE")]
    allow_listen: Vec<AddrRule>,
    /// Allow connecting to addresses that match RULE (repeatable), e.g. `10.0.0.0/8:443`
    /// or `[::1]:*`.
    #[arg(long = "allow-connect", value_name = "RULE")]
    allow_connect: Vec<AddrRule>,
    /// Allow binding datagram (UDP) sockets to addresses that match RULE (repeatable),
    /// e.g. `127.0.0.1:9999` or `127.0.0.1:*` (port 0, any free port, needs a rule that
    /// includes it).
    #[arg(long = "allow-udp-bind", value_name = "RULE")]
    allow_udp_bind: Vec<AddrRule>,
    /// Allow sending datagrams to (and connecting datagram sockets to) addresses that
    /// match RULE (repeatable), e.g. `10.0.0.1:53` or `127.0.0.1:*`.
    #[arg(long = "allow-udp-send", value_name = "RULE")]
    allow_udp_send: Vec<AddrRule>,
    /// Deny every DNS lookup that would ask the host's resolver: a workload's
    /// `getaddrinfo("example.com")` or reverse `getnameinfo` fails with PermissionDenied.
    /// IP literals and `--resolve` names still answer.
    #[arg(long = "no-dns")]
    no_dns: bool,
    /// Resolve NAME to exactly these addresses inside the workload, without asking the
    /// system resolver (repeatable), e.g. `db.internal=10.0.0.7,::1`.
    #[arg(long = "resolve", value_name = "NAME=ADDR[,ADDR...]")]
    resolve: Vec<ResolveOverride>,
    /// Allow binding, listening on and connecting to unix sockets at PATH (repeatable): a
    /// socket file (exactly that path), a directory (written with a trailing `/`, or one
    /// that exists: every path beneath it), or an abstract name `@NAME` / `@PREFIX*`.
    /// Relative paths, here and in the workload, are resolved against the current
    /// directory; paths with `..` are never granted.
    #[arg(long = "allow-unix", value_name = "PATH")]
    allow_unix: Vec<UnixRule>,
    /// Let the workload read HOST_DIR (read-only) as GUEST_DIR, default the same path
    /// (repeatable), e.g. `./public::/www`. Its files open with `std::fs` and
    /// `sandloop::fs::File` (for `sendfile`); nothing outside is reachable.
    #[arg(long = "dir", value_name = "HOST_DIR[::GUEST_DIR]")]
    dirs: Vec<Preopen>,
    /// Like `--dir`, but the workload may also create, write, rename and remove files and
    /// directories beneath HOST_DIR (repeatable), e.g. `./out::/out`.
    #[arg(long = "dir-rw", value_name = "HOST_DIR[::GUEST_DIR]", value_parser = parse_writable_dir)]
    dirs_rw: Vec<Preopen>,
    /// Let the workload run the executable PATH as a subprocess (repeatable): an absolute
    /// file path (exactly that file) or a directory (trailing `/`, or one that exists:
    /// every file directly beneath it). Bare program names are looked up only in these,
    /// never in the host's PATH.
    #[arg(long = "allow-exec", value_name = "PATH")]
    allow_exec: Vec<ExecRule>,
    /// Let the workload run shell commands (`subprocess_shell`: `/bin/sh -c CMD`, which
    /// can run anything the host user can).
    #[arg(long = "allow-shell")]
    allow_shell: bool,
    /// Let the workload pass the environment variable NAME to its children (repeatable);
    /// a spawn that passes any other is refused. Children get nothing of the host's
    /// environment.
    #[arg(long = "child-env", value_name = "NAME")]
    child_env: Vec<String>,
    /// Let the workload handle SIGNAL (repeatable): a name with or without `SIG`, or a
    /// number, e.g. `--allow-signal SIGINT --allow-signal TERM`. Its
    /// `add_signal_handler` for any other signal is denied. SIGKILL, SIGSTOP, SIGSEGV,
    /// SIGILL, SIGFPE and SIGBUS can never be handled and are refused.
    #[arg(long = "allow-signal", value_name = "SIGNAL", value_parser = sandloop_host::policy::parse_signal_grant)]
    allow_signals: Vec<i32>,
    #[command(flatten)]
    limits: limits::LimitArgs,
    /// Run N copies of the workload, one thread each (or all on the shared threads of
    /// `--threads`), under the same policy (each gets
    /// SANDLOOP_INSTANCE=0..N-1 and SANDLOOP_INSTANCES=N; to share a listening port they
    /// bind it with reuse_port). The exit status is the first copy's failure, or 0.
    #[arg(long = "instances", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    instances: u32,
    /// Run the instances on N host threads shared by all of them, with one reactor (`0`:
    /// one thread per core), instead of a thread and a reactor each: an instance waiting
    /// for I/O then holds no thread, and a busy one yields after a budget of work. For
    /// many instances (`--instances`) in one process.
    #[arg(long = "threads", value_name = "N")]
    threads: Option<usize>,
    /// Also run precompiled native code: a `.cwasm` from `sandloop compile`. Such code
    /// runs as is, with none of WebAssembly's checks, so it is trusted like a native
    /// binary: only pass this for files you (or your build) wrote. The SHA-256 that
    /// `sandloop compile` appends is checked, which catches a damaged file, not one
    /// whose author rewrote the hash too.
    #[arg(long = "allow-precompiled")]
    allow_precompiled: bool,
    /// The component, then the workload's arguments (everything after the component,
    /// with or without a `--` before them, host flags included: those go before the
    /// component).
    #[arg(
        value_name = "COMPONENT [-- ARGS...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    component_and_args: Vec<String>,
}

#[derive(Args)]
struct CompileArgs {
    /// The component to compile.
    component: PathBuf,
    /// Where to write the native code (default: the component's path with `.cwasm`).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Compile with the epoch checks a run with `--max-callback-time` needs (such a run
    /// loads only code compiled so; without the flag the loop runs about a fifth faster).
    #[arg(long)]
    interruptible: bool,
    /// Compile for runs on shared threads (`run --threads`, `sandloop host`): with the
    /// epoch checks they need, memory set up without copy-on-write mappings and trap
    /// backtraces without file and line (such runs load only code compiled so).
    #[arg(long)]
    threads: bool,
}

/// Runs the command; returns the process exit code.
pub fn execute(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(args) => run(*args),
        Command::Host(args) => tenants::host(args),
        Command::Compile(args) => compile(args),
    }
}

fn run(args: RunArgs) -> anyhow::Result<i32> {
    let mut words = args.component_and_args.into_iter();
    let Some(component) = words.next() else {
        bail!("no component given");
    };
    let mut guest_args: Vec<String> = words.collect();
    let misplaced = misplaced::host_flags_among(&guest_args);
    // `run app.wasm -- --flag` and `run app.wasm --flag` mean the same.
    if guest_args.first().is_some_and(|first| first == "--") {
        guest_args.remove(0);
    }

    let file = match &args.policy {
        Some(path) => PolicyFile::load(path)?,
        None => PolicyFile::default(),
    };
    // `--env` overrides the file's value of the same name (the workload gets each name
    // once: which of two a guest's getenv would see is not something to leave to chance).
    let mut env: Vec<(String, String)> = file
        .env
        .into_iter()
        .filter(|(key, _)| !args.env.iter().any(|(flag_key, _)| flag_key == key))
        .collect();
    env.extend(args.env);
    inherit_env(&mut env, file.env_inherit.iter().chain(&args.env_inherit));

    let mut policy = file.policy;
    policy.allow_listen.extend(args.allow_listen);
    policy.allow_connect.extend(args.allow_connect);
    policy.allow_unix.extend(args.allow_unix);
    policy.allow_udp_bind.extend(args.allow_udp_bind);
    policy.allow_udp_send.extend(args.allow_udp_send);
    policy.preopens.extend(args.dirs);
    policy.preopens.extend(args.dirs_rw);
    policy.allow_exec.extend(args.allow_exec);
    policy.allow_shell |= args.allow_shell;
    policy.child_env.extend(args.child_env);
    policy.allow_signals.extend(args.allow_signals);
    policy.deny_dns |= args.no_dns;
    // Each --max-* flag given overrides the file's limit.
    let flags = args.limits.limits();
    let limits = &mut policy.limits;
    limits.memory_bytes = flags.memory_bytes.or(limits.memory_bytes);
    limits.callback_cpu = flags.callback_cpu.or(limits.callback_cpu);
    limits.handles = flags.handles.or(limits.handles);
    limits.buffered_bytes = flags.buffered_bytes.or(limits.buffered_bytes);
    limits.children = flags.children.or(limits.children);
    for entry in args.resolve {
        policy = policy.resolve_name(entry.name, entry.addrs);
    }

    // Epoch checks cost the loop core about a fifth of its speed: only a callback time
    // limit needs them here. The CLI stops runs from outside only when asked to end by a
    // signal: a guest waiting in its loop stops at once without them, one spinning in a
    // callback is left to the grace period (see `shutdown`).
    let runtime = Runtime::with_options(RuntimeOptions {
        // (Shared threads turn the checks on themselves: their instances yield at them.)
        interruptible: policy.limits.callback_cpu.is_some(),
        shared_threads: args.threads,
        ..RuntimeOptions::default()
    })?;
    let workload = load(&runtime, component.as_ref(), args.allow_precompiled)?;
    let opts = RunOptions {
        args: guest_args,
        env,
        capture_output: false,
        inherit_stdin: true,
        policy,
        // The CLI is no application with functions of its own to give.
        host_functions: Default::default(),
    };
    // From here on, SIGTERM, SIGINT and SIGHUP stop the runs before the host ends.
    let shutdown = shutdown::Shutdown::install()?;
    let status = if args.instances > 1 {
        instances::run_copies(&workload, opts, args.instances, &shutdown)?
    } else {
        let running = workload.start(opts)?;
        shutdown.watch(running.stop_handle());
        running.join()?.status
    };
    shutdown.finish();
    if !status.success() {
        misplaced::warn(&misplaced);
    }
    match &status {
        ExitStatus::Exited(_) => {}
        ExitStatus::Trapped(message) => eprintln!("error: workload trapped: {message}"),
        ExitStatus::Stopped => eprintln!("error: workload stopped"),
    }
    Ok(exit_code(&status))
}

/// The host's exit code for a run that ended as `status`: the guest's own, or
/// [`TRAP_EXIT_CODE`] when it trapped or was stopped.
fn exit_code(status: &ExitStatus) -> i32 {
    match status {
        ExitStatus::Exited(code) => *code,
        ExitStatus::Trapped(_) | ExitStatus::Stopped => TRAP_EXIT_CODE,
    }
}

/// Adds to `env` the host's values of [`PASSED_THROUGH_ENV`] and of the `names` a
/// workload inherits, those that are set.
fn inherit_env<'a>(env: &mut Vec<(String, String)>, names: impl Iterator<Item = &'a String>) {
    let names = PASSED_THROUGH_ENV
        .iter()
        .copied()
        .chain(names.map(String::as_str));
    for name in names {
        match std::env::var(name) {
            Ok(value) => env.push((name.to_owned(), value)),
            Err(err) => tracing::debug!("not passing {name} to the workload: {err}"),
        }
    }
}

/// Loads the component at `path`; precompiled native code only if `allow_precompiled`.
fn load(runtime: &Runtime, path: &Path, allow_precompiled: bool) -> anyhow::Result<Workload> {
    if allow_precompiled {
        // SAFETY: the user vouched for the file with --allow-precompiled, whose help says
        // that it trusts the file as a native binary.
        return unsafe { runtime.load_precompiled(path) }.map_err(|err| {
            // wasmtime refused the code: most often compiled with other settings.
            let refused = matches!(
                &err,
                LoadError::Load {
                    source: ComponentError::Wasmtime(_),
                    ..
                }
            );
            let err = anyhow::Error::from(err);
            match refused {
                true => err.context(format!(
                    "{} does not fit this run: a .cwasm must be compiled with the run's \
                     settings (`sandloop compile --interruptible` for --max-callback-time, \
                     `sandloop compile --threads` for --threads and `sandloop host`)",
                    path.display()
                )),
                false => err,
            }
        });
    }
    runtime.load(path).map_err(|err| {
        if let LoadError::Load {
            source: ComponentError::Precompiled(PrecompiledError::NotAllowed),
            ..
        } = err
        {
            anyhow::anyhow!(
                "{} is precompiled native code, which runs without WebAssembly's checks: \
                 run it with --allow-precompiled if you trust it as you would a native binary",
                path.display()
            )
        } else {
            err.into()
        }
    })
}

fn compile(args: CompileArgs) -> anyhow::Result<i32> {
    let output = args
        .output
        .unwrap_or_else(|| args.component.with_extension(PRECOMPILED_EXTENSION));
    if output
        .extension()
        .is_none_or(|ext| ext != PRECOMPILED_EXTENSION)
    {
        bail!(
            "{}: the output must end in .{PRECOMPILED_EXTENSION} (`sandloop run --allow-precompiled` loads native code only from such files)",
            output.display()
        );
    }
    let runtime = Runtime::with_options(RuntimeOptions {
        interruptible: args.interruptible,
        // The engine of a runtime on shared threads; one thread, which compiling does not use.
        shared_threads: args.threads.then_some(1),
        ..RuntimeOptions::default()
    })?;
    runtime
        .precompile(&args.component, &output)
        .with_context(|| format!("sandloop compile {}", args.component.display()))?;
    Ok(0)
}

/// Parses a `--dir-rw` value: the syntax of `--dir`, writable.
fn parse_writable_dir(text: &str) -> Result<Preopen, String> {
    let mut dir: Preopen = text.parse().map_err(|err| format!("{err}"))?;
    dir.writable = true;
    Ok(dir)
}

/// Parses `KEY=VALUE` (the value may contain `=`, the key may not be empty).
fn parse_env_pair(pair: &str) -> Result<(String, String), String> {
    match pair.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {pair:?}")),
    }
}
