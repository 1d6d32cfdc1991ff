//! Plugins: config parsing, discovery, the commands' environment and
//! sandboxing, limits, and golden cases.
//!
//! Golden cases: each `testdata/plugin/<case>/` holds `plugins.yaml`, a
//! `repo/` tree, and `app<suffix>.yaml` files (an `ApplicationSource`), each
//! rendered and compared with `expected<suffix>.yaml`: the manifests as
//! multi-document YAML, or `error: <message>` when the render fails.
//! `FERRY_BLESS=1` rewrites the expected files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use application::{ApplicationSource, PluginEnv, PluginParameter, PluginSource};

use super::*;
use crate::Source;

fn app() -> AppInfo {
    AppInfo {
        name: "guestbook".into(),
        namespace: "demo".into(),
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        repo_url: "https://git.example/repo.git".into(),
        kube_version: Some("v1.33.0".into()),
        api_versions: vec!["apps/v1".into(), "v1".into()],
    }
}

/// A repository tree with `files` (path → content).
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (file, content) in files {
        let path = dir.path().join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    dir
}

/// YAML for a plugin whose commands are `sh -c SCRIPT`; `extra` is more of
/// the spec (indented by two spaces), e.g. a `discover` block.
fn sh_plugin(name: &str, extra: &str, init: Option<&str>, generate: &str) -> String {
    let block = |script: &str| script.lines().map(|l| format!("        {l}\n")).collect::<String>();
    let mut text = format!(
        "---\napiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata:\n  name: {name}\nspec:\n"
    );
    for line in extra.lines() {
        text.push_str(&format!("  {line}\n"));
    }
    if let Some(init) = init {
        text.push_str(&format!("  init:\n    command: [sh, -c]\n    args:\n      - |\n{}", block(init)));
    }
    text.push_str(&format!("  generate:\n    command: [sh, -c]\n    args:\n      - |\n{}", block(generate)));
    text
}

/// A generate script printing one ConfigMap named `name`.
fn config_map(name: &str) -> String {
    format!("printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: {name}\\n'")
}

fn named(name: &str) -> PluginSource {
    PluginSource { name: Some(name.into()), ..PluginSource::default() }
}

fn render(repo: &Path, path: &str, source: &PluginSource, plugins: &Plugins) -> Result<Vec<Manifest>, RenderError> {
    render_plugin(repo, path, source, &app(), plugins).map(|(manifests, _)| manifests)
}

