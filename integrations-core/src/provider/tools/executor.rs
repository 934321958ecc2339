//! Tool execution, the provider capability: [`ToolExecutor`] (erased, reached through
//! [`IntegrationProvider::tools`](crate::provider::IntegrationProvider::tools)), the typed
//! [`Tool`] trait, and [`ToolSet`], which turns typed tools into both the descriptors of
//! the tool catalog and their execution, from one place.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ToolContext;
use crate::definition::ToolDescriptor;
use crate::{Error, ValidationIssue};

/// Runs the tools of one integration. The runtime calls it only after the arguments
/// passed the tool's input schema, the policy allowed the call and the publication
/// granted its capability.
#[async_trait]
pub trait ToolExecutor: Send + Sync {
    /// Runs the tool `name` with `arguments` and returns its structured result.
    ///
    /// # Errors
    ///
    /// Whatever the tool fails with; the runtime turns it into an error result.
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) (`tool.not_executable`) for a
    /// name this executor does not know.
    async fn execute(
        &self,
        name: &str,
        arguments: Value,
        context: &ToolContext,
    ) -> Result<Value, Error>;
}

/// A typed tool: arguments and output are Rust types, so the input and output schemas are
/// derived from them and cannot drift.
///
/// ```
/// use integrations_core::tools::{Tool, ToolAnnotations, ToolContext, ToolDescriptor, ToolSet};
/// use integrations_core::Error;
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
///
/// /// Arguments of `tracker_get_ticket`.
/// #[derive(Deserialize, JsonSchema)]
/// #[serde(deny_unknown_fields)]
/// struct GetTicket {
///     /// The ticket id.
///     id: String,
/// }
///
/// /// A ticket.
/// #[derive(Serialize, JsonSchema)]
/// struct Ticket {
///     id: String,
/// }
///
/// struct GetTicketTool;
///
/// impl Tool for GetTicketTool {
///     type Args = GetTicket;
///     type Output = Ticket;
///
///     fn descriptor(&self) -> ToolDescriptor {
///         ToolDescriptor::new::<GetTicket>("tracker_get_ticket", "Get one ticket by id.")
///             .with_annotations(ToolAnnotations::read_only())
///     }
///
///     async fn call(&self, args: GetTicket, _context: &ToolContext) -> Result<Ticket, Error> {
///         Ok(Ticket { id: args.id })
///     }
/// }
///
/// let tools = ToolSet::new().with(GetTicketTool);
/// let descriptors = tools.descriptors();
/// assert_eq!(descriptors[0].name, "tracker_get_ticket");
/// assert_eq!(descriptors[0].input_schema["required"][0], "id");
/// assert!(descriptors[0].output_schema.is_some());
/// ```
pub trait Tool: Send + Sync + 'static {
    /// The arguments. Mark it `#[serde(deny_unknown_fields)]` so unknown arguments are
    /// refused by the schema.
    type Args: DeserializeOwned + JsonSchema + Send;
    /// The structured result.
    type Output: Serialize + JsonSchema + Send;

    /// The descriptor: name, title, description, annotations, default policy and
    /// capability. Its input and output schemas are replaced by those of `Args` and
    /// `Output` when the tool is added to a [`ToolSet`].
    fn descriptor(&self) -> ToolDescriptor;

    /// Runs the tool.
    ///
    /// # Errors
    ///
    /// Anything that went wrong, with a stable code; the runtime returns it as an error
    /// result.
    fn call(
        &self,
        args: Self::Args,
        context: &ToolContext,
    ) -> impl Future<Output = Result<Self::Output, Error>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait ErasedTool: Send + Sync {
    fn call<'a>(
        &'a self,
        arguments: Value,
        context: &'a ToolContext,
    ) -> BoxFuture<'a, Result<Value, Error>>;
}

impl<T: Tool> ErasedTool for T {
    fn call<'a>(
        &'a self,
        arguments: Value,
        context: &'a ToolContext,
    ) -> BoxFuture<'a, Result<Value, Error>> {
        Box::pin(async move {
            // The runtime validated the arguments against the schema of `T::Args`; the
            // type's own deserializer can still refuse (a custom `Deserialize`). Its
            // message may quote the input, so it is not passed on.
            let args: T::Args = serde_json::from_value(arguments).map_err(|_| {
                crate::codes::tool::INVALID_ARGUMENTS.with_issues(
                    "the arguments do not match the tool's input schema",
                    vec![ValidationIssue::new(
                        crate::codes::issues::schema::INVALID_VALUE,
                        "",
                        "the arguments are not valid for this tool",
                    )],
                )
            })?;
            let output = Tool::call(self, args, context).await?;
            serde_json::to_value(output).map_err(|e| {
                Error::internal("a tool's result could not be encoded as JSON").with_source(e)
            })
        })
    }
}

struct Entry {
    descriptor: ToolDescriptor,
    tool: Box<dyn ErasedTool>,
}

/// Typed tools, erased: the descriptors for
/// [`IntegrationDefinition::tool_catalog`](crate::definition::IntegrationDefinition::tool_catalog)
/// and the [`ToolExecutor`] for
/// [`IntegrationProvider::tools`](crate::provider::IntegrationProvider::tools), from one
/// list.
#[derive(Default)]
pub struct ToolSet {
    entries: Vec<Entry>,
}

impl fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.descriptor.name))
            .finish()
    }
}

/// The JSON Schema of `T`, or `None` when it accepts anything (`true`).
fn schema_of<T: JsonSchema>() -> Option<Value> {
    let schema = schemars::schema_for!(T).to_value();
    match schema {
        Value::Bool(true) => None,
        Value::Object(ref map) if map.keys().all(|k| k == "$schema" || k == "title") => None,
        other => Some(other),
    }
}

