//go:build unix

package strictjson

import (
	"syscall"
	"time"
)

// processCPU is this process's user+system CPU time: benchmarks report it
// per operation, since on a shared machine wall time mostly measures the
// other jobs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
