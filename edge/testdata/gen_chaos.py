#!/usr/bin/env python3
"""Writes chaos_<mode>.wat: plugins whose every hook misbehaves one way, for the node's
misbehaviour suite (edge/misbehave_test.go). Run here, then wat2wasm each file."""

MODES = {
    'loop': ('an infinite loop: stopped by fuel, or by the deadline when fuel is plentiful',
             '(loop $spin (br $spin)) (i64.const 0)'),
    'bomb': ('a memory bomb: grows memory until refused, then traps as an allocator would',
             '(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable'),
    'trap': ('a trap', 'unreachable'),
    'garbage': ('garbage: a result pointer far outside memory',
                '(i64.or (i64.shl (i64.const 0x7fff0000) (i64.const 32)) (i64.const 10))'),
    'big': ('oversized output: 2 MiB, over the 1 MiB cap',
            '(drop (memory.grow (i32.const 40))) (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.const 2097152))'),
}
HOOKS = ['hook_route', 'hook_request', 'hook_stream', 'hook_format_request', 'hook_format_response',
         'hook_format_stream', 'hook_format_error']

for mode, (doc, body) in MODES.items():
    info = '{"name":"chaos-%s","version":"1.0.0","hooks":[%s]}' % (mode, ','.join('"%s"' % h for h in HOOKS))
    s = ';; chaos-%s: every hook misbehaves the same way, %s.\n' % (mode, doc)
    s += ';; Generated with the other chaos-*.wat by gen_chaos.py; the misbehaviour suite loads it\n'
    s += ';; as a route, transform and format plugin.\n'
    s += '(module\n  (memory (export "memory") 1)\n  (global $heap (mut i32) (i32.const 1024))\n'
    s += '  (data (i32.const 16) "%s")\n' % info.replace('"', '\\"')
    s += '''  (func (export "plugin_abi_v1"))
  (func (export "plugin_alloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (local.get $ptr))
  (func (export "plugin_free") (param i32 i32) (global.set $heap (i32.const 1024)))
  (func (export "plugin_info") (result i64) (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const %d)))
  (func $misbehave (result i64) %s)
''' % (len(info), body)
    for h in HOOKS:
        s += '  (func (export "%s") (param i32 i32) (result i64) (call $misbehave))\n' % h
    s += ')\n'
    with open('chaos_%s.wat' % mode, 'w') as f:
        f.write(s)
