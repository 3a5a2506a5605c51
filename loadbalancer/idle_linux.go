package loadbalancer

import (
	"net"

	"golang.org/x/sys/unix"
)

// bytesReceived returns the kernel's count of bytes received on c
// (tcpi_bytes_received), read without disturbing a splice in progress.
// An unreadable counter reads as 0.
func bytesReceived(c *net.TCPConn) uint64 {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var n uint64
	raw.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n = info.Bytes_received
		}
	})
	return n
}
