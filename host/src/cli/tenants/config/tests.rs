use std::path::Path;
use std::time::Duration;

use super::TenantsFile;

fn parse(text: &str) -> anyhow::Result<TenantsFile> {
    TenantsFile::parse(text, Path::new("tenants.toml"), Path::new("/srv/tenants"))
}

/// The error's whole chain, as `main` prints it.
fn error_of(text: &str) -> String {
    format!("{:#}", parse(text).expect_err("an invalid file"))
}

#[test]
fn a_full_file_gives_each_tenant_its_own_policy_limits_and_environment() {
    let file = parse(
        r#"
threads = 2

[[tenant]]
name = "web"
component = "apps/http_hello.wasm"
instances = 3
args = ["--port", "8080"]
env = { MODE = "prod", LEVEL = "2" }

[tenant.policy.network]
listen = ["127.0.0.1:8080"]

[tenant.policy.env]
set = { MODE = "dev", REGION = "eu" }

[tenant.policy.limits]
memory = "64M"
callback_time_ms = 50

[[tenant]]
name = "batch"
component = "/opt/batch.wasm"
"#,
    )
    .expect("a valid file");

    assert_eq!(file.threads, Some(2));
    let [web, batch] = &file.tenants[..] else {
        panic!("two tenants: {:?}", file.tenants);
    };
    assert_eq!(web.name, "web");
    assert_eq!(
        web.component,
        Path::new("/srv/tenants/apps/http_hello.wasm")
    );
    assert_eq!(web.instances, 3);
    assert_eq!(web.args, ["--port", "8080"]);
    let mut env = web.env.clone();
    env.sort();
    // The tenant's MODE over the policy's; the policy's REGION kept.
    assert_eq!(
        env,
        [
            ("LEVEL".to_owned(), "2".to_owned()),
            ("MODE".to_owned(), "prod".to_owned()),
            ("REGION".to_owned(), "eu".to_owned()),
        ]
    );
    assert!(
        web.policy
            .check_listen(&"127.0.0.1:8080".parse().unwrap())
            .is_ok()
    );
    assert_eq!(web.policy.limits.memory_bytes, Some(64 << 20));
    assert_eq!(
        web.policy.limits.callback_cpu,
        Some(Duration::from_millis(50))
    );

    // Defaults: one instance, no arguments, the deny-all policy; absolute paths stay.
    assert_eq!(batch.component, Path::new("/opt/batch.wasm"));
    assert_eq!(batch.instances, 1);
    assert!(batch.args.is_empty() && batch.env.is_empty());
    assert!(
        batch
            .policy
            .check_listen(&"127.0.0.1:8080".parse().unwrap())
            .is_err()
    );
}

#[test]
fn a_policy_path_is_read_relative_to_the_tenants_file() {
    let dir = std::env::temp_dir().join(format!("sandloop-tenants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("web.toml"),
        "[network]\nconnect = [\"10.0.0.0/8:443\"]\n[limits]\nhandles = 7\n",
    )
    .unwrap();
    let text = "[[tenant]]\nname = \"web\"\ncomponent = \"web.wasm\"\npolicy = \"web.toml\"\n";

    let file = TenantsFile::parse(text, &dir.join("tenants.toml"), &dir);
    std::fs::remove_dir_all(&dir).unwrap();

    let tenant = &file.expect("a valid file").tenants[0];
    assert_eq!(tenant.policy.limits.handles, Some(7));
    assert!(
        tenant
            .policy
            .check_connect(&"10.1.2.3:443".parse().unwrap())
            .is_ok()
    );
}

#[test]
fn a_missing_policy_file_is_an_error_naming_the_tenant_and_the_file() {
    let err = error_of(
        "[[tenant]]\nname = \"web\"\ncomponent = \"web.wasm\"\npolicy = \"nowhere.toml\"\n",
    );
    assert!(err.contains("tenant web"), "{err}");
    assert!(err.contains("/srv/tenants/nowhere.toml"), "{err}");
}

#[test]
fn an_unknown_key_of_a_tenant_is_an_error_naming_the_key_and_the_tenant() {
    let err = error_of(
        r#"
[[tenant]]
name = "web"
component = "web.wasm"

[[tenant]]
name = "batch"
component = "batch.wasm"
instnces = 2
"#,
    );
    assert!(err.contains("tenant batch"), "{err}");
    assert!(err.contains("instnces"), "{err}");
    assert!(err.contains("line 9"), "{err}");
}

#[test]
fn an_unknown_key_of_a_tenant_policy_is_an_error_naming_the_key_and_the_tenant() {
    let err = error_of(
        r#"
[[tenant]]
name = "web"
component = "web.wasm"

[tenant.policy.network]
conect = ["127.0.0.1:80"]
"#,
    );
    assert!(err.contains("tenant web"), "{err}");
    assert!(err.contains("conect"), "{err}");
}

#[test]
fn an_unknown_top_level_key_is_an_error() {
    let err = error_of("thread = 2\n[[tenant]]\nname = \"a\"\ncomponent = \"a.wasm\"\n");
    assert!(err.contains("thread"), "{err}");
}

#[test]
fn a_bad_rule_in_a_tenant_policy_is_located_in_the_tenants_file() {
    let err = error_of(
        "[[tenant]]\nname = \"web\"\ncomponent = \"web.wasm\"\n\
         [tenant.policy.network]\nlisten = [\"10.0.0.1/8:80\"]\n",
    );
    assert!(err.contains("tenant web"), "{err}");
    assert!(err.contains("10.0.0.1/8"), "{err}");
    assert!(err.contains("line 5"), "{err}");
}

#[test]
fn two_tenants_of_one_name_are_an_error() {
    let err = error_of(
        "[[tenant]]\nname = \"web\"\ncomponent = \"a.wasm\"\n\
         [[tenant]]\nname = \"web\"\ncomponent = \"b.wasm\"\n",
    );
    assert!(err.contains("two tenants are named \"web\""), "{err}");
}

#[test]
fn a_tenant_without_a_component_is_an_error_naming_it() {
    let err = error_of("[[tenant]]\nname = \"web\"\n");
    assert!(err.contains("tenant web"), "{err}");
    assert!(err.contains("component"), "{err}");
}

#[test]
fn names_are_one_word_and_instances_at_least_one() {
    let err = error_of("[[tenant]]\nname = \"my web\"\ncomponent = \"a.wasm\"\n");
    assert!(err.contains("\"my web\""), "{err}");
    let err = error_of("[[tenant]]\nname = \"web\"\ncomponent = \"a.wasm\"\ninstances = 0\n");
    assert!(
        err.contains("tenant web") && err.contains("instances = 0"),
        "{err}"
    );
}

#[test]
fn a_file_without_tenants_is_an_error() {
    let err = error_of("threads = 1\n");
    assert!(err.contains("no [[tenant]]"), "{err}");
}
