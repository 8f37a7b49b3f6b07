//go:build unix && !linux

package chaos

import "os/exec"

// setParentDeathSignal does nothing where the kernel offers no parent
// death signal: a test that dies leaves its servers running.
func setParentDeathSignal(*exec.Cmd) {}
