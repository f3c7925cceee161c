;; config_order: a route plugin whose answer is its configuration. plugin_init keeps the
;; config JSON (an object such as {"order":["model@provider"]}) and hook_route returns it,
;; so a test steers routing by changing the node's configuration alone.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $n (mut i32) (i32.const 0))
  (data (i32.const 16) "{\"name\":\"config_order\",\"version\":\"1.0.0\",\"hooks\":[\"hook_route\"],\"description\":\"answers the order its config gives\"}")

  (func (export "plugin_abi_v1"))
  (func $alloc (export "plugin_alloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.const 65536)) (then (global.set $heap (local.get $ptr)) (return (i32.const 0))))
    (local.get $ptr))
  (func (export "plugin_free") (param i32 i32)
    (global.set $heap (i32.const 8192)))
  (func (export "plugin_info") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 115)))
  ;; The config is kept at 4096; up to 4 KiB.
  (func (export "plugin_init") (param $p i32) (param $len i32) (result i64)
    (if (i32.gt_u (local.get $len) (i32.const 4096)) (then unreachable))
    (memory.copy (i32.const 4096) (local.get $p) (local.get $len))
    (global.set $n (local.get $len))
    (i64.const 0))
  (func (export "hook_route") (param i32 i32) (result i64)
    (local $out i32)
    (if (i32.eqz (global.get $n)) (then (return (i64.const 0))))
    (local.set $out (call $alloc (global.get $n)))
    (memory.copy (local.get $out) (i32.const 4096) (global.get $n))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.extend_i32_u (global.get $n)))))
