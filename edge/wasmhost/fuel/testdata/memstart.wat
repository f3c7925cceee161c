;; Memory, an active data segment and a start function that transforms it.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, fuel")
  (func $start
    (local $i i32)
    (loop $l
      (i32.store8 offset=16 (local.get $i)
        (i32.sub (i32.load8_u offset=16 (local.get $i)) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 5)))))
  (func (export "checksum") (result i32)
    (local $i i32) (local $h i32)
    (loop $l
      (local.set $h (i32.add (i32.mul (local.get $h) (i32.const 31))
        (i32.load8_u offset=16 (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 11))))
    (local.get $h))
  (start $start))
