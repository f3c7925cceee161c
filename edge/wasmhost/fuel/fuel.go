// Package fuel owns load-time fuel metering for wasm plugins: it rewrites a
// wasm binary so that the guest itself counts down an exported i64 global and
// traps when the count runs out.
//
// The compiled code wazero produces has no preemption points, so a spinning
// guest can neither be stopped cheaply nor let a stop-the-world GC in. A
// counter decremented at every function entry and every loop header bounds
// every run (straight-line code always terminates; anything unbounded needs a
// back edge to a loop or unbounded calls), at a fraction of the cost of
// wazero's WithCloseOnContextDone. See the design notes in
// shared/reference/fuel.md.
//
// Host protocol, per instance: look up ExportedGlobal(FuelExport) once and
// type-assert it to api.MutableGlobal; before each call Set the budget; after
// a trap a negative value (or a value below the limit, with Options.Limit)
// means the guest ran out of fuel. After any trap the instance must be
// discarded: the guest may have been stopped half-way through updating its own
// state.
//
// The package depends on the standard library only.
package fuel

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Exported names of the globals Instrument adds, for the host.
const (
	FuelExport  = "__fuel"
	LimitExport = "__fuel_limit"
)

// DefaultInitialFuel is the initial value of the fuel global when
// Options.InitialFuel is 0. It must cover start functions (Go's _initialize
// needs ~14–18k units), which run before the host can set the global.
const DefaultInitialFuel = 10_000_000

// Options for Instrument.
type Options struct {
	// InitialFuel is the initial value of the __fuel global, which is the
	// budget start functions run on. 0 means DefaultInitialFuel.
	InitialFuel int64
	// Limit adds the i64 global __fuel_limit (initially 0) and makes the
	// check trap when fuel < limit instead of fuel < 0. The guest only reads
	// it, so a host watchdog on another goroutine can stop a runaway guest by
	// raising it; writing __fuel instead would be lost to the guest's own
	// read-modify-write. The global is mutable in the binary only so the host
	// can Set it.
	Limit bool
	// KeepDebug keeps .debug_* and sourceMappingURL custom sections. They
	// are dropped by default because the inserted checks make their code
	// offsets stale.
	KeepDebug bool
}

// ErrMalformed is wrapped by every error about input that is not a wasm
// module this package can decode.
var ErrMalformed = errors.New("malformed module")

// ErrReservedExport is wrapped when the module already exports FuelExport or
// LimitExport: it is either instrumented already or trying to pose as
// metered, and the host must not trust a global the guest defined.
var ErrReservedExport = errors.New("export name reserved for fuel")

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank gives the position a non-custom section must have in the
// module; tag and data count sections have ids out of order. 0 means unknown.
var sectionRank = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secTag: 6, secGlobal: 7, secExport: 8, secStart: 9, secElement: 10,
	secDataCount: 11, secCode: 12, secData: 13,
}

const (
	rankGlobal = 7
	rankExport = 8
)

type section struct {
	id         byte
	start, end int // the whole section, header included
	body       int // first byte of the contents
}

