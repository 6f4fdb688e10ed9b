//go:build crashhook && unix

package core

import (
	"os"
	"syscall"
)

// crashAtOrBelow is the value (mg/dL) whose upload kills a crashhook build:
// the urgent-low threshold (docs/protocol.md, "Alert settings").
const crashAtOrBelow = 55

// A binary built with -tags crashhook (internal/durability's crash tests)
// kills itself with SIGKILL right after committing an upload that stored a
// reading of 55 mg/dL or less: the reading is durable, its alarm is not
// evaluated yet. That is the moment a crash costs an urgent low the most.
func init() {
	uploadCommitted = func(egvs []EGV) {
		for _, e := range egvs {
			if e.Value <= crashAtOrBelow {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way; nothing after this may run
			}
		}
	}
}