impl ToolSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool. Its descriptor's input schema becomes that of `T::Args` and its output
    /// schema that of `T::Output`. Two tools with one name are both listed, so the
    /// registry refuses the catalog (`registry.tool_name_collision`).
    #[must_use]
    pub fn with<T: Tool>(mut self, tool: T) -> Self {
        let mut descriptor = tool.descriptor();
        descriptor.input_schema = schemars::schema_for!(T::Args).to_value();
        descriptor.output_schema = schema_of::<T::Output>();
        self.entries.push(Entry {
            descriptor,
            tool: Box::new(tool),
        });
        self
    }

    /// The descriptors, in the order the tools were added.
    pub fn descriptors(&self) -> Vec<ToolDescriptor> {
        self.entries.iter().map(|e| e.descriptor.clone()).collect()
    }

    /// How many tools it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[async_trait]
impl ToolExecutor for ToolSet {
    // Written out rather than `async fn`: the tool's own future is already boxed, and
    // is handed back as it is instead of inside a second box.
    fn execute<'s, 'n, 'c, 'f>(
        &'s self,
        name: &'n str,
        arguments: Value,
        context: &'c ToolContext,
    ) -> BoxFuture<'f, Result<Value, Error>>
    where
        's: 'f,
        'n: 'f,
        'c: 'f,
        Self: 'f,
    {
        let Some(entry) = self.entries.iter().find(|e| e.descriptor.name == name) else {
            let e = crate::codes::tool::NOT_EXECUTABLE
                .error(format!("the provider cannot execute the tool {name}"));
            return Box::pin(std::future::ready(Err(e)));
        };
        entry.tool.call(arguments, context)
    }
}

/// A tool written as an async function of its arguments and context, from
/// [`ToolSet::with_fn`].
struct FnTool<F, A, O> {
    descriptor: ToolDescriptor,
    run: F,
    types: PhantomData<fn(A) -> O>,
}

impl<F, A, O, Fut> Tool for FnTool<F, A, O>
where
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, Error>> + Send,
    A: DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize + JsonSchema + Send + 'static,
{
    type Args = A;
    type Output = O;

    fn descriptor(&self) -> ToolDescriptor {
        self.descriptor.clone()
    }

    fn call(
        &self,
        args: A,
        context: &ToolContext,
    ) -> impl Future<Output = Result<O, Error>> + Send {
        (self.run)(args, context.clone())
    }
}

impl ToolSet {
    /// Adds a tool written as an async function: `async fn get_issue(args: GetIssueArgs,
    /// context: ToolContext) -> Result<Issue, Error>`. Its input and output schemas come
    /// from the function's argument and result types, as with [`with`](Self::with); the
    /// rest of `descriptor` (name, description, annotations, capability) is kept.
    ///
    /// ```
    /// use integrations_core::tools::{ToolAnnotations, ToolContext, ToolDescriptor, ToolSet};
    /// use integrations_core::Error;
    /// use schemars::JsonSchema;
    /// use serde::{Deserialize, Serialize};
    ///
    /// /// Arguments of `tracker_get_ticket`.
    /// #[derive(Deserialize, JsonSchema)]
    /// #[serde(deny_unknown_fields)]
    /// struct GetTicket {
    ///     /// The ticket id.
    ///     id: String,
    /// }
    ///
    /// /// A ticket.
    /// #[derive(Serialize, JsonSchema)]
    /// struct Ticket {
    ///     id: String,
    /// }
    ///
    /// async fn get_ticket(args: GetTicket, _context: ToolContext) -> Result<Ticket, Error> {
    ///     Ok(Ticket { id: args.id })
    /// }
    ///
    /// let tools = ToolSet::new().with_fn(
    ///     ToolDescriptor::new::<GetTicket>("tracker_get_ticket", "Get one ticket by id.")
    ///         .with_annotations(ToolAnnotations::read_only()),
    ///     get_ticket,
    /// );
    /// assert_eq!(tools.descriptors()[0].input_schema["required"][0], "id");
    /// ```
    #[must_use]
    pub fn with_fn<F, A, O, Fut>(self, descriptor: ToolDescriptor, run: F) -> Self
    where
        F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Error>> + Send,
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + Send + 'static,
    {
        self.with(FnTool {
            descriptor,
            run,
            types: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::definition::ToolAnnotations;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Args {
        /// The id.
        id: String,
    }

    #[derive(Serialize, JsonSchema)]
    struct Output {
        id: String,
    }

    async fn get(args: Args, _context: ToolContext) -> Result<Output, Error> {
        Ok(Output { id: args.id })
    }

    #[test]
    fn function_tools_take_their_schemas_from_their_types_and_keep_the_descriptor() {
        let descriptor = ToolDescriptor::new::<()>("tracker_get_ticket", "Get one.")
            .with_title("Get")
            .with_annotations(ToolAnnotations::read_only());
        let tools = ToolSet::new().with_fn(descriptor, get).with_fn(
            ToolDescriptor::new::<()>("tracker_find_tickets", "Find."),
            get,
        );
        let descriptors = tools.descriptors();
        assert_eq!(tools.len(), 2);
        assert_eq!(descriptors[0].name, "tracker_get_ticket");
        assert_eq!(descriptors[0].title.as_deref(), Some("Get"));
        assert_eq!(descriptors[0].annotations, ToolAnnotations::read_only());
        assert_eq!(descriptors[0].input_schema["required"][0], "id");
        assert_eq!(
            descriptors[0].input_schema["additionalProperties"],
            Value::Bool(false)
        );
        let output = descriptors[0].output_schema.as_ref().unwrap();
        assert_eq!(output["properties"]["id"]["type"], "string");
        assert_eq!(descriptors[1].name, "tracker_find_tickets");
    }
}
