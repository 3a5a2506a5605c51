package sim

import (
	"fmt"
	"net/netip"
)

// ipPool hands out the pod IPs of one node's pod CIDR: every host address
// but the network address, the first host (the bridge gateway on a real
// node) and the broadcast address. Released addresses are reused once the
// allocation cursor wraps around, so recent ones are not reused at once.
type ipPool struct {
	prefix netip.Prefix
	first  netip.Addr // address of index 0
	used   []bool
	free   int
	next   int
}

func newIPPool(cidr string) (*ipPool, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", cidr, err)
	}
	p = p.Masked()
	if !p.Addr().Is4() || p.Bits() < 16 || p.Bits() > 29 {
		return nil, fmt.Errorf("pod CIDR %q: want an IPv4 prefix between /16 and /29", cidr)
	}
	hosts := 1<<(32-p.Bits()) - 3 // minus network, gateway, broadcast
	first := p.Addr().Next().Next()
	return &ipPool{prefix: p, first: first, used: make([]bool, hosts), free: hosts}, nil
}

// allocate returns a free address.
func (p *ipPool) allocate() (string, error) {
	if p.free == 0 {
		return "", fmt.Errorf("pod CIDR %s is exhausted (%d addresses in use)", p.prefix, len(p.used))
	}
	for i := 0; i < len(p.used); i++ {
		j := (p.next + i) % len(p.used)
		if !p.used[j] {
			p.used[j] = true
			p.free--
			p.next = (j + 1) % len(p.used)
			return p.addr(j).String(), nil
		}
	}
	panic("ipPool: free count out of sync")
}

func (p *ipPool) addr(i int) netip.Addr {
	a := p.first.As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (p *ipPool) index(ip string) (int, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil || !p.prefix.Contains(a) {
		return 0, false
	}
	x, f := a.As4(), p.first.As4()
	d := int(uint32(x[0])<<24|uint32(x[1])<<16|uint32(x[2])<<8|uint32(x[3])) -
		int(uint32(f[0])<<24|uint32(f[1])<<16|uint32(f[2])<<8|uint32(f[3]))
	if d < 0 || d >= len(p.used) {
		return 0, false
	}
	return d, true
}

// claim marks an address found in an existing pod's status as used. It
// reports false for addresses outside the pool or already taken.
func (p *ipPool) claim(ip string) bool {
	i, ok := p.index(ip)
	if !ok || p.used[i] {
		return false
	}
	p.used[i] = true
	p.free--
	return true
}

// release returns an address to the pool (unknown addresses are ignored).
func (p *ipPool) release(ip string) {
	if i, ok := p.index(ip); ok && p.used[i] {
		p.used[i] = false
		p.free++
	}
}
