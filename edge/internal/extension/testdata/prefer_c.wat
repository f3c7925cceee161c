;; prefer_c: a route plugin that always answers the same order: endpoint c first, then a;
;; b is not listed, so it is dropped; the unknown id "nobody" is ignored.
(module
  (import "crossroads" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "{\"name\":\"prefer_c\",\"version\":\"1.0.0\",\"hooks\":[\"hook_route\"],\"description\":\"puts provider c first and drops b\"}")
  (data (i32.const 512) "prefer_c initialised")
  (data (i32.const 600) "{\"order\":[\"m/x@c\",\"nobody\",\"m/x@a\"]}")

  (func (export "plugin_abi_v1"))

  ;; Bump allocator with LIFO free: the host frees the output, then the input.
  (func $alloc (export "plugin_alloc") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $ptr) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (block $ok
      (br_if $ok (i32.le_u (local.get $end) (i32.mul (memory.size) (i32.const 65536))))
      (br_if $ok (i32.ne (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1))) (i32.const -1)))
      (return (i32.const 0)))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func (export "plugin_free") (param $ptr i32) (param $size i32)
    (if (i32.eq (global.get $heap)
                (i32.and (i32.add (i32.add (local.get $ptr) (local.get $size)) (i32.const 7)) (i32.const -8)))
      (then (global.set $heap (local.get $ptr)))))

  (func (export "plugin_info") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 110)))

  (func (export "plugin_init") (param i32 i32) (result i64)
    (call $log (i32.const 1) (i32.const 512) (i32.const 20))
    (i64.const 0))

  (func (export "hook_route") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 600) (i64.const 32)) (i64.const 36))))
