package objstoretest

import "syscall"

// procAttr makes the kernel kill the server when the test binary dies, so
// a test killed by its timeout leaves no gateway behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
