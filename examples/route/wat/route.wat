;; fastest-healthy, by hand: drop candidates whose circuit is "open", then try the one with
;; the lowest time to first token first (whole milliseconds; ties keep the host's order).
;;
;; Memory: static strings below 1024, then a bump heap. The host frees a call's result and
;; then its input, newest first, so plugin_free only has to undo the newest allocation.
;; hook_route keeps a scratch table of candidates above its input and moves the result down
;; over it before returning, so that both frees unwind the heap back to where the call began.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))

  (data (i32.const 16) "{\"name\":\"fastest-healthy\",\"version\":\"1.0.0\",\"hooks\":[\"hook_route\"],\"description\":\"drops open circuits, orders the rest by time to first token\"}")
  (data (i32.const 256) "candidates")        ;; 10 bytes
  (data (i32.const 272) "id")                ;; 2
  (data (i32.const 280) "circuit")           ;; 7
  (data (i32.const 288) "ttft_ms")           ;; 7
  (data (i32.const 296) "{\"order\":[")      ;; 10
  (data (i32.const 312) "open")              ;; 4

  (func (export "plugin_abi_v1"))

  ;; plugin_alloc returns 8-aligned memory from the bump heap, growing memory as needed.
  (func $alloc (export "plugin_alloc") (param $size i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (if (i32.lt_u (local.get $end) (local.get $p)) (then (return (i32.const 0)))) ;; wrapped
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 0xffff)) (i32.const 16)) (memory.size)))
                    (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))

  ;; plugin_free undoes the newest allocation and ignores anything else (such as plugin_info's
  ;; static result).
  (func (export "plugin_free") (param $p i32) (param $size i32)
    (if (i32.eq (i32.and (i32.add (i32.add (local.get $p) (local.get $size)) (i32.const 7)) (i32.const -8))
                (global.get $heap))
      (then (if (i32.ge_u (local.get $p) (i32.const 1024)) (then (global.set $heap (local.get $p)))))))

  (func (export "plugin_info") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 143)))

