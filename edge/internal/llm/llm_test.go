package llm

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestAsError(t *testing.T) {
	bad := BadRequest("messages", "`messages` is required")
	tests := []struct {
		name   string
		err    error
		status int
		same   bool
	}{
		{"an Error stays itself", bad, http.StatusBadRequest, true},
		{"a wrapped Error is found", fmt.Errorf("route: %w", bad), http.StatusBadRequest, true},
		{"anything else is a 500 that keeps its cause", errors.New("boom"), http.StatusInternalServerError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := AsError(tt.err)
			if e.Status != tt.status || (e == bad) != tt.same {
				t.Fatalf("AsError(%v) = %+v", tt.err, e)
			}
			if !tt.same && !errors.Is(e, tt.err) {
				t.Fatal("the cause is lost")
			}
		})
	}
	if bad.Param != "messages" || bad.Type != TypeInvalidRequest {
		t.Fatalf("BadRequest = %+v", bad)
	}
}

func TestResponseClose(t *testing.T) {
	var nilResp *Response
	nilResp.Close() // safe on nil
	released := 0
	r := &Response{Release: func() { released++ }}
	r.Close()
	r.Close()
	if released != 1 {
		t.Fatalf("Release ran %d times, want once", released)
	}
}
