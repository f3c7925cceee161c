// Tests the SDK through test/plugin.wasm (built by `npm test`): the reader and writer against
// JSON.parse on handwritten and generated documents, malformed input (it must be refused,
// never trap), readRoute's fields, and that repeated calls do not leak memory.
import fs from "node:fs";
import assert from "node:assert/strict";

const wasm = fs.readFileSync(new URL("plugin.wasm", import.meta.url));
const logs = [];
let mem;
const { instance } = await WebAssembly.instantiate(wasm, {
  crossroads: { log: (level, p, n) => logs.push(Buffer.from(mem.buffer, p, n).toString()) },
});
const e = instance.exports;
mem = e.memory;
if (e._initialize) e._initialize();

// call runs one hook the way the host does; null means "unchanged".
function call(hook, input) {
  const bytes = Buffer.from(input);
  const p = bytes.length ? e.plugin_alloc(bytes.length) : 0;
  new Uint8Array(mem.buffer, p, bytes.length).set(bytes);
  const r = e[hook](p, bytes.length);
  let out = null;
  if (r !== 0n) {
    const op = Number(r >> 32n), ol = Number(r & 0xffffffffn);
    out = Buffer.from(new Uint8Array(mem.buffer, op, ol)).toString();
    e.plugin_free(op, ol);
  }
  if (bytes.length) e.plugin_free(p, bytes.length);
  return out;
}

let failures = 0;
function check(name, fn) {
  try { fn(); } catch (err) { failures++; console.error(`FAIL ${name}\n  ${err.message.split("\n").join("\n  ")}`); }
}

// A seeded generator, so that a failure can be reproduced.
let seed = 0x2545f491;
const rnd = (n) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
const strs = ["", "a", "é", "日本", "😀", "q\"uote", "back\\slash", "ctl\u0001\n\t", "</script>", "\u2028", "a/b"];
function gen(depth) {
  switch (depth > 3 ? rnd(4) : rnd(7)) {
    case 0: return strs[rnd(strs.length)];
    case 1: return [0, -1, 42, 3.5, -0.25, 1e21, 1.5e-7, 123456789012, 0.1][rnd(9)];
    case 2: return [true, false, null][rnd(3)];
    case 3: return rnd(1000) / 8;
    case 4: return Array.from({ length: rnd(4) }, () => gen(depth + 1));
    default: {
      const o = {};
      for (let i = rnd(5); i > 0; i--) o[strs[rnd(strs.length)] + rnd(3)] = gen(depth + 1);
      return o;
    }
  }
}
// The writer, like JSON.stringify, writes numbers JSON cannot hold (1e999) as null and -0 as
// 0; strings are UTF-8, so a lone surrogate escape (\ud83d) decodes to U+FFFD.
const norm = (v) => JSON.parse(JSON.stringify(v), (k, x) => {
  if (typeof x === "string") return x.toWellFormed();
  if (x && typeof x === "object" && !Array.isArray(x)) {
    return Object.fromEntries(Object.entries(x).map(([k, y]) => [k.toWellFormed(), y]));
  }
  return x;
});
// Spacing the text differently exercises whitespace handling.
const spaced = (v) => JSON.stringify(v, null, rnd(2) ? 0 : " \t\n".slice(0, 1 + rnd(3)));

const handwritten = [
  `{}`, `[]`, `""`, `0`, `-0.5`, `1E+2`, `2.5e-3`, `true`, `null`, ` {"a" : [ 1 , { } , [ ] ] } `,
  `"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"`, `{"\\u0061":"x"}`, `[[[[[[[[[[1]]]]]]]]]]`,
  `{"a":1,"a":2}`, `"\u00e9"`, `[1.7976931348623157e308, 5e-324, 123456789.125]`,
];
const bad = [
  ``, ` `, `{`, `}`, `[1,]`, `{"a":}`, `{"a" 1}`, `{a:1}`, `[1 2]`, `"abc`, `"\\x"`, `"\\u12g4"`,
  `01`, `1.`, `.5`, `-`, `1e`, `+1`, `tru`, `nulls`, `[1]x`, `{"a":1,}`, `"a\u0001b"`, `[` .repeat(200) + `]`.repeat(200),
];

