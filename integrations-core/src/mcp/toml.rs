//! The Codex TOML writer, with `toml_edit`.

use serde_json::{Map, Number, Value};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table};

use super::{entry_value, invalid_document, not_a_table, ordered_entries};
use crate::Error;
use crate::plan::{McpConfigFormat, McpServer};

/// The servers table, standard (`[mcp_servers]`) or inline (`mcp_servers = { ... }`).
enum Container<'a> {
    Table(&'a mut Table),
    Inline(&'a mut InlineTable),
}

pub(super) fn apply(
    text: &str,
    path: &[String],
    servers: &[&McpServer],
    retired: &[&str],
) -> Result<String, Error> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        invalid_document(
            "TOML",
            e.span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1),
        )
    })?;
    let create = !servers.is_empty();
    let mut container = Container::Table(doc.as_table_mut());
    for key in path {
        container = match container {
            Container::Table(table) => {
                if !table.contains_key(key) {
                    if !create {
                        return Ok(text.to_owned());
                    }
                    let mut new = Table::new();
                    new.set_implicit(true);
                    table.insert(key, Item::Table(new));
                }
                match table.get_mut(key) {
                    Some(Item::Table(inner)) => Container::Table(inner),
                    Some(Item::Value(toml_edit::Value::InlineTable(inner))) => {
                        Container::Inline(inner)
                    }
                    _ => return Err(not_a_table(key, "a table")),
                }
            }
            Container::Inline(table) => {
                if !table.contains_key(key) {
                    if !create {
                        return Ok(text.to_owned());
                    }
                    table.insert(key, toml_edit::Value::InlineTable(InlineTable::new()));
                }
                match table.get_mut(key) {
                    Some(toml_edit::Value::InlineTable(inner)) => Container::Inline(inner),
                    _ => return Err(not_a_table(key, "a table")),
                }
            }
        };
    }
    match container {
        Container::Table(table) => {
            for name in retired {
                table.remove(name);
            }
            for server in servers {
                let desired = entry_value(server, McpConfigFormat::Toml);
                put_in_table(table, &server.name, &desired);
            }
        }
        Container::Inline(table) => {
            for name in retired {
                table.remove(name);
            }
            for server in servers {
                let desired = entry_value(server, McpConfigFormat::Toml);
                let same = table.get(&server.name).map(value_json).as_ref() == Some(&desired);
                if !same {
                    let mut new = inline_value(&desired);
                    if let Some(old) = table.get(&server.name) {
                        *new.decor_mut() = old.decor().clone();
                    } else if let Some((_, last)) = table.iter_mut().last() {
                        // The space before the closing brace follows the last entry.
                        let suffix = last.decor().suffix().cloned();
                        if let Some(suffix) = suffix {
                            last.decor_mut().set_suffix("");
                            new.decor_mut().set_suffix(suffix);
                        }
                    }
                    table.insert(&server.name, new);
                }
            }
        }
    }
    Ok(doc.to_string())
}

/// Puts one entry into a standard table, leaving an equal entry untouched and replacing
/// a different one where it stands.
fn put_in_table(table: &mut Table, name: &str, desired: &Value) {
    match table.get_mut(name) {
        Some(Item::Table(existing)) => {
            if table_json(existing) != *desired {
                existing.clear();
                fill(existing, desired);
                existing.set_implicit(false);
            }
        }
        Some(Item::Value(existing)) => {
            if value_json(existing) != *desired {
                let mut new = inline_value(desired);
                *new.decor_mut() = existing.decor().clone();
                *existing = new;
            }
        }
        Some(other) => {
            let mut new = Table::new();
            fill(&mut new, desired);
            *other = Item::Table(new);
        }
        None => {
            let mut new = Table::new();
            fill(&mut new, desired);
            table.insert(name, Item::Table(new));
        }
    }
}

fn fill(table: &mut Table, desired: &Value) {
    if let Value::Object(map) = desired {
        for (key, value) in ordered_entries(map) {
            table.insert(key, Item::Value(inline_value(value)));
        }
    }
}

