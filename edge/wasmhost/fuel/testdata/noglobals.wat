;; No global and no export section: both are created by the rewrite. The
;; result leaves through an imported host function called by the start
;; function.
(module
  (import "host" "report" (func $report (param i32)))
  (type $t (func))
  (table 1 funcref)
  (elem (i32.const 0) $work)
  (func $work
    (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    (call $report (local.get $acc)))
  (func $start (call_indirect (type $t) (i32.const 0)))
  (start $start))
