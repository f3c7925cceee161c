;; Runaway guests: a bare back edge and unbounded recursion.
(module
  (func (export "spin") (loop $l (br $l)))
  (func $rec (export "rec") (call $rec)))