fn names(manifests: &[Manifest]) -> Vec<String> {
    manifests.iter().map(|m| m.object["metadata"]["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn parses_argo_cd_sidecar_configs() {
    let text = r#"
apiVersion: argoproj.io/v1alpha1
kind: ConfigManagementPlugin
metadata:
  name: cdk8s
  labels: {team: platform}
spec:
  version: v1.0
  init:
    command: [npm, ci]
  generate:
    command: [sh, -c]
    args: ["cdk8s synth --stdout"]
  discover:
    fileName: "./subdir/s*.yaml"
  preserveFileMode: true
  allowConcurrency: true
  lockRepo: false
  parameters:
    static:
      - name: size
---
apiVersion: ferry.dev/v1alpha1
kind: ConfigManagementPlugin
metadata:
  name: tanka
spec:
  generate:
    command: [tk, show, ., --dangerous-allow-redirect]
  discover:
    find:
      glob: "**/jsonnetfile.json"
---
apiVersion: argoproj.io/v1alpha1
kind: ConfigManagementPlugin
metadata:
  name: probe
spec:
  generate:
    command: [cat, out.yaml]
  discover:
    find:
      command: [sh, -c, "ls marker"]
---
apiVersion: argoproj.io/v1alpha1
kind: ConfigManagementPlugin
metadata:
  name: manual
spec:
  generate:
    command: [./render.sh]
"#;
    let plugins = Plugins::parse(text).unwrap();
    assert_eq!(plugins.names(), ["cdk8s-v1.0", "tanka", "probe", "manual"]);
    let [cdk8s, tanka, probe, manual] = &plugins.plugins[..] else { panic!("{plugins:?}") };
    assert_eq!(cdk8s.init.as_ref().unwrap().argv, ["npm", "ci"]);
    assert_eq!(cdk8s.generate.argv, ["sh", "-c", "cdk8s synth --stdout"]);
    assert_eq!(cdk8s.modes, FileModes::Preserve);
    assert!(matches!(&cdk8s.discover, Discover::Glob(g) if g.matcher.is_match("subdir/settings.yaml")));
    assert!(matches!(&cdk8s.discover, Discover::Glob(g) if !g.matcher.is_match("subdir/deep/settings.yaml")));
    assert!(matches!(&tanka.discover, Discover::Glob(g) if g.matcher.is_match("a/b/jsonnetfile.json")));
    assert_eq!(tanka.modes, FileModes::Normalize);
    assert!(tanka.init.is_none());
    assert!(matches!(&probe.discover, Discover::Command(c) if c.argv == ["sh", "-c", "ls marker"]));
    assert!(matches!(manual.discover, Discover::Never));
    // The default has none, with Argo CD's limits.
    let default = Plugins::default();
    assert!(default.is_empty());
    assert_eq!((default.timeout, default.output_limit), (Duration::from_secs(90), 64 * 1024 * 1024));
}

#[test]
fn refuses_bad_configs_with_clear_messages() {
    let head = "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata:\n  name: p\n";
    let cases: Vec<(String, &str)> = vec![
        (format!("{head}spec:\n  init:\n    command: [make]\n"), "spec.generate.command is required"),
        (format!("{head}spec:\n  generate:\n    args: [x]\n"), "spec.generate: command is required"),
        (format!("{head}spec:\n  generate:\n    command: [\"\"]\n"), "spec.generate: command must start with a program"),
        (format!("{head}spec:\n  generat:\n    command: [x]\n"), "generat"),
        (
            format!("{head}spec:\n  generate:\n    command: [x]\n  discover:\n    fileName: ../secrets/*.yaml\n"),
            "must not contain `..`",
        ),
        (
            format!("{head}spec:\n  generate:\n    command: [x]\n  discover:\n    find:\n      glob: /etc/*\n"),
            "must be relative to the app directory",
        ),
        (
            format!("{head}spec:\n  generate:\n    command: [x]\n  discover:\n    find:\n      glob: \"a[\"\n"),
            "spec.discover.find.glob",
        ),
        (
            "apiVersion: v1\nkind: ConfigManagementPlugin\nmetadata:\n  name: p\nspec:\n  generate:\n    command: [x]\n"
                .to_owned(),
            "apiVersion must be one of argoproj.io/v1alpha1, ferry.dev/v1alpha1",
        ),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: ConfigMap\nmetadata:\n  name: p\nspec:\n  generate:\n    command: [x]\n"
                .to_owned(),
            "kind must be ConfigManagementPlugin",
        ),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nspec:\n  generate:\n    command: [x]\n"
                .to_owned(),
            "metadata.name is required",
        ),
        ("apiVersion: [\n".to_owned(), "plugin config \"(text)\""),
    ];
    for (text, expected) in cases {
        let error = Plugins::parse(&text).unwrap_err().to_string();
        assert!(error.contains(expected), "{text}\n→ {error}\n(expected {expected:?})");
    }

    let one = sh_plugin("dup", "version: v1", None, "true");
    let other = sh_plugin("dup", "version: v1", None, "false");
    let error = Plugins::parse(&format!("{one}{other}")).unwrap_err();
    assert!(matches!(&error, PluginConfigError::Duplicate { name, .. } if name == "dup-v1"), "{error:?}");
    // Same name, different versions: two plugins.
    let v2 = sh_plugin("dup", "version: v2", None, "true");
    assert_eq!(Plugins::parse(&format!("{one}{v2}")).unwrap().names(), ["dup-v1", "dup-v2"]);
}

#[test]
fn loads_a_file_or_a_directory_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("b.yaml"), sh_plugin("second", "", None, "true")).unwrap();
    fs::write(dir.path().join("a.yml"), sh_plugin("first", "", None, "true")).unwrap();
    fs::write(dir.path().join("notes.txt"), "not a plugin").unwrap();
    assert_eq!(Plugins::load(dir.path()).unwrap().names(), ["first", "second"]);
    assert_eq!(Plugins::load(&dir.path().join("b.yaml")).unwrap().names(), ["second"]);

    fs::write(dir.path().join("c.yaml"), sh_plugin("first", "", None, "true")).unwrap();
    let error = Plugins::load(dir.path()).unwrap_err();
    let PluginConfigError::Duplicate { name, first, second } = &error else { panic!("{error:?}") };
    assert_eq!(name, "first");
    assert!(first.ends_with("a.yml") && second.ends_with("c.yaml"), "{error}");

    let error = Plugins::load(&dir.path().join("missing.yaml")).unwrap_err();
    assert!(matches!(error, PluginConfigError::Read { .. }), "{error:?}");
}

