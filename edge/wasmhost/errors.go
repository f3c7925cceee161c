package wasmhost

import "fmt"

// ErrorKind says why a call failed, so callers can count and log failures per cause and
// apply the hook's failure policy.
type ErrorKind int

const (
	Trap        ErrorKind = iota + 1 // the guest trapped (unreachable, bad memory access, proc_exit, ...)
	OutOfFuel                        // the per-call fuel budget ran out
	Deadline                         // the wall-clock budget or the caller's ctx ended first
	OutOfMemory                      // the guest hit the memory cap (or plugin_alloc returned 0)
	BadOutput                        // result pointer/length out of bounds, or not UTF-8 JSON
	TooLarge                         // result longer than Limits.MaxOutput
	Closed                           // the plugin was closed
	ABI                              // the module broke the ABI at run time (e.g. plugin_init refused)
)

func (k ErrorKind) String() string {
	switch k {
	case Trap:
		return "trap"
	case OutOfFuel:
		return "out of fuel"
	case Deadline:
		return "deadline"
	case OutOfMemory:
		return "out of memory"
	case BadOutput:
		return "bad output"
	case TooLarge:
		return "output too large"
	case Closed:
		return "closed"
	case ABI:
		return "abi"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// CallError is the error of every failed Call. The instance that failed has already been
// discarded when it is returned.
type CallError struct {
	Plugin, Hook string
	Kind         ErrorKind
	Err          error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("wasmhost: call %s.%s: %v: %v", e.Plugin, e.Hook, e.Kind, e.Err)
}

func (e *CallError) Unwrap() error { return e.Err }
