//! The only unsafe code of the crate: calls into `libhelm_c`, the C ABI over
//! Helm v4's Go SDK that PyPI's `helm-python-sdk` ships.
//!
//! The ABI (as its `_native.py` declares it) is small and regular:
//! - inputs are NUL-terminated UTF-8 strings, borrowed for the call only;
//! - outputs are `char**` out-parameters the library fills with strings it
//!   allocated, which the caller must release with `helm_free_string`
//!   exactly once;
//! - stateful objects are `uint64` handles into the library's registry,
//!   released with their own `*_free` function (double frees are reported,
//!   not undefined);
//! - every call returns an `int32` status, 0 for success, negative codes for
//!   failures, with a message in the `error_out` string.
//!
//! Everything above this module sees only safe wrappers: owned `String`s,
//! a [`Chart`] that frees its handle on drop, and [`CallError`].
//!
//! The library is a Go `c-shared` object: it starts a Go runtime when loaded
//! and cannot be unloaded safely. So each library is loaded once per process
//! and deliberately leaked (kept for the life of the process).
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Mutex, OnceLock};

/// `helm_handle_t`.
type Handle = u64;
/// A `char**` out-parameter.
type StrOut = *mut *mut c_char;
type Str = *const c_char;

/// Status codes of the ABI that ferry tells apart (`errors.py`).
pub(crate) mod code {
    /// Invalid argument, including bad JSON options.
    pub(crate) const INVALID_ARG: i32 = -2;
}

/// A failed library call: its status code and message.
#[derive(Debug, Clone)]
pub(crate) struct CallError {
    /// The status code (negative).
    pub(crate) code: i32,
    /// The library's message (may be empty).
    pub(crate) message: String,
}

/// The entry points ferry uses, resolved once when the library is loaded.
struct Api {
    c_version: unsafe extern "C" fn() -> *mut c_char,
    sdk_version: unsafe extern "C" fn() -> *mut c_char,
    free_string: unsafe extern "C" fn(*mut c_char),
    chart_load: unsafe extern "C" fn(Str, *mut Handle, StrOut) -> i32,
    chart_free: unsafe extern "C" fn(Handle, StrOut) -> i32,
    chart_crds: unsafe extern "C" fn(Handle, StrOut, StrOut) -> i32,
    render: unsafe extern "C" fn(Handle, Str, Str, StrOut, StrOut) -> i32,
    values_from_yaml: unsafe extern "C" fn(Str, StrOut, StrOut) -> i32,
    strvals_parse: unsafe extern "C" fn(Str, StrOut, StrOut) -> i32,
    strvals_parse_string: unsafe extern "C" fn(Str, StrOut, StrOut) -> i32,
    strvals_parse_literal: unsafe extern "C" fn(Str, StrOut, StrOut) -> i32,
    pull: unsafe extern "C" fn(Handle, Str, Str, StrOut, StrOut) -> i32,
    registry_client_new: unsafe extern "C" fn(Str, *mut Handle, StrOut) -> i32,
    registry_client_free: unsafe extern "C" fn(Handle, StrOut) -> i32,
    registry_login: unsafe extern "C" fn(Handle, Str, Str, Str, Str, StrOut) -> i32,
    // Publishing (push, package, index) is for the tests' registries.
    #[cfg_attr(not(test), allow(dead_code))]
    push: unsafe extern "C" fn(Handle, Str, Str, Str, StrOut, StrOut) -> i32,
    #[cfg_attr(not(test), allow(dead_code))]
    package_run: unsafe extern "C" fn(Str, Str, StrOut, StrOut) -> i32,
    #[cfg_attr(not(test), allow(dead_code))]
    repo_index_generate: unsafe extern "C" fn(Str, Str, StrOut, StrOut) -> i32,
    dependency_build: unsafe extern "C" fn(Str, Str, StrOut) -> i32,
}

/// A loaded `libhelm_c`, alive for the rest of the process.
pub(crate) struct LibHelm {
    api: Api,
    path: PathBuf,
}