#[test]
fn discovery_picks_the_first_matching_plugin_in_config_order() {
    let config = [
        sh_plugin("manual", "", None, &config_map("manual")),
        sh_plugin("by-file-name", "discover:\n  fileName: ./subdir/s*.yaml", None, &config_map("by-file-name")),
        sh_plugin("by-find-glob", "discover:\n  find:\n    glob: \"**/*.special\"", None, &config_map("by-find-glob")),
        sh_plugin(
            "by-command",
            "discover:\n  find:\n    command: [sh, -c, \"grep -l magic *.txt\"]",
            None,
            &config_map("by-command"),
        ),
    ]
    .concat();
    let plugins = Plugins::parse(&config).unwrap();
    let repo = repo(&[
        ("a/subdir/settings.yaml", ""),
        ("a/deep/x.special", ""),
        ("b/subdir/other.yaml", ""),
        ("b/one/two/three/x.special", ""),
        ("c/notes.txt", "some magic here"),
        ("d/notes.txt", "nothing"),
        ("d/subdir/deeper/settings.yaml", ""),
        ("e/link/keep", ""),
    ]);
    let discover = |path: &str| render(repo.path(), path, &PluginSource::default(), &plugins).map(|m| names(&m));
    assert_eq!(discover("a").unwrap(), ["by-file-name"], "fileName wins by config order");
    assert_eq!(discover("b").unwrap(), ["by-find-glob"], "`**` crosses directories");
    assert_eq!(discover("c").unwrap(), ["by-command"], "the command printed a file name");
    let error = discover("d").unwrap_err();
    let RenderError::InvalidSource { message } = &error else { panic!("{error:?}") };
    assert!(message.contains("no configured plugin matches"), "{message}");
    assert!(message.contains("manual, by-file-name, by-find-glob, by-command"), "{message}");

    // A symlinked directory inside the repository is followed by globs.
    std::os::unix::fs::symlink(repo.path().join("a/subdir"), repo.path().join("e/subdir")).unwrap();
    assert_eq!(discover("e").unwrap(), ["by-file-name"]);

    // A name picks the plugin even when discovery would not.
    assert_eq!(names(&render(repo.path(), "d", &named("manual"), &plugins).unwrap()), ["manual"]);
    let error = render(repo.path(), "d", &named("nope"), &plugins).unwrap_err();
    let RenderError::InvalidSource { message } = &error else { panic!("{error:?}") };
    assert!(message.contains("\"nope\" is not configured") && message.contains("manual, by-file-name"), "{message}");
    let error = render(repo.path(), "d", &named("nope"), &Plugins::default()).unwrap_err();
    assert!(error.to_string().contains("configured plugins: none"), "{error}");
}

