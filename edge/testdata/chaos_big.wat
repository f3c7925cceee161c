;; chaos-big: every hook misbehaves the same way, oversized output: 2 MiB, over the 1 MiB cap.
;; Generated with the other chaos-*.wat by gen_chaos.py; the misbehaviour suite loads it
;; as a route, transform and format plugin.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "{\"name\":\"chaos-big\",\"version\":\"1.0.0\",\"hooks\":[\"hook_route\",\"hook_request\",\"hook_stream\",\"hook_format_request\",\"hook_format_response\",\"hook_format_stream\",\"hook_format_error\"]}")
  (func (export "plugin_abi_v1"))
  (func (export "plugin_alloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (local.get $ptr))
  (func (export "plugin_free") (param i32 i32) (global.set $heap (i32.const 1024)))
  (func (export "plugin_info") (result i64) (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 176)))
  (func $misbehave (result i64) (drop (memory.grow (i32.const 40))) (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.const 2097152)))
  (func (export "hook_route") (param i32 i32) (result i64) (call $misbehave))
  (func (export "hook_request") (param i32 i32) (result i64) (call $misbehave))
  (func (export "hook_stream") (param i32 i32) (result i64) (call $misbehave))
  (func (export "hook_format_request") (param i32 i32) (result i64) (call $misbehave))
  (func (export "hook_format_response") (param i32 i32) (result i64) (call $misbehave))
  (func (export "hook_format_stream") (param i32 i32) (result i64) (call $misbehave))
  (func (export "hook_format_error") (param i32 i32) (result i64) (call $misbehave))
)
