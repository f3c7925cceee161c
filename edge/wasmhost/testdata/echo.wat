;; echo: a well-behaved plugin. hook_request returns its input with ASCII letters
;; uppercased; hook_response returns 0 (unchanged); hook_stream returns a verbatim copy
;; (memory.copy, so it measures the ABI crossing). plugin_init logs through crossroads.log.
(module
  (import "crossroads" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "{\"name\":\"echo\",\"version\":\"1.0.0\",\"hooks\":[\"hook_request\",\"hook_response\",\"hook_stream\"],\"description\":\"uppercases\"}")
  (data (i32.const 512) "echo initialised")

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
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 115)))

  (func (export "plugin_init") (param i32 i32) (result i64)
    (call $log (i32.const 1) (i32.const 512) (i32.const 16))
    (i64.const 0))

  (func (export "hook_request") (param $in i32) (param $n i32) (result i64)
    (local $out i32) (local $i i32) (local $c i32)
    (local.set $out (call $alloc (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $in) (local.get $i))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
          (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
        (i32.store8 (i32.add (local.get $out) (local.get $i)) (local.get $c))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))

  (func (export "hook_response") (param i32 i32) (result i64)
    (i64.const 0))

  (func (export "hook_stream") (param $in i32) (param $n i32) (result i64)
    (local $out i32)
    (local.set $out (call $alloc (local.get $n)))
    (memory.copy (local.get $out) (local.get $in) (local.get $n))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))