var header = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// Instrument returns a copy of wasm with a mutable i64 global exported as
// FuelExport, decremented by 1 at every function entry and right after every
// loop header's block type, trapping (unreachable) when it goes below 0, or
// below the LimitExport global with o.Limit.
//
// The new globals are appended after the module's defined globals, so no
// existing global index moves. The input is not modified. Any input the
// decoder does not fully understand is rejected, never passed through: the
// rewrite is only sound if it agrees with the engine on every instruction
// boundary.
func Instrument(wasm []byte, o Options) ([]byte, error) {
	if o.InitialFuel == 0 {
		o.InitialFuel = DefaultInitialFuel
	}
	secs, err := splitSections(wasm)
	if err != nil {
		return nil, err
	}

	var (
		importedGlobals, definedGlobals uint32
		funcs                           uint32
		haveGlobal, haveExp             bool
		exportCount                     uint32
		code                            *section
	)
	for i := range secs {
		s := &secs[i]
		r := reader{b: wasm[:s.end], off: s.body}
		switch s.id {
		case secImport:
			importedGlobals, err = scanImports(&r)
		case secFunction:
			funcs = r.u32()
			err = r.err
		case secGlobal:
			haveGlobal = true
			definedGlobals = r.u32()
			err = r.err
		case secExport:
			haveExp = true
			exportCount, err = scanExports(&r)
		case secCode:
			code = s
		}
		if err != nil {
			return nil, fmt.Errorf("fuel: decode section %d at offset %d: %w", s.id, s.start, err)
		}
	}
	if code == nil && funcs != 0 {
		return nil, fmt.Errorf("fuel: decode code: %w: function section declares %d functions but there is no code section", ErrMalformed, funcs)
	}

	added := uint32(1)
	if o.Limit {
		added = 2
	}
	globals := uint64(importedGlobals) + uint64(definedGlobals)
	if globals+uint64(added) > 1<<32-1 {
		return nil, fmt.Errorf("fuel: add global: %w: too many globals (%d)", ErrMalformed, globals)
	}
	if exportCount == 1<<32-1 || (o.Limit && exportCount >= 1<<32-2) {
		return nil, fmt.Errorf("fuel: add export: %w: too many exports", ErrMalformed)
	}
	fuelIdx := uint32(globals)
	limitIdx := fuelIdx + 1
	check := checkSequence(fuelIdx, limitIdx, o.Limit)

	out := make([]byte, 0, len(wasm)+len(wasm)/16+64)
	out = append(out, header...)

	// The appended globals and exports: the section body without its count.
	var newGlobals, newExports []byte
	newGlobals = append(newGlobals, 0x7e, 0x01, 0x42) // i64 mut, init i64.const
	newGlobals = appendS64(newGlobals, o.InitialFuel)
	newGlobals = append(newGlobals, 0x0b)
	newExports = appendName(newExports, FuelExport)
	newExports = append(newExports, 0x03)
	newExports = appendU32(newExports, fuelIdx)
	if o.Limit {
		newGlobals = append(newGlobals, 0x7e, 0x01, 0x42, 0x00, 0x0b)
		newExports = appendName(newExports, LimitExport)
		newExports = append(newExports, 0x03)
		newExports = appendU32(newExports, limitIdx)
	}

	emitGlobal := func(s *section) {
		var rest []byte
		if s != nil {
			r := reader{b: wasm[:s.end], off: s.body}
			r.u32() // already validated above
			rest = wasm[r.off:s.end]
		}
		out = appendSection(out, secGlobal, definedGlobals+added, rest, newGlobals)
	}
	emitExport := func(s *section) {
		var rest []byte
		if s != nil {
			r := reader{b: wasm[:s.end], off: s.body}
			r.u32()
			rest = wasm[r.off:s.end]
		}
		out = appendSection(out, secExport, exportCount+added, rest, newExports)
	}

	globalDone, exportDone := false, false
	for i := range secs {
		s := &secs[i]
		if s.id != secCustom {
			rank := sectionRank[s.id]
			if !haveGlobal && !globalDone && rank > rankGlobal {
				emitGlobal(nil)
				globalDone = true
			}
			if !haveExp && !exportDone && rank > rankExport {
				emitExport(nil)
				exportDone = true
			}
		}
		switch s.id {
		case secCustom:
			if !o.KeepDebug {
				r := reader{b: wasm[:s.end], off: s.body}
				name := r.name()
				if r.err != nil {
					return nil, fmt.Errorf("fuel: decode custom section at offset %d: %w", s.start, r.err)
				}
				if strings.HasPrefix(name, ".debug_") || name == "sourceMappingURL" {
					continue
				}
			}
			out = append(out, wasm[s.start:s.end]...)
		case secGlobal:
			emitGlobal(s)
		case secExport:
			emitExport(s)
		case secCode:
			out, err = rewriteCode(out, wasm, s, funcs, uint32(globals), check)
			if err != nil {
				return nil, err
			}
		default:
			out = append(out, wasm[s.start:s.end]...)
		}
	}
	if !haveGlobal && !globalDone {
		emitGlobal(nil)
	}
	if !haveExp && !exportDone {
		emitExport(nil)
	}
	return out, nil
}

// checkSequence is the stack-neutral check inserted at every metering point.
// It opens its own if…end, so existing branch depths do not change, and it
// works at the head of a loop with parameters because it leaves them alone.
func checkSequence(fuelIdx, limitIdx uint32, limit bool) []byte {
	var b []byte
	b = append(b, 0x23) // global.get fuel
	b = appendU32(b, fuelIdx)
	b = append(b, 0x42, 0x01, 0x7d, 0x24) // i64.const 1; i64.sub; global.set fuel
	b = appendU32(b, fuelIdx)
	b = append(b, 0x23)
	b = appendU32(b, fuelIdx)
	if limit {
		b = append(b, 0x23) // global.get limit
		b = appendU32(b, limitIdx)
	} else {
		b = append(b, 0x42, 0x00) // i64.const 0
	}
	return append(b, 0x53, 0x04, 0x40, 0x00, 0x0b) // i64.lt_s; if; unreachable; end
}

// splitSections validates the header and the section framing and order.
func splitSections(wasm []byte) ([]section, error) {
	if len(wasm) < len(header) || !bytes.Equal(wasm[:4], header[:4]) {
		return nil, fmt.Errorf("fuel: read header: %w: not a wasm binary", ErrMalformed)
	}
	if !bytes.Equal(wasm[4:8], header[4:]) {
		return nil, fmt.Errorf("fuel: read header: %w: unsupported version % x", ErrMalformed, wasm[4:8])
	}
	secs := make([]section, 0, 16)
	r := reader{b: wasm, off: len(header)}
	lastRank := 0
	for r.off < len(wasm) {
		start := r.off
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			return nil, fmt.Errorf("fuel: read section header at offset %d: %w", start, r.err)
		}
		if uint64(size) > uint64(len(wasm)-r.off) {
			return nil, fmt.Errorf("fuel: read section %d at offset %d: %w: size %d runs past the end of the input", id, start, ErrMalformed, size)
		}
		if id != secCustom {
			if int(id) >= len(sectionRank) || sectionRank[id] == 0 {
				return nil, fmt.Errorf("fuel: read section at offset %d: %w: unknown section id %d", start, ErrMalformed, id)
			}
			if sectionRank[id] <= lastRank {
				return nil, fmt.Errorf("fuel: read section %d at offset %d: %w: duplicate or out of order", id, start, ErrMalformed)
			}
			lastRank = sectionRank[id]
		}
		secs = append(secs, section{id: id, start: start, body: r.off, end: r.off + int(size)})
		r.off += int(size)
	}
	return secs, nil
}

