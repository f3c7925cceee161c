;; rewrite: a transform that answers fixed documents, to test the transform stage's
;; plumbing: hook_request replaces the body with a valid request for m/x,
;; hook_response with a fixed completion, hook_stream replaces every batch with one event
;; {"rewritten":true} and sets its state to "seen", hook_stream_end adds {"end":true}.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 2048))
  (data (i32.const 16) "{\"name\":\"rewrite\",\"version\":\"1.0.0\",\"hooks\":[\"hook_request\",\"hook_response\",\"hook_stream\",\"hook_stream_end\"],\"description\":\"answers fixed documents\"}")
  (data (i32.const 400) "{\"model\":\"m/x\",\"messages\":[{\"role\":\"user\",\"content\":\"rewritten\"}]}")
  (data (i32.const 600) "{\"id\":\"r\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"REWRITTEN\"},\"finish_reason\":\"stop\"}]}")
  (data (i32.const 800) "{\"state\":\"seen\",\"events\":[{\"event\":\"\",\"data\":\"{\\\"rewritten\\\":true}\"}]}")
  (data (i32.const 1000) "{\"state\":\"\",\"events\":[{\"event\":\"\",\"data\":\"{\\\"end\\\":true}\"}]}")

  (func (export "plugin_abi_v1"))
  (func (export "plugin_alloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (local.get $ptr))
  ;; Results point into static data, which plugin_free ignores (sdk/ABI.md §3).
  (func (export "plugin_free") (param i32 i32)
    (global.set $heap (i32.const 2048)))
  (func (export "plugin_info") (result i64) (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 149)))
  (func (export "hook_request") (param i32 i32) (result i64) (i64.or (i64.shl (i64.const 400) (i64.const 32)) (i64.const 66)))
  (func (export "hook_response") (param i32 i32) (result i64) (i64.or (i64.shl (i64.const 600) (i64.const 32)) (i64.const 137)))
  (func (export "hook_stream") (param i32 i32) (result i64) (i64.or (i64.shl (i64.const 800) (i64.const 32)) (i64.const 70)))
  (func (export "hook_stream_end") (param i32 i32) (result i64) (i64.or (i64.shl (i64.const 1000) (i64.const 32)) (i64.const 60))))
