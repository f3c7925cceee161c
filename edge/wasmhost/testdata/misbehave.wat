;; misbehave: one hook per failure mode. It meters itself the way the fuel rewriter does
;; (fuel.md §1.1 with the Limit option): exported mutable i64 globals __fuel and
;; __fuel_limit, and at function entry and loop headers
;;   fuel -= 1; if fuel < limit { unreachable }
(module
  (memory (export "memory") 1)
  (global $fuel (export "__fuel") (mut i64) (i64.const 1000000))
  (global $limit (export "__fuel_limit") (mut i64) (i64.const 0))
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "{\"name\":\"misbehave\",\"version\":\"0.0.1\",\"hooks\":[\"hook_route\",\"hook_request\",\"hook_response\",\"hook_stream\",\"hook_stream_end\",\"hook_format_request\",\"hook_format_response\",\"hook_format_stream\",\"hook_format_error\"]}")
  (data (i32.const 400) "not json")
  (data (i32.const 420) "{\"ok\":true}")

  (func $meter
    (global.set $fuel (i64.sub (global.get $fuel) (i64.const 1)))
    (if (i64.lt_s (global.get $fuel) (global.get $limit)) (then unreachable)))

  (func (export "plugin_abi_v1"))

  (func (export "plugin_alloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (local.get $ptr) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.get $ptr))

  (func (export "plugin_free") (param $ptr i32) (param $size i32)
    (global.set $heap (i32.const 1024)))

  (func (export "plugin_info") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 210)))

  ;; garbage: a pointer far beyond the one-page memory
  (func (export "hook_route") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 0x7fff0000) (i64.const 32)) (i64.const 10)))

  ;; valid JSON, used to check the instance still works
  (func (export "hook_request") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 420) (i64.const 32)) (i64.const 11)))

  ;; oversized: claims 2 MiB of output
  (func (export "hook_response") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 0x200000)))

  ;; trap
  (func (export "hook_stream") (param i32 i32) (result i64)
    unreachable)

  ;; memory bomb: grow until refused, then trap as a guest allocator would
  (func (export "hook_stream_end") (param i32 i32) (result i64)
    (call $meter)
    (loop $grow
      (call $meter)
      (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable)

  ;; in bounds but not JSON
  (func (export "hook_format_request") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 400) (i64.const 32)) (i64.const 8)))

  ;; a format plugin exports all four format hooks; these two answer "unchanged"
  (func (export "hook_format_response") (param i32 i32) (result i64) (i64.const 0))
  (func (export "hook_format_stream") (param i32 i32) (result i64) (i64.const 0))

  ;; infinite loop, stopped only by fuel or the limit
  (func (export "hook_format_error") (param i32 i32) (result i64)
    (call $meter)
    (loop $spin
      (call $meter)
      (br $spin))
    (i64.const 0)))
