//! The stack of the promotion end-to-end tests, all real processes: `ferry cluster serve`,
//! `ferry install`, a `ferry controller` child process (the Application controller and the
//! promoter), git repositories on disk reached by `file://` URLs (a bare origin, and a working
//! clone for the test's own commits), and objects written with kubectl and the `ferry` CLI.
//!
//! Every wait polls with a deadline; nothing sleeps a fixed time to wait for the controller.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kube::api::ListParams;
use kube::{Api, ResourceExt};
use promotion::{Freight, Promotion, PullRequest, Stage, Warehouse};
use serde_json::{Value, json};

use crate::common::process::{Env, Process, free_addr, http_get};

#[path = "../../../promoter/tests/common/builders.rs"]
mod builders;
#[path = "../../../promoter/tests/common/waits.rs"]
mod waits;
use crate::common::{DEADLINE, Out, Server, eventually};
pub use builders::{APP_YAML, app, hydrated_stage, image_warehouse, phase, soaked_dev_stage, verified_in};

/// The registry webhook's token given to `ferry controller`.
pub const TOKEN: &str = "registry-token";
/// How long a wait on the controller may take: generous, the machine has two cores shared
/// by several test binaries.
pub const WAIT: Duration = Duration::from_secs(100);

/// The local cluster with ferry installed, and a `ferry controller` process against it.
pub struct Stack {
    // First, so it is killed (and its log printed) before the server's directories go.
    controller: Option<Process>,
    /// `ferry cluster serve`.
    pub server: Server,
    /// The CLIs pointed at the server.
    pub env: Env,
    /// A kube-rs client of the server.
    pub client: kube::Client,
    /// The controller's HTTP endpoint (metrics, webhooks).
    pub controller_addr: String,
    controller_data: PathBuf,
    starts: u32,
}

impl Stack {
    /// Starts the server, installs ferry (`ferry install`: the CRDs, the promotion CRDs
    /// included) and starts the controller.
    pub async fn start() -> Stack {
        let server = Server::start().await;
        let env = Env::of(&server);
        server.install_ferry().await;
        let client = server.client().await;
        eventually("the promotion CRDs to be served", DEADLINE, || async {
            let out = env
                .kubectl(&["get", "stages.ferry.dev,warehouses.ferry.dev,promotions.ferry.dev", "-n", "ferry"])
                .await;
            if out.code == 0 { Ok(()) } else { Err(out.stderr) }
        })
        .await;
        let controller_data = server.dirs.root().join("controller");
        let mut stack =
            Stack { controller: None, server, env, client, controller_addr: String::new(), controller_data, starts: 0 };
        stack.start_controller().await;
        stack
    }

    /// Starts `ferry controller` (again, after a kill: same data directory, new port).
    pub async fn start_controller(&mut self) {
        let addr = free_addr();
        let name = format!("controller-{}", self.starts);
        self.starts += 1;
        let kubeconfig = self.server.kubeconfig.to_str().expect("utf-8 path").to_owned();
        let data = self.controller_data.to_str().expect("utf-8 path").to_owned();
        let args = [
            "controller",
            "--kubeconfig",
            &kubeconfig,
            "--data-dir",
            &data,
            "--controller-listen",
            &addr,
            "--poll-interval",
            "5s",
            "--registry-webhook-token",
            TOKEN,
        ];
        let mut process = Process::spawn(&name, self.server.dirs.root(), &self.server.dirs.home(), &args);
        process.line_after("ferry controller: ").await;
        eventually("the controller to answer /healthz", DEADLINE, || http_get(&addr, "/healthz")).await;
        self.controller = Some(process);
        self.controller_addr = addr;
    }

    /// Kills the controller with SIGKILL, as a crash would.
    pub fn kill_controller(&mut self) {
        if let Some(mut process) = self.controller.take() {
            process.kill();
        }
    }

    /// Deletes the controller's data directory (git caches, promotion workdirs), as a pod
    /// rescheduled with an emptyDir volume would find it. The controller must be stopped.
    pub fn wipe_controller_data(&self) {
        assert!(self.controller.is_none(), "stop the controller first");
        std::fs::remove_dir_all(&self.controller_data).expect("remove the controller's data directory");
    }

