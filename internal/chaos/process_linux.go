package chaos

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal has the kernel kill the child when this process
// dies, so that a test that panics or times out leaves no servers behind
// holding ports. (Linux sends it when the thread that started the child
// exits; Go ends its threads only for goroutines locked to one, which
// nothing here does.)
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