#[test]
fn commands_see_argo_cd_variables_and_nothing_of_the_controller() {
    let script = r#"cat <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: env
data:
  app: "$ARGOCD_APP_NAME"
  namespace: "$ARGOCD_APP_NAMESPACE"
  revision: "$ARGOCD_APP_REVISION"
  short: "$ARGOCD_APP_REVISION_SHORT"
  path: "$ARGOCD_APP_SOURCE_PATH"
  repo: "$ARGOCD_APP_SOURCE_REPO_URL"
  greeting: "$ARGOCD_ENV_GREETING"
  expanded: "$ARGOCD_ENV_RELEASE"
  size: "$PARAM_SIZE"
  tag0: "$PARAM_IMAGE_TAGS_0"
  tag1: "$PARAM_IMAGE_TAGS_1"
  labelTeam: "$PARAM_LABELS_TEAM"
  labelCost: "$PARAM_LABELS_COST_CENTER"
  home: "$HOME"
  pwd: "$(pwd)"
  parameters: '$ARGOCD_APP_PARAMETERS'
  names: |
EOF
env | cut -d= -f1 | sed 's/^/    /'
"#;
    let plugins = Plugins::parse(&sh_plugin("env", "", None, script)).unwrap();
    let repo = repo(&[("apps/web/x", "")]);
    let source = PluginSource {
        name: Some("env".into()),
        env: vec![
            PluginEnv { name: "GREETING".into(), value: "hello world".into() },
            PluginEnv { name: "RELEASE".into(), value: "${ARGOCD_APP_NAME}-$ARGOCD_APP_NAMESPACE $5".into() },
        ],
        parameters: vec![
            PluginParameter { name: "size".into(), string: Some("large".into()), ..PluginParameter::default() },
            PluginParameter {
                name: "image.tags".into(),
                array: vec!["v1".into(), "v2".into()],
                ..PluginParameter::default()
            },
            PluginParameter {
                name: "labels".into(),
                map: BTreeMap::from([("team".into(), "web".into()), ("cost-center".into(), "42".into())]),
                ..PluginParameter::default()
            },
        ],
    };
    let (manifests, name) = render_plugin(repo.path(), "apps/web", &source, &app(), &plugins).unwrap();
    assert_eq!(name, "env");
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].file, "(plugin env)");
    let data = &manifests[0].object["data"];
    let get = |key: &str| data[key].as_str().unwrap_or_else(|| panic!("no {key} in {data}")).to_owned();
    assert_eq!(get("app"), "guestbook");
    assert_eq!(get("namespace"), "demo");
    assert_eq!(get("revision"), "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(get("short"), "0123456");
    assert_eq!(get("path"), "apps/web");
    assert_eq!(get("repo"), "https://git.example/repo.git");
    assert_eq!(get("greeting"), "hello world");
    assert_eq!(get("expanded"), "guestbook-demo $5");
    assert_eq!(get("size"), "large");
    assert_eq!((get("tag0"), get("tag1")), ("v1".to_owned(), "v2".to_owned()));
    assert_eq!((get("labelTeam"), get("labelCost")), ("web".to_owned(), "42".to_owned()));
    let parameters: serde_json::Value = serde_json::from_str(&get("parameters")).unwrap();
    assert_eq!(
        parameters,
        serde_json::json!([
            {"name": "size", "string": "large"},
            {"name": "image.tags", "array": ["v1", "v2"]},
            {"name": "labels", "map": {"cost-center": "42", "team": "web"}},
        ])
    );
    // The commands run in the app directory of a scratch copy, with a
    // scratch HOME, never in the checkout.
    let pwd = get("pwd");
    assert!(pwd.ends_with("/repo/apps/web") && pwd.contains("ferry-plugin-"), "{pwd}");
    assert!(get("home").contains("ferry-plugin-"), "{}", get("home"));

    // None of the test process's own variables leak (it has plenty: cargo
    // sets CARGO_* for every test run), except PATH, which is passed on.
    let seen: Vec<String> = get("names").lines().map(str::to_owned).collect();
    let shell_own = ["PATH", "HOME", "PWD", "OLDPWD", "SHLVL", "_"];
    let ours: Vec<String> = std::env::vars().map(|(k, _)| k).filter(|k| !shell_own.contains(&k.as_str())).collect();
    assert!(!ours.is_empty(), "the test process has variables to leak");
    for name in &ours {
        assert!(!seen.contains(name), "{name} leaked into the plugin's environment: {seen:?}");
    }
    assert!(seen.contains(&"ARGOCD_APP_SOURCE_TARGET_REVISION".to_owned()), "{seen:?}");
    assert!(seen.contains(&"KUBE_VERSION".to_owned()) && seen.contains(&"KUBE_API_VERSIONS".to_owned()), "{seen:?}");
}

#[test]
fn env_names_are_escaped_and_values_expanded_as_argo_cd_does() {
    assert_eq!(env::escape("image.tag-name"), "IMAGE_TAG_NAME");
    assert_eq!(env::escape("héllo"), "H_LLO");
    let vars = vec![("A".to_owned(), "1".to_owned()), ("AB".to_owned(), "2".to_owned())];
    assert_eq!(env::expand("$A-${AB}-$AB-$ABC-${A", &vars), "1-2-2-$ABC-${A");
    assert_eq!(env::expand("cost $5 and $", &vars), "cost $5 and $");

    let repo = repo(&[("x", "")]);
    let plugins = Plugins::parse(&sh_plugin("p", "", None, "true")).unwrap();
    let bad = PluginSource { env: vec![PluginEnv { name: "A=B".into(), value: "x".into() }], ..named("p") };
    let error = render(repo.path(), "", &bad, &plugins).unwrap_err();
    assert!(matches!(error, RenderError::InvalidSource { .. }), "{error:?}");
}

