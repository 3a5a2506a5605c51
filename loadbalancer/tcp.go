package loadbalancer

// Copying, for both TCP engines (tcp_linux.go, tcp_other.go).
const (
	copyBufSize = 16 << 10 // read size for small messages, as nginx's proxy_buffer_size
	spliceChunk = 4 << 20  // bulk moved by splice(2) once a read fills a buffer, before reading through it again
)