    /// The controller's log so far (all of it, every start).
    pub fn controller_log(&self) -> String {
        let mut all = String::new();
        for n in 0..self.starts {
            let path = self.server.dirs.root().join(format!("controller-{n}.log"));
            all.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        all
    }

    /// Runs the `ferry` CLI against the server.
    pub async fn ferry(&self, args: &[&str]) -> Out {
        self.env.ferry(args).await
    }

    /// `kubectl apply` of objects (JSON), which must succeed.
    pub async fn apply(&self, objects: &[Value]) {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
        self.env.kubectl_stdin(&["apply", "-f", "-"], &list.to_string()).await.ok();
    }

    /// The API of a promotion kind (namespace `ferry`).
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), promotion::NAMESPACE)
    }

    /// All the objects of kind `K`.
    pub async fn list<K>(&self) -> Vec<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        self.api::<K>().list(&ListParams::default()).await.expect("list").items
    }

    /// Waits until `check` finds what it looks for among the objects of kind `K`; on timeout
    /// the failure shows them and the controller's last log lines.
    pub async fn wait_for<K, T>(&self, what: &str, check: impl Fn(&[K]) -> Option<T>) -> T
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        let log = self.log_tail();
        let what = format!("{what}\ncontroller log (at the start of the wait):\n{log}");
        waits::watch_until(self.api::<K>(), &what, WAIT, check).await
    }

    fn log_tail(&self) -> String {
        let log = self.controller_log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The promotions of `stage`, oldest first.
    pub async fn promotions(&self, stage: &str) -> Vec<Promotion> {
        let mut list: Vec<Promotion> =
            self.list::<Promotion>().await.into_iter().filter(|p| p.spec.stage == stage).collect();
        list.sort_by(|a, b| {
            a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp).then(a.name_any().cmp(&b.name_any()))
        });
        list
    }

    /// Waits for a promotion of `freight` to `stage` to end; returns it.
    pub async fn promotion_ended(&self, stage: &str, freight: &Freight) -> Promotion {
        let (stage, freight) = (stage.to_owned(), freight.name_any());
        self.wait_for::<Promotion, _>(&format!("a promotion of {freight} to {stage} to end"), move |all| {
            all.iter().find(|p| p.spec.stage == stage && p.spec.freight == freight && phase(p).is_terminal()).cloned()
        })
        .await
    }

    /// Waits for a promotion of `freight` to `stage` whose status message contains `text`.
    pub async fn promotion_saying(&self, stage: &str, freight: &Freight, text: &str) -> Promotion {
        let (stage, freight, text) = (stage.to_owned(), freight.name_any(), text.to_owned());
        self.wait_for::<Promotion, _>(&format!("a promotion of {freight} to {stage} saying {text:?}"), move |all| {
            all.iter()
                .find(|p| p.spec.stage == stage && p.spec.freight == freight && message(p).contains(&text))
                .cloned()
        })
        .await
    }

    /// Waits for the freight holding image tag `tag`.
    pub async fn freight_with_tag(&self, tag: &str) -> Freight {
        let tag = tag.to_owned();
        self.wait_for::<Freight, _>(&format!("freight of {tag}"), move |all| {
            all.iter().find(|f| f.spec.images.iter().any(|i| i.tag == tag)).cloned()
        })
        .await
    }

    /// Waits until freight `name` is verified in `stage`.
    pub async fn verified(&self, freight: &Freight, stage: &str) -> Freight {
        let (name, stage) = (freight.name_any(), stage.to_owned());
        self.wait_for::<Freight, _>(&format!("{name} verified in {stage}"), move |all| {
            all.iter().find(|f| f.name_any() == name && verified_in(f, &stage)).cloned()
        })
        .await
    }

    /// Waits for the pull request into `target`.
    pub async fn pull_request(&self, target: &str) -> PullRequest {
        let target = target.to_owned();
        self.wait_for::<PullRequest, _>(&format!("a pull request into {target}"), move |all| {
            all.iter().find(|p| p.spec.target_branch == target).cloned()
        })
        .await
    }

    /// Waits for warehouse `name`'s Ready condition; its status and message.
    pub async fn warehouse_ready(&self, name: &str) -> (String, String) {
        let name = name.to_owned();
        self.wait_for::<Warehouse, _>(&format!("warehouse {name}'s Ready condition"), move |all| {
            let warehouse = all.iter().find(|w| w.name_any() == name)?;
            let condition = warehouse.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Ready")?;
            Some((condition.status.clone(), condition.message.clone().unwrap_or_default()))
        })
        .await
    }

    /// Makes the workload simulator never ready images matching `pattern` (`*:v1.1.0`).
    pub async fn set_never_ready(&self, pattern: &str) {
        let map = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ferry-simulator", "namespace": "ferry-system"},
            "data": {"neverReady": pattern}});
        self.env.kubectl_stdin(&["apply", "-f", "-"], &map.to_string()).await.ok();
    }

    /// The image of Deployment `web` in `namespace`.
    pub async fn deployment_image(&self, namespace: &str) -> Option<String> {
        let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(self.client.clone(), namespace);
        let deployment = api.get_opt("web").await.ok()??;
        deployment.spec?.template.spec?.containers.first()?.image.clone()
    }

    /// Waits for Deployment `web` in `namespace` to run `image`.
    pub async fn wait_image(&self, namespace: &str, image: &str) {
        eventually(&format!("{namespace}/web to run {image}"), WAIT, || async {
            match self.deployment_image(namespace).await {
                Some(found) if found == image => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }

    /// Sends a registry push notification for `repository` at `host` to the controller's
    /// webhook with `token`; the HTTP status.
    pub async fn notify_push(&self, host: &str, repository: &str, token: &str) -> u16 {
        let body = json!({"events": [{"action": "push", "target": {"repository": repository, "tag": "x"},
            "request": {"host": host}}]})
        .to_string();
        http_post(&self.controller_addr, "/api/webhook/registry", token, &body).await
    }
}

/// `POST path` with a bearer token and a JSON body over plain HTTP/1.0; the status code.
async fn http_post(addr: &str, path: &str, token: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the controller");
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status: {response}"))
}

/// The status message of a promotion.
pub fn message(promotion: &Promotion) -> String {
    promotion.status.as_ref().and_then(|s| s.message.clone()).unwrap_or_default()
}

/// The health a stage shows.
pub fn health(stage: &Stage) -> Option<String> {
    stage.status.as_ref().and_then(|s| s.health.clone())
}

// ---------------------------------------------------------------------------
// git

/// Runs git in `dir`, which must succeed; its standard output, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=ferry test", "-c", "user.email=test@ferry.invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?} in {} failed: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare origin (what the controller and the promotions reach by `file://`) and a working
/// clone of it for the test's own commits.
pub struct GitRepo {
    _dir: tempfile::TempDir,
    /// The bare repository.
    pub origin: PathBuf,
    /// The working clone.
    pub work: PathBuf,
}

impl GitRepo {
    /// `main` with `env/<stage>/deployment.yaml` for dev, staging and prod, and branches
    /// `environment/staging` and `environment/prod` (a README only) for hydrated stages.
    pub fn new() -> GitRepo {
        let dir = tempfile::Builder::new().prefix("ferry-e2e-git-").tempdir().expect("temp dir");
        let origin = dir.path().join("origin.git");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&origin).expect("origin dir");
        git(&origin, &["init", "-q", "--bare", "-b", "main"]);
        git(dir.path(), &["clone", "-q", origin.to_str().expect("utf-8"), "work"]);
        let repo = GitRepo { _dir: dir, origin, work };
        for stage in ["dev", "staging", "prod"] {
            repo.write(&format!("env/{stage}/deployment.yaml"), APP_YAML);
        }
        repo.commit_and_push("web", "main");
        // The environment branches hold only hydrated output: they start with a README.
        for stage in ["staging", "prod"] {
            git(&repo.work, &["checkout", "-q", "--orphan", &format!("environment/{stage}")]);
            git(&repo.work, &["rm", "-r", "-q", "-f", "."]);
            repo.write("README.md", &format!("Hydrated manifests of {stage}.\n"));
            repo.commit_and_push(&format!("{stage}: empty"), &format!("environment/{stage}"));
        }
        git(&repo.work, &["checkout", "-q", "main"]);
        repo
    }

    /// The URL promotions and applications use.
    pub fn url(&self) -> String {
        format!("file://{}", self.origin.display())
    }

    /// Writes a file in the working clone.
    pub fn write(&self, path: &str, content: &str) {
        let path = self.work.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, content).expect("write");
    }

    /// Commits everything in the working clone and pushes it to `branch`.
    pub fn commit_and_push(&self, message: &str, branch: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        git(&self.work, &["push", "-q", "origin", &format!("HEAD:{branch}")]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Runs git in the origin.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.origin, args)
    }

    /// The commit `rev` names in the origin.
    pub fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev])
    }

    /// Every branch of the origin and its commit.
    pub fn refs(&self) -> String {
        self.git(&["for-each-ref", "--format=%(refname) %(objectname)"])
    }

    /// The commits of `branch` in the origin carrying the trailer `Ferry-Promotion: <promotion>`.
    pub fn commits_of(&self, branch: &str, promotion: &str) -> usize {
        self.git(&["log", "--format=%H", "--grep", &format!("Ferry-Promotion: {promotion}"), branch])
            .lines()
            .filter(|l| !l.is_empty())
            .count()
    }

    /// A file at `rev` in the origin.
    pub fn show(&self, rev: &str, path: &str) -> String {
        self.git(&["show", &format!("{rev}:{path}")])
    }
}

