package rules

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, p, text string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStoreCheck(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, p, base)
	r, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(r)
	if changed, err := s.Check(p); changed || err != nil {
		t.Fatalf("unchanged file: %v %v", changed, err)
	}

	v2 := strings.Replace(base, "name: web", "name: web2", 1)
	writeFile(t, p, v2)
	if changed, err := s.Check(p); !changed || err != nil {
		t.Fatalf("new valid file: %v %v", changed, err)
	}
	if _, ok := s.Current().Service("web2"); !ok {
		t.Fatal("new rules not in force")
	}

	writeFile(t, p, strings.Replace(base, "version: 1", "version: 9", 1))
	changed, err := s.Check(p)
	if changed || err == nil || !strings.Contains(err.Error(), "unsupported version 9") {
		t.Fatalf("invalid file: %v %v", changed, err)
	}
	if _, ok := s.Current().Service("web2"); !ok {
		t.Fatal("last good rules not kept")
	}
	// the same bad content is reported once, not on every poll
	if changed, err := s.Check(p); changed || err != nil {
		t.Fatalf("same bad file again: %v %v", changed, err)
	}

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Check(p); err == nil {
		t.Fatal("missing file: no error")
	}
	if _, ok := s.Current().Service("web2"); !ok {
		t.Fatal("rules lost when the file vanished")
	}
}

// TestStoreConfigMapSwap mimics how the kubelet updates a mounted ConfigMap:
// rules.yaml -> ..data/rules.yaml, and ..data is a symlink that is replaced
// atomically by a new timestamped directory.
func TestStoreConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	mk := func(name, text string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "rules.yaml"), text)
	}
	mk("..2025_01", base)
	if err := os.Symlink("..2025_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "rules.yaml")
	if err := os.Symlink("..data/rules.yaml", p); err != nil {
		t.Fatal(err)
	}
	r, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(r)
	mk("..2025_02", strings.Replace(base, "name: web", "name: api", 1))
	if err := os.Symlink("..2025_02", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.Check(p); !changed || err != nil {
		t.Fatalf("swap: %v %v", changed, err)
	}
	if _, ok := s.Current().Service("api"); !ok {
		t.Fatal("swapped rules not in force")
	}
}

func TestStorePrepare(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, p, base)
	s := NewStore(nil)
	calls := 0
	s.Prepare = func(_ context.Context, r *Rules) (*Rules, error) {
		calls++
		if calls == 1 {
			return nil, os.ErrDeadlineExceeded
		}
		return r, nil
	}
	if changed, err := s.Check(p); changed || err == nil {
		t.Fatalf("failed prepare: %v %v", changed, err)
	}
	if s.Current() != nil {
		t.Fatal("rules swapped in although prepare failed")
	}
	// a failed prepare is retried on the next check
	if changed, err := s.Check(p); !changed || err != nil {
		t.Fatalf("retry: %v %v", changed, err)
	}
}

func TestStoreWatch(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, p, base)
	r, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(r)
	type event struct {
		err error
		r   *Rules
	}
	events := make(chan event, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, p, time.Millisecond, func(err error, r *Rules) { events <- event{err, r} })
	}()
	next := func() event {
		select {
		case e := <-events:
			return e
		case <-time.After(30 * time.Second):
			t.Fatal("no reload reported")
			return event{}
		}
	}
	// replace the file atomically, as editors and kubelet do, so that a poll
	// never sees it half written
	atomicWrite := func(text string) {
		tmp := p + ".tmp"
		writeFile(t, tmp, text)
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	atomicWrite("version: [")
	if e := next(); e.err == nil || e.r != r {
		t.Errorf("invalid file: %+v", e)
	}
	atomicWrite(strings.Replace(base, "name: web", "name: api", 1))
	e := next()
	if e.err != nil {
		t.Fatalf("valid file: %v", e.err)
	}
	if _, ok := e.r.Service("api"); !ok || s.Current() != e.r {
		t.Error("reloaded rules not in force")
	}
	cancel()
	<-done
}