/// Every file under `dir` with its content and mode, sorted.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let mode = fs::symlink_metadata(&path).unwrap().permissions().mode();
            if path.is_dir() {
                stack.push(path);
                out.push((rel, Vec::new(), mode));
            } else {
                out.push((rel, fs::read(&path).unwrap(), mode));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_runs_before_generate_in_a_copy_and_the_checkout_is_unchanged() {
    let init = "echo '  note: from-init' >> base.yaml\nrm extra.yaml\nmkdir -p out\necho done > out/marker";
    let generate = "test -f out/marker || exit 1\ncat base.yaml";
    let plugins = Plugins::parse(&sh_plugin("p", "", Some(init), generate)).unwrap();
    let repo = repo(&[
        ("app/base.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\ndata:\n"),
        ("app/extra.yaml", "x"),
    ]);
    let before = listing(repo.path());
    let manifests = render(repo.path(), "app", &named("p"), &plugins).unwrap();
    assert_eq!(manifests[0].object["data"]["note"], "from-init");
    assert_eq!(listing(repo.path()), before, "the checkout is unchanged");
    // Twice gives the same: each render starts from a fresh copy.
    assert_eq!(render(repo.path(), "app", &named("p"), &plugins).unwrap(), manifests);

    // A discovery command's writes are thrown away as well.
    let probe = sh_plugin(
        "probe",
        "discover:\n  find:\n    command: [sh, -c, \"echo scribble >> base.yaml; echo yes\"]",
        None,
        "cat base.yaml",
    );
    let plugins = Plugins::parse(&probe).unwrap();
    let manifests = render(repo.path(), "app", &PluginSource::default(), &plugins).unwrap();
    assert_eq!(names(&manifests), ["base"]);
    assert_eq!(listing(repo.path()), before);
}

#[test]
fn file_modes_are_normalized_unless_preserved() {
    let repo =
        repo(&[("app/gen.sh", "#!/bin/sh\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: gen\\n'\n")]);
    fs::set_permissions(repo.path().join("app/gen.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let config = |preserve: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata:\n  name: p\n\
             spec:\n  preserveFileMode: {preserve}\n  generate:\n    command: [./gen.sh]\n"
        )
    };
    let preserved = Plugins::parse(&config("true")).unwrap();
    assert_eq!(names(&render(repo.path(), "app", &named("p"), &preserved).unwrap()), ["gen"]);
    // Not preserved: the script is not executable in the copy.
    let normalized = Plugins::parse(&config("false")).unwrap();
    let error = render(repo.path(), "app", &named("p"), &normalized).unwrap_err();
    let RenderError::ToolFailed { tool, message } = &error else { panic!("{error:?}") };
    assert_eq!(tool, "plugin p");
    assert!(message.contains("cannot run \"./gen.sh\"") && message.contains("ermission denied"), "{message}");
}

#[test]
fn a_hanging_plugin_is_killed_with_its_children() {
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("child.pid");
    let plugins = Plugins::parse(&sh_plugin("hang", "", None, "sleep 300 &\necho $! > \"$ARGOCD_ENV_PIDFILE\"\nwait"))
        .unwrap()
        .with_limits(Duration::from_secs(1), 1024);
    let repo = repo(&[("app/x", "")]);
    let source = PluginSource {
        env: vec![PluginEnv { name: "PIDFILE".into(), value: pid_file.display().to_string() }],
        ..named("hang")
    };
    let error = render(repo.path(), "app", &source, &plugins).unwrap_err();
    assert!(matches!(&error, RenderError::Timeout { tool, seconds: 1 } if tool == "plugin hang"), "{error:?}");
    let child: i32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // A pidfd becomes readable when the process exits (a zombie waiting for
    // its new parent counts); opening one fails when it is already reaped.
    let pid = rustix::process::Pid::from_raw(child).unwrap();
    let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else { return };
    let mut fds = [rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN)];
    let timeout = rustix::event::Timespec { tv_sec: 20, tv_nsec: 0 };
    let ready = rustix::event::poll(&mut fds, Some(&timeout)).unwrap();
    assert_eq!(ready, 1, "the plugin's child {child} is still running 20 s after the timeout");
}