check("valid documents copy exactly", () => {
  for (const doc of handwritten) {
    for (const hook of ["hook_request", "hook_response"]) {
      const out = call(hook, doc);
      assert.deepEqual(JSON.parse(out), norm(JSON.parse(doc)), `${hook} ${doc} -> ${out}`);
    }
  }
});

check("malformed documents are refused", () => {
  for (const doc of bad) {
    const out = call("hook_request", doc);
    assert.match(out ?? "", /"bad_input"/, `hook_request ${doc} -> ${out}`);
    // Value.of reads lazily, so it may stop before a trailing error; it must not trap.
    call("hook_response", doc);
  }
});

check("generated documents agree with JSON.parse", () => {
  for (let i = 0; i < 3000; i++) {
    const text = spaced(gen(0));
    const want = norm(JSON.parse(text));
    for (const hook of ["hook_request", "hook_response"]) {
      const out = call(hook, text);
      assert.deepEqual(JSON.parse(out), want, `${hook} ${text} -> ${out}`);
    }
  }
});

check("mutated documents: accepted exactly when JSON.parse accepts, never a trap", () => {
  const printable = ` {}[]:,"\\0123456789.eE+-aetrnul`;
  for (let i = 0; i < 5000; i++) {
    let text = spaced(gen(0));
    const at = rnd(text.length + 1);
    switch (rnd(3)) {
      case 0: text = text.slice(0, at); break;
      case 1: text = text.slice(0, at) + printable[rnd(printable.length)] + text.slice(at + 1); break;
      default: text = text.slice(0, at) + printable[rnd(printable.length)] + text.slice(at);
    }
    let want;
    try { want = norm(JSON.parse(text)); } catch { want = undefined; }
    const out = call("hook_request", text);
    if (want === undefined) assert.match(out, /"bad_input"/, `accepted ${JSON.stringify(text)}: ${out}`);
    else assert.deepEqual(JSON.parse(out), want, `${JSON.stringify(text)} -> ${out}`);
    const lazy = call("hook_response", text);
    assert.doesNotThrow(() => JSON.parse(lazy), `hook_response wrote bad JSON for ${JSON.stringify(text)}: ${lazy}`);
    if (want !== undefined) assert.deepEqual(JSON.parse(lazy), want);
  }
});

check("raw copies and membersExcept", () => {
  const doc = `{"drop":1,"a":{"x":[1,"two",{"y":null}]},"s":"e\\u0301\\n","n":-1.5e3,"drop":[2]}`;
  assert.equal(call("hook_stream", doc), `{"kept":1,"a":{"x":[1,"two",{"y":null}]},"s":"e\\u0301\\n","n":-1.5e3}`);
});