// ---------------------------------------------------------------------------
// objects

/// The dev stage (folder layout on `main`), verified after a 2 s soak.
pub fn dev_stage(repo: &str, image: &str) -> Value {
    soaked_dev_stage(repo, image, "2s")
}

/// A hydrated-branch stage (see `hydrated_stage`), verified after a 2 s soak unless `extra`
/// sets its own verification.
pub fn branch_stage(name: &str, upstream: Option<&str>, repo: &str, image: &str, extra: Value) -> Value {
    let mut stage = hydrated_stage(name, upstream, repo, image, extra);
    if stage["spec"].get("verification").is_none() {
        stage["spec"]["verification"] = json!({"requiredSoakTime": "2s"});
    }
    stage
}

/// Freight from warehouse `web` holding `image:tag`, made directly (no registry needed); its
/// alias is `web-<tag with dashes>`.
pub fn image_freight(image: &str, tag: &str) -> (Value, String) {
    let images = vec![promotion::Image {
        repo_url: image.to_owned(),
        tag: tag.to_owned(),
        digest: format!("sha256:{:0>64}", tag.len()),
        created_at: None,
    }];
    let name = promotion::naming::freight_name(&[], &images, &[]);
    let alias = format!("web-{}", tag.replace('.', "-"));
    let object = json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "Freight",
        "metadata": {"name": name, "namespace": "ferry"},
        "alias": alias,
        "origin": {"kind": "Warehouse", "name": "web"},
        "images": images,
    });
    (object, alias)
}
