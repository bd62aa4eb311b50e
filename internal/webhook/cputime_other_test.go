//go:build !unix

package webhook

import "time"

// processCPU is unknown here: the cpu-ns/op figures read 0.
func processCPU() time.Duration { return 0 }
