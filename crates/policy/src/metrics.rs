//! The policies' own metrics, written with the telemetry crate's Prometheus writer and names.

use std::sync::atomic::Ordering;

use ringway_telemetry::metrics::{name, write_family, write_sample, Kind};

use crate::build::Policies;

impl Policies {
    /// Appends the policies' metrics (Prometheus text): rate-limit drift and leases per core,
    /// table-full fallbacks, refusals of rules in shadow mode, JWKS key age and fetch errors
    /// per provider.
    pub fn render_prometheus(&self, out: &mut String) {
        write_family(
            out,
            name::RATELIMIT_DRIFT_TOKENS,
            Kind::Gauge,
            "Tokens leased by a core from the shared rate-limit tables and not used yet: the most this core's view differs from the shared count.",
        );
        for (i, c) in self.cores.iter().enumerate() {
            let core = i.to_string();
            let value = c.drift_tokens.load(Ordering::Relaxed);
            write_sample(
                out,
                name::RATELIMIT_DRIFT_TOKENS,
                &[(name::CORE, &core)],
                value,
            );
        }
        write_family(
            out,
            name::RATELIMIT_LEASES_TOTAL,
            Kind::Counter,
            "Token leases taken from the shared rate-limit tables.",
        );
        for (i, c) in self.cores.iter().enumerate() {
            let core = i.to_string();
            let value = c.leases.load(Ordering::Relaxed);
            write_sample(
                out,
                name::RATELIMIT_LEASES_TOTAL,
                &[(name::CORE, &core)],
                value,
            );
        }
        write_family(
            out,
            name::RATELIMIT_TABLE_FULL_TOTAL,
            Kind::Counter,
            "Checks that found the shared table full and fell back to a core-local limit.",
        );
        let full = self
            .cores
            .iter()
            .map(|c| c.table_full.load(Ordering::Relaxed))
            .sum();
        write_sample(out, name::RATELIMIT_TABLE_FULL_TOTAL, &[], full);

        if !self.shadow.is_empty() {
            write_family(
                out,
                name::POLICY_SHADOW_REFUSALS_TOTAL,
                Kind::Counter,
                "Requests a rule in shadow mode would have refused; it let them through.",
            );
            for r in &self.shadow {
                write_sample(
                    out,
                    name::POLICY_SHADOW_REFUSALS_TOTAL,
                    &[(name::ROUTE, &r.route), (name::RULE, &r.rule)],
                    r.refusals.load(Ordering::Relaxed),
                );
            }
        }

        let jwks: Vec<_> = self
            .providers
            .iter()
            .filter_map(|p| Some((p.name.as_str(), p.jwks.as_ref()?)))
            .collect();
        self.render_fleet(out);
        if jwks.is_empty() {
            return;
        }
        write_family(
            out,
            name::JWKS_AGE_SECONDS,
            Kind::Gauge,
            "Age of the key set last fetched from a JWKS URL.",
        );
        for (provider, job) in &jwks {
            let age = job.age_secs.load(Ordering::Relaxed);
            write_sample(
                out,
                name::JWKS_AGE_SECONDS,
                &[(name::PROVIDER, provider)],
                age,
            );
        }
        write_family(
            out,
            name::JWKS_FETCH_ERRORS_TOTAL,
            Kind::Counter,
            "Failed JWKS fetches (the last good key set stays in use).",
        );
        for (provider, job) in &jwks {
            let errors = job.fetch_errors.load(Ordering::Relaxed);
            write_sample(
                out,
                name::JWKS_FETCH_ERRORS_TOTAL,
                &[(name::PROVIDER, provider)],
                errors,
            );
        }
    }

    /// The fleet-wide limits' store counters, by limit name.
    fn render_fleet(&self, out: &mut String) {
        let fleet = self.fleet_limits();
        if fleet.is_empty() {
            return;
        }
        type Read = fn(&ringway_ratelimit::FleetLimiter) -> u64;
        let families: [(&str, Kind, &str, Read); 8] = [
            ("ringway_ratelimit_store_up", Kind::Gauge, "1 while a fleet-wide limit's store answers, 0 while it is taken as down.", |f| u64::from(f.store_up())),
            ("ringway_ratelimit_store_commands_total", Kind::Counter, "Calls to a fleet-wide limit's store (leases, returns, flushes).", |f| f.stats.commands.load(Ordering::Relaxed)),
            ("ringway_ratelimit_store_errors_total", Kind::Counter, "Failed calls to a fleet-wide limit's store (timeouts, connection errors).", |f| f.stats.errors.load(Ordering::Relaxed)),
            ("ringway_ratelimit_store_fallback_total", Kind::Counter, "Requests a fleet-wide limit decided without its store (store down, or no slot for the key).", |f| f.stats.fallback.load(Ordering::Relaxed)),
            ("ringway_ratelimit_store_granted_tokens_total", Kind::Counter, "Tokens the store granted this gateway.", |f| f.stats.granted.load(Ordering::Relaxed)),
            ("ringway_ratelimit_store_returned_tokens_total", Kind::Counter, "Unused tokens this gateway gave back to the store.", |f| f.stats.returned.load(Ordering::Relaxed)),
            ("ringway_ratelimit_store_reclaimed_slots_total", Kind::Counter, "Host slots a fleet-wide limit gave to a new key after their key was idle a second.", |f| f.stats.reclaimed.load(Ordering::Relaxed)),
            ("ringway_ratelimit_store_synced_requests_total", Kind::Counter, "Requests this gateway counted to the store in flushes (mode: sync).", |f| f.stats.synced.load(Ordering::Relaxed)),
        ];
        for (metric, kind, help, read) in families {
            write_family(out, metric, kind, help);
            for f in &fleet {
                write_sample(out, metric, &[("limit", &f.name)], read(&f.limiter));
            }
        }
    }
}
