//go:build unix

package torchserver

import (
	"os/exec"
	"syscall"
)

// setGroup starts the command as the leader of a new process group.
func setGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills the command's process group: the server and every process it forked.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH once the group is gone
	_ = cmd.Process.Kill()                              // os.ErrProcessDone once it was waited for
}
