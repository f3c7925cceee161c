;; ABI conformance: no plugin_abi_v1 marker.
(module
  (memory (export "memory") 1)
  (func (export "plugin_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "plugin_free") (param i32 i32))
  (func (export "plugin_info") (result i64) (i64.const 0))
  (func (export "hook_route") (param i32 i32) (result i64) (i64.const 0)))
