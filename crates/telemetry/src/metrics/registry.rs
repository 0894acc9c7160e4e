//! The name tables across configuration reloads.
//!
//! Records and metrics name listeners, routes, upstream groups and endpoints by index. A reload
//! may add, drop or reorder any of them, while records of the old configuration are still in
//! the queues and metrics keep counting. So indices are never reused: a [`Registry`] gives
//! every name an id the first time a configuration has it and keeps it for the process's
//! life; a name the new configuration no longer has keeps its id (its counters stay, frozen).
//! The tables only grow, so an id read from an old record always names what it named.

use super::MetricNames;
use crate::record::NONE;

/// What a configuration names, in its own order: listeners with their routes, upstream
/// groups with their endpoints (`ip:port`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// `(listener name, route names)`, in configuration order.
    pub listeners: Vec<(String, Vec<String>)>,
    /// `(group name, endpoint addresses)`, in configuration order.
    pub upstreams: Vec<(String, Vec<String>)>,
}

/// The ids of one configuration's names: what its records carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    /// Id of each listener, by configuration index.
    pub listeners: Vec<u16>,
    /// Id of each route within its listener's table: `routes[listener][route]`.
    pub routes: Vec<Vec<u16>>,
    /// Id of each upstream group.
    pub upstreams: Vec<u16>,
    /// Id of each endpoint within its group's table: `endpoints[group][endpoint]`.
    pub endpoints: Vec<Vec<u16>>,
}

/// Append-only name tables (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    names: MetricNames,
    /// Endpoint addresses per upstream id.
    endpoints: Vec<Vec<String>>,
}

/// More names than a record's 16-bit ids can tell apart: the process must restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFull(pub String);

impl std::fmt::Display for TableFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "more than {} distinct {} names since start; restart to reload this configuration",
            NONE, self.0
        )
    }
}

impl std::error::Error for TableFull {}

/// The id of `name` in `table`, appended if new.
fn id_of(table: &mut Vec<String>, name: &str, what: &str) -> Result<u16, TableFull> {
    if let Some(i) = table.iter().position(|n| n == name) {
        return Ok(i as u16);
    }
    if table.len() >= usize::from(NONE) {
        return Err(TableFull(what.into()));
    }
    table.push(name.to_owned());
    Ok((table.len() - 1) as u16)
}

impl Registry {
    /// Ids for every name of `shape`, adding the names not seen before. Nothing is added when
    /// a table would overflow.
    pub fn register(&mut self, shape: &Shape) -> Result<Labels, TableFull> {
        let mut next = self.clone();
        let labels = next.register_in_place(shape)?;
        *self = next;
        Ok(labels)
    }

    fn register_in_place(&mut self, shape: &Shape) -> Result<Labels, TableFull> {
        let mut labels = Labels::default();
        for (listener, routes) in &shape.listeners {
            let l = id_of(&mut self.names.listeners, listener, "listener")?;
            if self.names.routes.len() <= usize::from(l) {
                self.names.routes.resize(usize::from(l) + 1, Vec::new());
            }
            let table = &mut self.names.routes[usize::from(l)];
            let ids = routes
                .iter()
                .map(|r| id_of(table, r, "route"))
                .collect::<Result<_, _>>()?;
            labels.listeners.push(l);
            labels.routes.push(ids);
        }
        for (group, endpoints) in &shape.upstreams {
            let g = id_of(&mut self.names.upstreams, group, "upstream")?;
            if self.endpoints.len() <= usize::from(g) {
                self.endpoints.resize(usize::from(g) + 1, Vec::new());
            }
            let table = &mut self.endpoints[usize::from(g)];
            let ids = endpoints
                .iter()
                .map(|e| id_of(table, e, "endpoint"))
                .collect::<Result<_, _>>()?;
            labels.upstreams.push(g);
            labels.endpoints.push(ids);
        }
        Ok(labels)
    }

    /// The listener, route and upstream tables (what metrics are labelled with).
    pub fn metric_names(&self) -> &MetricNames {
        &self.names
    }

    /// Endpoint addresses per upstream id: `endpoints()[upstream][endpoint]`.
    pub fn endpoints(&self) -> &[Vec<String>] {
        &self.endpoints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(listeners: &[(&str, &[&str])], upstreams: &[(&str, &[&str])]) -> Shape {
        let own = |v: &[(&str, &[&str])]| {
            v.iter()
                .map(|(n, xs)| (n.to_string(), xs.iter().map(|x| x.to_string()).collect()))
                .collect()
        };
        Shape {
            listeners: own(listeners),
            upstreams: own(upstreams),
        }
    }

    #[test]
    fn the_first_configuration_gets_its_own_order() {
        let mut r = Registry::default();
        let l = r
            .register(&shape(
                &[("web", &["a", "b"]), ("api", &["c"])],
                &[("g", &["10.0.0.1:80", "10.0.0.2:80"])],
            ))
            .unwrap();
        assert_eq!(l.listeners, vec![0, 1]);
        assert_eq!(l.routes, vec![vec![0, 1], vec![0]]);
        assert_eq!(l.upstreams, vec![0]);
        assert_eq!(l.endpoints, vec![vec![0, 1]]);
        assert_eq!(r.metric_names().routes, vec![vec!["a", "b"], vec!["c"]]);
    }

    #[test]
    fn a_reload_keeps_ids_and_appends_new_names() {
        let mut r = Registry::default();
        r.register(&shape(
            &[("web", &["a", "b"]), ("api", &["c"])],
            &[("g", &["10.0.0.1:80", "10.0.0.2:80"])],
        ))
        .unwrap();
        // Reordered, a route and a listener dropped, new ones added.
        let l = r
            .register(&shape(
                &[("admin", &["x"]), ("web", &["b", "new"])],
                &[
                    ("h", &["10.0.0.9:80"]),
                    ("g", &["10.0.0.2:80", "10.0.0.3:80"]),
                ],
            ))
            .unwrap();
        assert_eq!(l.listeners, vec![2, 0]);
        assert_eq!(l.routes, vec![vec![0], vec![1, 2]]);
        assert_eq!(l.upstreams, vec![1, 0]);
        assert_eq!(l.endpoints, vec![vec![0], vec![1, 2]]);
        let names = r.metric_names();
        assert_eq!(names.listeners, vec!["web", "api", "admin"]);
        assert_eq!(names.routes[0], vec!["a", "b", "new"]);
        assert_eq!(
            names.routes[1],
            vec!["c"],
            "a dropped listener keeps its names"
        );
        assert_eq!(r.endpoints()[0].len(), 3);
        // The same configuration again adds nothing.
        let before = r.clone();
        r.register(&shape(&[("admin", &["x"])], &[])).unwrap();
        assert_eq!(r, before);
    }

    #[test]
    fn an_overflowing_table_changes_nothing() {
        let mut r = Registry::default();
        let routes: Vec<String> = (0..usize::from(NONE)).map(|i| format!("r{i}")).collect();
        let full = Shape {
            listeners: vec![("web".into(), routes)],
            upstreams: Vec::new(),
        };
        r.register(&full).unwrap();
        let before = r.clone();
        let err = r
            .register(&shape(&[("api", &[]), ("web", &["one-more"])], &[]))
            .unwrap_err();
        assert_eq!(err, TableFull("route".into()));
        assert_eq!(r, before, "nothing added, not even the new listener");
    }
}
