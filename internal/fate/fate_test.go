package fate

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"
)

func TestOf(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cause := fmt.Errorf("read x: %w", fs.ErrNotExist)
	for _, tc := range []struct {
		name string
		err  error
		kind Kind
		at   time.Time
	}{
		{"nil", nil, Retryable, time.Time{}},
		{"unmarked", errors.New("odd"), Retryable, time.Time{}},
		{"terminal", MarkTerminal(cause), Terminal, time.Time{}},
		{"terminal wrapped further", fmt.Errorf("plan: %w", MarkTerminal(cause)), Terminal, time.Time{}},
		{"terminalf", Terminalf("edit %s: %w", "a.yaml", cause), Terminal, time.Time{}},
		{"retry at", fmt.Errorf("x: %w", MarkRetryAt(cause, at)), RetryAt, at},
		{"outermost mark wins", MarkRetryAt(MarkTerminal(cause), at), RetryAt, at},
		{"joined: most final part", errors.Join(errors.New("a"), MarkRetryAt(cause, at), MarkTerminal(cause)), Terminal, time.Time{}},
		{"joined: latest retry", errors.Join(MarkRetryAt(cause, at), MarkRetryAt(cause, at.Add(time.Hour))), RetryAt, at.Add(time.Hour)},
	} {
		k, gotAt := Of(tc.err)
		if k != tc.kind || !gotAt.Equal(tc.at) {
			t.Errorf("%s: Of = %v, %v; want %v, %v", tc.name, k, gotAt, tc.kind, tc.at)
		}
	}
}

// A mark keeps the cause: its message and identity are the cause's.
func TestMarkKeepsCause(t *testing.T) {
	cause := fmt.Errorf("read x: %w", fs.ErrNotExist)
	for _, err := range []error{MarkTerminal(cause), MarkRetryAt(cause, time.Now())} {
		if err.Error() != cause.Error() {
			t.Errorf("message %q, want %q", err, cause)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v: errors.Is lost the cause", err)
		}
	}
	if MarkTerminal(nil) != nil || MarkRetryAt(nil, time.Now()) != nil {
		t.Error("marking nil must stay nil")
	}
	if !IsTerminal(Terminalf("x: %w", cause)) || IsTerminal(cause) {
		t.Error("IsTerminal")
	}
	if Terminal.String() != "terminal" || RetryAt.String() != "retry-at" || Retryable.String() != "retryable" {
		t.Error("Kind names")
	}
}
