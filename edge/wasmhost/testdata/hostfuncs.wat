;; hostfuncs: exercises the crossroads host module.
;; hook_route returns {"ok":1} when clock_ns is a real wall clock (after 2020) and random
;; filled 32 bytes that are not all zero, else {"ok":0}. hook_request logs from a pointer
;; outside memory, which must trap.
(module
  (import "crossroads" "clock_ns" (func $clock (result i64)))
  (import "crossroads" "random" (func $random (param i32 i32)))
  (import "crossroads" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"name\":\"hostfuncs\",\"hooks\":[\"hook_route\",\"hook_request\"]}")
  (data (i32.const 200) "{\"ok\":0}")
  (data (i32.const 210) "{\"ok\":1}")
  (func (export "plugin_abi_v1"))
  (func (export "plugin_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "plugin_free") (param i32 i32))
  (func (export "plugin_info") (result i64) (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 58)))
  (func (export "hook_route") (param i32 i32) (result i64)
    (local $i i32) (local $acc i32)
    (call $random (i32.const 4096) (i32.const 32))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 32)))
        (local.set $acc (i32.or (local.get $acc) (i32.load8_u (i32.add (i32.const 4096) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (if (result i64) (i32.and (i64.gt_s (call $clock) (i64.const 1577836800000000000)) (i32.ne (local.get $acc) (i32.const 0)))
      (then (i64.or (i64.shl (i64.const 210) (i64.const 32)) (i64.const 8)))
      (else (i64.or (i64.shl (i64.const 200) (i64.const 32)) (i64.const 8)))))
  (func (export "hook_request") (param i32 i32) (result i64)
    (call $log (i32.const 3) (i32.const 0x7fff0000) (i32.const 10))
    (i64.const 0)))