impl std::fmt::Debug for LibHelm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibHelm").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Loads the library at `path` (absolute), once per process: later calls
/// with the same file return the same instance. The error is a message for a
/// person (wrong file, missing symbol, incompatible version).
pub(crate) fn load(path: &Path) -> Result<&'static LibHelm, String> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, &'static LibHelm>>> = OnceLock::new();
    let real = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(lib) = loaded.get(&real) {
        return Ok(lib);
    }
    // SAFETY: loading runs the library's initialisers. libhelm_c's only
    // initialiser is the Go runtime's, which is designed to start inside a
    // foreign process. The path is absolute, so the loader's search path
    // (and a planted library on it) plays no part.
    let library = unsafe { libloading::Library::new(&real) }.map_err(|e| format!("{}: {e}", real.display()))?;
    // Never unloaded: a Go runtime cannot be torn down (see module docs).
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    let api = resolve(library).map_err(|e| format!("{}: {e}; it is not a libhelm_c library", real.display()))?;
    let lib: &'static LibHelm = Box::leak(Box::new(LibHelm { api, path: real.clone() }));
    let version = lib.c_version();
    // The declarations above are those of the 0.x ABI; another major
    // version may have changed them, and calling through a wrong signature
    // would corrupt memory.
    if !version.starts_with("0.") {
        return Err(format!("{}: libhelm_c {version} is not the supported 0.x ABI", real.display()));
    }
    loaded.insert(real, lib);
    Ok(lib)
}

/// Resolves every symbol [`Api`] holds.
fn resolve(library: &'static libloading::Library) -> Result<Api, libloading::Error> {
    // SAFETY (for each `get`): the function-pointer type written for a
    // symbol is the C signature `_native.py` declares for it (status `int32`,
    // `uint64` handles, `const char*` inputs, `char**` outputs, a `void*`
    // string for the free function); the library is never unloaded, so the
    // copied pointers stay valid for the process's life.
    unsafe {
        Ok(Api {
            c_version: *library.get(b"helm_c_version")?,
            sdk_version: *library.get(b"helm_sdk_version")?,
            free_string: *library.get(b"helm_free_string")?,
            chart_load: *library.get(b"helm_chart_load")?,
            chart_free: *library.get(b"helm_chart_free")?,
            chart_crds: *library.get(b"helm_chart_crds")?,
            render: *library.get(b"helm_render")?,
            values_from_yaml: *library.get(b"helm_values_from_yaml")?,
            strvals_parse: *library.get(b"helm_strvals_parse")?,
            strvals_parse_string: *library.get(b"helm_strvals_parse_string")?,
            strvals_parse_literal: *library.get(b"helm_strvals_parse_literal")?,
            pull: *library.get(b"helm_pull")?,
            registry_client_new: *library.get(b"helm_registry_client_new")?,
            registry_client_free: *library.get(b"helm_registry_client_free")?,
            registry_login: *library.get(b"helm_registry_login")?,
            push: *library.get(b"helm_push")?,
            package_run: *library.get(b"helm_package_run")?,
            repo_index_generate: *library.get(b"helm_repo_index_generate")?,
            dependency_build: *library.get(b"helm_dependency_build")?,
        })
    }
}

/// A `const char*` argument; `None` is passed as NULL.
fn c_string(text: &str) -> Result<CString, CallError> {
    CString::new(text)
        .map_err(|_| CallError { code: code::INVALID_ARG, message: "argument contains a NUL byte".to_owned() })
}

fn c_path(path: &Path) -> Result<CString, CallError> {
    c_string(path.to_str().ok_or_else(|| CallError {
        code: code::INVALID_ARG,
        message: format!("path {} is not UTF-8", path.display()),
    })?)
}

fn opt_ptr(value: &Option<CString>) -> Str {
    value.as_ref().map_or(ptr::null(), |v| v.as_ptr())
}

/// Which `--set` flavour to parse an expression as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetKind {
    /// `--set`: values typed as Helm guesses (numbers, booleans, null).
    Typed,
    /// `--set-string`: values kept as strings.
    String,
    /// `--set-literal`: the whole rest of the expression is one string.
    Literal,
}

impl LibHelm {
    /// Takes ownership of a library-allocated string: copies it, frees it.
    fn take(&self, raw: *mut c_char) -> Option<String> {
        if raw.is_null() {
            return None;
        }
        // SAFETY: `raw` is a non-NULL, NUL-terminated string the library
        // allocated and handed to us; it is read once here and freed right
        // after, and never used again.
        let text = unsafe { CStr::from_ptr(raw) }.to_string_lossy().into_owned();
        // SAFETY: freed exactly once, with the library's own deallocator.
        unsafe { (self.api.free_string)(raw) };
        Some(text)
    }

    /// Collects a call's status and out-strings into a result.
    fn finish(&self, status: i32, out: *mut c_char, err: *mut c_char) -> Result<String, CallError> {
        // Both strings are taken (and freed) whatever the status says.
        let out = self.take(out);
        let err = self.take(err);
        if status == 0 {
            Ok(out.unwrap_or_default())
        } else {
            Err(CallError { code: status, message: err.unwrap_or_default() })
        }
    }

