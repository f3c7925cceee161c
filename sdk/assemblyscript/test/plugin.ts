// A plugin that exposes the SDK to test/run.mjs: it copies its input through the reader and
// the writer, and dumps what readRoute understood.
import {
  Kind, Value, Members, Elements, Writer, readRoute, order, info, error, Event, readStream, streamOutput,
  readFormatRequest, HttpRequest, readFormatResponse, readFormatStream, StreamChunks, readFormatError, errorOutput,
} from "../index";
export { plugin_abi_v1, plugin_alloc, plugin_free } from "../index";

export function plugin_info(): u64 {
  return info("sdk-test", "0.0.0", ["hook_request", "hook_response", "hook_route", "hook_stream", "hook_stream_end",
    "hook_format_request", "hook_format_response", "hook_format_stream", "hook_format_error"], "SDK test plugin");
}

// Rebuilds v: every key and string decoded and re-encoded, every number through f64.
function copy(w: Writer, v: Value): bool {
  switch (v.kind) {
    case Kind.Object: {
      w.beginObject();
      const it = new Members(v);
      while (it.next()) {
        w.key(it.key());
        if (!copy(w, it.value)) return false;
      }
      w.endObject();
      return !it.err;
    }
    case Kind.Array: {
      w.beginArray();
      const it = new Elements(v);
      while (it.next()) if (!copy(w, it.value)) return false;
      w.endArray();
      return !it.err;
    }
    case Kind.String: w.string(v.str()); return true;
    case Kind.Number: w.number(v.f64(NaN)); return true;
    case Kind.True: case Kind.False: w.bool(v.bool); return true;
    case Kind.Null: w.null(); return true;
  }
  return false;
}

function rewrite(v: Value): u64 {
  if (!v.valid) return error("bad_input", "not JSON");
  const w = new Writer();
  if (!copy(w, v)) {
    w.discard();
    return error("bad_input", "malformed");
  }
  return w.finish();
}

/** Validates first (Value.parse), then copies. */
export function hook_request(ptr: u32, len: u32): u64 { return rewrite(Value.parse(ptr, len)); }

/** Copies without validating first (Value.of): errors surface from the iterators. */
export function hook_response(ptr: u32, len: u32): u64 { return rewrite(Value.of(ptr, len)); }

/** Copies raw values (Writer.value, membersExcept) of a validated object, minus "drop". */
export function hook_stream(ptr: u32, len: u32): u64 {
  const v = Value.parse(ptr, len);
  if (!v.isObject) return 0;
  const w = new Writer(8);
  w.beginObject().key("kept").int(1).membersExcept(v, ["drop"]).endObject();
  return w.finish();
}

/** The order in input order, plus every field readRoute decoded. */
export function hook_route(ptr: u32, len: u32): u64 {
  const r = readRoute(ptr, len);
  if (r === null) return 0;
  const o = order(r.candidates);
  const w = new Writer();
  w.beginObject().key("order").jsonBytes(<usize>(o >> 32) + 9, <usize>(<u32>o) - 10);
  heap.free(<usize>(o >> 32));
  w.key("request").beginObject().key("model").string(r.request.model).key("region").string(r.request.region)
    .key("stream").bool(r.request.stream).key("max_tokens").int(r.request.maxTokens).key("tools").bool(r.request.tools).endObject();
  w.key("candidates").beginArray();
  for (let i = 0; i < r.candidates.length; i++) {
    const c = r.candidates[i];
    w.beginObject().key("index").int(c.index).key("id").string(c.id()).key("provider").string(c.provider())
      .key("model").string(c.model()).key("region").string(c.region())
      .key("prompt").number(c.promptPrice).key("completion").number(c.completionPrice)
      .key("ttft_ms").number(c.ttftMs).key("tokens_per_second").number(c.tokensPerSecond)
      .key("error_rate").number(c.errorRate).key("degraded").bool(c.degraded).key("circuit").int(c.circuit)
      .key("eu").bool(c.regionIs("eu-west")).endObject();
  }
  w.endArray().endObject();
  return w.finish();
}

/** Echoes a stream batch in reverse, with "!" appended to the state. */
export function hook_stream_end(ptr: u32, len: u32): u64 {
  const s = readStream(ptr, len);
  if (s === null) return 0;
  const evs = new Array<Event>();
  for (let i = s.events.length - 1; i >= 0; i--) evs.push(s.events[i]);
  return streamOutput(s.state + "!", evs);
}

export function hook_format_request(ptr: u32, len: u32): u64 {
  const r = readFormatRequest(ptr, len);
  if (r === null) return error("bad_input", "not a format request");
  const h = new HttpRequest();
  h.path = "/v1/" + r.model;
  h.query = r.stream ? "stream=1" : "";
  h.headers.set("x-api-key", "{{api_key}}");
  h.body = r.request.toString();
  return h.output();
}

export function hook_format_response(ptr: u32, len: u32): u64 {
  const r = readFormatResponse(ptr, len);
  if (r === null) return 0;
  return errorOutput(r.status, r.model, r.body.kind == Kind.String ? "string" : "json", r.body.toString());
}

export function hook_format_stream(ptr: u32, len: u32): u64 {
  const r = readFormatStream(ptr, len);
  if (r === null) return 0;
  const out = new StreamChunks();
  out.state = r.state + r.model;
  for (let i = 0; i < r.events.length; i++) out.chunks.push(r.events[i].data);
  out.done = r.events.length == 0;
  if (r.state == "fail") { out.errorMessage = "boom"; out.errorType = "overloaded"; out.errorStatus = 503; }
  return out.output();
}

export function hook_format_error(ptr: u32, len: u32): u64 {
  const r = readFormatError(ptr, len);
  if (r === null) return 0;
  return errorOutput(r.status == 529 ? 503 : 0, "upstream", r.retryAfter, r.body.toString());
}