check("readRoute decodes every field", () => {
  const input = JSON.stringify({
    request: { model: "gpt-4o", stream: true, max_tokens: 512, tools: false, region: "eu", user: "u" },
    candidates: [
      { id: "a/b@eu-west", provider: "openai", model: "gpt-4o", region: "eu-west", price: { prompt: 2.5, completion: 10 },
        ttft_ms: 310.75, tokens_per_second: 85.2, error_rate: 0.004, degraded: false, circuit: "closed", extra: { id: "no" } },
      "not an object",
      { provider: "no id" },
      { id: "é\"x", region: "us", degraded: true, circuit: "half_open", price: { completion: 1 } },
      { id: "c", circuit: "open" },
      { id: "d", circuit: "weird" },
    ],
    now_ms: 1,
  });
  const got = JSON.parse(call("hook_route", input));
  assert.deepEqual(got.order, ["a/b@eu-west", "é\"x", "c", "d"]);
  assert.deepEqual(got.request, { model: "gpt-4o", region: "eu", stream: true, max_tokens: 512, tools: false });
  assert.deepEqual(got.candidates[0], { index: 0, id: "a/b@eu-west", provider: "openai", model: "gpt-4o", region: "eu-west",
    prompt: 2.5, completion: 10, ttft_ms: 310.75, tokens_per_second: 85.2, error_rate: 0.004, degraded: false, circuit: 0, eu: true });
  assert.deepEqual(got.candidates[1], { index: 1, id: "é\"x", provider: "", model: "", region: "us",
    prompt: 0, completion: 1, ttft_ms: 0, tokens_per_second: 0, error_rate: 0, degraded: true, circuit: 1, eu: false });
  assert.equal(got.candidates[2].circuit, 2);
  assert.equal(got.candidates[3].circuit, 3);
  for (const notRoute of [`[]`, `{"candidates":{}}`, `{"request":{}}`, `{"candidates":[{"id":"a"}`, `{"candidates":[{"id":"a" "x":1}]}`]) {
    assert.equal(call("hook_route", notRoute), null, notRoute);
  }
});

check("stream and format helpers", () => {
  assert.deepEqual(JSON.parse(call("hook_stream_end", `{"state":"s\u00e9","events":[{"event":"a","data":"{\\"x\\":1}"},{"data":"2"}],"extra":1}`)),
    { state: "sé!", events: [{ event: "", data: "2" }, { event: "a", data: `{"x":1}` }] });
  assert.deepEqual(JSON.parse(call("hook_format_request", `{"model":"m-1","stream":true,"request":{"model":"m-1","messages":[{"role":"user","content":"hi"}]}}`)),
    { method: "POST", path: "/v1/m-1", query: "stream=1", headers: { "x-api-key": "{{api_key}}" },
      body: { model: "m-1", messages: [{ role: "user", content: "hi" }] } });
  assert.deepEqual(JSON.parse(call("hook_format_response", `{"model":"m","status":200,"body":{"a":[1]}}`)),
    { status: 200, type: "m", code: "json", message: `{"a":[1]}` });
  assert.deepEqual(JSON.parse(call("hook_format_stream", `{"model":"m","state":"s","events":[{"event":"e","data":"{\\"id\\":1}"}]}`)),
    { state: "sm", chunks: [{ id: 1 }], done: false });
  assert.deepEqual(JSON.parse(call("hook_format_stream", `{"model":"m","state":"fail","events":[]}`)),
    { state: "failm", chunks: [], done: true, error: { message: "boom", type: "overloaded", status: 503 } });
  assert.deepEqual(JSON.parse(call("hook_format_error", `{"status":529,"retry_after":"30","body":"Overloaded"}`)),
    { status: 503, type: "upstream", code: "30", message: `"Overloaded"` });
});

check("plugin_info", () => {
  const r = e.plugin_info();
  const info = JSON.parse(Buffer.from(new Uint8Array(mem.buffer, Number(r >> 32n), Number(r & 0xffffffffn))).toString());
  assert.equal(info.name, "sdk-test");
  e.plugin_free(Number(r >> 32n), Number(r & 0xffffffffn));
});

check("repeated calls do not grow memory", () => {
  const doc = JSON.stringify({ candidates: Array.from({ length: 20 }, (_, i) => ({ id: `c${i}`, ttft_ms: i, circuit: "closed" })) });
  for (let i = 0; i < 2000; i++) call("hook_route", doc);
  const pages = mem.buffer.byteLength / 65536;
  for (let i = 0; i < 20000; i++) call("hook_route", doc);
  assert.equal(mem.buffer.byteLength / 65536, pages, "memory grew over 20000 calls");
});

assert.deepEqual(logs, [], "nothing aborted");
if (failures) { console.error(`${failures} failed`); process.exit(1); }
console.log("ok");