;; $at is the byte at $p, or -1 at or past $end, so that malformed input cannot make a read
  ;; run past the input.
  (func $at (param $p i32) (param $end i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $p) (local.get $end))
      (then (i32.load8_u (local.get $p)))
      (else (i32.const -1))))

  ;; $ws skips JSON whitespace.
  (func $ws (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $done (i32.eqz (i32.or (i32.or (i32.eq (local.get $c) (i32.const 0x20)) (i32.eq (local.get $c) (i32.const 0x0a)))
                                      (i32.or (i32.eq (local.get $c) (i32.const 0x0d)) (i32.eq (local.get $c) (i32.const 0x09))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $p))

  ;; $string: $p is at an opening quote; returns the position after the closing one, or 0 if
  ;; the string is cut short or holds a control character.
  (func $string (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (loop $next
      (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const 0))))
      (local.set $c (i32.load8_u (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (if (i32.eq (local.get $c) (i32.const 0x22)) (then (return (local.get $p))))
      ;; JSON forbids raw control characters; copied into the answer they would make it invalid
      (if (i32.lt_u (local.get $c) (i32.const 0x20)) (then (return (i32.const 0))))
      (if (i32.eq (local.get $c) (i32.const 0x5c))
        (then
          (local.set $p (call $escape (local.get $p) (local.get $end)))
          (if (i32.eqz (local.get $p)) (then (return (i32.const 0))))))
      (br $next))
    (unreachable))

  ;; $escape: $p is just after a backslash; returns the position after the escape, or 0 if
  ;; JSON does not have it (ids are copied into the answer as they are, so they must be valid).
  (func $escape (param $p i32) (param $end i32) (result i32)
    (local $c i32) (local $i i32)
    (local.set $c (call $at (local.get $p) (local.get $end)))
    (if (i32.eq (local.get $c) (i32.const 0x75)) ;; \uXXXX
      (then
        (loop $hex
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (local.set $c (i32.or (call $at (i32.add (local.get $p) (local.get $i)) (local.get $end)) (i32.const 0x20)))
          (if (i32.eqz (i32.or (i32.lt_u (i32.sub (local.get $c) (i32.const 0x30)) (i32.const 10))
                               (i32.lt_u (i32.sub (local.get $c) (i32.const 0x61)) (i32.const 6))))
            (then (return (i32.const 0))))
          (br_if $hex (i32.lt_u (local.get $i) (i32.const 4))))
        (return (i32.add (local.get $p) (i32.const 5)))))
    (if (i32.or (i32.or (i32.or (i32.eq (local.get $c) (i32.const 0x22)) (i32.eq (local.get $c) (i32.const 0x5c)))
                        (i32.or (i32.eq (local.get $c) (i32.const 0x2f)) (i32.eq (local.get $c) (i32.const 0x62))))
                (i32.or (i32.or (i32.eq (local.get $c) (i32.const 0x66)) (i32.eq (local.get $c) (i32.const 0x6e)))
                        (i32.or (i32.eq (local.get $c) (i32.const 0x72)) (i32.eq (local.get $c) (i32.const 0x74)))))
      (then (return (i32.add (local.get $p) (i32.const 1)))))
    (i32.const 0))

  ;; $skip: $p is at a value; returns the position after it, or 0 if it is malformed. Objects
  ;; and arrays are skipped by counting brackets outside strings.
  (func $skip (param $p i32) (param $end i32) (result i32)
    (local $c i32) (local $depth i32)
    (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const 0))))
    (local.set $c (i32.load8_u (local.get $p)))
    (if (i32.eq (local.get $c) (i32.const 0x22)) (then (return (call $string (local.get $p) (local.get $end)))))
    (if (i32.or (i32.eq (local.get $c) (i32.const 0x7b)) (i32.eq (local.get $c) (i32.const 0x5b)))
      (then
        (loop $next
          (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const 0))))
          (local.set $c (i32.load8_u (local.get $p)))
          (if (i32.eq (local.get $c) (i32.const 0x22))
            (then
              (local.set $p (call $string (local.get $p) (local.get $end)))
              (if (i32.eqz (local.get $p)) (then (return (i32.const 0))))
              (br $next)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (if (i32.or (i32.eq (local.get $c) (i32.const 0x7b)) (i32.eq (local.get $c) (i32.const 0x5b)))
            (then (local.set $depth (i32.add (local.get $depth) (i32.const 1)))))
          (if (i32.or (i32.eq (local.get $c) (i32.const 0x7d)) (i32.eq (local.get $c) (i32.const 0x5d)))
            (then
              (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
              (if (i32.eqz (local.get $depth)) (then (return (local.get $p))))))
          (br $next))))
    ;; a number or literal runs to the next delimiter
    (loop $next
      (if (i32.lt_u (local.get $p) (local.get $end))
        (then
          (local.set $c (i32.load8_u (local.get $p)))
          (if (i32.eqz (i32.or (i32.or (i32.eq (local.get $c) (i32.const 0x2c)) (i32.eq (local.get $c) (i32.const 0x7d)))
                               (i32.or (i32.eq (local.get $c) (i32.const 0x5d)) (i32.le_u (local.get $c) (i32.const 0x20)))))
            (then
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br $next))))))
    (local.get $p))

  ;; $eq compares the $n bytes at $a and $b.
  (func $eq (param $a i32) (param $b i32) (param $n i32) (result i32)
    (loop $next
      (if (local.get $n)
        (then
          (if (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))) (then (return (i32.const 0))))
          (local.set $a (i32.add (local.get $a) (i32.const 1)))
          (local.set $b (i32.add (local.get $b) (i32.const 1)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $next))))
    (i32.const 1))

  ;; $key: whether the string token [$p, $e) (with quotes) is the $n-byte key at $lit.
  (func $key (param $p i32) (param $e i32) (param $lit i32) (param $n i32) (result i32)
    (if (result i32) (i32.eq (i32.sub (local.get $e) (local.get $p)) (i32.add (local.get $n) (i32.const 2)))
      (then (call $eq (i32.add (local.get $p) (i32.const 1)) (local.get $lit) (local.get $n)))
      (else (i32.const 0))))

  ;; $trunc reads the integer part of the number at $p (digits before any '.').
  (func $trunc (param $p i32) (param $end i32) (result i64)
    (local $v i64) (local $neg i32) (local $d i32)
    (if (i32.eq (call $at (local.get $p) (local.get $end)) (i32.const 0x2d))
      (then
        (local.set $neg (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $d (i32.sub (i32.load8_u (local.get $p)) (i32.const 0x30)))
        (br_if $done (i32.gt_u (local.get $d) (i32.const 9)))
        (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (local.get $d))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (if (result i64) (local.get $neg) (then (i64.sub (i64.const 0) (local.get $v))) (else (local.get $v))))

  ;; $candidate reads the object at $p and, unless its circuit is open, appends a 16-byte row
  ;; {id ptr, id len, ttft} to the table at $row. Returns the next free row.
  (func $candidate (param $p i32) (param $end i32) (param $row i32) (result i32)
    (local $k i32) (local $ke i32) (local $v i32) (local $ve i32)
    (local $id i32) (local $idlen i32) (local $ttft i64) (local $open i32)
    (if (i32.ne (call $at (local.get $p) (local.get $end)) (i32.const 0x7b)) (then (return (local.get $row))))
    (local.set $p (call $ws (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
    (block $done
      (loop $member
        (br_if $done (i32.ne (call $at (local.get $p) (local.get $end)) (i32.const 0x22)))
        (local.set $k (local.get $p))
        (local.set $ke (call $string (local.get $p) (local.get $end)))
        (br_if $done (i32.eqz (local.get $ke)))
        (local.set $v (call $ws (local.get $ke) (local.get $end)))
        (br_if $done (i32.ne (call $at (local.get $v) (local.get $end)) (i32.const 0x3a)))
        (local.set $v (call $ws (i32.add (local.get $v) (i32.const 1)) (local.get $end)))
        (local.set $ve (call $skip (local.get $v) (local.get $end)))
        (br_if $done (i32.eqz (local.get $ve)))
        (if (call $key (local.get $k) (local.get $ke) (i32.const 272) (i32.const 2))
          (then
            (if (i32.eq (call $at (local.get $v) (local.get $end)) (i32.const 0x22))
              (then
                (local.set $id (local.get $v))
                (local.set $idlen (i32.sub (local.get $ve) (local.get $v)))))))
        (if (call $key (local.get $k) (local.get $ke) (i32.const 280) (i32.const 7))
          (then (local.set $open (call $key (local.get $v) (local.get $ve) (i32.const 312) (i32.const 4)))))
        (if (call $key (local.get $k) (local.get $ke) (i32.const 288) (i32.const 7))
          (then (local.set $ttft (call $trunc (local.get $v) (local.get $ve)))))
        (local.set $p (call $ws (local.get $ve) (local.get $end)))
        (br_if $done (i32.ne (call $at (local.get $p) (local.get $end)) (i32.const 0x2c)))
        (local.set $p (call $ws (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
        (br $member)))
    (if (i32.or (local.get $open) (i32.eqz (local.get $idlen))) (then (return (local.get $row))))
    (i32.store (local.get $row) (local.get $id))
    (i32.store offset=4 (local.get $row) (local.get $idlen))
    (i64.store offset=8 (local.get $row) (local.get $ttft))
    (i32.add (local.get $row) (i32.const 16)))

  (func (export "hook_route") (param $in i32) (param $len i32) (result i64)
    (local $end i32) (local $p i32) (local $k i32) (local $ke i32) (local $v i32) (local $ve i32)
    (local $mark i32) (local $table i32) (local $row i32) (local $n i32)
    (local $i i32) (local $j i32) (local $id i32) (local $idlen i32) (local $ttft i64)
    (local $out i32) (local $o i32) (local $size i32)
    (local.set $end (i32.add (local.get $in) (local.get $len)))
    (local.set $mark (global.get $heap))
    ;; Find the top-level "candidates" array.
    (local.set $p (call $ws (local.get $in) (local.get $end)))
    (if (i32.ne (call $at (local.get $p) (local.get $end)) (i32.const 0x7b))
      (then (return (i64.const 0))))
    (local.set $p (call $ws (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
    (block $found
      (loop $member
        (if (i32.ne (call $at (local.get $p) (local.get $end)) (i32.const 0x22))
          (then (return (i64.const 0))))
        (local.set $k (local.get $p))
        (local.set $ke (call $string (local.get $p) (local.get $end)))
        (if (i32.eqz (local.get $ke)) (then (return (i64.const 0))))
        (local.set $v (call $ws (local.get $ke) (local.get $end)))
        (if (i32.ne (call $at (local.get $v) (local.get $end)) (i32.const 0x3a)) (then (return (i64.const 0))))
        (local.set $v (call $ws (i32.add (local.get $v) (i32.const 1)) (local.get $end)))
        (br_if $found (call $key (local.get $k) (local.get $ke) (i32.const 256) (i32.const 10)))
        (local.set $ve (call $skip (local.get $v) (local.get $end)))
        (if (i32.eqz (local.get $ve)) (then (return (i64.const 0))))
        (local.set $p (call $ws (local.get $ve) (local.get $end)))
        (if (i32.ne (call $at (local.get $p) (local.get $end)) (i32.const 0x2c)) (then (return (i64.const 0))))
        (local.set $p (call $ws (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
        (br $member)))
    (if (i32.ne (call $at (local.get $v) (local.get $end)) (i32.const 0x5b)) (then (return (i64.const 0))))
    ;; Each candidate takes at least 10 bytes of input ({"id":""} and a comma), so 2*len
    ;; bytes hold its 16-byte rows.
    (local.set $table (call $alloc (i32.shl (local.get $len) (i32.const 1))))
    (if (i32.eqz (local.get $table)) (then (unreachable)))
    (local.set $row (local.get $table))
    (local.set $p (call $ws (i32.add (local.get $v) (i32.const 1)) (local.get $end)))
    (block $done
      (loop $element
        (br_if $done (i32.eq (call $at (local.get $p) (local.get $end)) (i32.const 0x5d)))
        (local.set $ve (call $skip (local.get $p) (local.get $end)))
        (if (i32.eqz (local.get $ve)) (then (global.set $heap (local.get $mark)) (return (i64.const 0))))
        (local.set $row (call $candidate (local.get $p) (local.get $ve) (local.get $row)))
        (local.set $p (call $ws (local.get $ve) (local.get $end)))
        (br_if $done (i32.eq (call $at (local.get $p) (local.get $end)) (i32.const 0x5d)))
        (if (i32.ne (call $at (local.get $p) (local.get $end)) (i32.const 0x2c))
          (then (global.set $heap (local.get $mark)) (return (i64.const 0))))
        (local.set $p (call $ws (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
        (br $element)))
    (local.set $n (i32.shr_u (i32.sub (local.get $row) (local.get $table)) (i32.const 4)))
    ;; Insertion sort on ttft: stable, so ties keep the host's order.
    (local.set $i (i32.const 1))
    (block $sorted
      (loop $outer
        (br_if $sorted (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $row (i32.add (local.get $table) (i32.shl (local.get $i) (i32.const 4))))
        (local.set $id (i32.load (local.get $row)))
        (local.set $idlen (i32.load offset=4 (local.get $row)))
        (local.set $ttft (i64.load offset=8 (local.get $row)))
        (local.set $j (local.get $i))
        (block $placed
          (loop $inner
            (br_if $placed (i32.eqz (local.get $j)))
            (local.set $row (i32.add (local.get $table) (i32.shl (i32.sub (local.get $j) (i32.const 1)) (i32.const 4))))
            (br_if $placed (i64.le_s (i64.load offset=8 (local.get $row)) (local.get $ttft)))
            (memory.copy (i32.add (local.get $row) (i32.const 16)) (local.get $row) (i32.const 16))
            (local.set $j (i32.sub (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $row (i32.add (local.get $table) (i32.shl (local.get $j) (i32.const 4))))
        (i32.store (local.get $row) (local.get $id))
        (i32.store offset=4 (local.get $row) (local.get $idlen))
        (i64.store offset=8 (local.get $row) (local.get $ttft))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    ;; {"order":[ + ids and commas + ]}
    (local.set $size (i32.const 12))
    (local.set $i (i32.const 0))
    (block $sized
      (loop $sum
        (br_if $sized (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $size (i32.add (local.get $size)
          (i32.add (i32.load offset=4 (i32.add (local.get $table) (i32.shl (local.get $i) (i32.const 4)))) (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $sum)))
    (local.set $out (call $alloc (local.get $size)))
    (if (i32.eqz (local.get $out)) (then (unreachable)))
    (memory.copy (local.get $out) (i32.const 296) (i32.const 10))
    (local.set $o (i32.add (local.get $out) (i32.const 10)))
    (local.set $i (i32.const 0))
    (block $written
      (loop $write
        (br_if $written (i32.ge_u (local.get $i) (local.get $n)))
        (if (local.get $i)
          (then
            (i32.store8 (local.get $o) (i32.const 0x2c))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))))
        (local.set $row (i32.add (local.get $table) (i32.shl (local.get $i) (i32.const 4))))
        (memory.copy (local.get $o) (i32.load (local.get $row)) (i32.load offset=4 (local.get $row)))
        (local.set $o (i32.add (local.get $o) (i32.load offset=4 (local.get $row))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $write)))
    (i32.store16 (local.get $o) (i32.const 0x7d5d)) ;; "]}"
    (local.set $o (i32.add (local.get $o) (i32.const 2)))
    (local.set $size (i32.sub (local.get $o) (local.get $out)))
    ;; Move the result down over the table, so the heap unwinds on the host's frees.
    (memory.copy (local.get $table) (local.get $out) (local.get $size))
    (global.set $heap (i32.and (i32.add (i32.add (local.get $table) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $table)) (i64.const 32)) (i64.extend_i32_u (local.get $size))))
)
