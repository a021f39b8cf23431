//! The tenants file of `sandloop host`: which workloads run side by side, each with its
//! own arguments, environment, policy and limits (the whole syntax is in
//! docs/tenants.md).
//!
//! As in a policy file, unknown keys are errors, not ignored settings: a misspelt
//! `instnces` or `[tenant.polcy]` must not run a tenant other than its author wrote. Errors
//! name the file, the tenant and, where TOML knows it, the line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sandloop_host::Policy;
use sandloop_host::policy::{InlinePolicy, PolicyFile};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// What the tenants file asks for.
#[derive(Debug)]
pub(crate) struct TenantsFile {
    /// `threads`: the host threads shared by all instances (0: one per core).
    pub(crate) threads: Option<usize>,
    pub(crate) tenants: Vec<Tenant>,
}

/// One `[[tenant]]`, its paths resolved against the file's directory.
#[derive(Debug)]
pub(crate) struct Tenant {
    pub(crate) name: String,
    pub(crate) component: PathBuf,
    pub(crate) instances: u32,
    pub(crate) args: Vec<String>,
    /// The policy's `[env] set` with the tenant's `env` over it.
    pub(crate) env: Vec<(String, String)>,
    /// The policy's `[env] inherit`.
    pub(crate) env_inherit: Vec<String>,
    pub(crate) policy: Policy,
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    threads: Option<usize>,
    #[serde(default)]
    tenant: Vec<RawTenant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: String,
    component: PathBuf,
    #[serde(default = "one")]
    instances: u32,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    policy: Option<TenantPolicy>,
}

fn one() -> u32 {
    1
}

/// `policy = "web.toml"` (a policy file, relative to the tenants file) or a
/// `[tenant.policy]` table of the same schema.
enum TenantPolicy {
    File(PathBuf),
    Inline(Box<InlinePolicy>),
}

impl<'de> Deserialize<'de> for TenantPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TenantPolicy, D::Error> {
        struct Either;

        impl<'de> Visitor<'de> for Either {
            type Value = TenantPolicy;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a policy file's path or a policy table")
            }

            fn visit_str<E: de::Error>(self, path: &str) -> Result<TenantPolicy, E> {
                Ok(TenantPolicy::File(path.into()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TenantPolicy, A::Error> {
                // The table's values come from the TOML deserializer itself, so the
                // policy's own unknown keys and spans are checked and located as in a file.
                InlinePolicy::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|inline| TenantPolicy::Inline(Box::new(inline)))
            }
        }

        deserializer.deserialize_any(Either)
    }
}

impl TenantsFile {
    /// Reads and checks the tenants file at `path` (and the policy files it names).
    pub(crate) fn load(path: &Path) -> anyhow::Result<TenantsFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the tenants file {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        TenantsFile::parse(&text, path, dir)
            .with_context(|| format!("invalid tenants file {}", path.display()))
    }

    /// Parses the text of the tenants file `path`, whose relative paths are relative to
    /// `dir`.
    fn parse(text: &str, path: &Path, dir: &Path) -> anyhow::Result<TenantsFile> {
        let raw: RawFile = toml::from_str(text).map_err(|err| {
            let tenant = err
                .span()
                .and_then(|span| tenant_at(text, span.start))
                .map(|name| format!("tenant {name}: "))
                .unwrap_or_default();
            anyhow::anyhow!("{tenant}{err}")
        })?;
        if raw.tenant.is_empty() {
            bail!("no tenant: the file has no [[tenant]] table");
        }
        let mut tenants: Vec<Tenant> = Vec::with_capacity(raw.tenant.len());
        for tenant in raw.tenant {
            check_name(&tenant.name)?;
            if tenants.iter().any(|t| t.name == tenant.name) {
                bail!(
                    "two tenants are named {:?}: names must be unique",
                    tenant.name
                );
            }
            let name = tenant.name.clone();
            tenants
                .push(resolve(tenant, text, path, dir).with_context(|| format!("tenant {name}"))?);
        }
        Ok(TenantsFile {
            threads: raw.threads,
            tenants,
        })
    }
}

/// A tenant's name appears in log and stats lines (`tenant=NAME`): one word.
fn check_name(name: &str) -> anyhow::Result<()> {
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || !name.chars().all(word) {
        bail!(
            "tenant name {name:?}: a name is one or more letters, digits, `-`, `_` or `.` \
             (it appears in the stats lines as tenant=NAME)"
        );
    }
    Ok(())
}

/// The tenant as it runs: its paths resolved against `dir`, its policy read or built, its
/// environment merged.
fn resolve(tenant: RawTenant, text: &str, path: &Path, dir: &Path) -> anyhow::Result<Tenant> {
    if tenant.instances == 0 {
        bail!("instances = 0: a tenant runs at least one instance");
    }
    let file = match tenant.policy {
        None => PolicyFile::default(),
        Some(TenantPolicy::File(policy)) => PolicyFile::load(dir.join(policy))?,
        Some(TenantPolicy::Inline(inline)) => inline.into_policy_file(text, path)?,
    };
    // The tenant's `env` overrides the policy's value of the same name, as `--env` does
    // for `run`: the workload gets each name once.
    let mut env: Vec<(String, String)> = file
        .env
        .into_iter()
        .filter(|(key, _)| !tenant.env.contains_key(key))
        .collect();
    for (key, value) in tenant.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            bail!("env: {key:?} = {value:?} is not an environment variable");
        }
        env.push((key, value));
    }
    Ok(Tenant {
        name: tenant.name,
        component: dir.join(tenant.component),
        instances: tenant.instances,
        args: tenant.args,
        env,
        env_inherit: file.env_inherit,
        policy: file.policy,
    })
}

/// The name of the tenant whose `[[tenant]]` table holds byte `offset` of `text`, for an
/// error serde found there (it knows the line, not the tenant); `#N` when that tenant has
/// no readable name.
fn tenant_at(text: &str, offset: usize) -> Option<String> {
    // Up to the end of the offset's line: an error may point at the header itself.
    let rest = text.get(offset..)?;
    let line_end = offset + rest.find('\n').unwrap_or(rest.len());
    let index = text[..line_end]
        .lines()
        .filter(|line| line.trim_start().starts_with("[[tenant]]"))
        .count()
        .checked_sub(1)?;
    let doc: toml::Table = text.parse().ok()?;
    let name = doc
        .get("tenant")
        .and_then(|tenants| tenants.as_array())
        .and_then(|tenants| tenants.get(index))
        .and_then(|tenant| tenant.get("name"))
        .and_then(|name| name.as_str());
    Some(match name {
        Some(name) => name.to_owned(),
        None => format!("#{}", index + 1),
    })
}

#[cfg(test)]
mod tests;
