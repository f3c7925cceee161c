;; sum(n) = 1+...+n for n >= 1. The loop header runs exactly n times, so a
;; call uses 1 (entry) + n units of fuel.
(module
  (func (export "sum") (param $n i32) (result i64)
    (local $i i32) (local $acc i64)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))
  ;; A guest's own trap, to tell apart from running out of fuel.
  (func (export "trap") unreachable))
