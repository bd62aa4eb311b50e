//go:build !unix

package queue

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked")

// lockExclusive cannot lock on this platform: without an exclusive lock an
// instance directory is not safe to recover from, so OpenInstance fails and
// the process runs without one (crash recovery falls back to the ack wait
// and the lease TTL).
func lockExclusive(*os.File) error {
	return errors.New("no advisory file locks on this platform")
}