// scanImports validates the import section and counts imported globals,
// which come before the defined ones in the global index space.
func scanImports(r *reader) (globals uint32, err error) {
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // func: type index
			r.u32()
		case 0x01: // table: reftype, limits
			r.valtype()
			r.limits()
		case 0x02: // memory
			r.limits()
		case 0x03: // global: valtype, mutability
			r.valtype()
			r.byte()
			globals++
		case 0x04: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			r.fail("unknown import kind 0x%02x", kind)
		}
	}
	r.end()
	return globals, r.err
}

// scanExports validates the export section and rejects a module that
// already exports one of our names, which would let a guest pose as metered.
func scanExports(r *reader) (uint32, error) {
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := r.name()
		if r.err == nil && (name == FuelExport || name == LimitExport) {
			return 0, fmt.Errorf("%w: module already exports %q", ErrReservedExport, name)
		}
		if kind := r.byte(); kind > 0x04 {
			r.fail("unknown export kind 0x%02x", kind)
		}
		r.u32()
	}
	r.end()
	return n, r.err
}

// appendSection writes a vector section whose count is replaced by count,
// followed by the old entries and the new ones.
func appendSection(out []byte, id byte, count uint32, old, extra []byte) []byte {
	size := uleb32Len(count) + len(old) + len(extra)
	out = append(out, id)
	out = appendU32(out, uint32(size))
	out = appendU32(out, count)
	out = append(out, old...)
	return append(out, extra...)
}

// rewriteCode re-encodes every function body with the check inserted at the
// entry and after every loop's block type. Locals are copied unchanged.
func rewriteCode(out, wasm []byte, s *section, funcs, globals uint32, check []byte) ([]byte, error) {
	r := reader{b: wasm[:s.end], off: s.body}
	n := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("fuel: decode code section: %w", r.err)
	}
	if n != funcs {
		return nil, fmt.Errorf("fuel: decode code section: %w: %d bodies for %d declared functions", ErrMalformed, n, funcs)
	}
	// The section size is only known after every body is scanned; a padded
	// 5-byte LEB placeholder lets the bodies go straight into out instead of
	// through a scratch copy of a multi-megabyte section.
	hdr := len(out)
	out = append(out, secCode, 0, 0, 0, 0, 0) // placeholder: id + 5-byte size
	out = appendU32(out, n)
	var inserts []int
	for i := uint32(0); i < n; i++ {
		bodyStart := r.off
		size := r.u32()
		if r.err != nil {
			return nil, fmt.Errorf("fuel: decode function %d at offset %d: %w", i, bodyStart, r.err)
		}
		if uint64(size) > uint64(s.end-r.off) {
			return nil, fmt.Errorf("fuel: decode function %d at offset %d: %w: body size %d runs past the section", i, bodyStart, ErrMalformed, size)
		}
		end := r.off + int(size)
		br := reader{b: wasm[:end], off: r.off}
		// Locals.
		groups := br.u32()
		for g := uint32(0); g < groups && br.err == nil; g++ {
			br.u32()
			br.valtype()
		}
		if br.err != nil {
			return nil, fmt.Errorf("fuel: decode locals of function %d at offset %d: %w", i, bodyStart, br.err)
		}
		codeStart := br.off
		inserts = append(inserts[:0], codeStart)
		var err error
		inserts, err = scanInstructions(&br, globals, inserts)
		if err != nil {
			return nil, fmt.Errorf("fuel: decode function %d: %w", i, err)
		}
		newSize := uint64(size) + uint64(len(inserts))*uint64(len(check))
		if newSize > 1<<32-1 {
			return nil, fmt.Errorf("fuel: encode function %d: body too large", i)
		}
		out = appendU32(out, uint32(newSize))
		prev := r.off
		for _, at := range inserts {
			out = append(out, wasm[prev:at]...)
			out = append(out, check...)
			prev = at
		}
		out = append(out, wasm[prev:end]...)
		r.off = end
	}
	if r.off != s.end {
		return nil, fmt.Errorf("fuel: decode code section: %w: %d trailing bytes", ErrMalformed, s.end-r.off)
	}
	size := len(out) - hdr - 6
	if size > 1<<32-1 {
		return nil, fmt.Errorf("fuel: encode code section: too large")
	}
	// Padded 5-byte LEB, so the placeholder never has to move.
	v := uint32(size)
	for k := 0; k < 5; k++ {
		b := byte(v & 0x7f)
		v >>= 7
		if k < 4 {
			b |= 0x80
		}
		out[hdr+1+k] = b
	}
	return out, nil
}
