// Package fate is promobot's one vocabulary for what a failure means for
// the intent that met it. The code that first sees a failure decides its
// fate by wrapping it; everything above only reads it back with Of.
//
// There are three fates:
//
//   - Terminal: retrying cannot fix it (an invalid repository file, a
//     request GitHub refuses for good). The intent is dead-lettered and a
//     person is told.
//   - RetryAt: it goes away at a known time (a rate limit's reset, a base
//     branch that moved and can be re-read now).
//   - Retryable: anything not marked. It may go away by itself (a network
//     error, a 5xx); the queue retries with backoff, and its delivery limit
//     bounds how often.
//
// A wrapped error keeps its cause: errors.Is and errors.As see through it,
// and its message is the cause's message.
package fate

import (
	"fmt"
	"time"
)

// Kind names a fate.
type Kind int

// The fates, in the order Of prefers them when a chain carries several:
// the outermost mark wins.
const (
	Retryable Kind = iota // not marked: retry with backoff
	RetryAt               // retry at a time
	Terminal              // never retry
)

func (k Kind) String() string {
	switch k {
	case RetryAt:
		return "retry-at"
	case Terminal:
		return "terminal"
	}
	return "retryable"
}

// terminalError marks its cause as terminal.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// retryAtError marks its cause as going away at a time.
type retryAtError struct {
	err error
	at  time.Time
}

func (e *retryAtError) Error() string { return e.err.Error() }
func (e *retryAtError) Unwrap() error { return e.err }

// MarkTerminal marks err as terminal. A nil err stays nil.
func MarkTerminal(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err}
}

// Terminalf formats an error (with %w kept) and marks it terminal.
func Terminalf(format string, args ...any) error {
	return &terminalError{fmt.Errorf(format, args...)}
}

// MarkRetryAt marks err as going away at at. The zero time means "at
// once": the cause is already gone (a moved base branch is re-read on the
// next attempt). A nil err stays nil.
func MarkRetryAt(err error, at time.Time) error {
	if err == nil {
		return nil
	}
	return &retryAtError{err: err, at: at}
}

// Of reads the fate of err: the outermost mark in its chain, or Retryable
// when nothing marked it. at is set for RetryAt (zero: at once).
func Of(err error) (k Kind, at time.Time) {
	for e := err; e != nil; {
		switch m := e.(type) {
		case *terminalError:
			return Terminal, time.Time{}
		case *retryAtError:
			return RetryAt, m.at
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			// A joined error is as final as its most final part.
			best, bestAt := Retryable, time.Time{}
			for _, p := range u.Unwrap() {
				if k, at := Of(p); k > best || (k == best && at.After(bestAt)) {
					best, bestAt = k, at
				}
			}
			return best, bestAt
		default:
			e = nil
		}
	}
	return Retryable, time.Time{}
}

// IsTerminal reports whether err is marked terminal.
func IsTerminal(err error) bool {
	k, _ := Of(err)
	return k == Terminal
}
