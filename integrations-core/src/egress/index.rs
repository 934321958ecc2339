//! Routes indexed by host, then by path segment, so classifying a request and finding
//! overlapping routes never scan every route. The index only narrows candidates; every
//! decision is made by [`Matcher`], the one canonical matcher.

use std::collections::HashMap;

use super::matcher::{Matcher, RequestTarget};
use crate::Error;
use crate::plan::{CompiledRoute, CompiledRuntimePlan, RouteId};

/// A segment trie per host. A route with prefix `/a/b` sits on the node reached by the
/// segments `a`, `b`; a route with prefix `/` on the root. The routes whose prefix
/// covers a path are exactly those on the nodes its segments walk through, which is the
/// segment-boundary rule of [`path_has_prefix`](super::path_has_prefix).
#[derive(Debug, Default)]
pub(crate) struct PrefixIndex {
    hosts: HashMap<String, Node>,
}

#[derive(Debug, Default)]
struct Node {
    entries: Vec<usize>,
    children: HashMap<Box<str>, Node>,
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    let rest = if path == "/" { "" } else { &path[1..] };
    rest.split('/').filter(move |_| !rest.is_empty())
}

impl PrefixIndex {
    /// Indexes `matchers`, each under its position.
    pub(crate) fn build(matchers: &[Matcher]) -> Self {
        let mut index = Self::default();
        for (id, matcher) in matchers.iter().enumerate() {
            for host in matcher.hosts() {
                let root = index.hosts.entry(host.clone()).or_default();
                for prefix in matcher.path_prefixes() {
                    let mut node = &mut *root;
                    for segment in segments(prefix) {
                        node = node.children.entry(segment.into()).or_default();
                    }
                    if node.entries.last() != Some(&id) {
                        node.entries.push(id);
                    }
                }
            }
        }
        index
    }

    /// Calls `found` with every route on the nodes `path` walks through on `host`, that
    /// is every route with a prefix that covers `path` (a route may come more than once).
    fn walk(&self, host: &str, path: &str, mut found: impl FnMut(usize)) {
        let Some(mut node) = self.hosts.get(host) else {
            return;
        };
        node.entries.iter().copied().for_each(&mut found);
        for segment in segments(path) {
            match node.children.get(segment) {
                Some(next) => {
                    node = next;
                    node.entries.iter().copied().for_each(&mut found);
                }
                None => return,
            }
        }
    }

    /// The routes that may match `target`, deduplicated, in index order.
    #[cfg(test)]
    pub(crate) fn candidates(&self, target: &RequestTarget, out: &mut Vec<usize>) {
        out.clear();
        self.walk(target.host(), target.path(), |id| out.push(id));
        out.sort_unstable();
        out.dedup();
    }
}

