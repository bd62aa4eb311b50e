package rules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Store holds the rules in force and swaps in a new version when the file
// changes. Current is safe for concurrent use.
type Store struct {
	cur atomic.Pointer[Rules]

	// Prepare, when set before Watch, turns freshly parsed rules into the
	// ones to serve (e.g. by calling Expand); an error keeps the old rules.
	Prepare func(ctx context.Context, r *Rules) (*Rules, error)

	mu   sync.Mutex
	seen string // digest of the file content last checked, valid or not
}

// NewStore returns a store serving r.
func NewStore(r *Rules) *Store {
	s := &Store{}
	s.cur.Store(r)
	if r != nil {
		s.seen = r.Digest()
	}
	return s
}

// Current returns the rules in force.
func (s *Store) Current() *Rules { return s.cur.Load() }

// Check reads path and, when its content differs from the last content
// checked, parses it and swaps it in. changed is true when new rules are in
// force. An invalid file leaves the current rules in force and returns its
// errors once (the same bad content is not reported again).
func (s *Store) Check(path string) (changed bool, err error) {
	return s.CheckContext(context.Background(), path)
}

// CheckContext is Check with a context for Prepare.
func (s *Store) CheckContext(ctx context.Context, path string) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// os.ReadFile follows symlinks, so a Kubernetes ConfigMap update (an
	// atomic swap of the ..data symlink) is seen as a content change.
	data, err := readLimited(path)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if digest == s.seen {
		return false, nil
	}
	s.seen = digest
	r, err := Parse(path, data)
	if err != nil {
		return false, err
	}
	if s.Prepare != nil {
		r, err = s.Prepare(ctx, r)
		if err != nil {
			// Prepare may fail for transient reasons: retry on the next tick.
			s.seen = ""
			return false, fmt.Errorf("prepare rules: %w", err)
		}
	}
	s.cur.Store(r)
	return true, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(f, MaxFileSize+1)); err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	return b.Bytes(), nil
}

// Watch polls path every interval until ctx is done. After each swap it
// calls log(nil, newRules); after a failed check it calls log(err, current).
func (s *Store) Watch(ctx context.Context, path string, every time.Duration, log func(err error, r *Rules)) {
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := s.CheckContext(ctx, path)
		switch {
		case err != nil:
			if log != nil {
				log(err, s.Current())
			}
		case changed:
			if log != nil {
				log(nil, s.Current())
			}
		}
	}
}
