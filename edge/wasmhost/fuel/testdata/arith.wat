;; Straight-line arithmetic: metered only at function entry.
(module
  (func (export "calc") (param $a i32) (param $b i32) (result i32)
    (i32.add (i32.mul (local.get $a) (local.get $b)) (i32.const 7))))
