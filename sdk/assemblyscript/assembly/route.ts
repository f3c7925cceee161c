// hook_route (ABI §5): the candidates a request may go to, and the order to try them in.

import { Kind, Value, Members, Elements, Writer } from "./json";

/** State of a candidate's circuit breaker. */
export const enum Circuit { Closed = 0, HalfOpen = 1, Open = 2, Unknown = 3 }

/**
 * One upstream candidate. Strings stay undecoded views of the input (valid until the hook
 * returns): compare them with idIs/regionIs/... and decode them with id()/region()/... only
 * when needed. index is the candidate's position in the host's order.
 */
export class Candidate {
  index: i32 = 0;
  /** USD per million tokens. */
  promptPrice: f64 = 0;
  completionPrice: f64 = 0;
  /** Time to first token, milliseconds (may have a fraction). */
  ttftMs: f64 = 0;
  tokensPerSecond: f64 = 0;
  /** Fraction of recent requests that failed, 0..1. */
  errorRate: f64 = 0;
  degraded: bool = false;
  circuit: Circuit = Circuit.Closed;
  // JSON string tokens (with quotes) as [start, end) in the input; 0, 0 when absent. Plain
  // positions rather than Values keep a candidate to one allocation.
  idAt: usize = 0; idEnd: usize = 0;
  providerAt: usize = 0; providerEnd: usize = 0;
  modelAt: usize = 0; modelEnd: usize = 0;
  regionAt: usize = 0; regionEnd: usize = 0;

  id(): string { return str(this.idAt, this.idEnd); }
  provider(): string { return str(this.providerAt, this.providerEnd); }
  model(): string { return str(this.modelAt, this.modelEnd); }
  region(): string { return str(this.regionAt, this.regionEnd); }
  idIs(s: string): bool { return strIs(this.idAt, this.idEnd, s); }
  providerIs(s: string): bool { return strIs(this.providerAt, this.providerEnd, s); }
  modelIs(s: string): bool { return strIs(this.modelAt, this.modelEnd, s); }
  regionIs(s: string): bool { return strIs(this.regionAt, this.regionEnd, s); }
}

function str(at: usize, end: usize): string {
  return at == 0 ? "" : new Value(at, end - at, Kind.String).str();
}

function strIs(at: usize, end: usize, s: string): bool {
  return at != 0 && new Value(at, end - at, Kind.String).is(s);
}

/** The request summary a route decision may depend on. */
export class RouteRequest {
  model: string = "";
  region: string = "";
  stream: bool = false;
  maxTokens: i64 = 0;
  tools: bool = false;
}

export class RouteInput {
  request: RouteRequest = new RouteRequest();
  candidates: Candidate[] = [];
}

function readCircuit(v: Value): Circuit {
  if (v.is("closed")) return Circuit.Closed;
  if (v.is("open")) return Circuit.Open;
  if (v.is("half_open")) return Circuit.HalfOpen;
  return Circuit.Unknown;
}

function readCandidate(c: Candidate, it: Members, price: Members): void {
  while (it.next()) {
    const v = it.value;
    // Dispatch on the first byte of the key before comparing it whole: most keys differ there.
    const k0 = it.keyLen > 0 ? load<u8>(it.keyPtr) : 0;
    switch (k0) {
      case 0x69: if (v.isString && it.keyIs("id")) { c.idAt = v.ptr; c.idEnd = v.end; } break;
      case 0x70:
        if (v.isString && it.keyIs("provider")) { c.providerAt = v.ptr; c.providerEnd = v.end; }
        else if (it.keyIs("price")) {
          price.reset(v);
          while (price.next()) {
            if (price.keyIs("prompt")) c.promptPrice = price.value.f64();
            else if (price.keyIs("completion")) c.completionPrice = price.value.f64();
          }
        }
        break;
      case 0x6d: if (v.isString && it.keyIs("model")) { c.modelAt = v.ptr; c.modelEnd = v.end; } break;
      case 0x72: if (v.isString && it.keyIs("region")) { c.regionAt = v.ptr; c.regionEnd = v.end; } break;
      case 0x74:
        if (it.keyIs("ttft_ms")) c.ttftMs = v.f64();
        else if (it.keyIs("tokens_per_second")) c.tokensPerSecond = v.f64();
        break;
      case 0x65: if (it.keyIs("error_rate")) c.errorRate = v.f64(); break;
      case 0x64: if (it.keyIs("degraded")) c.degraded = v.bool; break;
      case 0x63: if (it.keyIs("circuit")) c.circuit = readCircuit(v); break;
    }
  }
}

/**
 * Reads hook_route's input [ptr, ptr+len). Unknown fields are ignored; a candidate that is
 * not an object or has no string id is skipped. Returns null if the input is not a JSON
 * object with a "candidates" array: return 0 then, to keep the host's order.
 */
export function readRoute(ptr: usize, len: usize): RouteInput | null {
  const root = Value.of(ptr, len);
  if (!root.isObject) return null;
  const out = new RouteInput();
  const top = new Members(root);
  const obj = new Members(new Value());
  const price = new Members(new Value());
  let found = false;
  while (top.next()) {
    if (top.keyIs("candidates")) {
      if (!top.value.isArray) return null;
      found = true;
      const els = new Elements(top.value);
      while (els.next()) {
        if (!els.value.isObject) continue;
        const c = new Candidate();
        obj.reset(els.value);
        readCandidate(c, obj, price);
        if (obj.err) return null;
        if (c.idAt == 0) continue;
        c.index = out.candidates.length;
        out.candidates.push(c);
      }
      if (els.err) return null;
    } else if (top.keyIs("request")) {
      const r = out.request;
      obj.reset(top.value);
      while (obj.next()) {
        const v = obj.value;
        if (obj.keyIs("model")) r.model = v.str();
        else if (obj.keyIs("region")) r.region = v.str();
        else if (obj.keyIs("stream")) r.stream = v.bool;
        else if (obj.keyIs("max_tokens")) r.maxTokens = v.i64();
        else if (obj.keyIs("tools")) r.tools = v.bool;
      }
    }
  }
  return found && !top.err ? out : null;
}

/** hook_route's output {"order":[ids]}: try cands in this order, drop the others. */
export function order(cands: Candidate[]): u64 {
  const w = new Writer(16 + cands.length * 32);
  w.beginObject().key("order").beginArray();
  for (let i = 0; i < cands.length; i++) {
    const c = unchecked(cands[i]);
    w.jsonBytes(c.idAt, c.idEnd - c.idAt); // the id token as it came, escapes included
  }
  w.endArray().endObject();
  return w.finish();
}
