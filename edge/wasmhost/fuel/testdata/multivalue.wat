;; A loop with a parameter: the check at its head must leave the operand alone.
(module
  (func (export "count") (param $n i32) (result i32)
    (local.get $n)
    (loop $l (param i32) (result i32)
      (i32.sub (i32.const 1))
      (local.tee $n)
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))))
