//! The store side of fleet-wide limits: Redis Lua scripts (each one atomic call on one key,
//! on the server's clock) and the store keys.

use super::FleetKind;

/// The store's lease script (Redis Lua): GCRA on the server's clock. `KEYS[1]` the key's TAT
/// (µs); `ARGV`: emission interval µs, burst tolerance µs (`burst × T`), tokens wanted, TTL ms.
/// Returns `{granted, µs until the next token}`.
pub const LEASE_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local tol = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local avail = math.floor((now + tol - tat) / T)
if avail < 0 then avail = 0 end
local g = want
if avail < g then g = avail end
if g > 0 then
  tat = tat + g * T
  redis.call('SET', KEYS[1], tat, 'PX', tonumber(ARGV[4]))
end
local next = tat + T - tol - now
if next < 0 then next = 0 end
return {g, next}
";

/// The store's return script: `KEYS[1]` the TAT; `ARGV`: emission interval µs, tokens, TTL
/// ms. Moves the TAT back by the tokens, never before now.
pub const RETURN_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
tat = tat - tonumber(ARGV[1]) * tonumber(ARGV[2])
if tat > now then
  redis.call('SET', KEYS[1], tat, 'PX', tonumber(ARGV[3]))
else
  redis.call('DEL', KEYS[1])
end
return 1
";

/// The store's quota script: `KEYS[1]` the key's count in one window; `ARGV`: the limit,
/// units wanted, TTL ms. Returns `{granted, 0}`.
pub const QUOTA_SCRIPT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local g = tonumber(ARGV[2])
local left = tonumber(ARGV[1]) - used
if left < g then g = left end
if g < 0 then g = 0 end
if g > 0 then
  redis.call('INCRBY', KEYS[1], g)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return {g, 0}
";

/// The store's quota return script: `KEYS[1]` the window's count; `ARGV`: units unused.
pub const QUOTA_RETURN_SCRIPT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
if used > 0 then
  if n > used then n = used end
  redis.call('DECRBY', KEYS[1], n)
end
return {1, 0}
";

/// The sync mode's flush for a rate: `KEYS[1]` the key's TAT (µs, the lease script's);
/// `ARGV`: emission interval µs, requests admitted, µs since the first of them, TTL ms (beyond
/// the debt). Counts the requests from when they began (not from now: a host admitting at the
/// rate would otherwise look a flush interval ahead) and returns the fleet's debt, µs from
/// now to the TAT (0 when idle).
pub const SYNC_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local from = now - tonumber(ARGV[3])
if tat < from then tat = from end
tat = tat + tonumber(ARGV[2]) * tonumber(ARGV[1])
local debt = tat - now
if debt < 0 then debt = 0 end
redis.call('SET', KEYS[1], tat, 'PX', tonumber(ARGV[4]) + math.floor(debt / 1000))
return debt
";

/// The sync mode's flush for a quota: `KEYS[1]` the window's count; `ARGV`: units used, TTL
/// ms. Returns the fleet's count in the window.
pub const QUOTA_SYNC_SCRIPT: &str = r"
local used = redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return used
";

/// The store key of `key` under limit `name` (and, for a quota, its `window` index): the
/// braces make every key of one client one cluster slot.
pub fn store_key(name: &str, key: u64, kind: FleetKind, window: u64) -> String {
    match kind {
        FleetKind::Rate(_) => format!("{{rw:{name}:{key:016x}}}"),
        FleetKind::Quota(_) => format!("{{rw:{name}:{key:016x}}}:{window}"),
    }
}