/// Every pair `(i, j)`, `i < j`, of overlapping matchers, sorted.
///
/// Routes are indexed by host and prefix; each route then looks only at routes on the
/// nodes its own prefixes walk through (a pair where one prefix covers the other is
/// found from the longer one), and [`Matcher::overlaps`] decides. The cost grows with
/// the number of routes and the overlaps found, not with the number of pairs.
pub fn overlapping_pairs(matchers: &[Matcher]) -> Vec<(usize, usize)> {
    let index = PrefixIndex::build(matchers);
    let mut pairs = Vec::new();
    for (i, matcher) in matchers.iter().enumerate() {
        for host in matcher.hosts() {
            for prefix in matcher.path_prefixes() {
                index.walk(host, prefix, |j| {
                    if j != i && matcher.overlaps(&matchers[j]) {
                        pairs.push((i.min(j), i.max(j)));
                    }
                });
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// What a request is, for egress.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Classification<'a> {
    /// Exactly one route matches: its credential may be injected.
    Route(&'a CompiledRoute),
    /// No route matches: the request gets no credential.
    NoMatch,
    /// Several routes match: the request fails closed and gets no credential.
    Ambiguous(Vec<&'a RouteId>),
}

/// The routes of a plan, indexed for classification.
///
/// ```
/// use integrations_core::egress::{Classification, RouteIndex};
///
/// let index = RouteIndex::new(Vec::new())?;
/// assert_eq!(index.classify("GET", "https://api.openai.com/v1/models"), Classification::NoMatch);
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Debug)]
pub struct RouteIndex {
    routes: Vec<CompiledRoute>,
    matchers: Vec<Matcher>,
    index: PrefixIndex,
    by_id: HashMap<RouteId, usize>,
}

impl RouteIndex {
    /// Indexes `routes`.
    ///
    /// # Errors
    ///
    /// `egress.duplicate_route` when two routes share an id; the matcher's errors for a
    /// route that is not valid.
    pub fn new(routes: Vec<CompiledRoute>) -> Result<Self, Error> {
        let matchers = routes
            .iter()
            .map(|r| Matcher::new(&r.matcher))
            .collect::<Result<Vec<_>, _>>()?;
        let mut by_id = HashMap::with_capacity(routes.len());
        for (i, route) in routes.iter().enumerate() {
            if by_id.insert(route.id.clone(), i).is_some() {
                return Err(crate::codes::egress::DUPLICATE_ROUTE
                    .with_issues(format!("two routes have the id {}", route.id), Vec::new()));
            }
        }
        let index = PrefixIndex::build(&matchers);
        Ok(Self {
            routes,
            matchers,
            index,
            by_id,
        })
    }

    /// Indexes the routes of a plan.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_plan(plan: &CompiledRuntimePlan) -> Result<Self, Error> {
        Self::new(plan.egress_routes.clone())
    }

    /// Classifies a request by method and absolute URL. A method or URL that cannot be
    /// parsed matches nothing.
    pub fn classify(&self, method: &str, url: &str) -> Classification<'_> {
        match RequestTarget::from_url(method, url) {
            Ok(target) => self.classify_target(&target),
            Err(_) => Classification::NoMatch,
        }
    }

    /// Classifies a normalized request.
    pub fn classify_target(&self, target: &RequestTarget) -> Classification<'_> {
        // No allocation unless the request is ambiguous.
        let mut first = None;
        let mut others: Vec<usize> = Vec::new();
        self.index.walk(target.host(), target.path(), |i| {
            if first == Some(i) || others.contains(&i) || !self.matchers[i].matches(target) {
                return;
            }
            if first.is_none() {
                first = Some(i);
            } else {
                others.push(i);
            }
        });
        match first {
            None => Classification::NoMatch,
            Some(one) if others.is_empty() => Classification::Route(&self.routes[one]),
            Some(one) => {
                others.push(one);
                let mut ids: Vec<&RouteId> = others.iter().map(|&i| &self.routes[i].id).collect();
                ids.sort_unstable();
                Classification::Ambiguous(ids)
            }
        }
    }

    /// The route with this id.
    pub fn route(&self, id: &RouteId) -> Option<&CompiledRoute> {
        self.by_id.get(id).map(|&i| &self.routes[i])
    }

    /// The canonical matcher of the route with this id.
    pub fn matcher(&self, id: &RouteId) -> Option<&Matcher> {
        self.by_id.get(id).map(|&i| &self.matchers[i])
    }

    /// Every route, in the order given.
    pub fn routes(&self) -> &[CompiledRoute] {
        &self.routes
    }

    /// How many routes are indexed.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route is indexed.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::RouteMatch;

    fn matcher(host: &str, prefix: &str, methods: &[&str]) -> Matcher {
        let mut spec = RouteMatch::host(host).with_path_prefix(prefix);
        spec.methods = methods.iter().map(|m| (*m).to_owned()).collect();
        Matcher::new(&spec).unwrap()
    }

    fn brute_force_pairs(matchers: &[Matcher]) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for i in 0..matchers.len() {
            for j in i + 1..matchers.len() {
                if matchers[i].overlaps(&matchers[j]) {
                    pairs.push((i, j));
                }
            }
        }
        pairs
    }

    #[test]
    fn overlapping_pairs_finds_ancestors_and_equal_prefixes() {
        let matchers = [
            matcher("a.test", "/v1", &[]),
            matcher("a.test", "/v10", &[]),
            matcher("a.test", "/v1/files", &["GET"]),
            matcher("a.test", "/", &["POST"]),
            matcher("b.test", "/v1", &[]),
            matcher("a.test", "/v1/files", &["DELETE"]),
        ];
        assert_eq!(
            overlapping_pairs(&matchers),
            [(0, 2), (0, 3), (0, 5), (1, 3)]
        );
        assert_eq!(overlapping_pairs(&matchers), brute_force_pairs(&matchers));
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        let host = prop::sample::select(vec!["a.test", "b.test"]);
        let segment = prop::sample::select(vec!["v1", "v10", "x", ""]);
        let prefix = prop::collection::vec(segment, 0..3).prop_map(|s| {
            let joined = s.join("/");
            if joined.is_empty() {
                "/".to_owned()
            } else {
                format!("/{joined}")
            }
        });
        let methods = prop::collection::vec(prop::sample::select(vec!["GET", "POST"]), 0..2);
        (host, prefix, methods).prop_map(|(h, p, m)| {
            let mut spec = RouteMatch::host(h).with_path_prefix(p);
            spec.methods = m.into_iter().map(str::to_owned).collect();
            Matcher::new(&spec).unwrap()
        })
    }

    proptest! {
        #[test]
        fn indexed_overlaps_equal_the_pairwise_check(matchers in prop::collection::vec(arb_matcher(), 0..12)) {
            prop_assert_eq!(overlapping_pairs(&matchers), brute_force_pairs(&matchers));
        }

        #[test]
        fn indexed_candidates_equal_a_linear_scan(
            matchers in prop::collection::vec(arb_matcher(), 0..12),
            host in prop::sample::select(vec!["a.test", "b.test", "c.test"]),
            path in prop::sample::select(vec!["/", "/v1", "/v1/", "/v10", "/v1/x", "/x/v1", "//", "/v1//x"]),
            method in prop::sample::select(vec!["GET", "POST", "PUT"]),
        ) {
            // Empty segments are refused before anything is matched.
            let Ok(target) = RequestTarget::new(method, host, path) else {
                prop_assert!(path.contains("//"));
                return Ok(());
            };
            let index = PrefixIndex::build(&matchers);
            let mut candidates = Vec::new();
            index.candidates(&target, &mut candidates);
            candidates.retain(|&i| matchers[i].matches(&target));
            let scanned: Vec<usize> = (0..matchers.len()).filter(|&i| matchers[i].matches(&target)).collect();
            prop_assert_eq!(candidates, scanned);
        }
    }
}
