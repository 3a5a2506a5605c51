package controllers

import (
	"fmt"
	"strings"
	"testing"
)

func TestIPAMAllocator(t *testing.T) {
	a, err := newIPAMAllocator("10.244.0.0/16", 24)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Occupy("old", "10.244.1.0/24"); err != nil {
		t.Fatal(err)
	}
	steps := []struct{ node, want string }{
		{"n0", "10.244.0.0/24"}, {"n2", "10.244.2.0/24"}, {"n0", "10.244.0.0/24"}, {"n3", "10.244.3.0/24"},
	}
	for _, s := range steps {
		got, err := a.Allocate(s.node)
		if err != nil || got != s.want {
			t.Fatalf("Allocate(%s) = %q, %v; want %s", s.node, got, err, s.want)
		}
	}
	a.Release("n2")
	if got, _ := a.Allocate("n4"); got != "10.244.2.0/24" {
		t.Errorf("after releasing n2, n4 got %s, want the freed 10.244.2.0/24", got)
	}
	if err := a.Occupy("intruder", "10.244.1.0/24"); err == nil {
		t.Errorf("occupying a held subnet for another node succeeded")
	}
	for _, bad := range []string{"10.245.0.0/24", "10.244.0.0/25", "nonsense"} {
		if err := a.Occupy("x", bad); err == nil {
			t.Errorf("Occupy(%s) succeeded, want an error", bad)
		}
	}
}

func TestIPAMExhaustion(t *testing.T) {
	a, err := newIPAMAllocator("10.0.0.0/22", 24)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if _, err := a.Allocate(fmt.Sprint("n", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Allocate("n4"); err == nil || !strings.Contains(err.Error(), "no free /24") {
		t.Errorf("fifth node got err %v, want no free /24", err)
	}
}

func TestIPAMBadConfig(t *testing.T) {
	for _, c := range []struct {
		cidr string
		mask int
	}{{"10.244.0.0/16", 8}, {"10.244.0.0/16", 31}, {"fd00::/64", 80}, {"x", 24}, {"10.0.0.0/8", 30}} {
		if _, err := newIPAMAllocator(c.cidr, c.mask); err == nil {
			t.Errorf("newIPAMAllocator(%s, /%d) succeeded, want an error", c.cidr, c.mask)
		}
	}
}
