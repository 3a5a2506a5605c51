package api

import (
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

func TestPairsMatchAsMaps(t *testing.T) {
	m := map[string]string{"app": "web", "tier": "front", "a": "", "zone": "z1"}
	p := pairsOf(m)
	for _, k := range []string{"app", "tier", "a", "zone", "missing", "", "b", "zzz"} {
		v, ok := m[k]
		if p.Has(k) != ok || p.Get(k) != v {
			t.Errorf("%q: pairs Has %v Get %q, map has %v %q", k, p.Has(k), p.Get(k), ok, v)
		}
	}
	for _, sel := range []string{"app=web", "app!=web", "tier in (front,back)", "a", "!a", "missing", "!missing", "app=web,zone=z2", ""} {
		s, err := labels.Parse(sel)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.Matches(p), s.Matches(labels.Set(m)); got != want {
			t.Errorf("label selector %q: pairs %v, map %v", sel, got, want)
		}
	}
	for _, sel := range []string{"app=web", "app!=web", "missing=", "missing!=x", "app=web,tier=back"} {
		s, err := fields.ParseSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.Matches(p), s.Matches(fields.Set(m)); got != want {
			t.Errorf("field selector %q: pairs %v, map %v", sel, got, want)
		}
	}
	if pairsOf(nil).Has("x") || pairsOf(nil).Get("x") != "" {
		t.Error("empty pairs found a key")
	}
}
