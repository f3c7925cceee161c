// Typed helpers for the other hook kinds of ABI §5, plugin_info (§4) and errors (§6).

import { Value, Members, Elements, Writer } from "./json";

/** plugin_info's result (ABI §4). */
export function info(name: string, version: string, hooks: string[], description: string): u64 {
  const w = new Writer(128);
  w.beginObject().key("name").string(name).key("version").string(version).key("hooks").beginArray();
  for (let i = 0; i < hooks.length; i++) w.string(unchecked(hooks[i]));
  w.endArray().key("description").string(description).endObject();
  return w.finish();
}

/**
 * The §6 error object {"error":{"code","message"}}: return it from plugin_init to refuse a
 * config, or from a hook to fail the call on purpose.
 */
export function error(code: string, message: string): u64 {
  const w = new Writer(64 + message.length);
  w.beginObject().key("error").beginObject().key("code").string(code).key("message").string(message).endObject().endObject();
  return w.finish();
}

/**
 * hook_request / hook_response: the input is the body itself. Returns an Invalid value if it
 * is not JSON. To change one field, write a new object: set the field, then
 * membersExcept(body, [that field]).
 */
export function readBody(ptr: usize, len: usize): Value {
  return Value.parse(ptr, len);
}

/** One server-sent event: event is its name ("" when absent), data its data lines. */
export class Event {
  constructor(public event: string = "", public data: string = "") {}
}

function readEvents(v: Value, out: Event[]): void {
  const els = new Elements(v);
  const m = new Members(new Value());
  while (els.next()) {
    const e = new Event();
    m.reset(els.value);
    while (m.next()) {
      if (m.keyIs("event")) e.event = m.value.str();
      else if (m.keyIs("data")) e.data = m.value.str();
      // JSON data arrives as the value itself (sdk/ABI.md §5, hook_format_stream).
      else if (m.keyIs("json")) e.data = m.value.toString();
    }
    out.push(e);
  }
}

/** hook_stream / hook_stream_end input: the state from the previous call and a batch of events. */
export class StreamInput {
  state: string = "";
  events: Event[] = [];
}

export function readStream(ptr: usize, len: usize): StreamInput | null {
  const root = Value.parse(ptr, len);
  if (!root.isObject) return null;
  const s = new StreamInput();
  const it = new Members(root);
  while (it.next()) {
    if (it.keyIs("state")) s.state = it.value.str();
    else if (it.keyIs("events")) readEvents(it.value, s.events);
  }
  return s;
}

/** hook_stream output {"state","events"}: the events replace the batch. */
export function streamOutput(state: string, events: Event[]): u64 {
  const w = new Writer(64);
  w.beginObject().key("state").string(state).key("events").beginArray();
  for (let i = 0; i < events.length; i++) {
    const e = unchecked(events[i]);
    w.beginObject().key("event").string(e.event).key("data").string(e.data).endObject();
  }
  w.endArray().endObject();
  return w.finish();
}

/** hook_format_request input. request is the client's OpenAI-shaped body. */
export class FormatRequest {
  model: string = "";
  stream: bool = false;
  request: Value = new Value();
}

export function readFormatRequest(ptr: usize, len: usize): FormatRequest | null {
  const root = Value.parse(ptr, len);
  if (!root.isObject) return null;
  const r = new FormatRequest();
  const it = new Members(root);
  while (it.next()) {
    if (it.keyIs("model")) r.model = it.value.str();
    else if (it.keyIs("stream")) r.stream = it.value.bool;
    else if (it.keyIs("request")) r.request = it.value.clone();
  }
  return r;
}

/**
 * hook_format_request output: the provider's HTTP request. body is JSON text (a JSON string
 * sends non-JSON bytes). A header value may be "{{api_key}}", which the host fills in.
 */
export class HttpRequest {
  method: string = "POST";
  path: string = "";
  query: string = "";
  headers: Map<string, string> = new Map();
  body: string = "null";

