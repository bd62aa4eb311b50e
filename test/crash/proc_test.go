package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// procLog is a promobot process's output: copied to its log file and read
// line by line as it comes, so tests wait on what the process reports (the
// address it listens on, an intent handled, its crash recovery) instead of
// polling or sleeping.
type procLog struct {
	out     io.Writer
	mu      sync.Mutex
	partial []byte
	lines   []logLine
	changed chan struct{} // closed and replaced on every new line, and at exit
	closed  bool
}

// logLine is what the tests read of promobot's JSON log lines.
type logLine struct {
	Time       time.Time `json:"-"`
	Message    string    `json:"message"`
	Listen     string    `json:"listen"`
	Intent     string    `json:"intent"`
	Action     string    `json:"action"`
	Outcome    string    `json:"outcome"`
	Gone       []string  `json:"gone"`
	Leases     int       `json:"leases_released"`
	Deliveries int       `json:"deliveries_handed_back"`
	Stale      int       `json:"deliveries_stale"`
}

const recoveredMsg = "queue recovered from the previous process on this data directory"

func newProcLog(out io.Writer) *procLog {
	return &procLog{out: out, changed: make(chan struct{})}
}

func (l *procLog) Write(p []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		var ln logLine
		if json.Unmarshal(l.partial[:i], &ln) == nil {
			ln.Time = now
			l.lines = append(l.lines, ln)
			added = true
		}
		l.partial = l.partial[i+1:]
	}
	if added {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return l.out.Write(p)
}

// close wakes the waiters for good: the process has exited.
func (l *procLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.changed)
	}
}

// waitFor returns the first line that match accepts, waiting for it until
// ctx ends or the process exits.
func (l *procLog) waitFor(ctx context.Context, what string, match func(logLine) bool) (logLine, error) {
	for {
		l.mu.Lock()
		i := slices.IndexFunc(l.lines, match)
		var ln logLine
		if i >= 0 {
			ln = l.lines[i]
		}
		changed, closed := l.changed, l.closed
		l.mu.Unlock()
		switch {
		case i >= 0:
			return ln, nil
		case closed:
			return logLine{}, fmt.Errorf("process exited before logging %s", what)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return logLine{}, fmt.Errorf("no %s logged: %w", what, ctx.Err())
		}
	}
}

// recovery is the process's crash-recovery line, if it logged one.
func (l *procLog) recovery() (logLine, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.IndexFunc(l.lines, func(ln logLine) bool { return ln.Message == recoveredMsg })
	if i < 0 {
		return logLine{}, false
	}
	return l.lines[i], true
}

// singletons is how many deployment-wide leases the process held when it
// died besides its work's: the policy scheduler's, taken by one process of
// the deployment at a time and kept while it lives.
func (l *procLog) singletons() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ln := range l.lines {
		switch {
		case strings.HasPrefix(ln.Message, "policy scheduler started"):
			n++
		case strings.HasPrefix(ln.Message, "policy scheduler stopped"):
			n--
		}
	}
	return n
}

// durations collects one figure over parallel trials.
type durations struct {
	mu sync.Mutex
	d  []time.Duration
}

// Per crash trial, from the restart of the killed worker: to its recovery
// line, to its intent done (the first ack), and to every intent done (the
// stream drained).
var recoveryLogged, recovered, drained durations

func (s *durations) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *durations) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return "none"
	}
	d := slices.Clone(s.d)
	slices.Sort(d)
	r := func(x time.Duration) time.Duration { return x.Round(10 * time.Millisecond) }
	return fmt.Sprintf("n=%d min %s median %s p90 %s max %s", len(d), r(d[0]), r(d[len(d)/2]), r(d[len(d)*9/10]), r(d[len(d)-1]))
}
