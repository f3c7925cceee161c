;; Legacy exception handling (try/catch/delegate/rethrow). wazero does not run
;; it, so this only exercises the decoder.
(module
  (tag $e (param i32))
  (func (export "run") (param $n i32) (result i32)
    (loop $l
      (try
        (do (throw $e (local.get $n)))
        (catch $e (drop))
        (catch_all))
      (try $t
        (do (try (do (nop)) (delegate $t)))
        (catch_all (try (do (nop)) (catch_all (rethrow 1)))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (local.get $n)))