#[test]
fn the_timeout_covers_init_and_generate_together() {
    let marks = tempfile::tempdir().unwrap();
    let plugins = Plugins::parse(&sh_plugin("slow", "", Some("sleep 300"), "touch \"$ARGOCD_ENV_MARK\""))
        .unwrap()
        .with_limits(Duration::from_secs(1), 1024);
    let repo = repo(&[("app/x", "")]);
    let mark = marks.path().join("generated");
    let source = PluginSource {
        env: vec![PluginEnv { name: "MARK".into(), value: mark.display().to_string() }],
        ..named("slow")
    };
    let error = render(repo.path(), "app", &source, &plugins).unwrap_err();
    assert!(matches!(&error, RenderError::Timeout { tool, .. } if tool == "plugin slow"), "{error:?}");
    assert!(!mark.exists(), "generate never ran after init timed out");
}

#[test]
fn output_over_the_limit_is_refused() {
    let plugins = Plugins::parse(&sh_plugin("big", "", None, "yes 'apiVersion: v1' | head -c 100000"))
        .unwrap()
        .with_limits(Duration::from_secs(60), 10_000);
    let repo = repo(&[("app/x", "")]);
    let error = render(repo.path(), "app", &named("big"), &plugins).unwrap_err();
    assert!(matches!(&error, RenderError::OutputTooLarge { tool, limit: 10_000 } if tool == "plugin big"), "{error:?}");
}

#[test]
fn failures_show_the_end_of_stderr_without_secret_data_or_scratch_paths() {
    let script = "for i in $(seq 1 500); do echo \"noise line $i\" >&2; done\n\
                  printf 'apiVersion: v1\\nkind: Secret\\ndata:\\n  password: aHVudGVyMg==\\n' >&2\n\
                  echo \"cache at $HOME/.cache\" >&2\n\
                  echo \"cannot read $(pwd)/values.yaml: the real cause\" >&2\nexit 3";
    let plugins = Plugins::parse(&sh_plugin("fails", "", None, script)).unwrap();
    let repo = repo(&[("apps/web/x", "")]);
    let error = render(repo.path(), "apps/web", &named("fails"), &plugins).unwrap_err();
    let RenderError::ToolFailed { tool, message } = &error else { panic!("{error:?}") };
    assert_eq!(tool, "plugin fails");
    assert!(message.len() <= "generate: ".len() + 2048 + 3, "{}", message.len());
    assert!(message.starts_with("generate: "), "{message}");
    assert!(message.ends_with("cannot read apps/web/values.yaml: the real cause"), "{message}");
    assert!(!message.contains("aHVudGVyMg=="), "{message}");
    assert!(!message.contains("ferry-plugin-"), "{message}");
    assert!(message.contains("cache at $HOME/.cache"), "{message}");

    let plugins = Plugins::parse(&sh_plugin("quiet", "", Some("exit 1"), "true")).unwrap();
    let error = render(repo.path(), "apps/web", &named("quiet"), &plugins).unwrap_err();
    assert_eq!(error.to_string(), "plugin quiet failed: init: exited unsuccessfully, with nothing on stderr");
}

#[test]
fn a_missing_command_names_the_command_and_the_plugin() {
    let text = "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata:\n  name: cdk8s\n\
                spec:\n  generate:\n    command: [ferry-test-no-such-tool, synth]\n";
    let plugins = Plugins::parse(text).unwrap();
    let repo = repo(&[("app/x", "")]);
    let error = render(repo.path(), "app", &named("cdk8s"), &plugins).unwrap_err();
    let RenderError::ToolMissing { tool, hint } = &error else { panic!("{error:?}") };
    assert_eq!(tool, "ferry-test-no-such-tool");
    assert!(hint.contains("plugin cdk8s"), "{hint}");
}

