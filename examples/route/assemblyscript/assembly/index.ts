// fastest-healthy: drop candidates whose circuit is open, then try the one with the lowest
// time to first token first (whole milliseconds; ties keep the host's order).
import { Candidate, Circuit, info, order, readRoute } from "@crossroads/plugin-sdk";
export { plugin_abi_v1, plugin_alloc, plugin_free } from "@crossroads/plugin-sdk";

export function plugin_info(): u64 {
  return info("fastest-healthy", "1.0.0", ["hook_route"],
    "drops open circuits, orders the rest by time to first token");
}

export function hook_route(ptr: u32, len: u32): u64 {
  const input = readRoute(ptr, len);
  if (input === null) return 0; // not JSON: keep the host's order
  const healthy = input.candidates.filter((c: Candidate) => c.circuit != Circuit.Open);
  // Array.sort is not stable, so ties fall back to the input position.
  healthy.sort((a: Candidate, b: Candidate): i32 => {
    const ta = <i64>a.ttftMs, tb = <i64>b.ttftMs;
    if (ta != tb) return ta < tb ? -1 : 1;
    return a.index - b.index;
  });
  return order(healthy);
}
