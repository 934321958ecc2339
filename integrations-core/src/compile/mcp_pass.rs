//! The MCP pass: validates every declared server across the profile, then writes the
//! profile's servers into each config file an agent definition names.

use std::collections::{BTreeMap, BTreeSet};

use super::assemble::check_env_key;
use super::{Compiled, binding_path, codes};
use crate::BindingId;
use crate::ValidationIssue;
use crate::mcp::{McpConfigWriter, check_server};
use crate::plan::{
    CompiledMcpServer, McpConfigTarget, McpConfigUpdate, McpServer, McpTransport, RuntimeClient,
};

pub(super) fn run(
    compiled: &[Compiled<'_>],
    clients: &mut [RuntimeClient],
    issues: &mut Vec<ValidationIssue>,
) -> (Vec<CompiledMcpServer>, Vec<McpConfigUpdate>) {
    let before = issues.len();
    let mut by_name: BTreeMap<String, (McpServer, BindingId)> = BTreeMap::new();
    for binding in compiled {
        let base = binding_path(binding.id);
        let mut ids = BTreeSet::new();
        for (i, server) in binding.mcp_servers.iter().enumerate() {
            let at = format!("{base}/mcp_servers/{i}");
            let found = check_server(server);
            let valid = found.is_empty();
            issues.extend(found.into_iter().map(|issue| {
                ValidationIssue::new(
                    codes::MCP_INVALID,
                    format!("{at}{}", issue.path),
                    issue.message,
                )
            }));
            if let McpTransport::Stdio { env, .. } = &server.transport {
                for key in env.keys() {
                    check_env_key(key, &format!("{at}/transport/env"), issues);
                }
            }
            if !ids.insert(server.id.as_str()) {
                issues.push(ValidationIssue::new(
                    codes::MCP_INVALID,
                    format!("{at}/id"),
                    "another MCP server of this binding has this id",
                ));
                continue;
            }
            if !valid {
                continue;
            }
            match by_name.get(&server.name) {
                Some((_, owner)) => issues.push(ValidationIssue::new(
                    codes::MCP_NAME_CONFLICT,
                    format!("{at}/name"),
                    format!("binding {owner} declares an MCP server with this name"),
                )),
                None => {
                    by_name.insert(server.name.clone(), (server.clone(), binding.id.clone()));
                }
            }
        }
    }
    let servers: Vec<McpServer> = by_name.values().map(|(s, _)| s.clone()).collect();
    let compiled_servers: Vec<CompiledMcpServer> = by_name
        .into_values()
        .map(|(server, binding)| CompiledMcpServer {
            binding,
            id: server.id,
            name: server.name,
            transport: server.transport,
        })
        .collect();

    // Each config file once, by client and file; two agents naming one file must agree.
    let mut targets: BTreeMap<(String, String), (McpConfigTarget, String)> = BTreeMap::new();
    for binding in compiled {
        let Some(target) = &binding.mcp_target else {
            continue;
        };
        let at = format!("{}/mcp_config_target", binding_path(binding.id));
        let key = (target.client_id.clone(), target.file_id.clone());
        match targets.get(&key) {
            Some((existing, _)) if existing != target => issues.push(ValidationIssue::new(
                codes::MCP_TARGET_MISSING,
                at,
                "another agent binding names this MCP config file with another format or path",
            )),
            Some(_) => {}
            None => {
                targets.insert(key, (target.clone(), at));
            }
        }
    }
    let mut updates = Vec::new();
    if servers.is_empty() || issues.len() > before {
        return (compiled_servers, updates);
    }
    let names: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
    for (target, at) in targets.into_values() {
        let file = clients
            .iter_mut()
            .find(|c| c.id == target.client_id)
            .and_then(|c| c.files.iter_mut().find(|f| f.id == target.file_id));
        let Some(file) = file else {
            issues.push(ValidationIssue::new(
                codes::MCP_TARGET_MISSING,
                at,
                format!(
                    "the binding produces no file {} in runtime client {}",
                    target.file_id, target.client_id
                ),
            ));
            continue;
        };
        let written = McpConfigWriter::for_target(&target)
            .and_then(|writer| writer.apply(&file.content, &servers));
        match written {
            Ok(content) => {
                file.content = content;
                updates.push(McpConfigUpdate {
                    client_id: target.client_id.clone(),
                    file_id: target.file_id.clone(),
                    path: file.path.clone(),
                    format: target.format,
                    key_path: target.path.clone(),
                    servers: names.clone(),
                });
            }
            Err(e) => issues.push(ValidationIssue::new(
                codes::MCP_CONFIG_INVALID,
                at,
                format!("{} ({})", e.message(), e.code()),
            )),
        }
    }
    (compiled_servers, updates)
}