    /// Path of the loaded file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The libhelm_c release, e.g. `0.2.2`.
    pub(crate) fn c_version(&self) -> String {
        // SAFETY: takes no arguments; returns a library-owned string or NULL.
        let raw = unsafe { (self.api.c_version)() };
        self.take(raw).unwrap_or_else(|| "unknown".to_owned())
    }

    /// The Helm SDK version compiled in, e.g. `v4.2.3`.
    pub(crate) fn sdk_version(&self) -> String {
        // SAFETY: as for `c_version`.
        let raw = unsafe { (self.api.sdk_version)() };
        self.take(raw).unwrap_or_else(|| "unknown".to_owned())
    }

    /// Calls a `(const char*, char** out, char** err)` function.
    fn call_s_out(
        &self,
        func: unsafe extern "C" fn(Str, StrOut, StrOut) -> i32,
        arg: &CString,
    ) -> Result<String, CallError> {
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: `arg` is a live NUL-terminated string for the whole call;
        // the out-pointers point to locals the library may overwrite with
        // strings we then own (taken in `finish`).
        let status = unsafe { func(arg.as_ptr(), &mut out, &mut err) };
        self.finish(status, out, err)
    }

    #[cfg_attr(not(test), allow(dead_code))]
    /// Calls a `(const char*, const char* opts, char** out, char** err)` function.
    fn call_ss_out(
        &self,
        func: unsafe extern "C" fn(Str, Str, StrOut, StrOut) -> i32,
        arg: &CString,
        opts: &Option<CString>,
    ) -> Result<String, CallError> {
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: as in `call_s_out`; `opts` is NULL or a live string.
        let status = unsafe { func(arg.as_ptr(), opt_ptr(opts), &mut out, &mut err) };
        self.finish(status, out, err)
    }

    /// Parses a values YAML document as Helm does (`-f`); returns JSON.
    pub(crate) fn values_from_yaml(&self, yaml: &str) -> Result<String, CallError> {
        self.call_s_out(self.api.values_from_yaml, &c_string(yaml)?)
    }

    /// Parses one `--set`-style expression with Helm's own parser; returns JSON.
    pub(crate) fn strvals(&self, kind: SetKind, expression: &str) -> Result<String, CallError> {
        let func = match kind {
            SetKind::Typed => self.api.strvals_parse,
            SetKind::String => self.api.strvals_parse_string,
            SetKind::Literal => self.api.strvals_parse_literal,
        };
        self.call_s_out(func, &c_string(expression)?)
    }

    /// Loads a chart directory or archive.
    pub(crate) fn chart_load(&'static self, path: &Path) -> Result<Chart, CallError> {
        let path = c_path(path)?;
        let mut handle: Handle = 0;
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: `path` lives across the call; `handle` and `err` are
        // locals the library writes through.
        let status = unsafe { (self.api.chart_load)(path.as_ptr(), &mut handle, &mut err) };
        self.finish(status, ptr::null_mut(), err)?;
        Ok(Chart { lib: self, handle })
    }

    /// `helm pull`: `reference` is a chart name (with `repo_url` in the
    /// options) or an `oci://` reference; `client` is a logged-in registry
    /// client for a private OCI registry. Returns the library's JSON answer.
    pub(crate) fn pull(
        &self,
        client: Option<&RegistryClient>,
        reference: &str,
        options: &str,
    ) -> Result<String, CallError> {
        let reference = c_string(reference)?;
        let options = Some(c_string(options)?);
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // Handle 0 asks for the library's default registry client.
        let handle = client.map_or(0, |client| client.handle);
        // SAFETY: the handle is 0 or a live client borrowed for the call
        // (freed only when `client` drops, after it); the strings live
        // across the call.
        let status = unsafe { (self.api.pull)(handle, reference.as_ptr(), opt_ptr(&options), &mut out, &mut err) };
        self.finish(status, out, err)
    }

    /// A registry client (`options`: JSON such as `{"plain_http": true,
    /// "credentials_file": "…"}`), freed on drop.
    pub(crate) fn registry_client(&'static self, options: &str) -> Result<RegistryClient, CallError> {
        let options = Some(c_string(options)?);
        let mut handle: Handle = 0;
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: `options` lives across the call; `handle` and `err` are
        // locals the library writes through.
        let status = unsafe { (self.api.registry_client_new)(opt_ptr(&options), &mut handle, &mut err) };
        self.finish(status, ptr::null_mut(), err)?;
        Ok(RegistryClient { lib: self, handle })
    }