#[test]
fn symlinks_out_of_the_repository_are_refused_before_anything_runs() {
    let outside = repo(&[("secret.yaml", "token: hunter2")]);
    let marks = tempfile::tempdir().unwrap();
    let mark = marks.path().join("ran");
    let plugins = Plugins::parse(&sh_plugin("p", "", None, "touch \"$ARGOCD_ENV_MARK\"")).unwrap();
    let repo = repo(&[("app/x", "")]);
    std::os::unix::fs::symlink(outside.path().join("secret.yaml"), repo.path().join("app/leak.yaml")).unwrap();
    let source =
        PluginSource { env: vec![PluginEnv { name: "MARK".into(), value: mark.display().to_string() }], ..named("p") };
    let error = render(repo.path(), "app", &source, &plugins).unwrap_err();
    assert!(matches!(&error, RenderError::PathEscapesRepository { path } if path == "app/leak.yaml"), "{error:?}");
    assert!(!mark.exists(), "the plugin did not run");

    // The app path itself must stay inside too.
    for path in ["..", "/etc", "app/leak.yaml/.."] {
        let error = render(repo.path(), path, &source, &plugins).unwrap_err();
        assert!(
            matches!(error, RenderError::PathEscapesRepository { .. } | RenderError::NotADirectory { .. }),
            "{path}: {error:?}"
        );
    }
}

#[test]
fn output_may_be_json_a_json_list_or_a_list_kind() {
    let cm = |name: &str| format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#);
    let cases = [
        (format!("[{},{}]", cm("a"), cm("b")), vec!["a", "b"]),
        (cm("a"), vec!["a"]),
        (format!(r#"{{"apiVersion":"v1","kind":"List","items":[{},{}]}}"#, cm("a"), cm("b")), vec!["a", "b"]),
        ("---\n---\n".to_owned(), vec![]),
    ];
    let repo = repo(&[("app/x", "")]);
    for (output, expected) in cases {
        let repo_file = repo.path().join("app/out.txt");
        fs::write(&repo_file, &output).unwrap();
        let plugins = Plugins::parse(&sh_plugin("p", "", None, "cat out.txt")).unwrap();
        assert_eq!(names(&render(repo.path(), "app", &named("p"), &plugins).unwrap()), expected, "{output}");
    }
    fs::write(repo.path().join("app/out.txt"), "kind: ConfigMap\n").unwrap();
    let plugins = Plugins::parse(&sh_plugin("p", "", None, "cat out.txt")).unwrap();
    let error = render(repo.path(), "app", &named("p"), &plugins).unwrap_err();
    assert!(matches!(&error, RenderError::InvalidObject { file, .. } if file == "(plugin p)"), "{error:?}");
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join("plugin")
}

fn outcome_text(outcome: &Result<(Vec<Manifest>, String), RenderError>) -> String {
    match outcome {
        Ok((manifests, name)) => {
            let body: String =
                manifests.iter().map(|m| format!("---\n{}", serde_saphyr::to_string(&m.object).unwrap())).collect();
            format!("# plugin: {name}\n{body}")
        }
        Err(error) => format!("error: {}\n", serde_json::to_string(&error.to_string()).unwrap()),
    }
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("FERRY_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut count = 0;
    let mut cases: Vec<PathBuf> = fs::read_dir(testdata()).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    for case in cases {
        let plugins = Plugins::load(&case.join("plugins.yaml")).unwrap();
        let mut apps: Vec<String> = fs::read_dir(&case)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("app") && n.ends_with(".yaml"))
            .collect();
        apps.sort();
        for app_file in apps {
            count += 1;
            let suffix = &app_file["app".len()..app_file.len() - ".yaml".len()];
            let label = format!("{}/{app_file}", case.file_name().unwrap().to_string_lossy());
            let source: ApplicationSource = serde_saphyr::from_str(&fs::read_to_string(case.join(&app_file)).unwrap())
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            let repo = case.join("repo");
            let outcome = match crate::detect(&repo, &source) {
                Ok(Source::Plugin(plugin)) => render_plugin(&repo, &source.path, &plugin, &app(), &plugins),
                other => panic!("{label}: not a plugin source: {other:?}"),
            };
            let actual = outcome_text(&outcome);
            let expected_path = case.join(format!("expected{suffix}.yaml"));
            if bless {
                fs::write(&expected_path, &actual).unwrap();
                continue;
            }
            let expected =
                fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("{label}: {e} (run with FERRY_BLESS=1)"));
            if actual != expected {
                failures.push(format!("{label}:\n--- expected\n{expected}\n--- actual\n{actual}"));
            }
        }
    }
    assert!(count >= 3, "golden cases found: {count}");
    assert!(failures.is_empty(), "{} case(s) differ:\n{}", failures.len(), failures.join("\n"));
}
