package redistest

import (
	"testing"
)

func TestStartKillRestart(t *testing.T) {
	t.Setenv(EnvURL, "")
	s := New(t)
	if !s.Local || s.Addr == "" || s.URL != "redis://"+s.Addr+"/0" {
		t.Fatalf("New without %s = %+v, want a local server", EnvURL, s)
	}
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING: %v", err)
	}
	s.Kill()
	if err := ping(s.Addr); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Restart()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

func TestExternalURL(t *testing.T) {
	t.Setenv(EnvURL, "redis://example.invalid:6379/3")
	s := New(t)
	if s.Local || s.URL != "redis://example.invalid:6379/3" {
		t.Fatalf("New with %s set = %+v, want that server", EnvURL, s)
	}
}

func TestSkipWithoutServer(t *testing.T) {
	t.Setenv(EnvURL, "")
	t.Setenv("PATH", t.TempDir())
	var sub *testing.T
	t.Run("start", func(t *testing.T) {
		sub = t
		Start(t)
		t.Error("Start returned without redis-server on PATH")
	})
	if !sub.Skipped() {
		t.Fatal("Start did not skip without redis-server on PATH")
	}
}
