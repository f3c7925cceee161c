;; Imported globals come first in the index space, so the fuel global's index
;; must skip them as well as the defined one.
(module
  (import "env" "base" (global $base i32))
  (import "env" "scale" (global $scale (mut i64)))
  (global $acc (mut i64) (i64.const 0))
  (func (export "run") (param $n i32) (result i64)
    (local $i i32)
    (loop $l
      (global.set $acc (i64.add (global.get $acc)
        (i64.mul (global.get $scale) (i64.extend_i32_u (i32.add (global.get $base) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (global.get $acc)))
