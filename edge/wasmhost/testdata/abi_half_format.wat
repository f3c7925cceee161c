;; ABI conformance: a format plugin that can build a request but not read the answer.
(module
  (memory (export "memory") 1)
  (func (export "plugin_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "plugin_abi_v1"))
  (func (export "plugin_free") (param i32 i32))
  (func (export "plugin_info") (result i64) (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 2)))
  (func (export "hook_format_request") (param i32 i32) (result i64) (i64.const 0))
  (data (i32.const 16) "{}"))