  /** Packs this as the hook's result. */
  output(): u64 {
    const w = new Writer(64 + this.body.length);
    w.beginObject().key("method").string(this.method).key("path").string(this.path);
    if (this.query.length > 0) w.key("query").string(this.query);
    w.key("headers").beginObject();
    const keys = this.headers.keys();
    for (let i = 0; i < keys.length; i++) w.key(unchecked(keys[i])).string(this.headers.get(unchecked(keys[i])));
    w.endObject().key("body").json(this.body).endObject();
    return w.finish();
  }
}

/** hook_format_response input: a 2xx body (a string Value if it was not JSON). */
export class FormatResponse {
  model: string = "";
  status: i32 = 0;
  body: Value = new Value();
}

export function readFormatResponse(ptr: usize, len: usize): FormatResponse | null {
  const root = Value.parse(ptr, len);
  if (!root.isObject) return null;
  const r = new FormatResponse();
  const it = new Members(root);
  while (it.next()) {
    if (it.keyIs("model")) r.model = it.value.str();
    else if (it.keyIs("status")) r.status = <i32>it.value.i64();
    else if (it.keyIs("body")) r.body = it.value.clone();
  }
  return r;
}

/** hook_format_stream input. */
export class FormatStream {
  model: string = "";
  state: string = "";
  events: Event[] = [];
}

export function readFormatStream(ptr: usize, len: usize): FormatStream | null {
  const root = Value.parse(ptr, len);
  if (!root.isObject) return null;
  const r = new FormatStream();
  const it = new Members(root);
  while (it.next()) {
    if (it.keyIs("model")) r.model = it.value.str();
    else if (it.keyIs("state")) r.state = it.value.str();
    else if (it.keyIs("events")) readEvents(it.value, r.events);
  }
  return r;
}

/**
 * hook_format_stream output. chunks are chat.completion.chunk objects as JSON text. Set
 * errorMessage to fail the stream after the chunks with a provider error.
 */
export class StreamChunks {
  state: string = "";
  chunks: string[] = [];
  done: bool = false;
  errorMessage: string = "";
  errorType: string = "";
  errorStatus: i32 = 0;

  output(): u64 {
    let n = 64;
    for (let i = 0; i < this.chunks.length; i++) n += unchecked(this.chunks[i]).length + 1;
    const w = new Writer(n);
    w.beginObject().key("state").string(this.state).key("chunks").beginArray();
    for (let i = 0; i < this.chunks.length; i++) {
      w.json(unchecked(this.chunks[i]));
    }
    w.endArray().key("done").bool(this.done);
    if (this.errorMessage.length > 0) {
      w.key("error").beginObject().key("message").string(this.errorMessage);
      if (this.errorType.length > 0) w.key("type").string(this.errorType);
      if (this.errorStatus != 0) w.key("status").int(this.errorStatus);
      w.endObject();
    }
    w.endObject();
    return w.finish();
  }
}

/** hook_format_error input: a non-2xx response. retryAfter is "" when absent. */
export class FormatError {
  status: i32 = 0;
  retryAfter: string = "";
  body: Value = new Value();
}

export function readFormatError(ptr: usize, len: usize): FormatError | null {
  const root = Value.parse(ptr, len);
  if (!root.isObject) return null;
  const r = new FormatError();
  const it = new Members(root);
  while (it.next()) {
    if (it.keyIs("status")) r.status = <i32>it.value.i64();
    else if (it.keyIs("retry_after")) r.retryAfter = it.value.str();
    else if (it.keyIs("body")) r.body = it.value.clone();
  }
  return r;
}

/** hook_format_error output: the error as OpenAI would have sent it. status 0 keeps upstream's. */
export function errorOutput(status: i32, type: string, code: string, message: string): u64 {
  const w = new Writer(64 + message.length);
  w.beginObject();
  if (status != 0) w.key("status").int(status);
  w.key("type").string(type).key("code").string(code).key("message").string(message).endObject();
  return w.finish();
}
