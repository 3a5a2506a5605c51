package cluster

import (
	"net/netip"
	"strings"
	"testing"
)

func TestChooseSubnet(t *testing.T) {
	pp := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	all := subnetCandidates()
	tests := []struct {
		name     string
		used     []netip.Prefix
		skip     []netip.Prefix
		want     string
		errorHas string
	}{
		{name: "nothing used", want: "172.30.0.0/24"},
		{name: "first two taken", used: pp("172.30.0.0/24", "172.30.1.0/24"), want: "172.30.2.0/24"},
		{name: "a /16 covers 172.30", used: pp("172.30.0.0/16"), want: "172.31.0.0/24"},
		{name: "a host address inside", used: pp("172.30.0.0/28"), want: "172.30.1.0/24"},
		{name: "skipped after a race", skip: pp("172.30.0.0/24"), want: "172.30.1.0/24"},
		{name: "unrelated networks", used: pp("172.17.0.0/16", "10.0.0.0/8"), want: "172.30.0.0/24"},
		{name: "all taken", used: pp("172.30.0.0/15"), errorHas: "no free /24"},
	}
	for _, tt := range tests {
		skip := map[netip.Prefix]bool{}
		for _, s := range tt.skip {
			skip[s] = true
		}
		got, err := chooseSubnet(all, tt.used, skip)
		if tt.errorHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errorHas) {
				t.Errorf("%s: error = %v, want %q", tt.name, err, tt.errorHas)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("%s: chooseSubnet = %v, %v; want %s", tt.name, got, err, tt.want)
		}
	}
}

func TestAddresses(t *testing.T) {
	s := netip.MustParsePrefix("172.30.7.0/24")
	if got := hostAddr(s, controlHost).String(); got != "172.30.7.2" {
		t.Errorf("control address = %s, want 172.30.7.2", got)
	}
	if got := NodeIP(s, 0).String(); got != "172.30.7.10" {
		t.Errorf("node 0 address = %s, want 172.30.7.10", got)
	}
	if got := NodeIP(s, MaxNodes-1).String(); got != "172.30.7.254" {
		t.Errorf("last node address = %s, want 172.30.7.254", got)
	}
}