    #[cfg_attr(not(test), allow(dead_code))]
    /// `helm push ARCHIVE REMOTE` with the default registry client.
    pub(crate) fn push(&self, archive: &Path, remote: &str, options: &str) -> Result<String, CallError> {
        let archive = c_path(archive)?;
        let remote = c_string(remote)?;
        let options = Some(c_string(options)?);
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: as in `pull`.
        let status =
            unsafe { (self.api.push)(0, archive.as_ptr(), remote.as_ptr(), opt_ptr(&options), &mut out, &mut err) };
        self.finish(status, out, err)
    }

    #[cfg_attr(not(test), allow(dead_code))]
    /// `helm package DIR`; returns the archive path.
    pub(crate) fn package(&self, chart_dir: &Path, options: &str) -> Result<String, CallError> {
        self.call_ss_out(self.api.package_run, &c_path(chart_dir)?, &Some(c_string(options)?))
    }

    #[cfg_attr(not(test), allow(dead_code))]
    /// `helm repo index DIR`; returns the index as JSON.
    pub(crate) fn repo_index_generate(&self, dir: &Path, options: &str) -> Result<String, CallError> {
        self.call_ss_out(self.api.repo_index_generate, &c_path(dir)?, &Some(c_string(options)?))
    }

    /// `helm dependency build DIR`.
    pub(crate) fn dependency_build(&self, chart_dir: &Path, options: &str) -> Result<(), CallError> {
        let dir = c_path(chart_dir)?;
        let options = Some(c_string(options)?);
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: strings live across the call; `err` is a local.
        let status = unsafe { (self.api.dependency_build)(dir.as_ptr(), opt_ptr(&options), &mut err) };
        self.finish(status, ptr::null_mut(), err).map(|_| ())
    }
}

/// A loaded chart; its handle is freed on drop.
#[derive(Debug)]
pub(crate) struct Chart {
    lib: &'static LibHelm,
    handle: Handle,
}

impl Chart {
    /// Renders the templates: `values` is the user values as a JSON object,
    /// `options` the render options as JSON. Returns `{path: yaml}` as JSON.
    pub(crate) fn render(&self, values: &str, options: &str) -> Result<String, CallError> {
        let values = c_string(values)?;
        let options = Some(c_string(options)?);
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: `self.handle` is a live chart handle (freed only in Drop);
        // the strings live across the call; out-pointers are locals.
        let status =
            unsafe { (self.lib.api.render)(self.handle, values.as_ptr(), opt_ptr(&options), &mut out, &mut err) };
        self.lib.finish(status, out, err)
    }

    /// The CRDs of the chart and its subcharts, as JSON
    /// `[{"name","filename","data"}]`.
    pub(crate) fn crds(&self) -> Result<String, CallError> {
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: as in `render`.
        let status = unsafe { (self.lib.api.chart_crds)(self.handle, &mut out, &mut err) };
        self.lib.finish(status, out, err)
    }
}

/// A registry client handle of the library.
pub(crate) struct RegistryClient {
    lib: &'static LibHelm,
    handle: Handle,
}

impl RegistryClient {
    /// Logs in to `host` (`127.0.0.1:5000`); `options` as for the client.
    pub(crate) fn login(&self, host: &str, username: &str, password: &str, options: &str) -> Result<(), CallError> {
        let (host, username, password) = (c_string(host)?, c_string(username)?, c_string(password)?);
        let options = Some(c_string(options)?);
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: the handle is live until `self` drops; every string lives
        // across the call; `err` is a local the library writes through.
        let status = unsafe {
            (self.lib.api.registry_login)(
                self.handle,
                host.as_ptr(),
                username.as_ptr(),
                password.as_ptr(),
                opt_ptr(&options),
                &mut err,
            )
        };
        self.lib.finish(status, ptr::null_mut(), err).map(|_| ())
    }
}

impl Drop for RegistryClient {
    fn drop(&mut self) {
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: the handle came from `helm_registry_client_new` and is
        // freed only here, once.
        let status = unsafe { (self.lib.api.registry_client_free)(self.handle, &mut err) };
        let _ = self.lib.finish(status, ptr::null_mut(), err);
    }
}

impl Drop for Chart {
    fn drop(&mut self) {
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: the handle came from `helm_chart_load` and is freed only
        // here, once; a failure message is taken and dropped.
        let status = unsafe { (self.lib.api.chart_free)(self.handle, &mut err) };
        let _ = self.lib.finish(status, ptr::null_mut(), err);
    }
}
