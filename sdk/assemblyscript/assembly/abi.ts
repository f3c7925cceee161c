// Plugin ABI v1 (sdk/ABI.md §1–§4, §6): the exports every plugin needs, packed results, and
// the abort handler that keeps the module free of "env" imports.

/** Version marker (ABI §8). The host only checks that it is exported. */
export function plugin_abi_v1(): void {}

/**
 * Returns a buffer of at least size bytes from the unmanaged heap. The host writes hook
 * inputs here, and frees them with plugin_free; result buffers of Writer.finish come from the
 * same heap, so one plugin_free serves both.
 */
export function plugin_alloc(size: u32): u32 {
  // heap.alloc(0) would hand out a block the host could never tell from failure.
  return <u32>heap.alloc(<usize>max<u32>(size, 1));
}

/** Releases a buffer from plugin_alloc or a result buffer the host has copied. */
export function plugin_free(ptr: u32, size: u32): void {
  if (ptr != 0) heap.free(<usize>ptr);
}

/** Packs a result: ptr in the high 32 bits, len in the low 32 (ABI §1). */
// @ts-ignore: decorator
@inline export function pack(ptr: usize, len: usize): u64 {
  return (<u64>ptr << 32) | <u64>(<u32>len);
}

/** The "leave the data unchanged" result of a hook, and the "ok" of plugin_init. */
export const UNCHANGED: u64 = 0;

// @ts-ignore: decorator
@external("crossroads", "log")
declare function hostLog(level: i32, ptr: usize, len: usize): void;

/** Log levels of crossroads.log (ABI §7). */
export const enum Level { Debug = 0, Info = 1, Warn = 2, Error = 3 }

/** Writes msg to the node log, tagged with the plugin's name. Imports crossroads.log. */
export function log(level: Level, msg: string): void {
  const b = String.UTF8.encode(msg);
  hostLog(level, changetype<usize>(b), <usize>b.byteLength);
}

// abort must not allocate: it also runs when the heap is exhausted.
const ABORT_MAX: usize = 256;
const abortBuf = memory.data(<i32>ABORT_MAX);

function putU32(p: usize, v: u32): usize {
  let n: usize = 1;
  for (let t = v; t >= 10; t /= 10) n++;
  if (p + n > abortBuf + ABORT_MAX) return p;
  for (let i = n; i > 0; i--) {
    store<u8>(p + i - 1, 0x30 + v % 10);
    v /= 10;
  }
  return p + n;
}

function putASCII(p: usize, s: string | null): usize {
  if (s === null) return p;
  const str = changetype<string>(s);
  for (let i = 0, n = str.length; i < n && p < abortBuf + ABORT_MAX; i++) {
    const c = str.charCodeAt(i);
    store<u8>(p++, c < 0x20 || c > 0x7e ? 0x3f : c);
  }
  return p;
}

/**
 * The abort handler plugins build with (`--use abort=...`, set by the SDK's asconfig.json):
 * it logs "abort: message at file:line" through crossroads.log and traps. The default
 * handler would import env.abort, which the host refuses.
 */
export function crossroadsAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let p = putASCII(abortBuf, "abort: ");
  p = putASCII(p, message);
  p = putASCII(p, " at ");
  p = putASCII(p, fileName);
  p = putASCII(p, ":");
  p = putU32(p, line);
  hostLog(Level.Error, abortBuf, p - abortBuf);
  unreachable();
}
