//! The policy file: a [`Policy`] (and the workload's environment) written in TOML, for
//! `sandloop run --policy FILE` and for embedders that keep policies in files.
//!
//! Every rule string has the syntax of the matching CLI flag and goes through the same
//! parser (`AddrRule`, `UnixRule`, `ExecRule`, `parse_signal`, `Preopen`,
//! `ResolveOverride`), so a rule means the same in both places. Unknown tables and keys
//! are errors, not silently ignored grants: a typo like `conect` must not leave a
//! workload without the rule its author thought it had (or with one they thought they
//! had removed). Errors carry the line and column of the bad key or value. The whole
//! syntax, annotated, is in `docs/policy.md`.
//!
//! ```
//! use sandloop_host::policy::PolicyFile;
//!
//! let file = PolicyFile::parse(r#"
//!     [network]
//!     connect = ["10.0.0.0/8:443"]
//!     dns = false
//!     [env]
//!     set = { MODE = "prod" }
//! "#)?;
//! assert!(file.policy.check_connect(&"10.1.2.3:443".parse()?).is_ok());
//! assert!(file.policy.deny_dns);
//! assert_eq!(file.env, [("MODE".to_owned(), "prod".to_owned())]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::{
    AddrRule, ExecRule, Limits, Policy, Preopen, ResolveOverride, UnixRule, parse_signal_grant,
};

/// What a policy file gives a run: the [`Policy`], and the environment, which is not
/// part of the policy but of the run (`RunOptions::env`).
#[derive(Debug, Clone, Default)]
pub struct PolicyFile {
    /// The capabilities.
    pub policy: Policy,
    /// `[env] set`: variables set in the workload's environment, in key order.
    pub env: Vec<(String, String)>,
    /// `[env] inherit`: names whose host values the workload receives (skipped if unset
    /// on the host), as `--env-inherit` does.
    pub env_inherit: Vec<String>,
}

/// Why a policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    /// The file cannot be read.
    #[error("cannot read the policy file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid policy: bad TOML, an unknown key, a bad rule. The message
    /// names the line and column, the key or value, and what is wrong.
    #[error("invalid policy file {}: {message}", path.display())]
    Invalid {
        /// The file (`<string>` for [`PolicyFile::parse`]).
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
}

impl PolicyFile {
    /// Reads and parses the policy file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<PolicyFile, PolicyFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        PolicyFile::parse(&text).map_err(|err| match err {
            PolicyFileError::Invalid { message, .. } => PolicyFileError::Invalid {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses a policy file's text.
    pub fn parse(text: &str) -> Result<PolicyFile, PolicyFileError> {
        let invalid = |message: String| PolicyFileError::Invalid {
            path: PathBuf::from("<string>"),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|err| invalid(err.to_string()))?;
        raw.into_policy_file(text).map_err(invalid)
    }
}

/// A policy written as a table inside a larger TOML document (a tenant's
/// `[tenant.policy]` in `sandloop host`'s file), with the schema of a policy file.
///
/// Deserialize it as part of the document (`toml::from_str` of the whole text: unknown
/// keys are errors there, located in the document), then turn it into a [`PolicyFile`]
/// with [`into_policy_file`](InlinePolicy::into_policy_file) and the document's text,
/// which locates the errors found only then.
///
/// ```
/// use sandloop_host::policy::InlinePolicy;
///
/// #[derive(serde::Deserialize)]
/// struct Doc { policy: InlinePolicy }
///
/// let text = "[policy.network]\nlisten = [\"127.0.0.1:8080\"]\n";
/// let doc: Doc = toml::from_str(text)?;
/// let file = doc.policy.into_policy_file(text, "doc.toml".as_ref())?;
/// assert!(file.policy.check_listen(&"127.0.0.1:8080".parse()?).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Deserialize)]
#[serde(transparent)]
pub struct InlinePolicy(RawFile);

impl InlinePolicy {
    /// The policy, `document` being the whole text it was deserialized from and `path`
    /// the name errors give that document.
    pub fn into_policy_file(
        self,
        document: &str,
        path: &Path,
    ) -> Result<PolicyFile, PolicyFileError> {
        self.0
            .into_policy_file(document)
            .map_err(|message| PolicyFileError::Invalid {
                path: path.to_owned(),
                message,
            })
    }
}

/// The file as written. Every table and key is optional; absent means "grants nothing".
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawFile {
    network: RawNetwork,
    process: RawProcess,
    signals: RawSignals,
    host_functions: RawHostFunctions,
    env: RawEnv,
    dirs: Vec<RawDir>,
    limits: RawLimits,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawNetwork {
    connect: Vec<Rule<AddrRule>>,
    listen: Vec<Rule<AddrRule>>,
    udp_bind: Vec<Rule<AddrRule>>,
    udp_send: Vec<Rule<AddrRule>>,
    unix: Vec<Rule<UnixRule>>,
    dns: bool,
    resolve: BTreeMap<String, toml::Spanned<Vec<String>>>,
}

impl Default for RawNetwork {
    fn default() -> RawNetwork {
        RawNetwork {
            connect: Vec::new(),
            listen: Vec::new(),
            udp_bind: Vec::new(),
            udp_send: Vec::new(),
            unix: Vec::new(),
            // Lookups are allowed unless the file says `dns = false`, as without a file.
            dns: true,
            resolve: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawProcess {
    exec: Vec<Rule<ExecRule>>,
    shell: bool,
    child_env: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawSignals {
    allow: Vec<Signal>,
}

/// `[host_functions]`: the embedding application's functions the workload may call.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawHostFunctions {
    allow: Vec<HostFunctionName>,
}

/// A host function's name to grant, checked as `Policy::allow_host_function` checks it.
struct HostFunctionName(String);

impl<'de> Deserialize<'de> for HostFunctionName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HostFunctionName, D::Error> {
        let name = String::deserialize(deserializer)?;
        super::host_functions::check_grant(&name).map_err(serde::de::Error::custom)?;
        Ok(HostFunctionName(name))
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawEnv {
    set: BTreeMap<String, String>,
    inherit: Vec<String>,
}

/// `[limits]`: the fields of [`Limits`], each unset unless given.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawLimits {
    memory: Option<Bytes>,
    callback_time_ms: Option<u64>,
    handles: Option<u32>,
    buffered: Option<Bytes>,
    children: Option<u32>,
}

/// A size: a TOML integer (bytes), or a string with a K, M or G suffix as `--max-memory`
/// takes it (`"64M"`).
struct Bytes(u64);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(u64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(n) => Ok(Bytes(n)),
            Written::Text(text) => Limits::parse_bytes(&text)
                .map(Bytes)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    host: toml::Spanned<String>,
    guest: Option<String>,
    #[serde(default)]
    writable: bool,
}

/// A rule string parsed by the rule's own `FromStr`, inside deserialization so that the
/// error points at the value's line.
struct Rule<T>(T);

impl<'de, T> Deserialize<'de> for Rule<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Rule<T>, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map(Rule).map_err(serde::de::Error::custom)
    }
}

/// A signal to grant: a name with or without `SIG` (`"SIGINT"`, `"term"`) or a number, in
/// a string or as a TOML integer; one no workload can handle (SIGKILL) is an error.
struct Signal(i32);

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Signal, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(i64),
            Name(String),
        }
        let text = match Written::deserialize(deserializer)? {
            Written::Number(n) => n.to_string(),
            Written::Name(name) => name,
        };
        parse_signal_grant(&text)
            .map(Signal)
            .map_err(serde::de::Error::custom)
    }
}

