package dns

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// forwarder sends queries outside the cluster domain to the upstream
// resolvers: over UDP (TCP when the client used TCP), again over TCP when
// the UDP answer is truncated, trying each upstream in turn. The query goes
// out as the client sent it, so the answer carries the client's ID.
type forwarder struct {
	upstream []string
	timeout  time.Duration
	next     atomic.Uint32 // spreads queries over the upstreams
	lastLog  atomic.Int64  // UnixNano of the last logged failure
}

// newForwarder drops self from the upstreams so that a resolv.conf naming
// this server does not loop.
func newForwarder(upstream []string, self string, timeout time.Duration) *forwarder {
	var keep []string
	for _, u := range upstream {
		if u != self {
			keep = append(keep, u)
		}
	}
	return &forwarder{upstream: keep, timeout: timeout}
}

func (f *forwarder) exchange(r *mdns.Msg, tcp bool) (*mdns.Msg, error) {
	if len(f.upstream) == 0 {
		return nil, errNoUpstream
	}
	start := int(f.next.Add(1))
	var errs []error
	for i := range f.upstream {
		up := f.upstream[(start+i)%len(f.upstream)]
		m, err := f.one(r, up, tcp)
		if err == nil {
			return m, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", up, err))
	}
	return nil, errors.Join(errs...)
}

func (f *forwarder) one(r *mdns.Msg, up string, tcp bool) (*mdns.Msg, error) {
	c := &mdns.Client{Net: "udp", Timeout: f.timeout}
	if tcp {
		c.Net = "tcp"
	}
	m, _, err := c.Exchange(r, up)
	if err == nil && m.Truncated && !tcp {
		c.Net = "tcp"
		m, _, err = c.Exchange(r, up)
	}
	return m, err
}

// shouldLog allows one failure line every 10 seconds.
func (f *forwarder) shouldLog(now time.Time) bool {
	last := f.lastLog.Load()
	if now.UnixNano()-last < int64(10*time.Second) {
		return false
	}
	return f.lastLog.CompareAndSwap(last, now.UnixNano())
}
