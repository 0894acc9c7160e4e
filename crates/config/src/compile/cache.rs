//! `cache` and `listeners[].routes[].cache`, compiled.

use super::Compiler;
use crate::check;
use crate::error::index_path;
use crate::model::{CacheSettings, RouteCache};
use crate::spec::{CacheSpec, RouteCacheSpec};

/// Smallest cache memory worth having (less is a typo for a size in another unit).
const MIN_MEMORY_BYTES: u64 = 1 << 20;
/// Most variants a key may keep.
const MAX_VARIANTS: usize = 64;

impl Compiler {
    pub(super) fn cache(&mut self, spec: &CacheSpec) -> CacheSettings {
        if spec.memory_bytes < MIN_MEMORY_BYTES {
            self.error(
                "cache.memory_bytes",
                format!("{} is below {MIN_MEMORY_BYTES} (1 MiB)", spec.memory_bytes),
            );
        }
        CacheSettings {
            memory_bytes: spec.memory_bytes,
        }
    }

    pub(super) fn route_cache(
        &mut self,
        path: &str,
        spec: &RouteCacheSpec,
        proxy: bool,
    ) -> RouteCache {
        if !proxy {
            self.error(path, "only proxy routes are cached");
        }
        let max_object_bytes =
            self.positive(&format!("{path}.max_object_bytes"), spec.max_object_bytes);
        let key_headers = spec
            .key_headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let p = index_path(&format!("{path}.key_headers"), i);
                self.check(&p, check::header_name(h).map(Some), None)
            })
            .collect();
        if spec.heuristic_percent > 100 {
            self.error(
                format!("{path}.heuristic_percent"),
                format!("{} is outside 0..=100", spec.heuristic_percent),
            );
        }
        if !(1..=MAX_VARIANTS).contains(&spec.max_variants) {
            self.error(
                format!("{path}.max_variants"),
                format!("{} is outside 1..={MAX_VARIANTS}", spec.max_variants),
            );
        }
        RouteCache {
            max_object_bytes,
            key_headers,
            key_consumer: spec.key_consumer,
            store_set_cookie: spec.store_set_cookie,
            heuristic_percent: (spec.heuristic_percent > 0).then_some(spec.heuristic_percent),
            heuristic_max: self.duration(
                &format!("{path}.heuristic_max"),
                &spec.heuristic_max,
                true,
            ),
            max_variants: spec.max_variants,
            coalesce_wait: self.duration(
                &format!("{path}.coalesce_wait"),
                &spec.coalesce_wait,
                true,
            ),
        }
    }
}
