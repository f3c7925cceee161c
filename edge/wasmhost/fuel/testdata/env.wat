;; Provides the globals imported by imports.wat.
(module
  (global (export "base") i32 (i32.const 40))
  (global (export "scale") (mut i64) (i64.const 3)))
