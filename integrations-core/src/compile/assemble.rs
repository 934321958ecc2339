//! Merging the bindings' artifacts, runtime clients and workspace sources, with the
//! conflict rules. Bindings arrive in binding-id order, so every choice here is
//! independent of the input order.

use std::collections::BTreeMap;

use super::{Compiled, binding_path, codes};
use crate::plan::{
    Artifact, InstallStep, RuntimeClient, RuntimeEndpoint, RuntimeFile, RuntimeProcess,
    WorkspaceSource,
};
use crate::{BindingId, ValidationIssue, escape_pointer_token};

/// Env keys the egress proxy sets in the sandbox; nothing else may.
const RESERVED_ENV: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"];

/// Checks one env key, pushing an issue when it is reserved or malformed.
pub(super) fn check_env_key(key: &str, at: &str, issues: &mut Vec<ValidationIssue>) -> bool {
    let path = format!("{at}/{}", escape_pointer_token(key));
    if key.is_empty() || key.contains('=') || key.contains('\0') {
        issues.push(ValidationIssue::new(
            codes::INVALID_ENV,
            path,
            "an env key is not empty and holds no = or NUL",
        ));
        false
    } else if RESERVED_ENV.iter().any(|r| r.eq_ignore_ascii_case(key)) {
        issues.push(ValidationIssue::new(
            codes::RESERVED_ENV,
            path,
            "this env key is reserved for the egress proxy",
        ));
        false
    } else {
        true
    }
}

/// Merges `env` into `into`, reporting keys that already hold another value.
fn merge_env(
    into: &mut BTreeMap<String, (String, BindingId)>,
    env: &BTreeMap<String, String>,
    binding: &BindingId,
    at: &str,
    what: &str,
    issues: &mut Vec<ValidationIssue>,
) {
    for (key, value) in env {
        if !check_env_key(key, at, issues) {
            continue;
        }
        match into.get(key) {
            Some((existing, owner)) if existing != value => issues.push(ValidationIssue::new(
                codes::ENV_CONFLICT,
                format!("{at}/{}", escape_pointer_token(key)),
                format!("binding {owner} gives this env key of {what} another value"),
            )),
            Some(_) => {}
            None => {
                into.insert(key.clone(), (value.clone(), binding.clone()));
            }
        }
    }
}

struct MergedArtifact {
    artifact: Artifact,
    env: BTreeMap<String, (String, BindingId)>,
    owner: BindingId,
}