fn rules<T>(rules: Vec<Rule<T>>) -> Vec<T> {
    rules.into_iter().map(|Rule(rule)| rule).collect()
}

impl RawFile {
    /// Builds the policy from what serde could not check alone (entries whose key and
    /// value are parsed together); `text` locates errors.
    fn into_policy_file(self, text: &str) -> Result<PolicyFile, String> {
        let at = |span: std::ops::Range<usize>| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        };
        let RawFile {
            network,
            process,
            signals,
            host_functions,
            env,
            dirs,
            limits,
        } = self;
        let limits = Limits {
            memory_bytes: limits.memory.map(|Bytes(n)| n),
            callback_cpu: limits
                .callback_time_ms
                .map(std::time::Duration::from_millis),
            handles: limits.handles,
            buffered_bytes: limits.buffered.map(|Bytes(n)| n),
            children: limits.children,
        };
        limits.check().map_err(|err| format!("[limits]: {err}"))?;
        let mut policy = Policy {
            allow_listen: rules(network.listen),
            allow_connect: rules(network.connect),
            allow_udp_bind: rules(network.udp_bind),
            allow_udp_send: rules(network.udp_send),
            allow_unix: rules(network.unix),
            allow_exec: rules(process.exec),
            allow_shell: process.shell,
            child_env: process.child_env,
            allow_signals: signals.allow.into_iter().map(|Signal(n)| n).collect(),
            allow_host_functions: host_functions
                .allow
                .into_iter()
                .map(|HostFunctionName(name)| name)
                .collect(),
            deny_dns: !network.dns,
            limits,
            ..Policy::default()
        };
        for (name, addrs) in network.resolve {
            let span = addrs.span();
            // The same parser as `--resolve NAME=ADDR,...`.
            let entry: ResolveOverride = format!("{name}={}", addrs.into_inner().join(","))
                .parse()
                .map_err(|err| format!("{}, in [network.resolve] {name:?}: {err}", at(span)))?;
            policy = policy.resolve_name(entry.name, entry.addrs);
        }
        for dir in dirs {
            let span = dir.host.span();
            let host = dir.host.into_inner();
            let guest = dir.guest.unwrap_or_else(|| host.clone());
            let mut preopen = Preopen::checked(&format!("{host}::{guest}"), &host, &guest)
                .map_err(|err| format!("{}, in [[dirs]]: {err}", at(span)))?;
            preopen.writable = dir.writable;
            policy.preopens.push(preopen);
        }
        for (key, value) in &env.set {
            if key.is_empty() || key.contains(['=', '\0']) {
                return Err(format!(
                    "[env] set: {key:?} is not an environment variable name"
                ));
            }
            if value.contains('\0') {
                return Err(format!("[env] set: the value of {key} contains a NUL byte"));
            }
        }
        Ok(PolicyFile {
            policy,
            env: env.set.into_iter().collect(),
            env_inherit: env.inherit,
        })
    }
}

#[cfg(test)]
mod tests;