/// A JSON value (strings, arrays and objects of them) as a TOML value.
fn inline_value(value: &Value) -> toml_edit::Value {
    match value {
        Value::Object(map) => {
            let mut table = InlineTable::new();
            for (key, value) in ordered_entries(map) {
                table.insert(key, inline_value(value));
            }
            toml_edit::Value::InlineTable(table)
        }
        Value::Array(items) => {
            toml_edit::Value::Array(items.iter().map(inline_value).collect::<Array>())
        }
        Value::String(s) => toml_edit::Value::from(s.as_str()),
        Value::Bool(b) => toml_edit::Value::from(*b),
        Value::Number(n) => n.as_i64().map_or_else(
            || toml_edit::Value::from(n.as_f64().unwrap_or_default()),
            toml_edit::Value::from,
        ),
        Value::Null => toml_edit::Value::from(""),
    }
}

fn table_json(table: &Table) -> Value {
    Value::Object(
        table
            .iter()
            .filter_map(|(k, item)| item_json(item).map(|v| (k.to_owned(), v)))
            .collect::<Map<_, _>>(),
    )
}

fn item_json(item: &Item) -> Option<Value> {
    match item {
        Item::None => None,
        Item::Value(value) => Some(value_json(value)),
        Item::Table(table) => Some(table_json(table)),
        Item::ArrayOfTables(tables) => Some(Value::Array(tables.iter().map(table_json).collect())),
    }
}

fn value_json(value: &toml_edit::Value) -> Value {
    match value {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::Number(Number::from(*i.value())),
        toml_edit::Value::Float(f) => {
            Number::from_f64(*f.value()).map_or(Value::Null, Value::Number)
        }
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => Value::String(d.value().to_string()),
        toml_edit::Value::Array(items) => Value::Array(items.iter().map(value_json).collect()),
        toml_edit::Value::InlineTable(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.to_owned(), value_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::McpConfigWriter;
    use crate::plan::{McpConfigFormat, McpServer};

    fn writer() -> McpConfigWriter {
        McpConfigWriter::new(McpConfigFormat::Toml, ["mcp_servers"]).unwrap()
    }

    fn linear() -> McpServer {
        McpServer::http("linear", "linear", "https://mcp.linear.app/mcp")
    }

    #[test]
    fn an_entry_that_says_the_same_in_another_style_is_left_alone() {
        let text = "[mcp_servers]\nlinear = { url = \"https://mcp.linear.app/mcp\" }  # mine\n";
        assert_eq!(writer().apply(text, &[linear()]).unwrap(), text);
    }

    #[test]
    fn an_inline_entry_that_differs_is_replaced_in_place() {
        let text = "[mcp_servers]\nlinear = { url = \"https://old.test\" }  # note\nx = 1\n";
        assert_eq!(
            writer().apply(text, &[linear()]).unwrap(),
            "[mcp_servers]\nlinear = { url = \"https://mcp.linear.app/mcp\" }  # note\nx = 1\n"
        );
    }

    #[test]
    fn an_inline_servers_table_gets_inline_entries() {
        let text = "mcp_servers = { mine = { command = \"x\" } }\n";
        let out = writer()
            .apply(
                text,
                &[McpServer::stdio("g", "gh", "gh-mcp", vec!["serve".into()]).with_env("A", "b")],
            )
            .unwrap();
        assert_eq!(
            out,
            "mcp_servers = { mine = { command = \"x\" }, gh = { command = \"gh-mcp\", args = [\"serve\"], env = { A = \"b\" } } }\n"
        );
    }

    #[test]
    fn retired_entries_are_removed_and_nothing_is_created_for_no_servers() {
        let text = "model = \"x\"\n";
        assert_eq!(writer().apply(text, &[]).unwrap(), text);
        let text =
            "[mcp_servers.old]\nurl = \"https://x.test\"\n\n[mcp_servers.mine]\ncommand = \"m\"\n";
        assert_eq!(
            writer().with_retired(["old"]).apply(text, &[]).unwrap(),
            "\n[mcp_servers.mine]\ncommand = \"m\"\n"
        );
    }
}
