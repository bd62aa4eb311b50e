//go:build unix

package queue

import (
	"errors"
	"os"
	"syscall"
)

var errLocked = errors.New("locked")

// lockExclusive takes an advisory exclusive lock on f without waiting. The
// lock belongs to the open file description: it is dropped when f is closed
// or the process dies.
func lockExclusive(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errLocked
		default:
			return err
		}
	}
}