pub(super) fn artifacts(
    compiled: &[Compiled<'_>],
    issues: &mut Vec<ValidationIssue>,
) -> Vec<Artifact> {
    let mut merged: BTreeMap<String, MergedArtifact> = BTreeMap::new();
    for binding in compiled {
        let base = binding_path(binding.id);
        for (i, artifact) in binding.plan.artifacts.iter().enumerate() {
            let at = format!("{base}/artifacts/{i}");
            if !valid_artifact(artifact, &at, issues) {
                continue;
            }
            let entry = merged
                .entry(artifact.key.clone())
                .or_insert_with(|| MergedArtifact {
                    artifact: artifact.clone(),
                    env: BTreeMap::new(),
                    owner: binding.id.clone(),
                });
            if entry.artifact.name != artifact.name || entry.artifact.install != artifact.install {
                issues.push(ValidationIssue::new(
                    codes::ARTIFACT_CONFLICT,
                    at,
                    format!(
                        "binding {} declares artifact {} with another name or install steps",
                        entry.owner, artifact.key
                    ),
                ));
                continue;
            }
            merge_env(
                &mut entry.env,
                &artifact.env,
                binding.id,
                &format!("{at}/env"),
                &format!("artifact {}", artifact.key),
                issues,
            );
        }
    }
    merged
        .into_values()
        .map(|m| {
            let mut artifact = m.artifact;
            artifact.env = m.env.into_iter().map(|(k, (v, _))| (k, v)).collect();
            artifact
        })
        .collect()
}

fn valid_artifact(artifact: &Artifact, at: &str, issues: &mut Vec<ValidationIssue>) -> bool {
    let problem = if artifact.key.trim().is_empty() {
        Some("an artifact has a key")
    } else if artifact.install.is_empty() {
        Some("an artifact has at least one install step")
    } else if artifact.install.iter().any(|step| match step {
        InstallStep::Exec { args } => args.first().is_none_or(|c| c.trim().is_empty()),
        InstallStep::GithubRelease {
            repository,
            assets,
            binary,
            ..
        } => repository.is_empty() || assets.is_empty() || binary.is_empty(),
    }) {
        Some("an install step has a command, or a repository, assets and a binary")
    } else {
        None
    };
    if let Some(message) = problem {
        issues.push(ValidationIssue::new(
            codes::INVALID_ARTIFACT,
            at.to_owned(),
            message,
        ));
        return false;
    }
    true
}

#[derive(Default)]
struct MergedClient {
    env: BTreeMap<String, (String, BindingId)>,
    files: BTreeMap<String, (RuntimeFile, BindingId)>,
    paths: BTreeMap<String, String>,
    launch_args: Vec<Vec<String>>,
    processes: BTreeMap<String, (RuntimeProcess, BindingId)>,
    endpoints: BTreeMap<String, (RuntimeEndpoint, BindingId, String)>,
}

pub(super) fn runtime_clients(
    compiled: &[Compiled<'_>],
    issues: &mut Vec<ValidationIssue>,
) -> Vec<RuntimeClient> {
    let mut merged: BTreeMap<String, MergedClient> = BTreeMap::new();
    // Which client writes each path, across clients.
    let mut writers: BTreeMap<String, (String, BindingId)> = BTreeMap::new();
    for binding in compiled {
        let base = binding_path(binding.id);
        for (i, client) in binding.plan.runtime_clients.iter().enumerate() {
            let at = format!("{base}/runtime_clients/{i}");
            if client.id.trim().is_empty() {
                issues.push(ValidationIssue::new(
                    codes::INVALID_RUNTIME,
                    format!("{at}/id"),
                    "a runtime client has an id",
                ));
                continue;
            }
            let entry = merged.entry(client.id.clone()).or_default();
            merge_env(
                &mut entry.env,
                &client.env,
                binding.id,
                &format!("{at}/env"),
                &format!("runtime client {}", client.id),
                issues,
            );
            for (f, file) in client.files.iter().enumerate() {
                merge_file(
                    entry,
                    &mut writers,
                    client,
                    file,
                    binding.id,
                    &format!("{at}/files/{f}"),
                    issues,
                );
            }
            if !client.launch_args.is_empty() && !entry.launch_args.contains(&client.launch_args) {
                entry.launch_args.push(client.launch_args.clone());
            }
            for (p, process) in client.processes.iter().enumerate() {
                let at = format!("{at}/processes/{p}");
                if process.key.trim().is_empty()
                    || process.command.first().is_none_or(|c| c.trim().is_empty())
                {
                    issues.push(ValidationIssue::new(
                        codes::INVALID_RUNTIME,
                        at,
                        "a process has a key and a command",
                    ));
                    continue;
                }
                match entry.processes.get(&process.key) {
                    Some((existing, owner)) if existing != process => {
                        issues.push(ValidationIssue::new(
                            codes::PROCESS_CONFLICT,
                            at,
                            format!(
                                "binding {owner} declares process {} differently",
                                process.key
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        entry
                            .processes
                            .insert(process.key.clone(), (process.clone(), binding.id.clone()));
                    }
                }
            }
            for (e, endpoint) in client.endpoints.iter().enumerate() {
                let at = format!("{at}/endpoints/{e}");
                if endpoint.key.trim().is_empty() || endpoint.url.trim().is_empty() {
                    issues.push(ValidationIssue::new(
                        codes::INVALID_RUNTIME,
                        at,
                        "an endpoint has a key and a URL",
                    ));
                    continue;
                }
                match entry.endpoints.get(&endpoint.key) {
                    Some((existing, owner, _)) if existing != endpoint => {
                        issues.push(ValidationIssue::new(
                            codes::ENDPOINT_CONFLICT,
                            at,
                            format!(
                                "binding {owner} declares endpoint {} differently",
                                endpoint.key
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        entry.endpoints.insert(
                            endpoint.key.clone(),
                            (endpoint.clone(), binding.id.clone(), at),
                        );
                    }
                }
            }
        }
    }
    merged
        .into_iter()
        .map(|(id, m)| {
            for (endpoint, _, at) in m.endpoints.values() {
                if let Some(process) = &endpoint.process
                    && !m.processes.contains_key(process)
                {
                    issues.push(ValidationIssue::new(
                        codes::INVALID_REFERENCE,
                        format!("{at}/process"),
                        format!("runtime client {id} has no process {process}"),
                    ));
                }
            }
            let mut client = RuntimeClient::new(id);
            client.env = m.env.into_iter().map(|(k, (v, _))| (k, v)).collect();
            let mut files: Vec<RuntimeFile> = m.files.into_values().map(|(f, _)| f).collect();
            files.sort_by(|a, b| a.path.cmp(&b.path));
            client.files = files;
            client.launch_args = m.launch_args.into_iter().flatten().collect();
            client.processes = m.processes.into_values().map(|(p, _)| p).collect();
            client.endpoints = m.endpoints.into_values().map(|(e, _, _)| e).collect();
            client
        })
        .collect()
}

fn merge_file(
    entry: &mut MergedClient,
    writers: &mut BTreeMap<String, (String, BindingId)>,
    client: &RuntimeClient,
    file: &RuntimeFile,
    binding: &BindingId,
    at: &str,
    issues: &mut Vec<ValidationIssue>,
) {
    if file.id.trim().is_empty() || !file.path.starts_with('/') {
        issues.push(ValidationIssue::new(
            codes::INVALID_RUNTIME,
            at.to_owned(),
            "a runtime file has an id and an absolute path",
        ));
        return;
    }
    let conflict =
        |message: String| ValidationIssue::new(codes::FILE_CONFLICT, at.to_owned(), message);
    if let Some((writer, owner)) = writers.get(&file.path)
        && writer != &client.id
    {
        issues.push(conflict(format!(
            "runtime client {writer} of binding {owner} also writes this path"
        )));
        return;
    }
    if let Some(id) = entry.paths.get(&file.path)
        && id != &file.id
    {
        issues.push(conflict(format!(
            "file {id} of runtime client {} already has this path",
            client.id
        )));
        return;
    }
    match entry.files.get(&file.id) {
        Some((existing, owner)) if existing != file => {
            let what = if existing.path == file.path {
                "content, mode or write mode"
            } else {
                "path"
            };
            issues.push(conflict(format!(
                "binding {owner} declares file {} of runtime client {} with another {what}",
                file.id, client.id
            )));
        }
        Some(_) => {}
        None => {
            entry
                .files
                .insert(file.id.clone(), (file.clone(), binding.clone()));
            entry.paths.insert(file.path.clone(), file.id.clone());
            writers.insert(file.path.clone(), (client.id.clone(), binding.clone()));
        }
    }
}

pub(super) fn workspace_sources(
    compiled: &[Compiled<'_>],
    issues: &mut Vec<ValidationIssue>,
) -> Vec<WorkspaceSource> {
    let mut by_path: BTreeMap<String, (WorkspaceSource, BindingId)> = BTreeMap::new();
    for binding in compiled {
        let base = binding_path(binding.id);
        for (i, source) in binding.plan.workspace_sources.iter().enumerate() {
            let at = format!("{base}/workspace_sources/{i}");
            if !source.path.starts_with('/') || source.origin_url.trim().is_empty() {
                issues.push(ValidationIssue::new(
                    codes::WORKSPACE_CONFLICT,
                    at,
                    "a workspace source has an absolute path and an origin URL",
                ));
                continue;
            }
            match by_path.get(&source.path) {
                Some((existing, owner)) if existing != source => {
                    issues.push(ValidationIssue::new(
                        codes::WORKSPACE_CONFLICT,
                        at,
                        format!("binding {owner} clones another origin to this path"),
                    ));
                }
                Some(_) => {}
                None => {
                    by_path.insert(source.path.clone(), (source.clone(), binding.id.clone()));
                }
            }
        }
    }
    by_path.into_values().map(|(s, _)| s).collect()
}
