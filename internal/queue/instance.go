package queue

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nuid"
)

// ErrInstanceBusy means another live process holds the instance directory.
var ErrInstanceBusy = errors.New("queue: instance directory in use by another process")

// Instance ties a worker process to its directory (under --data-dir) across
// restarts, so that a restarted process takes back at once what its crashed
// predecessor held instead of waiting out the ack wait and the lease TTL.
//
// Every start gets a new boot id. The directory keeps the boot ids of the
// processes that ran on it before (file "boots") and a journal of the
// deliveries in flight (directory "inflight"); leases name the boot id of
// their holder. One live process at a time owns the directory: OpenInstance
// takes an exclusive lock on it, which the kernel drops when the process
// dies, however it dies. On Open the queue asks NATS whether each earlier
// boot is still alive (every process answers on a subject named after its
// boot id); only a boot that is gone is recovered: its leases are deleted
// and its in-flight deliveries handed back for immediate redelivery. A
// process that answers, e.g. one started from a copy of this directory, is
// never touched.
type Instance struct {
	dir      string
	boot     string
	previous []string // boot ids found in the directory, oldest first
	lock     *os.File
}

const (
	bootsFile   = "boots"
	lockFile    = "lock"
	inflightDir = "inflight"
	maxBoots    = 16 // earlier boot ids kept when recovery could not finish
)

// OpenInstance takes the instance directory dir (created if missing) for
// this process. It returns ErrInstanceBusy when another live process has it
// (run without an Instance then, or with another directory). Close it when
// the process stops using the queue; a dying process releases it anyway.
func OpenInstance(dir string) (*Instance, error) {
	if err := os.MkdirAll(filepath.Join(dir, inflightDir), 0o700); err != nil {
		return nil, fmt.Errorf("queue: instance: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: instance: %w", err)
	}
	if err := lockExclusive(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%w: %s", ErrInstanceBusy, dir)
		}
		return nil, fmt.Errorf("queue: instance: lock %s: %w", dir, err)
	}
	in := &Instance{dir: dir, boot: nuid.Next(), lock: f}
	b, err := os.ReadFile(filepath.Join(dir, bootsFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		in.Close()
		return nil, fmt.Errorf("queue: instance: %w", err)
	}
	for _, id := range strings.Fields(string(b)) {
		if validBoot(id) {
			in.previous = append(in.previous, id)
		}
	}
	// Written before anything is recovered: should this process die before
	// it has recovered its predecessors, the next one still finds them.
	if err := in.writeBoots(append(in.previous, in.boot)); err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

// Boot is this process's boot id, recorded in the leases it takes.
func (in *Instance) Boot() string { return in.boot }

// Close releases the directory. The queue must not be used with it after.
func (in *Instance) Close() error {
	if in == nil || in.lock == nil {
		return nil
	}
	err := in.lock.Close() // closing the descriptor drops the lock
	in.lock = nil
	return err
}

// recovered records that the earlier boots need nothing more: only keep
// lists those that may (their liveness was unknown).
func (in *Instance) recovered(keep []string) error {
	if len(keep) > maxBoots {
		keep = keep[len(keep)-maxBoots:]
	}
	return in.writeBoots(append(keep, in.boot))
}

func (in *Instance) writeBoots(ids []string) error {
	var b bytes.Buffer
	for _, id := range ids {
		b.WriteString(id)
		b.WriteByte('\n')
	}
	// Write and rename: a crash leaves the old list or the new one.
	tmp := filepath.Join(in.dir, bootsFile+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("queue: instance: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(in.dir, bootsFile)); err != nil {
		return fmt.Errorf("queue: instance: %w", err)
	}
	return nil
}

// validBoot accepts what nuid produces: 22 letters and digits, safe in a
// NATS subject and a file name.
func validBoot(s string) bool {
	if len(s) != 22 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
